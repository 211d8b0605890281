package store_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/gateway/ledger"
	"github.com/lianmeng/lianmeng/gateway/points"
	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
)

// TestSpendableLots: SpendableLots reads only the first-expiring lots that
// cover the need (across pages), sums every unexpired available lot, skips
// expired ones, and agrees with the batch's own unwritten changes; a
// redemption spanning more lots than a page consumes them in expiry order.
func TestSpendableLots(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		clock := &fakeClock{}
		clock.us.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro())
		w := db.NewWriter(store.WriterOptions{Now: clock.Now})
		defer w.Close()
		svc := &points.Service{Policy: testPolicy()}
		m := makeMerchants(t, db, 1, 1000)[0] // 10% back
		member := points.Identity{Kind: "phone", Value: "13900000077"}
		if _, err := run(w, func(tx points.Tx) (points.FundResult, error) {
			return svc.Fund(tx, points.FundRequest{MerchantID: m, AmountFen: 10_000_000, ExternalRef: "fund"})
		}); err != nil {
			t.Fatal(err)
		}
		const n = 60
		var memberID string
		for i := range n { // 10 points each, expiring a minute apart
			e, err := run(w, func(tx points.Tx) (points.EarnResult, error) {
				return svc.Earn(tx, points.EarnRequest{MerchantID: m, OrderID: fmt.Sprintf("o%d", i), Member: member, AmountFen: 100})
			})
			if err != nil {
				t.Fatal(err)
			}
			memberID = e.MemberID
			clock.Advance(time.Minute)
		}
		clock.Advance(25 * time.Hour)
		if _, err := run(w, func(tx points.Tx) (int, error) { return svc.Release(tx, 1000) }); err != nil {
			t.Fatal(err)
		}
		// Past the first lot's expiry (the expiry job has not run).
		all, err := run(w, func(tx points.Tx) ([]*ledger.Lot, error) { return tx.Lots(memberID, ledger.LotAvailable) })
		if err != nil || len(all) != n {
			t.Fatalf("lots: %d %v", len(all), err)
		}
		clock.us.Store(all[0].ExpiresAt.UnixMicro())
		type got struct {
			lots      []*ledger.Lot
			spendable int64
		}
		spend := func(need int64) got {
			t.Helper()
			g, err := run(w, func(tx points.Tx) (got, error) {
				ls, s, err := tx.SpendableLots(memberID, tx.Now(), need)
				return got{ls, s}, err
			})
			if err != nil {
				t.Fatal(err)
			}
			return g
		}
		ids := func(ls []*ledger.Lot) []int64 {
			var out []int64
			for _, l := range ls {
				out = append(out, l.ID)
			}
			return out
		}
		want := func(need int64) []int64 { // the unexpired lots covering need
			if need > (n-1)*10 {
				return nil // not enough: refused, no lot read
			}
			var out []int64
			var c int64
			for _, l := range all[1:] {
				if c >= need {
					break
				}
				out, c = append(out, l.ID), c+l.Remaining
			}
			return out
		}
		for _, need := range []int64{1, 10, 11, 250, 590, 5000} {
			g := spend(need)
			if g.spendable != (n-1)*10 {
				t.Errorf("need %d: spendable %d, want %d", need, g.spendable, (n-1)*10)
			}
			if fmt.Sprint(ids(g.lots)) != fmt.Sprint(want(need)) {
				t.Errorf("need %d: lots %v, want %v", need, ids(g.lots), want(need))
			}
		}
		// Within a batch that changed lots of the member (not yet written),
		// the answer follows the batch, whether it read some lots or all
		// (Lots). The batch then fails, so the changes are rolled back.
		errUndo := errors.New("undo")
		for _, loadAll := range []bool{false, true} {
			var g got
			_, err = run(w, func(tx points.Tx) (int, error) {
				if loadAll {
					if _, err := tx.Lots(memberID, ledger.LotAvailable); err != nil {
						return 0, err
					}
				}
				for _, c := range []struct {
					i    int
					left int64
				}{{1, 0}, {3, 5}} { // lot 1 spent, lot 3 half spent
					l, err := tx.Lot(all[c.i].ID)
					if err != nil {
						return 0, err
					}
					l.Remaining = c.left
					if c.left == 0 {
						l.State = ledger.LotClosed
					}
					if err := tx.SaveLot(l, false); err != nil {
						return 0, err
					}
				}
				var err error
				g.lots, g.spendable, err = tx.SpendableLots(memberID, tx.Now(), 35)
				if err != nil {
					return 0, err
				}
				return 0, errUndo
			})
			if !errors.Is(err, errUndo) {
				t.Fatalf("batch: %v", err)
			}
			wantIDs := []int64{all[2].ID, all[3].ID, all[4].ID, all[5].ID} // 10+5+10+10
			if g.spendable != (n-1)*10-15 || fmt.Sprint(ids(g.lots)) != fmt.Sprint(wantIDs) {
				t.Errorf("after changes in the batch (all read: %v): %d %v, want %d %v", loadAll, g.spendable, ids(g.lots), (n-1)*10-15, wantIDs)
			}
		}
		if g := spend(15); fmt.Sprint(ids(g.lots)) != fmt.Sprint(want(15)) {
			t.Errorf("after the undone batch: %v, want %v", ids(g.lots), want(15))
		}
		// A redemption of more lots than a page takes them first-expiring
		// first.
		code := redemptionCode(t, db, m, member)
		if _, err := run(w, func(tx points.Tx) (points.RedeemResult, error) {
			return svc.Redeem(tx, points.RedeemRequest{MerchantID: m, OrderID: "r1", Code: code, Member: member, Points: 255, AmountFen: 1_000_000})
		}); err != nil {
			t.Fatal(err)
		}
		left, err := run(w, func(tx points.Tx) ([]*ledger.Lot, error) { return tx.Lots(memberID, ledger.LotAvailable) })
		if err != nil {
			t.Fatal(err)
		}
		// The expired lot 0 stays; lots 1..25 are spent, 26 has 5 left.
		if len(left) != n-25 || left[0].ID != all[0].ID || left[1].ID != all[26].ID || left[1].Remaining != 5 {
			t.Errorf("after redeeming 255: %d lots, first %+v, second %+v", len(left), left[0], left[1])
		}
		assertClean(t, db)
	})
}
