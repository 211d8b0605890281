package store_test

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/gateway/points"
	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
)

// TestIdempotentEarnRebuilt: an earn's record keeps a reference to its
// purchase, not its answer, and a replay (in the same batch, in a later
// one, after the lot was released and the purchase refunded, through a
// new writer) answers the very bytes of the first answer; a different
// request under the key is told apart. An answer the purchase cannot
// rebuild keeps its body (TestIdempotencyRecordsBeforeCompaction).
func TestIdempotentEarnRebuilt(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clk := newEvClock()
		w := db.NewWriter(store.WriterOptions{Now: clk.Now})
		svc := &points.Service{Policy: testPolicy(), Now: clk.Now, Earnings: points.EarningFunc(func(context.Context, string) (points.Earning, error) {
			return points.Earning{}, nil
		})}
		m := makeMerchants(t, db, 1, 100)[0]
		if _, err := run(w, func(tx points.Tx) (points.FundResult, error) {
			return svc.Fund(tx, points.FundRequest{MerchantID: m, AmountFen: 1_000_000, ExternalRef: "f"})
		}); err != nil {
			t.Fatal(err)
		}
		member := points.Identity{Kind: points.IdentityPhone, Value: "13900000001"}
		earn := func(w *store.Writer, order, key, hash string) store.OpResult {
			t.Helper()
			cmd, err := svc.PrepareEarn(ctx, points.EarnRequest{MerchantID: m, OrderID: order, Member: member, AmountFen: 12345})
			if err != nil {
				t.Fatal(err)
			}
			res := w.Submit(ctx, &store.Op{Command: cmd, Idem: &store.Idem{MerchantID: m, Key: key, RequestHash: hash, Status: 201}})
			if res.Err != nil {
				t.Fatal(res.Err)
			}
			return res
		}
		first := earn(w, "o1", "k1", "hash-1")
		if first.Replay != nil || len(first.Body) == 0 {
			t.Fatalf("first earn: %+v", first)
		}
		var form int
		var resp sql.NullString
		if err := db.R.QueryRow(`SELECT form, response FROM idempotency_records`).Scan(&form, &resp); err != nil {
			t.Fatal(err)
		}
		if form != 1 || resp.Valid {
			t.Fatalf("earn recorded as form %d with response %v, want a reference", form, resp)
		}
		replayed := func(w *store.Writer, when string) {
			t.Helper()
			res := earn(w, "o1", "k1", "hash-1")
			if res.Replay == nil || res.Replay.RequestHash != "hash-1" || res.Replay.Status != 201 {
				t.Fatalf("%s: not a replay: %+v", when, res)
			}
			if res.Replay.Response != string(first.Body) {
				t.Fatalf("%s: replay answered\n%s\nfirst answer was\n%s", when, res.Replay.Response, first.Body)
			}
		}
		replayed(w, "next batch")
		if res := earn(w, "o2", "k1", "hash-2"); res.Replay == nil || res.Replay.RequestHash == "hash-2" {
			t.Fatalf("another request under the key: %+v", res)
		}

		// The lot released and the purchase partly refunded: the answer
		// is still the first one.
		clk.Add(25 * time.Hour)
		if _, err := run(w, func(tx points.Tx) (int, error) { return svc.Release(tx, 100) }); err != nil {
			t.Fatal(err)
		}
		if _, err := run(w, func(tx points.Tx) (points.RefundEarnResult, error) {
			return svc.RefundEarn(tx, points.RefundEarnRequest{MerchantID: m, OrderID: "o1", AmountFen: 5000})
		}); err != nil {
			t.Fatal(err)
		}
		replayed(w, "after release and refund")
		w.Close()
		w = db.NewWriter(store.WriterOptions{Now: clk.Now})
		defer w.Close()
		replayed(w, "new writer")

		// Within one batch: the duplicate replays from the batch's memory.
		cmd := func(order string) points.Command {
			c, err := svc.PrepareEarn(ctx, points.EarnRequest{MerchantID: m, OrderID: order, Member: member, AmountFen: 500})
			if err != nil {
				t.Fatal(err)
			}
			return c
		}
		a, b := &store.Op{Command: cmd("o3"), Idem: &store.Idem{MerchantID: m, Key: "k3", RequestHash: "h3", Status: 201}},
			&store.Op{Command: cmd("o3"), Idem: &store.Idem{MerchantID: m, Key: "k3", RequestHash: "h3", Status: 201}}
		if _, _, _, err := w.BatchPhases([]*store.Op{a, b}); err != nil {
			t.Fatal(err)
		}
		if res := earn(w, "o3", "k3", "h3"); res.Replay == nil || !strings.Contains(res.Replay.Response, `"purchase_id"`) {
			t.Fatalf("batch-mate replay: %+v", res)
		}

		var n int
		if err := db.R.Get(&n, `SELECT COUNT(*) FROM idempotency_records WHERE form = 1 AND response IS NULL`); err != nil || n != 2 {
			t.Fatalf("%d earn records held by reference (%v), want 2", n, err)
		}
	})
}

