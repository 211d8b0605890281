package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
)

// Funding orders and channel notifications (gateway/settlement, issue 13).
// The money itself moves only through the batching writer (the fund
// command); these rows say which channel payment a funding belongs to and
// what each notification was.

// Funding order states.
const (
	FundingCreated   = "created"
	FundingPending   = "pending"
	FundingSucceeded = "succeeded"
	FundingFailed    = "failed"
	FundingUnknown   = "unknown"
)

// ErrFundingOrderNotFound is returned for an unknown funding order.
var ErrFundingOrderNotFound = errors.New("store: funding order not found")

// ErrFundingOrderExists is returned when the merchant's idempotency key
// already names an order.
var ErrFundingOrderExists = errors.New("store: funding order exists")

// FundingOrder is a merchant's top-up through a channel.
type FundingOrder struct {
	ID         string    `db:"id"`
	MerchantID string    `db:"merchant_id"`
	IdemKey    string    `db:"idem_key"`
	Channel    string    `db:"channel"`
	AmountFen  int64     `db:"amount_fen"`
	Status     string    `db:"status"`
	QRCode     string    `db:"qr_code"`
	ChannelRef string    `db:"channel_ref"`
	FundTxID   int64     `db:"fund_tx_id"`
	Failure    string    `db:"failure"`
	CreatedBy  string    `db:"created_by"`
	CreatedAt  time.Time `db:"-"`
	UpdatedAt  time.Time `db:"-"`
	// QueriedAt is when the channel was last asked about the order (zero:
	// never) and QueryOutcome what it answered (settlement.Funding.Query).
	QueriedAt    time.Time `db:"-"`
	QueryOutcome string    `db:"query_outcome"`
}

type fundingOrderRow struct {
	FundingOrder
	Created int64 `db:"created_at"`
	Updated int64 `db:"updated_at"`
	Queried int64 `db:"queried_at"`
}

const fundingOrderCols = `id, merchant_id, idem_key, channel, amount_fen, status, qr_code, channel_ref, fund_tx_id, failure, created_by, created_at, updated_at, queried_at, query_outcome`

func (r fundingOrderRow) order() FundingOrder {
	o := r.FundingOrder
	o.CreatedAt, o.UpdatedAt = FromMicros(r.Created), FromMicros(r.Updated)
	if r.Queried != 0 {
		o.QueriedAt = FromMicros(r.Queried)
	}
	return o
}

// InsertFundingOrder stores a new order durably (synchronous=FULL on
// SQLite) before the channel is asked: a notification that races the
// channel's answer must find it. A merchant idempotency key already used
// answers ErrFundingOrderExists.
func (db *DB) InsertFundingOrder(ctx context.Context, o FundingOrder) error {
	err := db.inTx(ctx, func(tx *sqlx.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO funding_orders (`+fundingOrderCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, '')`,
			o.ID, o.MerchantID, o.IdemKey, o.Channel, o.AmountFen, o.Status, o.QRCode, o.ChannelRef, o.FundTxID, o.Failure,
			o.CreatedBy, Micros(o.CreatedAt), Micros(o.CreatedAt))
		return err
	})
	if IsDuplicate(err) {
		return ErrFundingOrderExists
	}
	if err != nil {
		return fmt.Errorf("insert funding order: %w", err)
	}
	return nil
}

// FundingOrder reads an order by id.
func (db *DB) FundingOrder(ctx context.Context, id string) (FundingOrder, error) {
	var r fundingOrderRow
	err := db.W.GetContext(ctx, &r, `SELECT `+fundingOrderCols+` FROM funding_orders WHERE id = ?`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return FundingOrder{}, ErrFundingOrderNotFound
	}
	if err != nil {
		return FundingOrder{}, fmt.Errorf("funding order %s: %w", id, err)
	}
	return r.order(), nil
}

// FundingOrderByKey reads the order a merchant's idempotency key made.
func (db *DB) FundingOrderByKey(ctx context.Context, merchantID, key string) (FundingOrder, error) {
	var r fundingOrderRow
	err := db.W.GetContext(ctx, &r, `SELECT `+fundingOrderCols+` FROM funding_orders WHERE merchant_id = ? AND idem_key = ?`, merchantID, key)
	if errors.Is(err, sql.ErrNoRows) {
		return FundingOrder{}, ErrFundingOrderNotFound
	}
	if err != nil {
		return FundingOrder{}, fmt.Errorf("funding order by key: %w", err)
	}
	return r.order(), nil
}

