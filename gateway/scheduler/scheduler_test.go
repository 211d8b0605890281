package scheduler

import (
	"context"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/gateway/ledger"
	"github.com/lianmeng/lianmeng/gateway/merchant"
	"github.com/lianmeng/lianmeng/gateway/points"
	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
)

var discard = slog.New(slog.NewTextHandler(io.Discard, nil))

// TestLeaseRunsJobOnce: two instances share the lease; only the holder
// runs, and the other takes over once the lease lapses.
func TestLeaseRunsJobOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		clock := func() time.Time { return now }
		a := &Scheduler{DB: db, Holder: "a", Log: discard, Now: clock}
		b := &Scheduler{DB: db, Holder: "b", Log: discard, Now: clock}
		var runs atomic.Int64
		job := Job{Name: "test.job", Interval: time.Minute, Run: func(context.Context) (int, error) { runs.Add(1); return 1, nil }}
		ctx := context.Background()
		if ran, _, err := a.RunOnce(ctx, job); !ran || err != nil {
			t.Fatalf("a: ran=%v err=%v", ran, err)
		}
		if ran, _, _ := b.RunOnce(ctx, job); ran {
			t.Fatal("b ran while a holds the lease")
		}
		if ran, _, _ := a.RunOnce(ctx, job); !ran {
			t.Fatal("a could not renew its own lease")
		}
		now = now.Add(10 * time.Minute) // a died: its lease lapses
		if ran, _, _ := b.RunOnce(ctx, job); !ran {
			t.Fatal("b did not take over an expired lease")
		}
		if ran, _, _ := a.RunOnce(ctx, job); ran {
			t.Fatal("a ran while b holds the lease")
		}
		if runs.Load() != 3 {
			t.Fatalf("job ran %d times, want 3", runs.Load())
		}
	})
}

// TestPointsJobsCatchUp: lots that fell due during downtime are released
// and expired by the next run, in batches, whatever their number.
func TestPointsJobsCatchUp(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		var now atomic.Int64
		now.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro())
		clock := func() time.Time { return time.UnixMicro(now.Load()) }
		w := db.NewWriter(store.WriterOptions{Now: clock})
		defer w.Close()
		svc := &points.Service{Policy: points.Policy{FaceValueFen: 1, ReleaseDelay: time.Hour, Validity: 24 * time.Hour,
			ExpiryPolicy: "breakage", MaxPointsPerEarn: 1000, MaxAmountFen: 1_000_000}}
		m, _ := merchant.NewMerchant("M", "fuel", clock())
		ctx := context.Background()
		if err := db.Merchants().CreateMerchant(ctx, m, "t"); err != nil {
			t.Fatal(err)
		}
		submit := func(f func(tx points.Tx) error) {
			t.Helper()
			if r := w.Submit(ctx, &store.Op{Command: points.Command{IDs: 8, Apply: func(tx points.Tx) (any, error) { return nil, f(tx) }}}); r.Err != nil {
				t.Fatal(r.Err)
			}
		}
		submit(func(tx points.Tx) error {
			_, err := svc.Fund(tx, points.FundRequest{MerchantID: m.ID, AmountFen: 100000, ExternalRef: "f"})
			return err
		})
		const lots = lotsPerBatch + 37 // more than one batch
		for i := 0; i < lots; i++ {
			p := int64(2)
			submit(func(tx points.Tx) error {
				_, err := svc.Earn(tx, points.EarnRequest{MerchantID: m.ID, OrderID: "o" + string(rune('a'+i%26)) + time.Duration(i).String(),
					Member: points.Identity{Kind: "customer", Value: "c1"}, AmountFen: 100, Points: &p})
				return err
			})
		}
		jobs := PointsJobs(w, svc, time.Minute)
		now.Add((2 * time.Hour).Microseconds()) // downtime past release
		if n, err := jobs[0].Run(ctx); err != nil || n != lots {
			t.Fatalf("release: %d %v, want %d", n, err, lots)
		}
		now.Add((48 * time.Hour).Microseconds()) // and past expiry
		if n, err := jobs[1].Run(ctx); err != nil || n != lots {
			t.Fatalf("expire: %d %v, want %d", n, err, lots)
		}
		tot, err := db.Totals(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if tot.ExpiredPoints != 2*lots || tot.BreakageFen != 2*lots || tot.AvailablePoints != 0 {
			t.Fatalf("totals after expiry: %+v", tot)
		}
		b, _ := db.Balances(ctx, ledger.Reserve)
		if b[ledger.Reserve] != 100000-2*lots {
			t.Fatalf("reserve %d", b[ledger.Reserve])
		}
		if vs, err := db.CheckInvariants(ctx, 1, nil); err != nil || len(vs) > 0 {
			t.Fatalf("invariants: %v %v", vs, err)
		}
	})
}
