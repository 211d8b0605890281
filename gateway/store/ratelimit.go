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

// TakeRateLimit spends n requests of key's bucket at once at now (n > 1
// lets an instance reserve a few and serve them from memory), for a limit
// of one request per interval with bursts of burst. It returns 0 if they
// are admitted, else how long until one request would be (asked again
// with n = 1 when a larger n is refused). The admission is one upsert:
// inserted (a new key) or changed (tat moved on) means admitted; a row
// left as it was means refused.
func (db *DB) TakeRateLimit(ctx context.Context, limiter, key string, now time.Time, interval time.Duration, burst, n int) (time.Duration, error) {
	if interval <= 0 || burst < 1 || n < 1 || n > burst {
		return 0, fmt.Errorf("rate limit %s: interval %s, burst %d and n %d must be positive, n at most the burst", limiter, interval, burst, n)
	}
	t, iv := now.UnixNano(), int64(interval)
	cost, room := iv*int64(n), t+iv*int64(burst-n) // admitted while max(tat, now) <= room
	q := `INSERT INTO rate_limit_buckets (limiter, rkey, tat) VALUES (?, ?, ?)
		ON DUPLICATE KEY UPDATE tat = IF(GREATEST(tat, ?) <= ?, GREATEST(tat, ?) + ?, tat)`
	args := []any{limiter, key, t + cost, t, room, t, cost}
	if db.Dialect == SQLite {
		q = `INSERT INTO rate_limit_buckets (limiter, rkey, tat) VALUES (?, ?, ?)
			ON CONFLICT (limiter, rkey) DO UPDATE SET tat = MAX(tat, ?) + ? WHERE MAX(tat, ?) <= ?`
		args = []any{limiter, key, t + cost, t, cost, t, room}
	}
	// MySQL counts 1 for an insert, 2 for a changed row and 0 for a row the
	// IF left alone (the driver does not ask for found rows); SQLite counts
	// 0 when the DO UPDATE's WHERE is false.
	res, err := db.W.ExecContext(ctx, q, args...)
	if err != nil {
		return 0, fmt.Errorf("rate limit %s: %w", limiter, err)
	}
	affected, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("rate limit %s: %w", limiter, err)
	}
	if affected > 0 {
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
	if wait := time.Duration(tat - iv*int64(burst-1) - t); wait > 0 {
		return wait, nil
	}
	return interval, nil // room for one, not for n: ask for one
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