// UpdateFundingOrder records the channel's answer or the funding. A
// succeeded order never changes again (the WHERE keeps it), so a late
// "unknown" cannot overwrite a funding.
func (db *DB) UpdateFundingOrder(ctx context.Context, o FundingOrder, now time.Time) error {
	_, err := db.W.ExecContext(ctx, `UPDATE funding_orders SET status = ?, qr_code = ?, channel_ref = ?, fund_tx_id = ?, failure = ?, updated_at = ?
		WHERE id = ? AND status <> ?`, o.Status, o.QRCode, o.ChannelRef, o.FundTxID, o.Failure, Micros(now), o.ID, FundingSucceeded)
	if err != nil {
		return fmt.Errorf("update funding order %s: %w", o.ID, err)
	}
	return nil
}

// RecordFundingQuery notes that the channel was asked about an order and
// what it answered (the order's status is changed, if at all, by
// UpdateFundingOrder).
func (db *DB) RecordFundingQuery(ctx context.Context, id, outcome string, at time.Time) error {
	if _, err := db.W.ExecContext(ctx, `UPDATE funding_orders SET queried_at = ?, query_outcome = ? WHERE id = ?`, Micros(at), outcome, id); err != nil {
		return fmt.Errorf("record funding query %s: %w", id, err)
	}
	return nil
}

// OpenFundingOrders lists up to limit orders the channel has not settled
// (created, pending, unknown) created after createdAfter and not queried
// since queriedBefore nor updated since updatedBefore, least recently
// queried first: the orders whose payment the sweep asks the channel about.
func (db *DB) OpenFundingOrders(ctx context.Context, createdAfter, updatedBefore, queriedBefore time.Time, limit int) ([]FundingOrder, error) {
	var rows []fundingOrderRow
	err := db.R.SelectContext(ctx, &rows, `SELECT `+fundingOrderCols+` FROM funding_orders
		WHERE status IN (?, ?, ?) AND queried_at < ? AND created_at > ? AND updated_at < ?
		ORDER BY queried_at, id LIMIT ?`, FundingCreated, FundingPending, FundingUnknown,
		Micros(queriedBefore), Micros(createdAfter), Micros(updatedBefore), limit)
	if err != nil {
		return nil, fmt.Errorf("open funding orders: %w", err)
	}
	out := make([]FundingOrder, len(rows))
	for i, r := range rows {
		out[i] = r.order()
	}
	return out, nil
}

// ChannelNotification is one notification a channel sent and its outcome.
type ChannelNotification struct {
	ID            int64     `db:"id" json:"id"`
	Channel       string    `db:"channel" json:"channel"`
	ReceivedAt    time.Time `db:"-" json:"received_at"`
	Verified      bool      `db:"verified" json:"verified"`
	EventType     string    `db:"event_type" json:"event_type"`
	TransactionID string    `db:"transaction_id" json:"transaction_id"`
	ChannelRef    string    `db:"channel_ref" json:"channel_ref"`
	AmountFen     int64     `db:"amount_fen" json:"amount_fen"`
	Outcome       string    `db:"outcome" json:"outcome"`
	Detail        string    `db:"detail" json:"detail"`
	BodySHA256    string    `db:"body_sha256" json:"body_sha256"`
}

type channelNotificationRow struct {
	ChannelNotification
	Received int64 `db:"received_at"`
}

// InsertChannelNotification records a notification.
func (db *DB) InsertChannelNotification(ctx context.Context, n ChannelNotification) error {
	_, err := db.W.ExecContext(ctx, `INSERT INTO channel_notifications (channel, received_at, verified, event_type, transaction_id, channel_ref, amount_fen, outcome, detail, body_sha256)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, n.Channel, Micros(n.ReceivedAt), n.Verified, n.EventType, n.TransactionID, n.ChannelRef,
		n.AmountFen, n.Outcome, n.Detail, n.BodySHA256)
	if err != nil {
		return fmt.Errorf("record channel notification: %w", err)
	}
	return nil
}

// ChannelNotifications lists notifications, newest first, optionally of one
// transaction id.
func (db *DB) ChannelNotifications(ctx context.Context, transactionID string, limit int) ([]ChannelNotification, error) {
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	q := `SELECT id, channel, received_at, verified, event_type, transaction_id, channel_ref, amount_fen, outcome, detail, body_sha256 FROM channel_notifications`
	args := []any{}
	if transactionID != "" {
		q += ` WHERE transaction_id = ?`
		args = append(args, transactionID)
	}
	q += ` ORDER BY id DESC LIMIT ?`
	args = append(args, limit)
	var rows []channelNotificationRow
	if err := db.R.SelectContext(ctx, &rows, q, args...); err != nil {
		return nil, fmt.Errorf("channel notifications: %w", err)
	}
	out := make([]ChannelNotification, len(rows))
	for i, r := range rows {
		out[i] = r.ChannelNotification
		out[i].ReceivedAt = FromMicros(r.Received)
	}
	return out, nil
}
