package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/jmoiron/sqlx"

	"github.com/lianmeng/lianmeng/gateway/ledger"
	"github.com/lianmeng/lianmeng/gateway/points"
)

// Balances returns the balances of the named accounts (0 for accounts that
// never moved).
func (db *DB) Balances(ctx context.Context, names ...string) (map[string]int64, error) {
	out := make(map[string]int64, len(names))
	for _, n := range names {
		out[n] = 0
	}
	if len(names) == 0 {
		return out, nil
	}
	q, args, _ := sqlx.In(`SELECT name, balance FROM accounts WHERE name IN (?)`, names)
	rows, err := db.R.QueryxContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("balances: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var n string
		var b int64
		if err := rows.Scan(&n, &b); err != nil {
			return nil, err
		}
		out[n] = b
	}
	return out, rows.Err()
}

// FindMember resolves an identity as seen by merchantID; points.ErrNotFound
// if no member has it.
func (db *DB) FindMember(ctx context.Context, merchantID string, id points.Identity) (string, error) {
	var mid string
	err := db.R.GetContext(ctx, &mid, `SELECT member_id FROM member_identities WHERE kind = ? AND lookup = ?`, id.Kind, db.identityLookup(merchantID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return "", points.ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("find member: %w", err)
	}
	return mid, nil
}

// MemberLots lists a member's lots, open ones first by expiry.
func (db *DB) MemberLots(ctx context.Context, memberID string, includeClosed bool, limit int) ([]ledger.Lot, error) {
	q := `SELECT ` + lotCols + ` FROM lots WHERE member_id = ?`
	args := []any{memberID}
	if !includeClosed {
		q += ` AND state <> ?`
		args = append(args, ledger.LotClosed)
	}
	q += ` ORDER BY expires_at, id LIMIT ?`
	args = append(args, limit)
	var rows []lotRow
	if err := db.R.SelectContext(ctx, &rows, q, args...); err != nil {
		return nil, fmt.Errorf("member lots: %w", err)
	}
	out := make([]ledger.Lot, len(rows))
	for i, r := range rows {
		out[i] = *r.domain()
	}
	return out, nil
}

// Transactions loads ledger transactions with their postings, by id.
func (db *DB) Transactions(ctx context.Context, ids []int64) ([]ledger.Transaction, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	q, args, _ := sqlx.In(`SELECT id, kind, ref, reverses, created_at FROM ledger_transactions WHERE id IN (?) ORDER BY id DESC`, ids)
	var txs []struct {
		ID        int64  `db:"id"`
		Kind      string `db:"kind"`
		Ref       string `db:"ref"`
		Reverses  int64  `db:"reverses"`
		CreatedAt int64  `db:"created_at"`
	}
	if err := db.R.SelectContext(ctx, &txs, q, args...); err != nil {
		return nil, fmt.Errorf("transactions: %w", err)
	}
	q, args, _ = sqlx.In(`SELECT tx_id, account, asset, amount FROM postings WHERE tx_id IN (?) ORDER BY tx_id, seq`, ids)
	var ps []struct {
		TxID    int64  `db:"tx_id"`
		Account string `db:"account"`
		Asset   string `db:"asset"`
		Amount  int64  `db:"amount"`
	}
	if err := db.R.SelectContext(ctx, &ps, q, args...); err != nil {
		return nil, fmt.Errorf("postings: %w", err)
	}
	byTx := map[int64][]ledger.Posting{}
	for _, p := range ps {
		byTx[p.TxID] = append(byTx[p.TxID], ledger.Posting{Account: p.Account, Asset: ledger.Asset(p.Asset), Amount: p.Amount})
	}
	out := make([]ledger.Transaction, len(txs))
	for i, t := range txs {
		out[i] = ledger.Transaction{ID: t.ID, Kind: t.Kind, Ref: t.Ref, Reverses: t.Reverses, CreatedAt: FromMicros(t.CreatedAt), Postings: byTx[t.ID]}
	}
	return out, nil
}

// AccountHistory lists transactions touching any of accounts, newest first,
// with ids below before (0: from the newest).
func (db *DB) AccountHistory(ctx context.Context, accounts []string, before int64, limit int) ([]ledger.Transaction, error) {
	if before <= 0 {
		before = 1<<63 - 1
	}
	q, args, _ := sqlx.In(`SELECT DISTINCT tx_id FROM postings WHERE account IN (?) AND tx_id < ? ORDER BY tx_id DESC LIMIT ?`, accounts, before, limit)
	var ids []int64
	if err := db.R.SelectContext(ctx, &ids, q, args...); err != nil {
		return nil, fmt.Errorf("account history: %w", err)
	}
	return db.Transactions(ctx, ids)
}

// MemberDebt is the points a member still owes, across merchants.
func (db *DB) MemberDebt(ctx context.Context, memberID string) (int64, error) {
	var n int64
	if err := db.R.GetContext(ctx, &n, `SELECT COALESCE(SUM(remaining), 0) FROM member_debts WHERE member_id = ?`, memberID); err != nil {
		return 0, fmt.Errorf("member debt: %w", err)
	}
	return n, nil
}

// Totals sums balances by account kind (the alliance's own accounts one
// by one).
func (db *DB) Totals(ctx context.Context) (points.Totals, error) {
	var t points.Totals
	var rows []struct {
		Family string `db:"family"`
		Total  int64  `db:"total"`
	}
	err := db.R.SelectContext(ctx, &rows, `SELECT CASE WHEN kind IN (?, ?, ?, ?) THEN kind ELSE name END AS family,
		SUM(balance) AS total FROM accounts GROUP BY family`,
		string(ledger.KindBudget), string(ledger.KindPayable), string(ledger.KindPending), string(ledger.KindAvailable))
	if err != nil {
		return t, fmt.Errorf("alliance totals: %w", err)
	}
	for _, r := range rows {
		switch r.Family {
		case string(ledger.KindBudget):
			t.BudgetPoints = r.Total
		case string(ledger.KindPayable):
			t.PayableFen = r.Total
		case string(ledger.KindPending):
			t.PendingPoints = r.Total
		case string(ledger.KindAvailable):
			t.AvailablePoints = r.Total
		case ledger.Reserve:
			t.ReserveFen = r.Total
		case ledger.Marketing:
			t.MarketingPoints = r.Total
		case ledger.Burned:
			t.BurnedPoints = r.Total
		case ledger.Expired:
			t.ExpiredPoints = r.Total
		case ledger.Mint:
			t.MintedPoints = -r.Total
		case ledger.Funding:
			t.FundedFen = -r.Total
		case ledger.Breakage:
			t.BreakageFen = r.Total
		}
	}
	t.OutstandingPts = t.BudgetPoints + t.PendingPoints + t.AvailablePoints + t.MarketingPoints
	if err := db.R.GetContext(ctx, &t.MemberDebtPoints, `SELECT COALESCE(SUM(remaining), 0) FROM member_debts`); err != nil {
		return t, fmt.Errorf("member debts: %w", err)
	}
	return t, nil
}
