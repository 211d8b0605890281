package store_test

import (
	"context"
	"errors"
	"github.com/prometheus/client_golang/prometheus"
	"strings"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/gateway/ledger"
	"github.com/lianmeng/lianmeng/gateway/points"
	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
)

// An operation that needs more ids than it declared still commits: the
// batch is retried with a larger id range.
func TestWriterGrowsIDRange(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := db.NewWriter(store.WriterOptions{})
		defer w.Close()
		res := w.Submit(context.Background(), &store.Op{Command: points.Command{IDs: 0, Apply: func(tx points.Tx) (any, error) {
			for i := 0; i < 5000; i++ {
				if _, err := tx.NewID(); err != nil {
					return nil, err
				}
			}
			return nil, nil
		}}})
		if res.Err != nil {
			t.Fatal(res.Err)
		}
	})
}

// A row the database refuses only at flush time fails its own request;
// the other requests of the batch commit.
func TestWriterIsolatesOperationRefusedAtFlush(t *testing.T) {
	// SQLite does not enforce column lengths, so only MySQL can refuse here.
	db := storetest.Open(t, store.MySQL)
	reg := prometheus.NewRegistry()
	// A long batch wait puts the three earns below into one batch.
	w := db.NewWriter(store.WriterOptions{BatchWait: 300 * time.Millisecond, Registry: reg, Concurrency: 1})
	defer w.Close()
	svc := &points.Service{Policy: testPolicy()}
	m := makeMerchants(t, db, 1, 1000)[0]
	if _, err := run(w, func(tx points.Tx) (points.FundResult, error) {
		return svc.Fund(tx, points.FundRequest{MerchantID: m, AmountFen: 100000, ExternalRef: "f"})
	}); err != nil {
		t.Fatal(err)
	}
	results := make(chan error, 3)
	for i, store := range []string{"s1", strings.Repeat("x", 200), "s3"} { // store_id is VARCHAR(64)
		go func() {
			_, err := run(w, func(tx points.Tx) (points.EarnResult, error) {
				return svc.Earn(tx, points.EarnRequest{MerchantID: m, StoreID: store, OrderID: "o" + string(rune('a'+i)),
					Member: points.Identity{Kind: "customer", Value: "c"}, AmountFen: 1000})
			})
			results <- err
		}()
	}
	failed := 0
	for range 3 {
		if err := <-results; err != nil {
			failed++
			if !strings.Contains(err.Error(), "Data too long") {
				t.Errorf("unexpected error: %v", err)
			}
		}
	}
	if failed != 1 {
		t.Fatalf("%d requests failed, want only the bad one", failed)
	}
	// Two batches (the funding, then the three earns together): otherwise
	// this test did not exercise a shared batch at all.
	if n := batches(t, reg); n != 2 {
		t.Fatalf("%d batches, want 2: the earns did not share a batch", n)
	}
	assertClean(t, db)
}

// One payment funds once, whatever idempotency key comes with a retry.
func TestFundingRecordedOncePerPayment(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := db.NewWriter(store.WriterOptions{})
		defer w.Close()
		svc := &points.Service{Policy: testPolicy()}
		m := makeMerchants(t, db, 1, 1000)[0]
		fund := func() error {
			_, err := run(w, func(tx points.Tx) (points.FundResult, error) {
				return svc.Fund(tx, points.FundRequest{MerchantID: m, AmountFen: 1000, ExternalRef: "wx-4200001"})
			})
			return err
		}
		if err := fund(); err != nil {
			t.Fatal(err)
		}
		if err := fund(); !isCode(err, points.CodeAlreadyFunded) {
			t.Fatalf("second funding of one payment: %v", err)
		}
		b, _ := db.Balances(context.Background(), ledger.Reserve, ledger.MerchantBudget(m))
		if b[ledger.Reserve] != 1000 || b[ledger.MerchantBudget(m)] != 1000 {
			t.Fatalf("balances %v", b)
		}
	})
}

// Points given back by a redemption refund can be spent again in the same
// batch, and a refund of an earn arriving later claws them back.
func TestRestoredLotVisibleWithinBatch(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		clock := &fakeClock{}
		clock.us.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro())
		w := db.NewWriter(store.WriterOptions{Now: clock.Now})
		defer w.Close()
		svc := &points.Service{Policy: testPolicy()}
		m := makeMerchants(t, db, 1, 1000)[0]
		member := points.Identity{Kind: "phone", Value: "13700000000"}
		steps := []func(tx points.Tx) error{
			func(tx points.Tx) error {
				_, err := svc.Fund(tx, points.FundRequest{MerchantID: m, AmountFen: 10000, ExternalRef: "f"})
				return err
			},
			func(tx points.Tx) error {
				_, err := svc.Earn(tx, points.EarnRequest{MerchantID: m, OrderID: "e1", Member: member, AmountFen: 1000})
				return err
			},
		}
		for _, f := range steps {
			if _, err := run(w, func(tx points.Tx) (int, error) { return 0, f(tx) }); err != nil {
				t.Fatal(err)
			}
		}
		clock.Advance(25 * time.Hour)
		if _, err := run(w, func(tx points.Tx) (int, error) { return svc.Release(tx, 10) }); err != nil {
			t.Fatal(err)
		}
		code1, code2 := redemptionCode(t, db, m, member), redemptionCode(t, db, m, member)
		if _, err := run(w, func(tx points.Tx) (points.RedeemResult, error) {
			return svc.Redeem(tx, points.RedeemRequest{MerchantID: m, OrderID: "r1", Code: code1, Member: member, Points: 100, AmountFen: 1_000_000})
		}); err != nil {
			t.Fatal(err)
		}
		// One unit of work: refund the redemption, then redeem again.
		_, err := run(w, func(tx points.Tx) (points.RedeemResult, error) {
			if _, err := svc.RefundRedeem(tx, points.RefundRedeemRequest{MerchantID: m, OrderID: "r1"}); err != nil {
				return points.RedeemResult{}, err
			}
			return svc.Redeem(tx, points.RedeemRequest{MerchantID: m, OrderID: "r2", Code: code2, Member: member, Points: 100, AmountFen: 1_000_000})
		})
		if err != nil {
			t.Fatalf("redeem after refund in one batch: %v", err)
		}
		assertClean(t, db)
	})
}