// TestIdempotencyRecordsBeforeCompaction: a record written before
// migration 00084 (idempotency_keys, with its body) still replays, and a
// different request under its key is still refused.
func TestIdempotencyRecordsBeforeCompaction(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		if _, err := db.W.Exec(`INSERT INTO idempotency_keys (merchant_id, idem_key, request_hash, status, response, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
			"mch_old", "k-old", "old-hash", 201, `{"purchase_id":7}`, store.Micros(time.Now())); err != nil {
			t.Fatal(err)
		}
		w := db.NewWriter(store.WriterOptions{})
		defer w.Close()
		ran := false
		op := func(hash string) store.OpResult {
			return w.Submit(ctx, &store.Op{Command: points.Command{Name: "test", Apply: func(points.Tx) (any, error) { ran = true; return 1, nil }},
				Idem: &store.Idem{MerchantID: "mch_old", Key: "k-old", RequestHash: hash, Status: 201}})
		}
		if res := op("old-hash"); res.Replay == nil || res.Replay.Response != `{"purchase_id":7}` || res.Replay.RequestHash != "old-hash" || ran {
			t.Fatalf("old record: %+v ran=%v", res, ran)
		}
		if res := op("other"); res.Replay == nil || res.Replay.RequestHash == "other" || ran {
			t.Fatalf("old record, other request: %+v ran=%v", res, ran)
		}
		if ok, err := db.IdempotencyRecorded(ctx, "mch_old", "k-old"); err != nil || !ok {
			t.Fatalf("recorded: %v %v", ok, err)
		}
		// A body that is not an earn's (an int) is kept as it is.
		res := w.Submit(ctx, &store.Op{Command: points.Command{Name: "test", Apply: func(points.Tx) (any, error) { return 42, nil }},
			Idem: &store.Idem{MerchantID: "mch_old", Key: "k-new", RequestHash: "h", Status: 200}})
		if res.Err != nil || string(res.Body) != "42" {
			t.Fatalf("new record: %+v", res)
		}
		var resp string
		if err := db.R.Get(&resp, `SELECT response FROM idempotency_records`); err != nil || resp != "42" {
			t.Fatalf("body kept: %q %v", resp, err)
		}
		// Both tables are purged, the older records first.
		if n, err := db.PurgeIdempotency(ctx, time.Now().Add(time.Hour), 1); err != nil || n != 1 {
			t.Fatalf("purge: %d %v", n, err)
		}
		if ok, _ := db.IdempotencyRecorded(ctx, "mch_old", "k-old"); ok {
			t.Fatal("the older record was not purged first")
		}
		if n, err := db.PurgeIdempotency(ctx, time.Now().Add(time.Hour), 5); err != nil || n != 1 {
			t.Fatalf("purge: %d %v", n, err)
		}
	})
}
