package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// AcquireLease takes or renews the named lease for holder until now+ttl.
// It returns false while another holder's lease is live. Several gateway
// instances use it so a scheduled job runs in one of them at a time; only
// plain UPDATE and INSERT are used, which every supported database (and
// TiDB) runs the same way.
func (db *DB) AcquireLease(ctx context.Context, name, holder string, now time.Time, ttl time.Duration) (bool, error) {
	until := Micros(now.Add(ttl))
	res, err := db.W.ExecContext(ctx, `UPDATE job_leases SET holder = ?, lease_until = ? WHERE name = ? AND (holder = ? OR lease_until < ?)`,
		holder, until, name, holder, Micros(now))
	if err != nil {
		return false, fmt.Errorf("lease %s: %w", name, err)
	}
	if n, _ := res.RowsAffected(); n > 0 {
		return true, nil
	}
	_, err = db.W.ExecContext(ctx, `INSERT INTO job_leases (name, holder, lease_until) VALUES (?, ?, ?)`, name, holder, until)
	if IsDuplicate(err) {
		// MySQL counts only changed rows: renewing with identical values
		// reports 0 affected, so check whether the lease is already ours.
		var cur string
		err := db.W.GetContext(ctx, &cur, `SELECT holder FROM job_leases WHERE name = ? AND lease_until >= ?`, name, Micros(now))
		if errors.Is(err, sql.ErrNoRows) {
			return false, nil // held by nobody live: the next try takes it
		}
		if err != nil {
			return false, fmt.Errorf("lease %s: %w", name, err)
		}
		return cur == holder, nil
	}
	if err != nil {
		return false, fmt.Errorf("lease %s: %w", name, err)
	}
	return true, nil
}

// ReleaseLease gives a lease up early (on shutdown).
func (db *DB) ReleaseLease(ctx context.Context, name, holder string) error {
	_, err := db.W.ExecContext(ctx, `UPDATE job_leases SET lease_until = 0 WHERE name = ? AND holder = ?`, name, holder)
	return err
}
