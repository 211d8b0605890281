package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
)

// Funding refunds (gateway/settlement): a merchant's unused budget
// refunded through the channels it was paid with. The money moves only
// through the batching writer (the hold, then paid or returned per part);
// these rows are the requests, how each is split over the merchant's
// channel payments, and each part's state machine.

// Funding refund states (of the request) and part states.
const (
	RefundRequested  = "requested"
	RefundProcessing = "processing"
	RefundSucceeded  = "succeeded"
	RefundFailed     = "failed"
	RefundPartial    = "partial"

	RefundPartRequested = "requested"
	RefundPartSubmitted = "submitted"
	RefundPartUnknown   = "unknown"
	RefundPartSucceeded = "succeeded"
	RefundPartFailed    = "failed"
)

// Errors of the funding refund store.
var (
	ErrFundingRefundNotFound = errors.New("store: funding refund not found")
	ErrFundingRefundExists   = errors.New("store: funding refund exists")
	// ErrNotRefundable: the merchant's channel payments not yet refunded
	// are less than the amount (budget from other sources, or refunded).
	ErrNotRefundable = errors.New("store: not enough channel payments to refund")
)

// FundingRefund is one refund request and its parts.
type FundingRefund struct {
	ID          string              `db:"id" json:"id"`
	MerchantID  string              `db:"merchant_id" json:"merchant_id"`
	IdemKey     string              `db:"idem_key" json:"-"`
	AmountFen   int64               `db:"amount_fen" json:"amount_fen"`
	Reason      string              `db:"reason" json:"reason,omitempty"`
	State       string              `db:"state" json:"state"`
	HoldTxID    int64               `db:"hold_tx_id" json:"hold_tx_id,omitempty"`
	Failure     string              `db:"failure" json:"failure,omitempty"`
	RequestedBy string              `db:"requested_by" json:"requested_by"`
	CreatedAt   time.Time           `db:"-" json:"created_at"`
	UpdatedAt   time.Time           `db:"-" json:"updated_at"`
	Parts       []FundingRefundPart `db:"-" json:"parts"`
}

// FundingRefundPart is the part of a refund sent against one funding
// order; its id is the channel's refund number.
type FundingRefundPart struct {
	ID             string    `db:"id" json:"id"`
	RefundID       string    `db:"refund_id" json:"-"`
	MerchantID     string    `db:"merchant_id" json:"-"`
	FundingOrderID string    `db:"funding_order_id" json:"funding_order_id"`
	Channel        string    `db:"channel" json:"channel"`
	AmountFen      int64     `db:"amount_fen" json:"amount_fen"`
	State          string    `db:"state" json:"state"`
	ChannelRef     string    `db:"channel_ref" json:"channel_ref,omitempty"`
	Attempts       int       `db:"attempts" json:"attempts"`
	NextAt         time.Time `db:"-" json:"next_at"`
	Failure        string    `db:"failure" json:"failure,omitempty"`
	LedgerTxID     int64     `db:"ledger_tx_id" json:"ledger_tx_id,omitempty"`
	CreatedAt      time.Time `db:"-" json:"created_at"`
	UpdatedAt      time.Time `db:"-" json:"updated_at"`
}

const (
	fundingRefundCols = `id, merchant_id, idem_key, amount_fen, reason, state, hold_tx_id, failure, requested_by, created_at, updated_at`
	refundPartCols    = `id, refund_id, merchant_id, funding_order_id, channel, amount_fen, state, channel_ref, attempts, next_at, failure, ledger_tx_id, created_at, updated_at`
)

type fundingRefundRow struct {
	FundingRefund
	Created int64 `db:"created_at"`
	Updated int64 `db:"updated_at"`
}

type refundPartRow struct {
	FundingRefundPart
	Next    int64 `db:"next_at"`
	Created int64 `db:"created_at"`
	Updated int64 `db:"updated_at"`
}

func (r refundPartRow) part() FundingRefundPart {
	p := r.FundingRefundPart
	p.NextAt, p.CreatedAt, p.UpdatedAt = FromMicros(r.Next), FromMicros(r.Created), FromMicros(r.Updated)
	return p
}

// RefundPlanner splits a refund over the merchant's refundable channel
// payments (newest first), each given with what is left to refund of it.
type RefundPlanner func(payments []RefundablePayment) ([]FundingRefundPart, error)

