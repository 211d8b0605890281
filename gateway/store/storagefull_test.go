package store

import (
	"errors"
	"os"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
)

// After the disk filled, writes pause without touching the database and
// /readyz (Ping) fails, until the WAL is checkpointed and truncated and
// the filesystem has room again; then they resume by themselves.
func TestWritesPauseUntilStorageReclaimed(t *testing.T) {
	db, w := openSQLiteWriter(t)
	expires := time.Now().Add(time.Minute)
	nonce := func(n string) *Op { return &Op{Nonce: &Nonce{KeyID: "k", Nonce: n, Expires: expires}} }
	if r := w.Submit(t.Context(), nonce("before")); r.Err != nil {
		t.Fatal(r.Err)
	}
	free := uint64(0) // the filesystem as the store sees it
	freeSpace = func(string) (uint64, bool) { return free, true }
	t.Cleanup(func() { freeSpace = diskFree })

	full := errors.New("commit batch: database or disk is full (13)")
	if got := db.noteStorageFull(full); got != full {
		t.Fatalf("noteStorageFull changed a storage-full error: %v", got)
	}
	if r := w.Submit(t.Context(), nonce("while-full")); !errors.Is(r.Err, ErrStorageFull) || !IsStorageFull(r.Err) {
		t.Fatalf("write while full: %v, want ErrStorageFull", r.Err)
	}
	ran := false
	if err := db.inTx(t.Context(), func(*sqlx.Tx) error { ran = true; return nil }); !errors.Is(err, ErrStorageFull) || ran {
		t.Fatalf("inTx while full: %v (ran %v), want ErrStorageFull without running", err, ran)
	}
	time.Sleep(fullRetry) // the next check tries the checkpoint: it works, but there is no room
	if err := db.Ping(t.Context()); !errors.Is(err, ErrStorageFull) {
		t.Fatalf("Ping while full: %v, want ErrStorageFull", err)
	}
	var n int
	h := nonceHash("k", "while-full")
	if err := db.R.Get(&n, `SELECT COUNT(*) FROM request_nonce_hashes WHERE hash = ?`, h[:]); err != nil || n != 0 {
		t.Fatalf("the refused write left %d rows (%v)", n, err)
	}

	free = 1 << 30 // space is back
	time.Sleep(fullRetry)
	if err := db.Ping(t.Context()); err != nil {
		t.Fatalf("Ping once space is back: %v", err)
	}
	if fi, err := os.Stat(db.walPath); err != nil || fi.Size() != 0 {
		t.Fatalf("the WAL was not truncated before writes resumed: %v %v", fi.Size(), err)
	}
	if r := w.Submit(t.Context(), nonce("after")); r.Err != nil {
		t.Fatalf("write once space is back: %v", r.Err)
	}
}

// MySQL manages its own files: its storage-full errors pause nothing.
func TestStorageFullPausesOnlySQLite(t *testing.T) {
	db := &DB{Dialect: MySQL}
	full := errors.New("The table 'postings' is full")
	if got := db.noteStorageFull(full); got != full || db.gate.full.Load() {
		t.Fatalf("MySQL: noteStorageFull = %v, paused %v", got, db.gate.full.Load())
	}
}

// Under steady writes and no reader holding it, the checkpointer restarts
// the WAL by its content and the writer reuses the file as it is: it stays
// under walTruncateSize and is never cut (an ftruncate in the writer's
// commit, and appending fresh blocks instead of overwriting old ones).
func TestCheckpointerReusesTheWAL(t *testing.T) {
	db, _ := openSQLiteWriter(t)
	if _, err := db.W.Exec(`CREATE TABLE filler (b BLOB)`); err != nil {
		t.Fatal(err)
	}
	blob := make([]byte, 1<<20)
	var last, peak int64
	for i := 0; i < 3*walRestartSize>>20; i++ {
		blob[0] = byte(i)
		if _, err := db.W.Exec(`INSERT INTO filler (b) VALUES (?)`, blob); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(db.walPath)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() < last {
			t.Fatalf("after %d MiB the WAL went from %d to %d bytes: it was cut", i+1, last, fi.Size())
		}
		last, peak = fi.Size(), max(peak, fi.Size())
		time.Sleep(20 * time.Millisecond) // ~50 MB/s: the checkpointer ticks every 250 ms
	}
	if peak > walTruncateSize {
		t.Fatalf("the WAL reached %d bytes, past %d", peak, walTruncateSize)
	}
	if peak >= int64(3*walRestartSize) {
		t.Fatalf("the WAL reached %d bytes for %d written: it was never restarted", peak, 3*walRestartSize)
	}
}

// Under steady writes with a reader keeping an old snapshot, the WAL
// cannot start again and grows; once it is past walTruncateSize and the
// reader is gone, the checkpointer's RESTART lets the writer's next
// transaction start it again and cut it to walTruncateSize.
func TestCheckpointerBoundsTheWAL(t *testing.T) {
	db, _ := openSQLiteWriter(t)
	if _, err := db.W.Exec(`CREATE TABLE filler (b BLOB)`); err != nil {
		t.Fatal(err)
	}
	reader, err := db.R.Beginx()
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := reader.Get(&n, `SELECT COUNT(*) FROM filler`); err != nil { // holds its snapshot
		t.Fatal(err)
	}
	blob := make([]byte, 1<<20)
	for i := 0; i < walTruncateSize>>20+8; i++ {
		blob[0] = byte(i)
		if _, err := db.W.Exec(`INSERT INTO filler (b) VALUES (?)`, blob); err != nil {
			t.Fatal(err)
		}
	}
	fi, err := os.Stat(db.walPath)
	if err != nil || fi.Size() <= walTruncateSize {
		t.Fatalf("WAL %d bytes (%v): the test did not grow it past %d", fi.Size(), err, walTruncateSize)
	}
	reader.Rollback()
	deadline := time.Now().Add(10 * time.Second)
	for i := 0; ; i++ {
		if _, err := db.W.Exec(`INSERT INTO filler (b) VALUES (?)`, []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(db.walPath)
		if err == nil && fi.Size() <= walTruncateSize {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the WAL is still %d bytes 10 s after the reader finished (%v)", fi.Size(), err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
