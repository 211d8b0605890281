package store

import (
	"context"
	"fmt"
	"time"
)

// Reconciliation exceptions (gateway/settlement, issue 13).

// ReconException is one difference between the ledger and a channel's bill.
type ReconException struct {
	ID            int64     `db:"id" json:"id"`
	Channel       string    `db:"channel" json:"channel"`
	BillDate      string    `db:"bill_date" json:"bill_date"`
	Kind          string    `db:"kind" json:"kind"`
	TransactionID string    `db:"transaction_id" json:"transaction_id"`
	ChannelRef    string    `db:"channel_ref" json:"channel_ref"`
	LedgerFen     int64     `db:"ledger_fen" json:"ledger_fen"`
	ChannelFen    int64     `db:"channel_fen" json:"channel_fen"`
	Detail        string    `db:"detail" json:"detail"`
	CreatedAt     time.Time `db:"-" json:"created_at"`
}

// RecordReconException stores an exception once: the same channel, day,
// kind and transaction found again is not a new row. It reports whether
// the row is new.
func (db *DB) RecordReconException(ctx context.Context, e ReconException) (bool, error) {
	_, err := db.W.ExecContext(ctx, `INSERT INTO reconciliation_exceptions (channel, bill_date, kind, transaction_id, channel_ref, ledger_fen, channel_fen, detail, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, e.Channel, e.BillDate, e.Kind, e.TransactionID, e.ChannelRef, e.LedgerFen, e.ChannelFen, e.Detail, Micros(e.CreatedAt))
	if IsDuplicate(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("record reconciliation exception: %w", err)
	}
	return true, nil
}

// ReconExceptions lists the exceptions of a channel's day (channel "" for
// all channels).
func (db *DB) ReconExceptions(ctx context.Context, channel, date string) ([]ReconException, error) {
	q := `SELECT id, channel, bill_date, kind, transaction_id, channel_ref, ledger_fen, channel_fen, detail, created_at FROM reconciliation_exceptions WHERE bill_date = ?`
	args := []any{date}
	if channel != "" {
		q += ` AND channel = ?`
		args = append(args, channel)
	}
	var rows []struct {
		ReconException
		Created int64 `db:"created_at"`
	}
	if err := db.R.SelectContext(ctx, &rows, q+` ORDER BY id`, args...); err != nil {
		return nil, fmt.Errorf("reconciliation exceptions: %w", err)
	}
	out := make([]ReconException, len(rows))
	for i, r := range rows {
		out[i] = r.ReconException
		out[i].CreatedAt = FromMicros(r.Created)
	}
	return out, nil
}

// SucceededFundingOrders lists a channel's funding orders funded in
// [from, to): the ledger's side of a day's bill.
func (db *DB) SucceededFundingOrders(ctx context.Context, channel string, from, to time.Time) ([]FundingOrder, error) {
	var rows []fundingOrderRow
	if err := db.R.SelectContext(ctx, &rows, `SELECT `+fundingOrderCols+` FROM funding_orders WHERE channel = ? AND status = ? AND updated_at >= ? AND updated_at < ? ORDER BY id`,
		channel, FundingSucceeded, Micros(from), Micros(to)); err != nil {
		return nil, fmt.Errorf("funded orders: %w", err)
	}
	out := make([]FundingOrder, len(rows))
	for i, r := range rows {
		out[i] = r.order()
	}
	return out, nil
}
