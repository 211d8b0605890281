package store

import (
	"context"
	"fmt"
	"time"
)

// TakeLease takes or renews the named lease for holder until now+ttl, so
// that among several gateway instances one at a time runs a job (the
// scheduler's jobs, the evidence sealer). held says whether holder has the
// lease now; fresh, whether it just took it over (and must reload any state
// it keeps, since another holder may have worked meanwhile). Only plain
// UPDATE and INSERT are used, which every supported database (and TiDB)
// runs the same way.
func (db *DB) TakeLease(ctx context.Context, name, holder string, now time.Time, ttl time.Duration) (held, fresh bool, err error) {
	w := db.W
	until := Micros(now.Add(ttl))
	res, err := w.ExecContext(ctx, `UPDATE job_leases SET lease_until = ? WHERE name = ? AND holder = ? AND lease_until >= ?`,
		until, name, holder, Micros(now))
	if err != nil {
		return false, false, fmt.Errorf("renew lease %s: %w", name, err)
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return true, false, nil
	}
	// MySQL counts changed rows only: a renewal to the same lease_until
	// (same clock reading) reports 0.
	var cur struct {
		Holder string `db:"holder"`
		Until  int64  `db:"lease_until"`
	}
	if err := w.GetContext(ctx, &cur, `SELECT holder, lease_until FROM job_leases WHERE name = ?`, name); err == nil && cur.Holder == holder && cur.Until == until {
		return true, false, nil
	}
	res, err = w.ExecContext(ctx, `UPDATE job_leases SET holder = ?, lease_until = ? WHERE name = ? AND lease_until < ?`,
		holder, until, name, Micros(now))
	if err != nil {
		return false, false, fmt.Errorf("take over lease %s: %w", name, err)
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return true, true, nil
	}
	_, err = w.ExecContext(ctx, `INSERT INTO job_leases (name, holder, lease_until) VALUES (?, ?, ?)`, name, holder, until)
	if err == nil {
		return true, true, nil
	}
	if IsDuplicate(err) || IsRetryable(err) {
		return false, false, nil // someone else holds it, or just took it
	}
	return false, false, fmt.Errorf("insert lease %s: %w", name, err)
}

// AcquireLease is TakeLease for callers that keep no state across holders.
func (db *DB) AcquireLease(ctx context.Context, name, holder string, now time.Time, ttl time.Duration) (bool, error) {
	held, _, err := db.TakeLease(ctx, name, holder, now, ttl)
	return held, err
}

// ReleaseLease gives a lease up early (on shutdown).
func (db *DB) ReleaseLease(ctx context.Context, name, holder string) error {
	_, err := db.W.ExecContext(ctx, `UPDATE job_leases SET lease_until = 0 WHERE name = ? AND holder = ?`, name, holder)
	return err
}
