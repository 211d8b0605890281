package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"modernc.org/sqlite"
)

// Recovering from a full disk on SQLite.
//
// SQLite starts its write-ahead log again from the beginning only after a
// checkpoint has copied every frame into the database file; until then
// each commit appends, and the file never shrinks. Once the disk is full
// the checkpoint cannot grow the database file, so the WAL is never
// started again; when space is freed, the writes retried at once grow the
// WAL into it before a checkpoint can use it, the disk is full again and
// the gateway never recovers. So after SQLITE_FULL the store pauses its
// writes (the writer's batches and inTx answer ErrStorageFull without
// touching the database; /readyz fails) until a TRUNCATE checkpoint has
// copied the WAL into the database file (the only growth it needs) and
// cut the WAL to zero bytes, and the filesystem has room again.
//
// The same runs when the database is opened on a filesystem low on space:
// a WAL a crash left behind would otherwise be appended to. If the disk is
// full then, the store opens with writes paused. The background
// checkpointer bounds the WAL in normal operation (walTruncateSize).

// ErrStorageFull is returned while writes are paused after the database
// reported its disk full (IsStorageFull is true for it).
var ErrStorageFull = errors.New("store: database or disk is full; writes resume once the write-ahead log could be checkpointed into freed space")

// fullHint names a full filesystem as the likely cause of err, which
// SQLite reports only as an I/O error when, after a crash, it cannot grow
// the -shm index of a write-ahead log on a full disk.
func fullHint(path string, err error) error {
	if free, ok := freeSpace(filepath.Dir(path)); ok && free < resumeFree {
		return fmt.Errorf("%w (the filesystem holding it is full: %d bytes free; free some space and start again)", err, free)
	}
	return err
}

// freeSpace is diskFree (a variable for tests).
var freeSpace = diskFree

// fullRetry is how often a paused store tries the checkpoint again.
const fullRetry = 250 * time.Millisecond

type storageGate struct {
	full atomic.Bool
	mu   sync.Mutex
	last time.Time // the last checkpoint attempt
	err  error     // its outcome
}

// noteStorageFull pauses writes if err means the disk is full (SQLite
// only: a MySQL server manages its own files), and returns err as the
// caller should report it: for IsStorageFull to hold, an I/O error on a
// full disk is wrapped in ErrStorageFull.
func (db *DB) noteStorageFull(err error) error {
	if db.walPath == "" || err == nil || errors.Is(err, ErrStorageFull) {
		return err
	}
	if !IsStorageFull(err) {
		// SQLite reports some writes on a full disk only as an I/O error
		// (growing the -shm index of the WAL, for one).
		var se *sqlite.Error
		if !errors.As(err, &se) || se.Code()&0xff != sqliteIOErr {
			return err
		}
		if free, ok := freeSpace(filepath.Dir(db.walPath)); !ok || free >= resumeFree {
			return err
		}
		err = fmt.Errorf("%w: %w", ErrStorageFull, err)
	}
	db.gate.full.Store(true)
	return err
}

// sqliteIOErr is SQLITE_IOERR, the primary code of every I/O error.
const sqliteIOErr = 10

// storageReady returns nil when writes may go ahead. While they are paused
// it tries, at most every fullRetry, to checkpoint and truncate the WAL on
// the writer's connection, and answers ErrStorageFull until that worked.
// /readyz calls it too (Ping), so an idle gateway recovers as well.
func (db *DB) storageReady(ctx context.Context) error {
	if !db.gate.full.Load() {
		return nil
	}
	g := &db.gate
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.full.Load() {
		return nil
	}
	if time.Since(g.last) < fullRetry {
		return g.err
	}
	g.last = time.Now()
	if err := db.reclaim(ctx); err != nil {
		g.err = fmt.Errorf("%w (%v)", ErrStorageFull, err)
		return g.err
	}
	g.full.Store(false)
	g.err = nil
	return nil
}

// resumeFree is the free space writes need to resume: a checkpoint may
// well succeed on a disk still full (when the WAL holds nothing to copy),
// and resuming then would only fail the next batch again.
const resumeFree = 1 << 20

// reclaim truncates the WAL and checks that the filesystem has room for
// writes again.
func (db *DB) reclaim(ctx context.Context) error {
	if err := db.truncateWAL(ctx); err != nil {
		return err
	}
	if free, ok := freeSpace(filepath.Dir(db.walPath)); ok && free < resumeFree {
		return fmt.Errorf("%d bytes free on the filesystem", free)
	}
	return nil
}

// reclaimAtOpen runs reclaim when the database is opened on a filesystem
// low on space, and pauses writes if it fails. (Elsewhere it is left out:
// it would hold up the writes of a gateway running on the same file, e.g.
// while `lianmeng verify` opens it.)
func (db *DB) reclaimAtOpen(ctx context.Context) {
	if free, ok := freeSpace(filepath.Dir(db.walPath)); !ok || free >= walTruncateSize+resumeFree {
		return
	}
	if err := db.reclaim(ctx); err != nil {
		db.gate.full.Store(true)
		db.gate.last = time.Now()
		db.gate.err = fmt.Errorf("%w (%v)", ErrStorageFull, err)
	}
}

// truncateWAL copies the whole WAL into the database file and cuts it to
// zero bytes, on the writer's connection (so no write can slip in).
func (db *DB) truncateWAL(ctx context.Context) error {
	// busy=1 means readers or another checkpoint kept it from finishing.
	var busy, logFrames, done int
	err := db.W.QueryRowContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &logFrames, &done)
	switch {
	case err != nil:
		return fmt.Errorf("checkpoint: %w", err)
	case busy != 0:
		return fmt.Errorf("checkpoint busy: %d of %d frames copied", done, logFrames)
	}
	return nil
}
