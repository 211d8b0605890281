package store_test

import (
	"context"
	"testing"

	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
)

// Postings written before migration 00087 (on SQLite: the table rebuilt
// clustered by (tx_id, seq)) are all there afterwards, in order, found by
// transaction and by account; SQLite keeps no separate index for the key.
func TestPostingsSurviveClustering(t *testing.T) {
	for _, dialect := range storetest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			ctx := context.Background()
			db := openBefore(t, dialect, "_postings_clustered.sql")
			for id := int64(1); id <= 3; id++ {
				db.W.MustExecContext(ctx, `INSERT INTO ledger_transactions (id, kind, ref, reverses, created_at) VALUES (?, 'earn', ?, 0, ?)`,
					id, "purchase:"+string(rune('0'+id)), 1_000_000*id)
				// seq written out of order: the rows come back by (tx_id, seq).
				db.W.MustExecContext(ctx, `INSERT INTO postings (tx_id, seq, account, asset, amount) VALUES (?, 1, ?, 'PTS', ?), (?, 0, ?, 'PTS', ?)`,
					id, "member:u1:pending", 10*id, id, "merchant:m1:budget", -10*id)
			}
			if _, err := db.Migrate(ctx, nil); err != nil {
				t.Fatal(err)
			}
			txs, err := db.Transactions(ctx, []int64{1, 2, 3})
			if err != nil {
				t.Fatal(err)
			}
			if len(txs) != 3 {
				t.Fatalf("%d transactions, want 3", len(txs))
			}
			for _, tx := range txs {
				if len(tx.Postings) != 2 || tx.Postings[0].Account != "merchant:m1:budget" || tx.Postings[0].Amount != -10*tx.ID ||
					tx.Postings[1].Account != "member:u1:pending" || tx.Postings[1].Amount != 10*tx.ID {
					t.Fatalf("transaction %d: postings %+v", tx.ID, tx.Postings)
				}
			}
			hist, err := db.AccountHistory(ctx, []string{"member:u1:pending"}, 0, 10)
			if err != nil {
				t.Fatal(err)
			}
			if len(hist) != 3 || hist[0].ID != 3 || hist[2].ID != 1 {
				t.Fatalf("account history: %d transactions, %+v", len(hist), hist)
			}
			// The key is still unique.
			if _, err := db.W.ExecContext(ctx, `INSERT INTO postings (tx_id, seq, account, asset, amount) VALUES (1, 0, 'x', 'PTS', 0)`); err == nil || !store.IsDuplicate(err) {
				t.Fatalf("a second posting (1, 0): %v, want a duplicate key", err)
			}
			if dialect == store.SQLite {
				var sql string
				if err := db.R.GetContext(ctx, &sql, `SELECT sql FROM sqlite_master WHERE name = 'postings'`); err != nil {
					t.Fatal(err)
				}
				var autoindex int
				if err := db.R.GetContext(ctx, &autoindex, `SELECT COUNT(*) FROM sqlite_master WHERE tbl_name = 'postings' AND name LIKE 'sqlite_autoindex%'`); err != nil {
					t.Fatal(err)
				}
				if autoindex != 0 {
					t.Fatalf("postings still has its key as a separate index: %s", sql)
				}
			}
		})
	}
}
