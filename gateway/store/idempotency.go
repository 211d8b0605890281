package store

import (
	"context"
	"fmt"
	"time"
)

// PurgeIdempotency deletes at most limit idempotency records created before
// before, oldest first, in one short statement, and returns how many went.
// A caller purges everything due by calling it until it returns less than
// limit; each call holds its locks only for its own batch, so writes go on
// between them. After a record is purged its key may be used again for a
// new operation.
func (db *DB) PurgeIdempotency(ctx context.Context, before time.Time, limit int) (int64, error) {
	if limit <= 0 {
		return 0, fmt.Errorf("store: purge idempotency records: limit %d", limit)
	}
	q := `DELETE FROM idempotency_keys WHERE created_at < ? ORDER BY created_at LIMIT ?`
	if db.Dialect == SQLite {
		// SQLite has DELETE ... LIMIT only in builds that enable it.
		q = `DELETE FROM idempotency_keys WHERE rowid IN (SELECT rowid FROM idempotency_keys WHERE created_at < ? ORDER BY created_at LIMIT ?)`
	}
	res, err := db.W.ExecContext(ctx, q, Micros(before), limit)
	if err != nil {
		return 0, fmt.Errorf("purge idempotency records: %w", err)
	}
	return res.RowsAffected()
}
