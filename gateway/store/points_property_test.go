package store_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/gateway/ledger"
	"github.com/lianmeng/lianmeng/gateway/merchant"
	"github.com/lianmeng/lianmeng/gateway/points"
	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
)

type fakeClock struct{ us atomic.Int64 }

func (c *fakeClock) Now() time.Time          { return time.UnixMicro(c.us.Load()).UTC() }
func (c *fakeClock) Advance(d time.Duration) { c.us.Add(d.Microseconds()) }

func testPolicy() points.Policy {
	return points.Policy{FaceValueFen: 1, ReleaseDelay: 24 * time.Hour, Validity: 10 * 24 * time.Hour,
		ExpiryPolicy: "return_to_merchant", MaxPointsPerEarn: 1_000_000, MaxAmountFen: 10_000_000_00}
}

// run submits one domain call through the writer.
func run[T any](w *store.Writer, f func(tx points.Tx) (T, error)) (T, error) {
	var out T
	res := w.Submit(context.Background(), &store.Op{Command: points.Command{IDs: 16, Apply: func(tx points.Tx) (any, error) {
		v, err := f(tx)
		out = v
		return v, err
	}}})
	return out, res.Err
}

func makeMerchants(t testing.TB, db *store.DB, n int, rate int64) []string {
	t.Helper()
	var ids []string
	for i := 0; i < n; i++ {
		m, err := merchant.NewMerchant(fmt.Sprintf("M%d", i), "restaurant", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Merchants().CreateMerchant(context.Background(), m, "test"); err != nil {
			t.Fatal(err)
		}
		publishFlatRate(t, db, m.ID, rate)
		ids = append(ids, m.ID)
	}
	return ids
}

func assertClean(t *testing.T, db *store.DB) {
	t.Helper()
	vs, err := db.CheckInvariants(context.Background(), 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		t.Error(v)
	}
	tot, err := db.Totals(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// With these flows coverage is exact, not just sufficient.
	if tot.ReserveFen != tot.OutstandingPts {
		t.Errorf("reserve %d != outstanding %d", tot.ReserveFen, tot.OutstandingPts)
	}
}

// TestLedgerPropertyRandomConcurrent runs random interleavings of fund,
// earn, release, redeem, refunds and expiry from many goroutines, then
// checks every invariant.
func TestLedgerPropertyRandomConcurrent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		clock := &fakeClock{}
		clock.us.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro())
		w := db.NewWriter(store.WriterOptions{BatchSize: 64, BatchWait: 200 * time.Microsecond, Now: clock.Now})
		defer w.Close()
		svc := &points.Service{Policy: testPolicy()}
		merchants := makeMerchants(t, db, 4, 500)
		members := []string{"13800000001", "13800000002", "13800000003", "13800000004", "13800000005"}
		var orders atomic.Int64
		var mu sync.Mutex
		var earned, redeemed []struct{ m, o string }
		refused := map[string]int{}
		var wg sync.WaitGroup
		workers, steps := 8, 60
		if testing.Short() {
			steps = 20
		}
		for g := 0; g < workers; g++ {
			wg.Add(1)
			go func(seed uint64) {
				defer wg.Done()
				r := rand.New(rand.NewPCG(seed, 7))
				for i := 0; i < steps; i++ {
					m := merchants[r.IntN(len(merchants))]
					member := points.Identity{Kind: points.IdentityPhone, Value: members[r.IntN(len(members))]}
					var err error
					switch op := r.IntN(100); {
					case op < 10:
						_, err = run(w, func(tx points.Tx) (points.FundResult, error) {
							return svc.Fund(tx, points.FundRequest{MerchantID: m, AmountFen: int64(1 + r.IntN(5000)), ExternalRef: fmt.Sprint("f", orders.Add(1))})
						})
					case op < 50:
						o := fmt.Sprint("o", orders.Add(1))
						_, err = run(w, func(tx points.Tx) (points.EarnResult, error) {
							return svc.Earn(tx, points.EarnRequest{MerchantID: m, OrderID: o, Member: member, AmountFen: int64(100 + r.IntN(20000))})
						})
						if err == nil {
							mu.Lock()
							earned = append(earned, struct{ m, o string }{m, o})
							mu.Unlock()
						}
					case op < 70:
						o := fmt.Sprint("r", orders.Add(1))
						code := redemptionCode(t, db, m, member)
						_, err = run(w, func(tx points.Tx) (points.RedeemResult, error) {
							return svc.Redeem(tx, points.RedeemRequest{MerchantID: m, OrderID: o, Code: code, Member: member, Points: int64(1 + r.IntN(80)), AmountFen: 1_000_000})
						})
						if err == nil {
							mu.Lock()
							redeemed = append(redeemed, struct{ m, o string }{m, o})
							mu.Unlock()
						}
					case op < 80:
						mu.Lock()
						if len(earned) == 0 {
							mu.Unlock()
							continue
						}
						e := earned[r.IntN(len(earned))]
						mu.Unlock()
						_, err = run(w, func(tx points.Tx) (points.RefundEarnResult, error) {
							return svc.RefundEarn(tx, points.RefundEarnRequest{MerchantID: e.m, OrderID: e.o, AmountFen: int64(1 + r.IntN(8000))})
						})
					case op < 88:
						mu.Lock()
						if len(redeemed) == 0 {
							mu.Unlock()
							continue
						}
						e := redeemed[r.IntN(len(redeemed))]
						mu.Unlock()
						_, err = run(w, func(tx points.Tx) (points.RefundRedeemResult, error) {
							return svc.RefundRedeem(tx, points.RefundRedeemRequest{MerchantID: e.m, OrderID: e.o, Points: int64(r.IntN(40))})
						})
					case op < 94:
						clock.Advance(time.Duration(r.IntN(30)) * time.Hour)
						_, err = run(w, func(tx points.Tx) (int, error) { return svc.Release(tx, 100) })
					default:
						_, err = run(w, func(tx points.Tx) (int, error) { return svc.Expire(tx, 100) })
					}
					var pe *points.Error
					if errors.As(err, &pe) {
						mu.Lock()
						refused[pe.Code]++
						mu.Unlock()
					} else if err != nil {
						t.Errorf("unexpected error: %v", err)
						return
					}
				}
			}(uint64(g))
		}
		wg.Wait()
		assertClean(t, db)
		// Drain the lifecycle to the end: everything releases, then expires.
		clock.Advance(30 * 24 * time.Hour)
		for _, f := range []func(points.Tx, int) (int, error){svc.Release, svc.Expire} {
			for {
				n, err := run(w, func(tx points.Tx) (int, error) { return f(tx, 500) })
				if err != nil {
					t.Fatal(err)
				}
				if n == 0 {
					break
				}
			}
		}
		assertClean(t, db)
		b, err := db.Totals(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if b.PendingPoints != 0 || b.AvailablePoints != 0 {
			t.Errorf("after full expiry pending=%d available=%d, want 0", b.PendingPoints, b.AvailablePoints)
		}
		t.Logf("earned %d, redeemed %d, refused %v", len(earned), len(redeemed), refused)
		if len(earned) == 0 {
			t.Error("no earn succeeded: the test exercised nothing")
		}
	})
}