// RefundablePayment is a succeeded funding order and what of it is not yet
// refunded (parts that failed count as not refunded).
type RefundablePayment struct {
	Order   FundingOrder
	LeftFen int64
}

// CreateFundingRefund stores a refund and its parts in one transaction,
// planned against the merchant's channel payments as they are inside it
// (locked on MySQL, so two refunds cannot plan the same money). A merchant
// idempotency key already used answers ErrFundingRefundExists.
func (db *DB) CreateFundingRefund(ctx context.Context, r FundingRefund, plan RefundPlanner) (FundingRefund, error) {
	err := db.inTx(ctx, func(tx *sqlx.Tx) error {
		lock := ""
		if db.Dialect == MySQL {
			lock = " FOR UPDATE"
		}
		var orders []fundingOrderRow
		if err := tx.SelectContext(ctx, &orders, `SELECT `+fundingOrderCols+` FROM funding_orders WHERE merchant_id = ? AND status = ? ORDER BY created_at DESC, id DESC`+lock,
			r.MerchantID, FundingSucceeded); err != nil {
			return fmt.Errorf("refundable payments: %w", err)
		}
		var used []struct {
			Order string `db:"funding_order_id"`
			Fen   int64  `db:"fen"`
		}
		if err := tx.SelectContext(ctx, &used, `SELECT funding_order_id, SUM(amount_fen) AS fen FROM funding_refund_parts WHERE merchant_id = ? AND state <> ? GROUP BY funding_order_id`,
			r.MerchantID, RefundPartFailed); err != nil {
			return fmt.Errorf("refunded so far: %w", err)
		}
		done := map[string]int64{}
		for _, u := range used {
			done[u.Order] = u.Fen
		}
		var pays []RefundablePayment
		for _, o := range orders {
			if left := o.AmountFen - done[o.ID]; left > 0 {
				pays = append(pays, RefundablePayment{Order: o.order(), LeftFen: left})
			}
		}
		parts, err := plan(pays)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO funding_refunds (`+fundingRefundCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			r.ID, r.MerchantID, r.IdemKey, r.AmountFen, r.Reason, r.State, r.HoldTxID, r.Failure, r.RequestedBy, Micros(r.CreatedAt), Micros(r.CreatedAt)); err != nil {
			return err
		}
		for i, p := range parts {
			at := Micros(r.CreatedAt) + int64(i) // parts list in plan order
			if _, err := tx.ExecContext(ctx, `INSERT INTO funding_refund_parts (`+refundPartCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				p.ID, r.ID, r.MerchantID, p.FundingOrderID, p.Channel, p.AmountFen, p.State, p.ChannelRef, p.Attempts, Micros(p.NextAt),
				p.Failure, p.LedgerTxID, at, at); err != nil {
				return fmt.Errorf("insert refund part: %w", err)
			}
		}
		return insertAudit(ctx, tx, "funding_refund.requested", r.RequestedBy, r.MerchantID, map[string]any{
			"refund": r.ID, "merchant_id": r.MerchantID, "amount_fen": r.AmountFen, "reason": r.Reason, "parts": len(parts)}, r.CreatedAt)
	})
	if IsDuplicate(err) {
		return FundingRefund{}, ErrFundingRefundExists
	}
	if err != nil {
		if errors.Is(err, ErrNotRefundable) {
			return FundingRefund{}, err
		}
		return FundingRefund{}, fmt.Errorf("create funding refund: %w", err)
	}
	return db.GetFundingRefund(ctx, r.ID)
}

// GetFundingRefund reads a refund with its parts.
func (db *DB) GetFundingRefund(ctx context.Context, id string) (FundingRefund, error) {
	return db.fundingRefund(ctx, `id = ?`, id)
}

// FundingRefundByKey reads the refund a merchant's idempotency key made.
func (db *DB) FundingRefundByKey(ctx context.Context, merchantID, key string) (FundingRefund, error) {
	return db.fundingRefund(ctx, `merchant_id = ? AND idem_key = ?`, merchantID, key)
}

func (db *DB) fundingRefund(ctx context.Context, where string, args ...any) (FundingRefund, error) {
	var r fundingRefundRow
	err := db.W.GetContext(ctx, &r, `SELECT `+fundingRefundCols+` FROM funding_refunds WHERE `+where, args...)
	if errors.Is(err, sql.ErrNoRows) {
		return FundingRefund{}, ErrFundingRefundNotFound
	}
	if err != nil {
		return FundingRefund{}, fmt.Errorf("funding refund: %w", err)
	}
	out := r.FundingRefund
	out.CreatedAt, out.UpdatedAt = FromMicros(r.Created), FromMicros(r.Updated)
	var parts []refundPartRow
	if err := db.W.SelectContext(ctx, &parts, `SELECT `+refundPartCols+` FROM funding_refund_parts WHERE refund_id = ? ORDER BY created_at, id`, out.ID); err != nil {
		return FundingRefund{}, fmt.Errorf("funding refund parts: %w", err)
	}
	out.Parts = make([]FundingRefundPart, len(parts))
	for i, p := range parts {
		out.Parts[i] = p.part()
	}
	return out, nil
}

// MerchantFundingRefunds lists a merchant's refunds, newest first.
func (db *DB) MerchantFundingRefunds(ctx context.Context, merchantID string, limit int) ([]FundingRefund, error) {
	var ids []string
	if err := db.R.SelectContext(ctx, &ids, `SELECT id FROM funding_refunds WHERE merchant_id = ? ORDER BY created_at DESC, id LIMIT ?`, merchantID, limit); err != nil {
		return nil, fmt.Errorf("funding refunds: %w", err)
	}
	out := make([]FundingRefund, 0, len(ids))
	for _, id := range ids {
		r, err := db.GetFundingRefund(ctx, id)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// DueRefundParts lists parts not yet final whose next attempt is due.
func (db *DB) DueRefundParts(ctx context.Context, now time.Time, limit int) ([]FundingRefundPart, error) {
	var rows []refundPartRow
	if err := db.W.SelectContext(ctx, &rows, `SELECT `+refundPartCols+` FROM funding_refund_parts WHERE state IN (?, ?, ?) AND next_at <= ? ORDER BY next_at, id LIMIT ?`,
		RefundPartRequested, RefundPartSubmitted, RefundPartUnknown, Micros(now), limit); err != nil {
		return nil, fmt.Errorf("due refund parts: %w", err)
	}
	out := make([]FundingRefundPart, len(rows))
	for i, r := range rows {
		out[i] = r.part()
	}
	return out, nil
}

// UpdateRefundPart records a step of a part. A final part never changes.
func (db *DB) UpdateRefundPart(ctx context.Context, p FundingRefundPart, now time.Time) error {
	_, err := db.W.ExecContext(ctx, `UPDATE funding_refund_parts SET state = ?, channel_ref = ?, attempts = ?, next_at = ?, failure = ?, ledger_tx_id = ?, updated_at = ?
		WHERE id = ? AND state NOT IN (?, ?)`, p.State, p.ChannelRef, p.Attempts, Micros(p.NextAt), p.Failure, p.LedgerTxID, Micros(now),
		p.ID, RefundPartSucceeded, RefundPartFailed)
	if err != nil {
		return fmt.Errorf("update refund part %s: %w", p.ID, err)
	}
	return nil
}

// UpdateFundingRefund records a refund's state (derived from its parts by
// the caller) and its hold.
func (db *DB) UpdateFundingRefund(ctx context.Context, r FundingRefund, now time.Time) error {
	_, err := db.W.ExecContext(ctx, `UPDATE funding_refunds SET state = ?, hold_tx_id = ?, failure = ?, updated_at = ? WHERE id = ?`,
		r.State, r.HoldTxID, r.Failure, Micros(now), r.ID)
	if err != nil {
		return fmt.Errorf("update funding refund %s: %w", r.ID, err)
	}
	return nil
}

// RefundableFen is what of a merchant's channel payments is not yet
// refunded (parts that failed count as not refunded): the most a funding
// refund can return through the channels.
func (db *DB) RefundableFen(ctx context.Context, merchantID string) (int64, error) {
	var paid, refunded int64
	if err := db.W.GetContext(ctx, &paid, `SELECT COALESCE(SUM(amount_fen), 0) FROM funding_orders WHERE merchant_id = ? AND status = ?`,
		merchantID, FundingSucceeded); err != nil {
		return 0, fmt.Errorf("refundable: %w", err)
	}
	if err := db.W.GetContext(ctx, &refunded, `SELECT COALESCE(SUM(amount_fen), 0) FROM funding_refund_parts WHERE merchant_id = ? AND state <> ?`,
		merchantID, RefundPartFailed); err != nil {
		return 0, fmt.Errorf("refundable: %w", err)
	}
	return paid - refunded, nil
}
