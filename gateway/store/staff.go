package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/lianmeng/lianmeng/gateway/points"
	"github.com/lianmeng/lianmeng/gateway/staff"
)

// Staff accounts and console sessions (staff.Store), and the day's figures
// the console shows a merchant.

type staffRow struct {
	ID           string `db:"id"`
	MerchantID   string `db:"merchant_id"`
	Login        string `db:"login"`
	Role         string `db:"role"`
	PasswordHash string `db:"password_hash"`
	CreatedAt    int64  `db:"created_at"`
}

const staffCols = `id, merchant_id, login, role, password_hash, created_at`

func (r staffRow) staff() staff.Staff {
	return staff.Staff{ID: r.ID, MerchantID: r.MerchantID, Login: r.Login, Role: r.Role, PasswordHash: r.PasswordHash, CreatedAt: FromMicros(r.CreatedAt)}
}

// CreateStaff stores an account and its audit event (never the hash).
func (db *DB) CreateStaff(ctx context.Context, s staff.Staff, actor string) error {
	return db.inTx(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO staff (`+staffCols+`) VALUES (?, ?, ?, ?, ?, ?)`,
			s.ID, s.MerchantID, s.Login, s.Role, s.PasswordHash, Micros(s.CreatedAt)); err != nil {
			if IsDuplicate(err) {
				return staff.ErrExists
			}
			return fmt.Errorf("insert staff: %w", err)
		}
		return insertAudit(ctx, tx, "staff.created", actor, "merchant:"+s.MerchantID+"/staff/"+s.ID,
			map[string]string{"id": s.ID, "merchant_id": s.MerchantID, "login": s.Login, "role": s.Role}, s.CreatedAt)
	})
}

// StaffByLogin reads the account with login at a merchant.
func (db *DB) StaffByLogin(ctx context.Context, merchantID, login string) (staff.Staff, error) {
	var r staffRow
	err := db.R.GetContext(ctx, &r, `SELECT `+staffCols+` FROM staff WHERE merchant_id = ? AND login = ?`, merchantID, login)
	if errors.Is(err, sql.ErrNoRows) {
		return staff.Staff{}, staff.ErrNotFound
	}
	if err != nil {
		return staff.Staff{}, fmt.Errorf("read staff: %w", err)
	}
	return r.staff(), nil
}

// ListStaff lists a merchant's accounts by login.
func (db *DB) ListStaff(ctx context.Context, merchantID string) ([]staff.Staff, error) {
	var rows []staffRow
	if err := db.R.SelectContext(ctx, &rows, `SELECT `+staffCols+` FROM staff WHERE merchant_id = ? ORDER BY login`, merchantID); err != nil {
		return nil, fmt.Errorf("list staff: %w", err)
	}
	out := make([]staff.Staff, len(rows))
	for i, r := range rows {
		out[i] = r.staff()
	}
	return out, nil
}

type staffSessionRow struct {
	TokenHash  string `db:"token_hash"`
	StaffID    string `db:"staff_id"`
	MerchantID string `db:"merchant_id"`
	Login      string `db:"login"`
	Role       string `db:"role"`
	CSRF       string `db:"csrf"`
	CreatedAt  int64  `db:"created_at"`
	ExpiresAt  int64  `db:"expires_at"`
}

const staffSessionCols = `token_hash, staff_id, merchant_id, login, role, csrf, created_at, expires_at`

// CreateStaffSession stores a session (its token's hash only), dropping
// the expired ones of the same account.
func (db *DB) CreateStaffSession(ctx context.Context, s staff.Session) error {
	return db.inTx(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM staff_sessions WHERE staff_id = ? AND expires_at <= ?`, s.StaffID, Micros(s.CreatedAt)); err != nil {
			return fmt.Errorf("purge staff sessions: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO staff_sessions (`+staffSessionCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			s.TokenHash, s.StaffID, s.MerchantID, s.Login, s.Role, s.CSRF, Micros(s.CreatedAt), Micros(s.ExpiresAt)); err != nil {
			return fmt.Errorf("insert staff session: %w", err)
		}
		return nil
	})
}

// StaffSession reads a session by its token's hash (expired ones too: the
// caller compares ExpiresAt with its clock).
func (db *DB) StaffSession(ctx context.Context, tokenHash string) (staff.Session, error) {
	var r staffSessionRow
	err := db.R.GetContext(ctx, &r, `SELECT `+staffSessionCols+` FROM staff_sessions WHERE token_hash = ?`, tokenHash)
	if errors.Is(err, sql.ErrNoRows) {
		return staff.Session{}, staff.ErrNotFound
	}
	if err != nil {
		return staff.Session{}, fmt.Errorf("read staff session: %w", err)
	}
	return staff.Session{TokenHash: r.TokenHash, StaffID: r.StaffID, MerchantID: r.MerchantID, Login: r.Login, Role: r.Role,
		CSRF: r.CSRF, CreatedAt: FromMicros(r.CreatedAt), ExpiresAt: FromMicros(r.ExpiresAt)}, nil
}

// DeleteStaffSession ends a session.
func (db *DB) DeleteStaffSession(ctx context.Context, tokenHash string) error {
	if _, err := db.W.ExecContext(ctx, `DELETE FROM staff_sessions WHERE token_hash = ?`, tokenHash); err != nil {
		return fmt.Errorf("delete staff session: %w", err)
	}
	return nil
}

// DayFigures is what a merchant's stores did in a period: earns and
// redemptions, counted with their amounts and points.
type DayFigures struct {
	Earns, EarnedPoints, EarnFen         int64
	Redeems, RedeemedPoints, RedeemedFen int64
}

// MerchantFigures sums a merchant's earns and redemptions recorded in
// [from, to).
func (db *DB) MerchantFigures(ctx context.Context, merchantID string, from, to time.Time) (DayFigures, error) {
	var rows []struct {
		Kind   string `db:"kind"`
		N      int64  `db:"n"`
		Points int64  `db:"pts"`
		Fen    int64  `db:"fen"`
	}
	if err := db.R.SelectContext(ctx, &rows, `SELECT kind, COUNT(*) AS n, COALESCE(SUM(points), 0) AS pts, COALESCE(SUM(amount_fen), 0) AS fen
		FROM purchases WHERE merchant_id = ? AND created_at >= ? AND created_at < ? AND kind IN (?, ?) GROUP BY kind`,
		merchantID, Micros(from), Micros(to), points.PurchaseEarn, points.PurchaseRedeem); err != nil {
		return DayFigures{}, fmt.Errorf("merchant figures: %w", err)
	}
	var f DayFigures
	for _, r := range rows {
		switch r.Kind {
		case points.PurchaseEarn:
			f.Earns, f.EarnedPoints, f.EarnFen = r.N, r.Points, r.Fen
		case points.PurchaseRedeem:
			f.Redeems, f.RedeemedPoints, f.RedeemedFen = r.N, r.Points, r.Fen
		}
	}
	return f, nil
}
