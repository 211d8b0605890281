package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
)

// Daily merchant statements (gateway/settlement, issue 13).

// ErrStatementNotFound is returned for a day without a statement.
var ErrStatementNotFound = errors.New("store: statement not found")

// PayableLine is the movement of one merchant payable account by one kind
// of ledger transaction over a window.
type PayableLine struct {
	Account string `db:"account"`
	Kind    string `db:"kind"`
	Count   int64  `db:"n"`
	Sum     int64  `db:"total"`
}

// PayableActivity sums the postings on merchants' payable accounts by
// account and transaction kind, for transactions made in [from, to).
func (db *DB) PayableActivity(ctx context.Context, from, to time.Time) ([]PayableLine, error) {
	var out []PayableLine
	err := db.R.SelectContext(ctx, &out, `SELECT p.account AS account, t.kind AS kind, COUNT(*) AS n, SUM(p.amount) AS total
		FROM postings p JOIN ledger_transactions t ON t.id = p.tx_id
		WHERE p.account LIKE 'merchant:%:payable' AND t.created_at >= ? AND t.created_at < ?
		GROUP BY p.account, t.kind ORDER BY p.account, t.kind`, Micros(from), Micros(to))
	if err != nil {
		return nil, fmt.Errorf("payable activity: %w", err)
	}
	return out, nil
}

// BalanceBefore is an account's balance from the transactions made before t.
func (db *DB) BalanceBefore(ctx context.Context, account string, t time.Time) (int64, error) {
	var n sql.NullInt64
	err := db.R.GetContext(ctx, &n, `SELECT SUM(p.amount) FROM postings p JOIN ledger_transactions t ON t.id = p.tx_id
		WHERE p.account = ? AND t.created_at < ?`, account, Micros(t))
	if err != nil {
		return 0, fmt.Errorf("balance of %s before %s: %w", account, t, err)
	}
	return n.Int64, nil
}

// StoredStatement is a signed statement as stored.
type StoredStatement struct {
	MerchantID string    `db:"merchant_id"`
	Date       string    `db:"bill_date"`
	Body       string    `db:"body"`
	KeyID      string    `db:"key_id"`
	Signature  string    `db:"signature"`
	CreatedAt  time.Time `db:"-"`
}

// SaveStatement stores a merchant's statement of a day, replacing the one
// an earlier run made.
func (db *DB) SaveStatement(ctx context.Context, s StoredStatement) error {
	return db.inTx(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM statements WHERE merchant_id = ? AND bill_date = ?`, s.MerchantID, s.Date); err != nil {
			return fmt.Errorf("statement: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO statements (merchant_id, bill_date, body, key_id, signature, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
			s.MerchantID, s.Date, s.Body, s.KeyID, s.Signature, Micros(s.CreatedAt)); err != nil {
			return fmt.Errorf("statement: %w", err)
		}
		return nil
	})
}

// Statement reads a merchant's statement of a day.
func (db *DB) Statement(ctx context.Context, merchantID, date string) (StoredStatement, error) {
	var r struct {
		StoredStatement
		Created int64 `db:"created_at"`
	}
	err := db.R.GetContext(ctx, &r, `SELECT merchant_id, bill_date, body, key_id, signature, created_at FROM statements WHERE merchant_id = ? AND bill_date = ?`, merchantID, date)
	if errors.Is(err, sql.ErrNoRows) {
		return StoredStatement{}, ErrStatementNotFound
	}
	if err != nil {
		return StoredStatement{}, fmt.Errorf("statement: %w", err)
	}
	s := r.StoredStatement
	s.CreatedAt = FromMicros(r.Created)
	return s, nil
}

// StatementDates lists the days a merchant has a statement for, newest
// first, at most limit.
func (db *DB) StatementDates(ctx context.Context, merchantID string, limit int) ([]string, error) {
	var ds []string
	if err := db.R.SelectContext(ctx, &ds, `SELECT bill_date FROM statements WHERE merchant_id = ? ORDER BY bill_date DESC LIMIT ?`, merchantID, limit); err != nil {
		return nil, fmt.Errorf("statement dates: %w", err)
	}
	return ds, nil
}
