package store

import (
	"context"
	"errors"
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

// grab takes n ids from the pool for one batch attempt, reserving blocks as
// needed (outside any transaction). Each attempt gets its own range, so
// retries and concurrent batches never share or exhaust each other's ids;
// ids of a failed attempt are simply skipped.
func (a *idAllocator) grab(ctx context.Context, db *DB, n int) (*idRange, error) {
	for try := 0; try < 5; try++ {
		if err := a.reserve(ctx, db, n); err != nil {
			return nil, err
		}
		a.mu.Lock()
		if a.stop-a.next >= int64(n) {
			r := &idRange{next: a.next, stop: a.next + int64(n)}
			a.next += int64(n)
			a.mu.Unlock()
			return r, nil
		}
		a.mu.Unlock() // another batch took them meanwhile: reserve again
	}
	return nil, errIDsExhausted
}

// idRange is the ids one batch attempt may use.
type idRange struct{ next, stop int64 }

// errIDsExhausted means an attempt used more ids than its operations
// declared; the writer retries the batch with a larger range.
var errIDsExhausted = errors.New("store: batch used more ids than reserved")

func (r *idRange) take() (int64, error) {
	if r.next >= r.stop {
		return 0, errIDsExhausted
	}
	r.next++
	return r.next - 1, nil
}
