package store_test

import (
	"context"
	"strings"
	"testing"

	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
)

// Postings written before migration 00089 (postings name their account by
// accounts.id) read back the same afterwards, by transaction and by
// account, balances and the invariant checks are unchanged, an account
// that only postings named gets a row, and Down gives the names back.
func TestPostingAccountIDsMigration(t *testing.T) {
	for _, dialect := range storetest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			ctx := context.Background()
			db := openBefore(t, dialect, "_posting_account_ids.sql")
			// merchant:m1:budget and member:u1:pending have balance rows;
			// external:funding is only named by postings that net to 0 (a
			// batch that wrote no row for it before this migration).
			db.W.MustExecContext(ctx, `INSERT INTO accounts (name, asset, kind, balance) VALUES
				('merchant:m1:budget', 'PTS', 'budget', -60), ('member:u1:pending', 'PTS', 'pending', 60)`)
			for id := int64(1); id <= 3; id++ {
				db.W.MustExecContext(ctx, `INSERT INTO ledger_transactions (id, kind, ref, reverses, created_at) VALUES (?, 'earn', ?, 0, ?)`,
					id, "purchase:"+string(rune('0'+id)), 1_000_000*id)
				db.W.MustExecContext(ctx, `INSERT INTO postings (tx_id, seq, account, asset, amount) VALUES (?, 1, ?, 'PTS', ?), (?, 0, ?, 'PTS', ?)`,
					id, "member:u1:pending", 10*id, id, "merchant:m1:budget", -10*id)
			}
			db.W.MustExecContext(ctx, `INSERT INTO ledger_transactions (id, kind, ref, reverses, created_at) VALUES (4, 'fund', 'f', 0, 4000000)`)
			db.W.MustExecContext(ctx, `INSERT INTO postings (tx_id, seq, account, asset, amount) VALUES
				(4, 0, 'external:funding', 'CNY', -5), (4, 1, 'external:funding', 'CNY', 5)`)
			if _, err := db.Migrate(ctx, nil); err != nil {
				t.Fatal(err)
			}
			check := func(when string) {
				t.Helper()
				txs, err := db.Transactions(ctx, []int64{1, 2, 3, 4})
				if err != nil {
					t.Fatal(err)
				}
				if len(txs) != 4 {
					t.Fatalf("%s: %d transactions, want 4", when, len(txs))
				}
				for _, tx := range txs {
					if tx.ID == 4 {
						if len(tx.Postings) != 2 || tx.Postings[0].Account != "external:funding" || tx.Postings[0].Amount != -5 || tx.Postings[1].Asset != "CNY" {
							t.Fatalf("%s: transaction 4: postings %+v", when, tx.Postings)
						}
						continue
					}
					if len(tx.Postings) != 2 || tx.Postings[0].Account != "merchant:m1:budget" || tx.Postings[0].Amount != -10*tx.ID ||
						tx.Postings[1].Account != "member:u1:pending" || tx.Postings[1].Amount != 10*tx.ID {
						t.Fatalf("%s: transaction %d: postings %+v", when, tx.ID, tx.Postings)
					}
				}
				hist, err := db.AccountHistory(ctx, []string{"member:u1:pending", "external:funding"}, 0, 10)
				if err != nil {
					t.Fatal(err)
				}
				if len(hist) != 4 || hist[0].ID != 4 || hist[3].ID != 1 {
					t.Fatalf("%s: account history: %d transactions, %+v", when, len(hist), hist)
				}
				hist, err = db.AccountHistory(ctx, []string{"member:u1:pending"}, 3, 10)
				if err != nil || len(hist) != 2 || hist[0].ID != 2 {
					t.Fatalf("%s: account history before 3: %+v, %v", when, hist, err)
				}
				if hist, err = db.AccountHistory(ctx, []string{"member:nobody:pending"}, 0, 10); err != nil || len(hist) != 0 {
					t.Fatalf("%s: history of an unknown account: %+v, %v", when, hist, err)
				}
				bal, err := db.Balances(ctx, "merchant:m1:budget", "member:u1:pending", "external:funding")
				if err != nil || bal["merchant:m1:budget"] != -60 || bal["member:u1:pending"] != 60 || bal["external:funding"] != 0 {
					t.Fatalf("%s: balances %v, %v", when, bal, err)
				}
				vs, err := db.CheckInvariants(ctx, 1, nil)
				if err != nil {
					t.Fatal(err)
				}
				for _, v := range vs {
					// The fixture has no lots and a negative budget; what is
					// checked here is that postings agree with balances.
					if (v.Invariant == 1 || v.Invariant == 5) && !strings.HasPrefix(v.Subject, "member ") {
						t.Errorf("%s: %s", when, v)
					}
				}
			}
			check("after the migration")
			var kind string
			if err := db.R.GetContext(ctx, &kind, `SELECT kind FROM accounts WHERE name = 'external:funding'`); err != nil || kind != "external" {
				t.Fatalf("the account only postings named: kind %q, %v", kind, err)
			}
			var n, distinct int
			if err := db.R.GetContext(ctx, &n, `SELECT COUNT(*) FROM accounts`); err != nil {
				t.Fatal(err)
			}
			if err := db.R.GetContext(ctx, &distinct, `SELECT COUNT(DISTINCT id) FROM accounts`); err != nil || distinct != n {
				t.Fatalf("%d distinct account ids for %d accounts (%v)", distinct, n, err)
			}
			if dialect == store.SQLite {
				// AccountHistory's query is a range of postings_by_account.
				var plan []struct {
					ID      int    `db:"id"`
					Parent  int    `db:"parent"`
					NotUsed int    `db:"notused"`
					Detail  string `db:"detail"`
				}
				if err := db.R.SelectContext(ctx, &plan, `EXPLAIN QUERY PLAN SELECT DISTINCT tx_id FROM postings WHERE account_id IN (?, ?) AND tx_id < ? ORDER BY tx_id DESC LIMIT ?`, 1, 2, 100, 10); err != nil {
					t.Fatal(err)
				}
				var details []string
				for _, p := range plan {
					details = append(details, p.Detail)
				}
				if s := strings.Join(details, "; "); !strings.Contains(s, "postings_by_account (account_id=? AND tx_id<?)") {
					t.Fatalf("account history plan: %s", s)
				}
			}

			p := evProvider(t, db)
			if _, err := p.DownTo(ctx, evVersionBefore(t, p, "_posting_account_ids.sql")); err != nil {
				t.Fatal(err)
			}
			var names []string
			if err := db.R.SelectContext(ctx, &names, `SELECT account FROM postings WHERE tx_id = 1 ORDER BY seq`); err != nil {
				t.Fatal(err)
			}
			if strings.Join(names, " ") != "merchant:m1:budget member:u1:pending" {
				t.Fatalf("postings after the downgrade name %v", names)
			}
			if _, err := db.W.ExecContext(ctx, `INSERT INTO accounts (name, asset, kind, balance) VALUES ('member:u1:pending', 'PTS', 'pending', 0)`); err == nil || !store.IsDuplicate(err) {
				t.Fatalf("a second member:u1:pending after the downgrade: %v, want a duplicate key", err)
			}
			if _, err := db.Migrate(ctx, nil); err != nil {
				t.Fatal(err)
			}
			check("after down and up")
		})
	}
}
