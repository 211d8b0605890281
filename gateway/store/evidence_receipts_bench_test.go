package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/gateway/evidence"
	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
)

// BenchmarkReceipt is the cost a receipt adds to a ledger write's answer
// (docs/evidence.md §15): reading the committed transaction and its
// postings back, encoding it and signing the receipt with SM2, as for a
// replayed answer. Run:
//
//	go test ./gateway/store -run '^$' -bench Receipt
func BenchmarkReceipt(b *testing.B) {
	db := storetest.Open(b, store.SQLite)
	evInsertTx(b, db, 42, time.Now(), 120)
	r := evidence.NewReceipts(db.Evidence(), evSigner(), "bench.example/lianmeng")
	ctx := context.Background()
	for b.Loop() {
		if _, err := r.Issue(ctx, 42); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReceiptBatch is a receipt's cost when the writer's batch holds
// 64 transactions: one SM2 signature for the batch, its tree, and each
// receipt's header; reported per receipt.
func BenchmarkReceiptBatch(b *testing.B) {
	r := evidence.NewReceipts(nil, evSigner(), "bench.example/lianmeng")
	recs := make([]evidence.TxRecord, 64)
	for i := range recs {
		recs[i] = evidence.TxRecord{ID: int64(i + 1), Kind: "earn", Ref: "m1:order", CreatedAt: time.Now(), Postings: []evidence.Posting{
			{Account: "merchant:m1:budget", Asset: "PTS", Amount: -120}, {Account: "member:x:pending", Asset: "PTS", Amount: 120}}}
	}
	n := 0
	for b.Loop() {
		batch := evidence.NewBatch(func() []evidence.TxRecord { return recs })
		for _, rec := range recs {
			if _, err := r.HeaderIn(batch, rec.ID); err != nil {
				b.Fatal(err)
			}
			n++
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n)/1000, "µs/receipt")
}