// A request computed for one earning configuration is refused, not
// mis-awarded, when the merchant's configuration changed meanwhile.
func TestEarnRefusesStaleRuleChoice(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := db.NewWriter(store.WriterOptions{})
		defer w.Close()
		svc := &points.Service{Policy: testPolicy()}
		m := makeMerchants(t, db, 1, 1000)[0] // flat rate, no plugin
		if _, err := run(w, func(tx points.Tx) (points.FundResult, error) {
			return svc.Fund(tx, points.FundRequest{MerchantID: m, AmountFen: 10000, ExternalRef: "f"})
		}); err != nil {
			t.Fatal(err)
		}
		// The cached configuration still names a plugin, whose award is
		// decided before the batch; the batch reads the merchant's current
		// (flat) configuration and refuses rather than award it.
		svc.Earnings = points.EarningFunc(func(context.Context, string) (points.Earning, error) {
			return points.Earning{RulePlugin: "old"}, nil
		})
		svc.Rules = fixedRule{points.Award{Points: 5, RuleVersion: "plugin:old"}}
		cmd, err := svc.PrepareEarn(context.Background(), points.EarnRequest{MerchantID: m, OrderID: "o",
			Member: points.Identity{Kind: "customer", Value: "c"}, AmountFen: 1000})
		if err != nil {
			t.Fatal(err)
		}
		err = w.Submit(context.Background(), &store.Op{Command: cmd}).Err
		var pe *points.Error
		if !errors.As(err, &pe) || pe.Code != points.CodeRuleUnavailable {
			t.Fatalf("plugin result for a flat-rate merchant: %v", err)
		}
	})
}

// Points a redemption refund gives back first repay a debt the member owes
// from an earlier earn refund: they do not become spendable while owed.
func TestRedemptionRefundSettlesDebt(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		clock := &fakeClock{}
		clock.us.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro())
		w := db.NewWriter(store.WriterOptions{Now: clock.Now})
		defer w.Close()
		svc := &points.Service{Policy: testPolicy()}
		ms := makeMerchants(t, db, 2, 1000)
		a, b := ms[0], ms[1]
		member := points.Identity{Kind: "phone", Value: "13600000000"}
		do := func(f func(tx points.Tx) error) {
			t.Helper()
			if _, err := run(w, func(tx points.Tx) (int, error) { return 0, f(tx) }); err != nil {
				t.Fatal(err)
			}
		}
		do(func(tx points.Tx) error {
			_, err := svc.Fund(tx, points.FundRequest{MerchantID: a, AmountFen: 5000, ExternalRef: "f"})
			return err
		})
		do(func(tx points.Tx) error {
			_, err := svc.Earn(tx, points.EarnRequest{MerchantID: a, OrderID: "e", Member: member, AmountFen: 10000})
			return err
		})
		clock.Advance(25 * time.Hour)
		do(func(tx points.Tx) error { _, err := svc.Release(tx, 10); return err })
		code := redemptionCode(t, db, b, member)
		do(func(tx points.Tx) error {
			_, err := svc.Redeem(tx, points.RedeemRequest{MerchantID: b, OrderID: "r", Code: code, Member: member, Points: 1000, AmountFen: 1_000_000})
			return err
		})
		var refund points.RefundEarnResult
		do(func(tx points.Tx) (err error) {
			refund, err = svc.RefundEarn(tx, points.RefundEarnRequest{MerchantID: a, OrderID: "e", AmountFen: 10000})
			return err
		})
		if refund.NewDebt != 1000 {
			t.Fatalf("refund after spending: %+v", refund)
		}
		var rr points.RefundRedeemResult
		do(func(tx points.Tx) (err error) {
			rr, err = svc.RefundRedeem(tx, points.RefundRedeemRequest{MerchantID: b, OrderID: "r"})
			return err
		})
		if rr.Restored != 1000 || rr.DebtSettled != 1000 {
			t.Fatalf("redemption refund: %+v, want 1000 restored and settled", rr)
		}
		bal, _ := db.Balances(context.Background(), ledger.MemberAvailable(rr.MemberID), ledger.MerchantBudget(a))
		if bal[ledger.MemberAvailable(rr.MemberID)] != 0 || bal[ledger.MerchantBudget(a)] != 5000 {
			t.Fatalf("balances %v: the member should hold nothing and A's budget be whole", bal)
		}
		tot, _ := db.Totals(context.Background())
		if tot.MemberDebtPoints != 0 {
			t.Fatalf("debt left: %d", tot.MemberDebtPoints)
		}
		assertClean(t, db)
	})
}

// batches returns how many batches a writer registered on reg committed.
func batches(t *testing.T, reg *prometheus.Registry) uint64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "lianmeng_writer_batch_size" {
			return mf.GetMetric()[0].GetHistogram().GetSampleCount()
		}
	}
	t.Fatal("no batch size histogram")
	return 0
}

// fixedRule is a rule plugin that always awards the same.
type fixedRule struct{ a points.Award }

func (f fixedRule) EvaluateEarning(context.Context, string, points.RuleInput) (points.Award, error) {
	return f.a, nil
}
