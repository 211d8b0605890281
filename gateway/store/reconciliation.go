package store

import (
	"context"
	"database/sql"
	"errors"
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
	LineType      string    `db:"line_type" json:"line_type"` // payment, refund or payout
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
	if e.LineType == "" {
		e.LineType = "payment"
	}
	_, err := db.W.ExecContext(ctx, `INSERT INTO reconciliation_exceptions (channel, bill_date, kind, line_type, transaction_id, channel_ref, ledger_fen, channel_fen, detail, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, e.Channel, e.BillDate, e.Kind, e.LineType, e.TransactionID, e.ChannelRef, e.LedgerFen, e.ChannelFen, e.Detail, Micros(e.CreatedAt))
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
	q := `SELECT id, channel, bill_date, kind, line_type, transaction_id, channel_ref, ledger_fen, channel_fen, detail, created_at FROM reconciliation_exceptions WHERE bill_date = ?`
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

// ClearReconExceptions deletes a channel's day's exceptions of one kind
// (pending_in_ledger, which a run replaces: what the ledger was still
// waiting for may be booked by the next run).
func (db *DB) ClearReconExceptions(ctx context.Context, channel, date, kind string) error {
	if _, err := db.W.ExecContext(ctx, `DELETE FROM reconciliation_exceptions WHERE channel = ? AND bill_date = ? AND kind = ?`, channel, date, kind); err != nil {
		return fmt.Errorf("clear reconciliation exceptions: %w", err)
	}
	return nil
}

// FundingRefundPart reads one part of a funding refund by its id (the
// channel's refund number).
func (db *DB) FundingRefundPart(ctx context.Context, id string) (FundingRefundPart, error) {
	var r refundPartRow
	err := db.W.GetContext(ctx, &r, `SELECT `+refundPartCols+` FROM funding_refund_parts WHERE id = ?`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return FundingRefundPart{}, ErrFundingRefundNotFound
	}
	if err != nil {
		return FundingRefundPart{}, fmt.Errorf("funding refund part %s: %w", id, err)
	}
	return r.part(), nil
}

// SucceededRefundParts lists a channel's funding refund parts that
// succeeded in [from, to) (a final part never changes again, so its
// updated_at is when it succeeded): the ledger's refunds of a day's bill.
func (db *DB) SucceededRefundParts(ctx context.Context, channel string, from, to time.Time) ([]FundingRefundPart, error) {
	var rows []refundPartRow
	if err := db.R.SelectContext(ctx, &rows, `SELECT `+refundPartCols+` FROM funding_refund_parts WHERE channel = ? AND state = ? AND updated_at >= ? AND updated_at < ? ORDER BY id`,
		channel, RefundPartSucceeded, Micros(from), Micros(to)); err != nil {
		return nil, fmt.Errorf("refunded parts: %w", err)
	}
	out := make([]FundingRefundPart, len(rows))
	for i, r := range rows {
		out[i] = r.part()
	}
	return out, nil
}

// SucceededPayouts lists the payouts a channel confirmed in [from, to)
// (a final payout never changes again): the ledger's payouts of a day's
// bill.
func (db *DB) SucceededPayouts(ctx context.Context, channel string, from, to time.Time) ([]Payout, error) {
	var rows []payoutRow
	if err := db.R.SelectContext(ctx, &rows, `SELECT `+payoutCols+` FROM payouts WHERE channel = ? AND state = ? AND updated_at >= ? AND updated_at < ? ORDER BY id`,
		channel, PayoutSucceeded, Micros(from), Micros(to)); err != nil {
		return nil, fmt.Errorf("paid payouts: %w", err)
	}
	out := make([]Payout, len(rows))
	for i, r := range rows {
		out[i] = r.payout()
	}
	return out, nil
}

// HurryRefundPart makes a funding refund part that is not final due now
// (its channel said something about it: ask again at once). It reports
// whether the part was open.
func (db *DB) HurryRefundPart(ctx context.Context, id string, now time.Time) (bool, error) {
	res, err := db.W.ExecContext(ctx, `UPDATE funding_refund_parts SET next_at = ? WHERE id = ? AND state IN (?, ?, ?)`,
		Micros(now), id, RefundPartRequested, RefundPartSubmitted, RefundPartUnknown)
	if err != nil {
		return false, fmt.Errorf("hurry refund part %s: %w", id, err)
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

// HurryPayout makes a payout that is submitted or unknown due now (its
// channel notified about it: query it at once). It reports whether it was.
func (db *DB) HurryPayout(ctx context.Context, id string, now time.Time) (bool, error) {
	res, err := db.W.ExecContext(ctx, `UPDATE payouts SET next_at = ? WHERE id = ? AND state IN (?, ?)`, Micros(now), id, PayoutSubmitted, PayoutUnknown)
	if err != nil {
		return false, fmt.Errorf("hurry payout %s: %w", id, err)
	}
	n, err := res.RowsAffected()
	return n > 0, err
}
