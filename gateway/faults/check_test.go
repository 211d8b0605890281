//go:build faults

package faults

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
)

// check compares what the clients were told with the database: every
// acknowledged write exactly once with the ids and amounts the client
// holds, every refusal and every bad request without effect, no ledger
// transaction twice, then coverage exactly 1 (asked of the running gateway
// g, if any) and, with g and others stopped, `lianmeng verify`.
func (l *load) check(t testing.TB, driver, dsn string, g *gateway, others ...*gateway) {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, driver, dsn, store.Options{MaxOpenConns: 2})
	if err != nil {
		t.Fatalf("open the database to check it: %v", err)
	}
	defer db.Close()

	type purchase struct {
		Kind     string `db:"kind"`
		Order    string `db:"order_id"`
		ID       int64  `db:"id"`
		Points   int64  `db:"points"`
		Refunded int64  `db:"refunded_fen"`
		Reversed int64  `db:"reversed_points"`
	}
	var rows []purchase
	if err := db.R.SelectContext(ctx, &rows, "SELECT kind, order_id, id, points, refunded_fen, reversed_points FROM purchases WHERE kind IN ('earn', 'redeem') AND order_id LIKE ?", l.run+"-%"); err != nil {
		t.Fatal(err)
	}
	byOrder := map[string]purchase{}
	for _, p := range rows {
		if _, dup := byOrder[p.Kind+"/"+p.Order]; dup {
			t.Errorf("%s order %s is in the ledger twice", p.Kind, p.Order)
		}
		byOrder[p.Kind+"/"+p.Order] = p
	}

	refunded := map[string]int64{} // earn order -> fen refunded by acknowledged refunds
	reversed := map[string]int64{} // redeem order -> points restored by acknowledged refunds
	seen := map[string]bool{}
	l.mu.Lock()
	reqs := append([]*request(nil), l.reqs...)
	hostiles := append([]*request(nil), l.hostiles...)
	l.mu.Unlock()
	for _, r := range reqs {
		if !r.acked && r.code == "" {
			t.Errorf("%s %s (key %s) was never answered after %d attempts", r.kind, r.order, r.key, r.attempts)
			continue
		}
		if !r.acked && !expectedRefusals[r.kind][r.code] {
			t.Errorf("%s %s refused with %q, not a refusal this load can cause", r.kind, r.order, r.code)
		}
		switch r.kind {
		case kindEarn, kindRedeem:
			k := r.kind + "/" + r.order
			p, ok := byOrder[k]
			switch {
			case !r.acked && ok:
				t.Errorf("%s %s was refused (%s) but is in the ledger", r.kind, r.order, r.code)
			case !r.acked:
			case !ok:
				t.Errorf("acknowledged %s %s (purchase %d) is missing", r.kind, r.order, r.int("purchase_id"))
			case p.ID != r.int("purchase_id") || p.Points != r.int("points"):
				t.Errorf("%s %s: ledger has purchase %d for %d points, the client was told %d for %d", r.kind, r.order, p.ID, p.Points, r.int("purchase_id"), r.int("points"))
			}
			if r.acked {
				seen[k] = true
			}
		case kindEarnRefund:
			if r.acked {
				refunded[r.order] += r.amount
			}
		case kindRedeemRefund:
			if r.acked {
				reversed[r.order] += r.int("restored")
			}
		}
	}
	for k, p := range byOrder {
		switch {
		case !seen[k]:
			t.Errorf("%s %s (purchase %d) is in the ledger but no client was told so", p.Kind, p.Order, p.ID)
		case p.Kind == kindEarn && p.Refunded != refunded[p.Order]:
			t.Errorf("earn %s: %d fen refunded in the ledger, %d acknowledged", p.Order, p.Refunded, refunded[p.Order])
		case p.Kind == kindRedeem && p.Reversed != reversed[p.Order]:
			t.Errorf("redeem %s: %d points given back in the ledger, %d acknowledged", p.Order, p.Reversed, reversed[p.Order])
		}
	}
	for _, h := range hostiles {
		if h.order != "" {
			if _, ok := byOrder[kindEarn+"/"+h.order]; ok {
				t.Errorf("%s request for order %s has an effect", h.kind, h.order)
			}
		}
		if h.key != "" {
			recorded, err := db.IdempotencyRecorded(ctx, l.ms[h.merchant].ID, h.key)
			if err != nil {
				t.Fatal(err)
			}
			if recorded {
				t.Errorf("%s request left an idempotency record for key %s", h.kind, h.key)
			}
		}
	}

	// No ledger transaction twice: every effect has a unique reference.
	var dups []struct {
		Kind string `db:"kind"`
		Ref  string `db:"ref"`
		N    int    `db:"n"`
	}
	if err := db.R.SelectContext(ctx, &dups, "SELECT kind, ref, COUNT(*) AS n FROM ledger_transactions GROUP BY kind, ref HAVING COUNT(*) > 1"); err != nil {
		t.Fatal(err)
	}
	for _, d := range dups {
		t.Errorf("ledger transaction %s %s written %d times", d.Kind, d.Ref, d.N)
	}

	if g != nil {
		checkCoverage(t, g.base())
		// verify beside the live sealer (it reads one snapshot), then once
		// every gateway has stopped.
		if err := g.verify(); err != nil {
			t.Errorf("beside the running gateway: %v", err)
		}
		g.stop()
		for _, o := range others {
			o.stop()
		}
		if err := g.verify(); err != nil {
			t.Error(err)
		}
	}
}

