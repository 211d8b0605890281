package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/gateway/points"
	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
)

// TestDailySnapshots on both databases: a day's snapshot is the ledger at
// the end of that day (the last one equals the live totals), its flows are
// the day's issued, redeemed and expired points, a quiet day still has its
// row, a day not yet settled is not taken, a rerun keeps nothing twice, and
// a wiped table is rebuilt with the same rows even after later writes
// (computed from the ledger, never from the balances of the moment).
func TestDailySnapshots(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clock := &fakeClock{}
		// 2026-03-01 10:00 in China Standard Time.
		clock.us.Store(time.Date(2026, 3, 1, 2, 0, 0, 0, time.UTC).UnixMicro())
		w := db.NewWriter(store.WriterOptions{Now: clock.Now})
		defer w.Close()
		svc := &points.Service{Policy: testPolicy()}
		m := makeMerchants(t, db, 1, 1000)[0]
		member := points.Identity{Kind: "phone", Value: "13700000000"}
		do := func(f func(tx points.Tx) error) {
			t.Helper()
			if _, err := run(w, func(tx points.Tx) (int, error) { return 0, f(tx) }); err != nil {
				t.Fatal(err)
			}
		}
		earn := func(order string, fen int64) {
			do(func(tx points.Tx) error {
				_, err := svc.Earn(tx, points.EarnRequest{MerchantID: m, OrderID: order, Member: member, AmountFen: fen})
				return err
			})
		}
		// Day 1 (03-01): funded 50,000 fen, 1,000 points issued.
		do(func(tx points.Tx) error {
			_, err := svc.Fund(tx, points.FundRequest{MerchantID: m, AmountFen: 50000, ExternalRef: "f1"})
			return err
		})
		earn("o1", 10000)
		// Day 2 (03-02): released, 300 redeemed, 500 more issued.
		clock.Advance(25 * time.Hour)
		do(func(tx points.Tx) error { _, err := svc.Release(tx, 10); return err })
		code := redemptionCode(t, db, m, member)
		do(func(tx points.Tx) error {
			_, err := svc.Redeem(tx, points.RedeemRequest{MerchantID: m, OrderID: "r1", Code: code, Member: member, Points: 300, AmountFen: 300})
			return err
		})
		earn("o2", 5000)
		// Day 3 (03-03) is quiet. Day 4 (03-04) starts the gap in taking.
		clock.Advance(48 * time.Hour)

		// Day 4 at 10:00: days 1-3 have ended.
		n, err := db.TakeSnapshots(ctx, clock.Now(), 10*time.Minute, 1)
		if err != nil || n != 3 {
			t.Fatalf("TakeSnapshots = %d, %v; want 3 days", n, err)
		}
		ss, err := db.Snapshots(ctx, "2026-01-01", "2026-12-31")
		if err != nil {
			t.Fatal(err)
		}
		if len(ss) != 3 || ss[0].Day != "2026-03-01" || ss[2].Day != "2026-03-03" {
			t.Fatalf("days %+v", ss)
		}
		d1, d2, d3 := ss[0], ss[1], ss[2]
		if d1.IssuedPoints != 1000 || d1.RedeemedPoints != 0 || d1.FundedTodayFen != 50000 || d1.ReserveFen != 50000 || d1.OutstandingPoints != 50000 || d1.CoverageBP != 10000 || !d1.Covered {
			t.Errorf("day 1: %+v", d1)
		}
		if d2.IssuedPoints != 500 || d2.RedeemedPoints != 300 || d2.FundedTodayFen != 0 || d2.BurnedPoints != 300 || d2.OutstandingPoints != 49700 {
			t.Errorf("day 2: %+v", d2)
		}
		if d3.IssuedPoints != 0 || d3.RedeemedPoints != 0 || d3.Balances != d2.Balances {
			t.Errorf("quiet day 3: %+v, want day 2's balances %+v", d3, d2.Balances)
		}
		tot, err := db.Totals(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if d3.ReserveFen != tot.ReserveFen || d3.OutstandingPoints != tot.OutstandingPts || d3.BurnedPoints != tot.BurnedPoints ||
			d3.MintedPoints != tot.MintedPoints || d3.FundedFen != tot.FundedFen || d3.PayableFen != tot.PayableFen {
			t.Errorf("last snapshot %+v differs from the live totals %+v", d3, tot)
		}
		// Nothing twice; day 4 not before it has ended and settled.
		if n, err := db.TakeSnapshots(ctx, clock.Now(), 10*time.Minute, 1); err != nil || n != 0 {
			t.Fatalf("rerun = %d, %v", n, err)
		}
		clock.Advance(13*time.Hour + 5*time.Minute) // 03-05 00:05, 5 minutes after day 4 ended
		if n, _ := db.TakeSnapshots(ctx, clock.Now(), 10*time.Minute, 1); n != 0 {
			t.Fatalf("day 4 taken %d before it settled", n)
		}
		// Later writes, then the table wiped: rebuilt the same.
		earn("o3", 20000)
		clock.Advance(10 * time.Minute)
		if _, err := db.W.ExecContext(ctx, `DELETE FROM daily_snapshots`); err != nil {
			t.Fatal(err)
		}
		if n, err := db.TakeSnapshots(ctx, clock.Now(), 10*time.Minute, 1); err != nil || n != 4 {
			t.Fatalf("rebuild = %d, %v; want 4 days", n, err)
		}
		again, err := db.Snapshots(ctx, "2026-03-01", "2026-03-04")
		if err != nil {
			t.Fatal(err)
		}
		for i := range ss {
			if again[i] != ss[i] {
				t.Errorf("rebuilt %s: %+v, was %+v", ss[i].Day, again[i], ss[i])
			}
		}
		if d4 := again[3]; d4.Balances != d3.Balances || d4.IssuedPoints != 0 || d4.ExpiredToday != 0 {
			t.Errorf("day 4 (quiet; the later earn is day 5's): %+v", d4)
		}
		// Expiry: o1's lot, released on day 2 and 300 spent, expires ten days
		// later; o2's and o3's lots were never released.
		clock.Advance(12 * 24 * time.Hour)
		do(func(tx points.Tx) error { _, err := svc.Expire(tx, 10); return err })
		clock.Advance(24 * time.Hour)
		if _, err := db.TakeSnapshots(ctx, clock.Now(), 10*time.Minute, 1); err != nil {
			t.Fatal(err)
		}
		last, ok, err := db.LastSnapshot(ctx)
		if err != nil || !ok {
			t.Fatal(ok, err)
		}
		all, _ := db.Snapshots(ctx, "2026-03-01", last.Day)
		var issued, redeemed, expiredSum int64
		for _, s := range all {
			issued, redeemed, expiredSum = issued+s.IssuedPoints, redeemed+s.RedeemedPoints, expiredSum+s.ExpiredToday
		}
		tot, _ = db.Totals(ctx)
		if issued != 3500 || redeemed != 300 || expiredSum != 700 || expiredSum != tot.ExpiredPoints || last.OutstandingPoints != tot.OutstandingPts {
			t.Errorf("over %d days: issued %d redeemed %d expired %d (want the 700 released and unspent, as the ledger); last %+v vs totals %+v",
				len(all), issued, redeemed, expiredSum, last, tot)
		}
	})
}
