package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Automatic payouts at the clearing cut-off (gateway/settlement).

// PayoutMerchants lists the merchants that have a payout account.
func (db *DB) PayoutMerchants(ctx context.Context) ([]string, error) {
	var out []string
	if err := db.R.SelectContext(ctx, &out, `SELECT DISTINCT merchant_id FROM payout_accounts ORDER BY merchant_id`); err != nil {
		return nil, fmt.Errorf("payout merchants: %w", err)
	}
	return out, nil
}

// DebitsSince sums what left an account (its negative postings) in the
// transactions made at or after t, as a negative number.
func (db *DB) DebitsSince(ctx context.Context, account string, t time.Time) (int64, error) {
	var n sql.NullInt64
	err := db.R.GetContext(ctx, &n, `SELECT SUM(p.amount) FROM postings p JOIN ledger_transactions t ON t.id = p.tx_id
		WHERE p.account = ? AND p.amount < 0 AND t.created_at >= ?`, account, Micros(t))
	if err != nil {
		return 0, fmt.Errorf("debits of %s since %s: %w", account, t, err)
	}
	return n.Int64, nil
}
