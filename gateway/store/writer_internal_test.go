package store

import (
	"context"
	"errors"
	"log/slog"
	"reflect"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
)

func TestInListPadsToPowerOfTwo(t *testing.T) {
	for _, tc := range []struct {
		n, want int
	}{{1, 1}, {2, 2}, {3, 4}, {5, 8}, {8, 8}, {33, 64}} {
		var args []any
		for i := 0; i < tc.n; i++ {
			args = append(args, i, "k")
		}
		ph, got := inList("(?, ?)", 2, args)
		if want := placeholders(tc.want, "(?, ?)"); ph != want {
			t.Errorf("n=%d: placeholders for %d tuples, want %d", tc.n, len(got)/2, tc.want)
		}
		if len(got) != 2*tc.want {
			t.Fatalf("n=%d: %d args, want %d", tc.n, len(got), 2*tc.want)
		}
		if !reflect.DeepEqual(got[:2*tc.n], args[:2*tc.n]) {
			t.Errorf("n=%d: the original arguments changed", tc.n)
		}
		for i := tc.n; i < tc.want; i++ { // padding repeats the last tuple
			if got[2*i] != tc.n-1 || got[2*i+1] != "k" {
				t.Errorf("n=%d: pad tuple %d = %v, %v", tc.n, i, got[2*i], got[2*i+1])
			}
		}
	}
}

func TestChunkSizesArePowersOfTwoAndCoverAll(t *testing.T) {
	for _, n := range []int{1, 2, 3, 61, 255, 256, 257, 1000} {
		total, seen := 0, 0
		for left := n; left > 0; {
			c := chunkSize(left)
			if c&(c-1) != 0 || c > bulkChunk || c > left {
				t.Fatalf("n=%d: chunk %d of %d left", n, c, left)
			}
			total += c
			left -= c
			seen++
		}
		if total != n {
			t.Errorf("n=%d: chunks cover %d rows", n, total)
		}
		if max := n/bulkChunk + 9; seen > max {
			t.Errorf("n=%d: %d statements, want at most %d", n, seen, max)
		}
	}
}

func TestPreparedStatementsAreReusedAcrossBatches(t *testing.T) {
	db, w := openSQLiteWriter(t)
	expires := time.Now().Add(time.Minute)
	nonce := func(i int) *Op {
		return &Op{Nonce: &Nonce{KeyID: "k", Nonce: string(rune('a' + i)), Expires: expires}}
	}
	if r := w.Submit(t.Context(), nonce(0)); r.Err != nil {
		t.Fatal(r.Err)
	}
	db.stmts.mu.Lock()
	cached := len(db.stmts.m)
	db.stmts.mu.Unlock()
	if cached == 0 {
		t.Fatal("no statement was prepared after the first batch")
	}
	if r := w.Submit(t.Context(), nonce(1)); r.Err != nil {
		t.Fatal(r.Err)
	}
	db.stmts.mu.Lock()
	again := len(db.stmts.m)
	db.stmts.mu.Unlock()
	if again != cached {
		t.Errorf("a batch of the same shape prepared new statements: %d, then %d", cached, again)
	}
	// The replayed nonce is found through the cached SELECT.
	if r := w.Submit(t.Context(), nonce(1)); r.Err != ErrNonceReplayed {
		t.Errorf("replayed nonce: %v, want ErrNonceReplayed", r.Err)
	}
}

// A batch is answered only after the WAL sync; when the sync fails, its
// requests fail and the writer refuses everything after (the state of the
// file is unknown after a failed fdatasync).
func TestWriterRefusesWorkAfterFailedWALSync(t *testing.T) {
	db, w := openSQLiteWriter(t)
	expires := time.Now().Add(time.Minute)
	if r := w.Submit(t.Context(), &Op{Nonce: &Nonce{KeyID: "k", Nonce: "1", Expires: expires}}); r.Err != nil {
		t.Fatalf("first op: %v", r.Err)
	}
	if err := w.Check(t.Context()); err != nil {
		t.Fatalf("healthy writer reports %v", err)
	}
	db.walPath = t.TempDir() + "/missing/s.db-wal" // the next sync fails
	if r := w.Submit(t.Context(), &Op{Nonce: &Nonce{KeyID: "k", Nonce: "2", Expires: expires}}); !errors.Is(r.Err, ErrStorageSync) {
		t.Fatalf("op whose sync failed: %v, want ErrStorageSync", r.Err)
	}
	if err := w.Check(t.Context()); err == nil {
		t.Error("Check is nil after a failed sync")
	}
	if r := w.Submit(t.Context(), &Op{Nonce: &Nonce{KeyID: "k", Nonce: "3", Expires: expires}}); !errors.Is(r.Err, ErrStorageSync) {
		t.Fatalf("op after the failure: %v, want ErrStorageSync", r.Err)
	}
}

// Transactions outside the batching writer commit with synchronous=FULL
// (durable before visible); the writer connection is back at NORMAL after.
func TestInTxCommitsWithFullSync(t *testing.T) {
	db, _ := openSQLiteWriter(t)
	level := func(q interface {
		GetContext(context.Context, any, string, ...any) error
	}) int {
		var n int
		if err := q.GetContext(t.Context(), &n, `PRAGMA synchronous`); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if got := level(db.W); got != 1 {
		t.Fatalf("writer connection synchronous = %d, want 1 (NORMAL)", got)
	}
	var inside int
	if err := db.inTx(t.Context(), func(tx *sqlx.Tx) error { inside = level(tx); return nil }); err != nil {
		t.Fatal(err)
	}
	if inside != 2 {
		t.Errorf("inside inTx synchronous = %d, want 2 (FULL)", inside)
	}
	if got := level(db.W); got != 1 {
		t.Errorf("after inTx synchronous = %d, want 1 (NORMAL)", got)
	}
}

// openSQLiteWriter opens a migrated SQLite database in a temporary directory
// with a batching writer; both close when the test ends.
func openSQLiteWriter(t *testing.T) (*DB, *Writer) {
	t.Helper()
	db, err := Open(t.Context(), SQLite, t.TempDir()+"/s.db", Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(t.Context(), slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	w := db.NewWriter(WriterOptions{})
	t.Cleanup(w.Close) // runs before db.Close
	return db, w
}
