package store

import (
	"context"
	"fmt"
	"sync"

	"github.com/jmoiron/sqlx"
)

// idBlockSize is how many ids one reservation takes. Ids are unique across
// gateway instances and roughly increasing; gaps are harmless.
const idBlockSize = 4096

// idAllocator hands out int64 ids from blocks reserved in id_blocks.
type idAllocator struct {
	mu         sync.Mutex
	next, stop int64
}

// reserve makes sure at least n ids are available, reserving blocks in
// their own short transaction (never inside a batch, which on SQLite holds
// the only write connection).
func (a *idAllocator) reserve(ctx context.Context, db *DB, n int) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	for a.stop-a.next < int64(n) {
		size := int64(max(n, idBlockSize))
		var start int64
		err := db.inTx(ctx, func(tx *sqlx.Tx) error {
			if _, err := tx.ExecContext(ctx, `UPDATE id_blocks SET next_id = next_id + ? WHERE name = 'ledger'`, size); err != nil {
				return err
			}
			return tx.GetContext(ctx, &start, `SELECT next_id FROM id_blocks WHERE name = 'ledger'`)
		})
		if err != nil {
			return fmt.Errorf("reserve ids: %w", err)
		}
		start -= size
		if start == a.stop {
			a.stop += size // contiguous with the current block
		} else {
			a.next, a.stop = start, start+size
		}
	}
	return nil
}

// take returns the next id; reserve must have been called for it.
func (a *idAllocator) take() (int64, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.next >= a.stop {
		return 0, fmt.Errorf("store: id block exhausted")
	}
	a.next++
	return a.next - 1, nil
}
