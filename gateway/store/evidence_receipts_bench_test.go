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
// postings back, encoding it and signing the receipt with SM2. Run:
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

// BenchmarkReceiptSign is the SM2 signature alone.
func BenchmarkReceiptSign(b *testing.B) {
	r := evidence.Receipt{Origin: "bench.example/lianmeng", TxID: 42, LeafHash: evidence.LeafHash([]byte("x")), Time: time.Now(), Promise: time.Now().Add(time.Minute)}
	for b.Loop() {
		if _, err := evSigner().SignReceipt(r); err != nil {
			b.Fatal(err)
		}
	}
}
