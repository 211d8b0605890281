package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Rate limits shared across gateway instances (issue 9): a GCRA bucket per
// limiter and key in rate_limit_buckets, taken atomically by one statement,
// so instances on one database enforce one limit between them.

// TakeRateLimit spends one request of key's bucket at now, for a limit of
// one request per interval with bursts of burst. It returns 0 if the
// request is admitted, else how long until it would be. The admission is
// one upsert: inserted (a new key) or changed (tat moved on) means
// admitted; a row left as it was means refused.
func (db *DB) TakeRateLimit(ctx context.Context, limiter, key string, now time.Time, interval time.Duration, burst int) (time.Duration, error) {
	if interval <= 0 || burst < 1 {
		return 0, fmt.Errorf("rate limit %s: interval %s and burst %d must be positive", limiter, interval, burst)
	}
	t, iv := now.UnixNano(), int64(interval)
	tolerance := iv * int64(burst-1)
	q := `INSERT INTO rate_limit_buckets (limiter, rkey, tat) VALUES (?, ?, ?)
		ON DUPLICATE KEY UPDATE tat = IF(tat <= ?, GREATEST(tat, ?) + ?, tat)`
	args := []any{limiter, key, t + iv, t + tolerance, t, iv}
	if db.Dialect == SQLite {
		q = `INSERT INTO rate_limit_buckets (limiter, rkey, tat) VALUES (?, ?, ?)
			ON CONFLICT (limiter, rkey) DO UPDATE SET tat = MAX(tat, ?) + ? WHERE tat <= ?`
		args = []any{limiter, key, t + iv, t, iv, t + tolerance}
	}
	// MySQL counts 1 for an insert, 2 for a changed row and 0 for a row the
	// IF left alone (the driver does not ask for found rows); SQLite counts
	// 0 when the DO UPDATE's WHERE is false.
	res, err := db.W.ExecContext(ctx, q, args...)
	if err != nil {
		return 0, fmt.Errorf("rate limit %s: %w", limiter, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("rate limit %s: %w", limiter, err)
	}
	if n > 0 {
		return 0, nil
	}
	var tat int64
	err = db.W.GetContext(ctx, &tat, `SELECT tat FROM rate_limit_buckets WHERE limiter = ? AND rkey = ?`, limiter, key)
	if errors.Is(err, sql.ErrNoRows) { // purged meanwhile: a full bucket
		return interval, nil
	}
	if err != nil {
		return 0, fmt.Errorf("rate limit %s: %w", limiter, err)
	}
	if wait := time.Duration(tat - tolerance - t); wait > 0 {
		return wait, nil
	}
	return interval, nil // refilled between the two statements: try again
}

// PurgeRateLimits deletes up to limit buckets that are full again at now
// (their tat has passed): forgetting them changes nothing.
func (db *DB) PurgeRateLimits(ctx context.Context, now time.Time, limit int) (int64, error) {
	q := `DELETE FROM rate_limit_buckets WHERE tat < ? LIMIT ?`
	if db.Dialect == SQLite {
		q = `DELETE FROM rate_limit_buckets WHERE rowid IN (SELECT rowid FROM rate_limit_buckets WHERE tat < ? LIMIT ?)`
	}
	res, err := db.W.ExecContext(ctx, q, now.UnixNano(), limit)
	if err != nil {
		return 0, fmt.Errorf("purge rate limits: %w", err)
	}
	return res.RowsAffected()
}
