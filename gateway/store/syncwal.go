package store

import (
	"fmt"
	"os"
)

// Group commit on SQLite.
//
// The writer connection runs with synchronous=NORMAL: a commit appends its
// pages to the WAL without waiting for the disk, so the single writer can
// start the next batch at once. Nothing is acknowledged before syncWAL has
// made the WAL durable: the batching writer hands each committed batch to a
// syncer goroutine that fdatasyncs the WAL (once for however many batches
// are waiting) and only then answers. Other transactions (inTx) switch the
// connection to FULL for their commit, so they are durable before anyone
// can read them. Durability of acknowledged writes is therefore the same as with
// synchronous=FULL; the WAL is written in order, so a sync covers every
// earlier commit, and a crash loses at most commits nobody was told about.
// Readers may see a batch's commit before it is durable (for about one
// fdatasync), as with InnoDB's group commit; a power failure in that window
// loses only requests that were never answered.

// syncWAL makes every commit so far durable. It is a no-op on MySQL.
func (db *DB) syncWAL() error {
	if db.walPath == "" {
		return nil
	}
	// Open the file each time: fdatasync flushes the file, not the
	// descriptor, and a fresh open never holds a WAL that SQLite has since
	// replaced.
	f, err := os.Open(db.walPath)
	if err != nil {
		return fmt.Errorf("store: sync wal: %w", err)
	}
	err = fdatasync(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("store: sync wal: %w", err)
	}
	return nil
}
