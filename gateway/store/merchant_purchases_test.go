package store_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/gateway/points"
	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
)

// A merchant's purchases page newest first by time, then id, even when ids
// do not follow time (ids come in blocks per gateway instance): every
// purchase appears once, in that order, across pages that split a run of
// equal times; a cursor that is not the merchant's gives an empty page.
func TestMerchantPurchasesPageByTime(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clock := &fakeClock{}
		clock.us.Store(time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC).UnixMicro())
		w := db.NewWriter(store.WriterOptions{BatchSize: 1, Now: clock.Now})
		defer w.Close()
		ms := makeMerchants(t, db, 2, 100)
		svc := &points.Service{Policy: testPolicy(), Now: clock.Now, Earnings: points.EarningFunc(func(context.Context, string) (points.Earning, error) {
			return points.Earning{}, nil
		})}
		for _, m := range ms {
			if _, err := run(w, func(tx points.Tx) (points.FundResult, error) {
				return svc.Fund(tx, points.FundRequest{MerchantID: m, AmountFen: 1_000_000, ExternalRef: "f"})
			}); err != nil {
				t.Fatal(err)
			}
		}
		// Ids grow with each earn; the clock does not: minutes 50, 40,
		// 30, 30, 30, 10, as when a second instance's older block of ids
		// is used after a newer one.
		var ids []int64
		at := map[int64]int{}
		for i, minute := range []int{50, 40, 30, 30, 30, 10} {
			clock.us.Store(time.Date(2026, 12, 1, 8, minute, 0, 0, time.UTC).UnixMicro())
			cmd, err := svc.PrepareEarn(ctx, points.EarnRequest{MerchantID: ms[0], OrderID: fmt.Sprint("o", i),
				Member: points.Identity{Kind: points.IdentityCustomer, Value: "c1"}, AmountFen: 1000})
			if err != nil {
				t.Fatal(err)
			}
			res := w.Submit(ctx, &store.Op{Command: cmd})
			if res.Err != nil {
				t.Fatal(res.Err)
			}
			id := res.Value.(points.EarnResult).PurchaseID
			ids = append(ids, id)
			at[id] = minute
		}
		if !slices.IsSorted(ids) {
			t.Fatalf("ids %v do not grow", ids)
		}
		// Newest first: by minute descending, then id descending.
		want := []int64{ids[0], ids[1], ids[4], ids[3], ids[2], ids[5]}
		var got []int64
		before := int64(0)
		for page := 0; page < 10; page++ {
			ps, err := db.MerchantPurchases(ctx, ms[0], "", before, 2)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range ps {
				got = append(got, p.ID)
			}
			if len(ps) < 2 {
				break
			}
			before = ps[len(ps)-1].ID
		}
		if !slices.Equal(got, want) {
			t.Fatalf("pages gave %v (minutes %v), want %v", got, minutes(got, at), want)
		}
		recent, err := db.RecentEarnPurchases(ctx, ms[0], 3)
		if err != nil {
			t.Fatal(err)
		}
		if len(recent) != 3 || recent[0].Label != "order o0" || recent[1].Label != "order o1" || recent[2].Label != "order o4" {
			t.Fatalf("recent purchases %+v, want o0, o1, o4", recent)
		}
		// Another merchant's purchase, or none, as the cursor: nothing.
		for _, cursor := range []int64{ids[2], 1 << 60} {
			ps, err := db.MerchantPurchases(ctx, ms[1], "", cursor, 10)
			if err != nil || len(ps) != 0 {
				t.Fatalf("merchant 2 with cursor %d: %d purchases, %v", cursor, len(ps), err)
			}
		}
	})
}

func minutes(ids []int64, at map[int64]int) []int {
	var out []int
	for _, id := range ids {
		out = append(out, at[id])
	}
	return out
}
