package points_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/gateway/ledger"
	"github.com/lianmeng/lianmeng/gateway/points"
	"github.com/lianmeng/lianmeng/gateway/points/pointstest"
)

// TestRandomFlows applies seeded random sequences of every operation,
// refusals included, and checks the invariants and exact coverage after
// each step. Only domain refusals (*points.Error) may fail a request: any
// other error (an overdraft caught by the ledger, a record the store would
// refuse) means the domain's own checks missed something.
func TestRandomFlows(t *testing.T) {
	type order struct {
		merchant, id string
		amount       int64
	}
	done := map[string]int{}
	var newDebt, recovered, settled int64
	for seed := uint64(1); seed <= 12; seed++ {
		r := rand.New(rand.NewPCG(seed, 17))
		s := &points.Service{Policy: policy()}
		s.Policy.Validity = 10 * day
		if seed%2 == 0 {
			s.Policy.ExpiryPolicy = "breakage"
		}
		tx := pointstest.NewTx(t0, merchants()...)
		shops := []string{"m1", "m1", "m1", "m2", "m2", "m2", "cap", "off", "nope"}
		who := []string{"alice", "alice", "alice", "bob", "c1@m1"}
		shop := func() string { return shops[r.IntN(len(shops))] }
		var earns, redeems []order
		for i := range 200 {
			var o op
			var made *order // the purchase a successful o records
			kind := ""
			switch r.IntN(15) {
			case 0:
				kind, o = "fund", fund(shop(), 10*r.Int64N(20_000)-100, fmt.Sprint("pay-", r.IntN(40)))
			case 1, 2, 3:
				m, id, amount := shop(), fmt.Sprint("o", i), 1+r.Int64N(30_000)
				if r.IntN(8) == 0 && len(earns) > 0 { // a duplicate
					id = earns[r.IntN(len(earns))].id
				}
				kind = "earn"
				if r.IntN(3) == 0 {
					o = earnPts(m, id, who[r.IntN(len(who))], amount, r.Int64N(amount/face+2))
				} else {
					o = earn(m, id, who[r.IntN(len(who))], amount)
				}
				made = &order{m, id, amount}
			case 4:
				kind, o = "release", release(1+r.IntN(4))
			case 5:
				kind, o = "expire", expire(1+r.IntN(4))
			case 6, 7, 13:
				m, id, u := shop(), fmt.Sprint("r", i), who[r.IntN(len(who))]
				pts := 1 + r.Int64N(40)
				if mid, err := tx.Member(m, ident(u), false); err == nil && r.IntN(4) > 0 {
					// Mostly what the member has, often all of it.
					avail, _ := tx.Balance(ledger.MemberAvailable(mid))
					pts = max(1, avail-r.Int64N(2)*r.Int64N(avail+1))
				}
				kind, o = "redeem", redeem(m, id, u, pts, r.Int64N(4)/3*r.Int64N(face*pts*2))
				made = &order{m, id, 0}
			case 8, 9:
				if len(earns) == 0 {
					continue
				}
				e := earns[r.IntN(len(earns))]
				kind, o = "refund_earn", refundEarn(e.merchant, e.id, max(1, e.amount/(1+r.Int64N(4))))
			case 10, 12, 14:
				if len(redeems) == 0 {
					continue
				}
				e := redeems[r.IntN(len(redeems))]
				kind, o = "refund_redeem", refundRedeem(e.merchant, e.id, r.Int64N(3)*r.Int64N(60))
			case 11:
				kind, o = "advance", advance(time.Duration(r.Int64N(int64(3*day))))
			}
			res, err := o.do(s, tx)
			var refusal *points.Error
			if err != nil && !errors.As(err, &refusal) {
				t.Fatalf("seed %d step %d %s: %v", seed, i, o.desc, err)
			}
			if err == nil {
				done[kind]++
				if made != nil && kind == "earn" {
					earns = append(earns, *made)
				} else if made != nil {
					redeems = append(redeems, *made)
				}
				switch x := res.(type) {
				case points.EarnResult:
					recovered += x.DebtRecovered
				case points.RefundEarnResult:
					newDebt += x.NewDebt
				case points.RefundRedeemResult:
					settled += x.DebtSettled
				}
			}
			checkLedger(t, tx, fmt.Sprintf("seed %d step %d %s", seed, i, o.desc))
		}
	}
	// The sequences reach every flow, debts included.
	for _, k := range []string{"fund", "earn", "release", "expire", "redeem", "refund_earn", "refund_redeem"} {
		if done[k] == 0 {
			t.Errorf("no %s succeeded", k)
		}
	}
	if newDebt == 0 || recovered == 0 || settled == 0 {
		t.Errorf("debts: %d created, %d recovered by earnings, %d settled by redemption refunds", newDebt, recovered, settled)
	}
	t.Logf("successes %v; debt created %d, recovered %d, settled %d", done, newDebt, recovered, settled)
}