// checkCoverage asks the public coverage: exactly 1 (10000 bp).
func checkCoverage(t testing.TB, base string) {
	t.Helper()
	resp, err := http.Get(base + "/v1/public/coverage")
	if err != nil {
		t.Errorf("coverage: %v", err)
		return
	}
	defer resp.Body.Close()
	var c struct {
		CoverageBP  int64 `json:"coverage_bp"`
		ReserveFen  int64 `json:"reserve_fen"`
		Outstanding int64 `json:"outstanding_points"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&c); err != nil || resp.StatusCode != 200 {
		t.Errorf("coverage: %d %v", resp.StatusCode, err)
		return
	}
	if c.CoverageBP != 10000 {
		t.Errorf("coverage %d bp (reserve %d fen, outstanding %d points), want exactly 10000", c.CoverageBP, c.ReserveFen, c.Outstanding)
	}
}

// findings records what check reports instead of failing the test.
type findings struct {
	testing.TB
	errs []string
}

func (f *findings) Errorf(format string, args ...any) {
	f.errs = append(f.errs, fmt.Sprintf(format, args...))
}
func (f *findings) Error(args ...any) { f.errs = append(f.errs, fmt.Sprint(args...)) }

// TestCheckSeesLostAndDoubledWrites makes sure the check can fail: after a
// short clean load, a refused earn claimed as acknowledged (a lost write),
// an extra acknowledged refund (a refund the ledger applied once but the
// client was told twice), a purchase no client was told about and a wrong
// purchase id are each reported.
func TestCheckSeesLostAndDoubledWrites(t *testing.T) {
	driver, dsn := storetest.NewDatabase(t, store.SQLite)
	g := newGateway(t, "gateway", t.TempDir(), gatewayEnv(driver, dsn))
	g.start()
	l := newLoad(t, runID("c"), []string{g.base()}, 2, 2, g.signinCode)
	l.start(4)
	time.Sleep(time.Second)
	l.halt()
	l.check(t, driver, dsn, g)
	if t.Failed() {
		t.Fatal("the clean load does not check clean")
	}
	var earn, refund *request
	for _, r := range l.reqs {
		if r.kind == kindEarn && r.acked && earn == nil {
			earn = r
		}
		if r.kind == kindEarnRefund && r.acked && refund == nil {
			refund = r
		}
	}
	if earn == nil || refund == nil {
		t.Fatalf("the load acknowledged no earn or no refund")
	}
	lost := *earn
	lost.order, lost.key = l.run+"-lost", "lost"
	doubled := *refund
	unseen := *earn
	unseen.acked, unseen.code = false, "insufficient_budget"
	wrongID := *earn
	wrongID.resp = map[string]any{"purchase_id": float64(earn.int("purchase_id") + 1), "points": earn.resp["points"]}
	for name, tc := range map[string]struct {
		add, drop *request
		want      string
	}{
		"lost":     {add: &lost, want: "is missing"},
		"doubled":  {add: &doubled, want: "fen refunded in the ledger"},
		"unseen":   {drop: earn, add: &unseen, want: "was refused"},
		"wrong id": {drop: earn, add: &wrongID, want: "the client was told"},
	} {
		saved := l.reqs
		var reqs []*request
		for _, r := range saved {
			if r != tc.drop {
				reqs = append(reqs, r)
			}
		}
		l.reqs = append(reqs, tc.add)
		f := &findings{TB: t}
		l.check(f, driver, dsn, nil)
		l.reqs = saved
		if !strings.Contains(strings.Join(f.errs, "\n"), tc.want) {
			t.Errorf("%s: check reported %q, want a finding containing %q", name, f.errs, tc.want)
		}
	}
	g.stop()
}
