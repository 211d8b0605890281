package store_test

import (
	"database/sql"
	"testing"

	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
)

// The batch's statement layer behaves the same whether statements run one
// by one (SQLite) or are queued and sent together (the MySQL pipeline).

const insNonce = `INSERT INTO request_nonces (expires_at, key_id, nonce) VALUES (?, ?, ?)`

func countNonces(t *testing.T, db *store.DB, key string) int {
	t.Helper()
	var n int
	if err := db.R.Get(&n, `SELECT COUNT(*) FROM request_nonces WHERE key_id = ?`, key); err != nil {
		t.Fatal(err)
	}
	return n
}

// A statement that fails after others were queued behind or ahead of it
// fails the batch, and nothing of the batch stays.
func TestBatchFailedStatementRollsBackAll(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		err := db.InBatch(func(b store.BatchExec) error {
			for _, n := range []string{"a", "b", "a", "c"} { // the second "a" is refused
				if _, err := b.Exec(insNonce, 1, "k-dup", n); err != nil {
					return err
				}
			}
			return nil
		})
		if !store.IsDuplicate(err) {
			t.Fatalf("batch with a duplicate third statement: %v, want a duplicate-key error", err)
		}
		if n := countNonces(t, db, "k-dup"); n != 0 {
			t.Errorf("%d rows of the failed batch stayed", n)
		}
		// The connection is usable again, without the failed transaction.
		if err := db.InBatch(func(b store.BatchExec) error {
			_, err := b.Exec(insNonce, 1, "k-dup", "a")
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if n := countNonces(t, db, "k-dup"); n != 1 {
			t.Errorf("%d rows after the second batch, want 1", n)
		}
	})
}

// A failed write queued ahead of a read surfaces at that read.
func TestBatchFailedWriteSurfacesAtNextRead(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		err := db.InBatch(func(b store.BatchExec) error {
			if _, err := b.Exec(insNonce, 1, "k-read", "a"); err != nil {
				return err
			}
			if _, err := b.Exec(insNonce, 1, "k-read", "a"); err != nil {
				return err
			}
			var n int
			return b.Get(&n, `SELECT COUNT(*) FROM request_nonces WHERE key_id = ?`, "k-read")
		})
		if !store.IsDuplicate(err) {
			t.Fatalf("read after a refused write: %v, want a duplicate-key error", err)
		}
		if n := countNonces(t, db, "k-read"); n != 0 {
			t.Errorf("%d rows of the failed batch stayed", n)
		}
	})
}

// Values travel as arguments, never as SQL: quotes, backslashes,
// semicolons, question marks and comment markers come back as written,
// through reads that carry queued writes ahead of them.
func TestBatchValuesAreNotSQL(t *testing.T) {
	nasty := []string{`'; DROP TABLE request_nonces; --`, `\'`, `a\`, `?`, `"?;"`, `/* x */ ?`, "#\n?", "`", "'?'"}
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		err := db.InBatch(func(b store.BatchExec) error {
			for i, v := range nasty {
				if _, err := b.Exec(insNonce, i, "k-nasty", v); err != nil {
					return err
				}
			}
			var got []string
			if err := b.Select(&got, `SELECT nonce FROM request_nonces WHERE key_id = ? ORDER BY expires_at`, "k-nasty"); err != nil {
				return err
			}
			if len(got) != len(nasty) {
				t.Fatalf("read %d rows inside the batch, want %d", len(got), len(nasty))
			}
			for i := range nasty {
				if got[i] != nasty[i] {
					t.Errorf("inside the batch: %q came back as %q", nasty[i], got[i])
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		if err := db.R.Select(&got, `SELECT nonce FROM request_nonces WHERE key_id = ? ORDER BY expires_at`, "k-nasty"); err != nil {
			t.Fatal(err)
		}
		if len(got) != len(nasty) {
			t.Fatalf("%d rows committed, want %d", len(got), len(nasty))
		}
		for i := range nasty {
			if got[i] != nasty[i] {
				t.Errorf("committed: %q came back as %q", nasty[i], got[i])
			}
		}
	})
}

// A queued statement's row count is its own (the consent guard relies on
// it), also when other statements were queued before it.
func TestBatchRowsAffectedOfQueuedStatement(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		err := db.InBatch(func(b store.BatchExec) error {
			for _, n := range []string{"a", "b"} {
				if _, err := b.Exec(insNonce, 1, "k-rows", n); err != nil {
					return err
				}
			}
			// Both UPDATEs are queued before either count is asked for.
			want := map[string]int64{"a": 1, "zz": 0, "b": 1}
			res := map[string]sql.Result{}
			for _, n := range []string{"a", "zz", "b"} {
				r, err := b.Exec(`UPDATE request_nonces SET expires_at = 2 WHERE key_id = ? AND nonce = ?`, "k-rows", n)
				if err != nil {
					return err
				}
				res[n] = r
			}
			for _, n := range []string{"zz", "a", "b"} {
				got, err := res[n].RowsAffected()
				if err != nil {
					return err
				}
				if got != want[n] {
					t.Errorf("UPDATE of nonce %q: %d rows affected, want %d", n, got, want[n])
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}

// Only the batch pipeline's connections accept several statements at once.
func TestOtherConnectionsRefuseMultipleStatements(t *testing.T) {
	db := storetest.Open(t, store.MySQL)
	if _, err := db.W.Exec(`SELECT 1; SELECT 2`); err == nil {
		t.Fatal("the shared pool ran two statements in one query")
	}
}