// TestEarnRefusedWithoutBudget: no unfunded issuance, and nothing written.
func TestEarnRefusedWithoutBudget(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := db.NewWriter(store.WriterOptions{})
		defer w.Close()
		svc := &points.Service{Policy: testPolicy()}
		m := makeMerchants(t, db, 1, 1000)[0]
		_, err := run(w, func(tx points.Tx) (points.EarnResult, error) {
			return svc.Earn(tx, points.EarnRequest{MerchantID: m, OrderID: "o1", Member: points.Identity{Kind: "phone", Value: "13800000009"}, AmountFen: 10000})
		})
		var pe *points.Error
		if !errors.As(err, &pe) || pe.Code != points.CodeInsufficientBudget {
			t.Fatalf("earn without budget: %v, want insufficient_budget", err)
		}
		for _, table := range []string{"ledger_transactions", "postings", "purchases", "lots", "members", "member_identities"} {
			var n int
			if err := db.R.Get(&n, "SELECT COUNT(*) FROM "+table); err != nil {
				t.Fatal(err)
			}
			if n != 0 {
				t.Errorf("%s has %d rows after a refused earn", table, n)
			}
		}
	})
}

// TestRefundClawbackAndDebt: a refund after the points were spent claws
// what is left and records the rest as debt, recovered from later earnings.
func TestRefundClawbackAndDebt(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		clock := &fakeClock{}
		clock.us.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro())
		w := db.NewWriter(store.WriterOptions{Now: clock.Now})
		defer w.Close()
		svc := &points.Service{Policy: testPolicy()}
		ms := makeMerchants(t, db, 2, 1000) // 10% back
		a, b := ms[0], ms[1]
		member := points.Identity{Kind: "phone", Value: "13900000000"}
		for _, m := range ms {
			if _, err := run(w, func(tx points.Tx) (points.FundResult, error) {
				return svc.Fund(tx, points.FundRequest{MerchantID: m, AmountFen: 100000, ExternalRef: "x" + m})
			}); err != nil {
				t.Fatal(err)
			}
		}
		earn, err := run(w, func(tx points.Tx) (points.EarnResult, error) {
			return svc.Earn(tx, points.EarnRequest{MerchantID: a, OrderID: "o1", Member: member, AmountFen: 10000})
		})
		if err != nil || earn.Points != 1000 {
			t.Fatalf("earn: %+v %v", earn, err)
		}
		clock.Advance(25 * time.Hour)
		if _, err := run(w, func(tx points.Tx) (int, error) { return svc.Release(tx, 10) }); err != nil {
			t.Fatal(err)
		}
		code := redemptionCode(t, db, b, member)
		if _, err := run(w, func(tx points.Tx) (points.RedeemResult, error) {
			return svc.Redeem(tx, points.RedeemRequest{MerchantID: b, OrderID: "r1", Code: code, Member: member, Points: 700, AmountFen: 1_000_000})
		}); err != nil {
			t.Fatal(err)
		}
		// Refund half: claw 500; 300 left in the lot, 200 become debt.
		res, err := run(w, func(tx points.Tx) (points.RefundEarnResult, error) {
			return svc.RefundEarn(tx, points.RefundEarnRequest{MerchantID: a, OrderID: "o1", AmountFen: 5000})
		})
		if err != nil || res.ClawedBack != 300 || res.NewDebt != 200 {
			t.Fatalf("refund: %+v %v, want clawed 300 debt 200", res, err)
		}
		// Refunding more than what is left is refused.
		if _, err := run(w, func(tx points.Tx) (points.RefundEarnResult, error) {
			return svc.RefundEarn(tx, points.RefundEarnRequest{MerchantID: a, OrderID: "o1", AmountFen: 5001})
		}); !isCode(err, points.CodeRefundExceeds) {
			t.Fatalf("over-refund: %v", err)
		}
		// Another merchant cannot refund A's purchase.
		if _, err := run(w, func(tx points.Tx) (points.RefundEarnResult, error) {
			return svc.RefundEarn(tx, points.RefundEarnRequest{MerchantID: b, OrderID: "o1", AmountFen: 1})
		}); !isCode(err, points.CodeUnknownPurchase) {
			t.Fatalf("foreign refund: %v", err)
		}
		// The next earn at B repays A's 200 first.
		e2, err := run(w, func(tx points.Tx) (points.EarnResult, error) {
			return svc.Earn(tx, points.EarnRequest{MerchantID: b, OrderID: "o2", Member: member, AmountFen: 5000})
		})
		if err != nil || e2.DebtRecovered != 200 || e2.PendingPoints != 300 {
			t.Fatalf("earn after debt: %+v %v", e2, err)
		}
		bal, err := db.Balances(context.Background(), ledger.MerchantBudget(a), ledger.MerchantBudget(b))
		if err != nil {
			t.Fatal(err)
		}
		// A: 100000 - 1000 + 300 clawed + 200 recovered. B: 100000 - 500.
		if bal[ledger.MerchantBudget(a)] != 99500 || bal[ledger.MerchantBudget(b)] != 99500 {
			t.Errorf("budgets %v", bal)
		}
		// Refunding the redemption gives the points back and takes the cash
		// back from B's payable.
		rr, err := run(w, func(tx points.Tx) (points.RefundRedeemResult, error) {
			return svc.RefundRedeem(tx, points.RefundRedeemRequest{MerchantID: b, OrderID: "r1"})
		})
		if err != nil || rr.Restored != 700 {
			t.Fatalf("refund redeem: %+v %v", rr, err)
		}
		if _, err := run(w, func(tx points.Tx) (points.RefundRedeemResult, error) {
			return svc.RefundRedeem(tx, points.RefundRedeemRequest{MerchantID: b, OrderID: "r1"})
		}); !isCode(err, points.CodeAlreadyRefunded) {
			t.Fatalf("second redeem refund: %v", err)
		}
		assertClean(t, db)
	})
}

func isCode(err error, code string) bool {
	var pe *points.Error
	return errors.As(err, &pe) && pe.Code == code
}

// redemptionCode stores a fresh app redemption code of the member with
// identity id (as merchantID sees it) and returns it, as the member's
// session would; "" when the identity is no member (the redemption is then
// refused for want of consent).
func redemptionCode(t testing.TB, db *store.DB, merchantID string, id points.Identity) string {
	t.Helper()
	ctx := context.Background()
	mid, err := db.FindMember(ctx, merchantID, id)
	if errors.Is(err, points.ErrNotFound) {
		return ""
	} else if err != nil {
		t.Fatal(err)
	}
	code := points.RedemptionCodeFrom(fmt.Sprintf("%016d", codeSeq.Add(1)))
	now := time.Now()
	if err := db.CreateConsent(ctx, points.Consent{Key: points.RedemptionCodeKey(code), Kind: points.ConsentApp, MemberID: mid,
		CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	return code
}

var codeSeq atomic.Int64
