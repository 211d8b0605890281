// Package settlement moves money through the licensed payment channels
// (DESIGN §4 Fund and Payout, issue 13): a merchant funds its points budget
// by paying into the reserve through a channel, and the budget is credited
// only on the channel's verified word, exactly once.
//
// Nothing here is on the earn or redeem path: those never wait on a
// channel. A channel that is down makes funding answer "unavailable" and
// leaves notifications to the channel's own redelivery, nothing more.
package settlement

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/lianmeng/lianmeng/gateway/inbox"
	"github.com/lianmeng/lianmeng/gateway/points"
	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/sdk/payment"
	"github.com/lianmeng/lianmeng/sdk/webhook"
)

// Channels finds a payment channel plugin by its configured name
// (pluginhost.Host does).
type Channels interface {
	PaymentChannel(name string) (payment.Channel, error)
}

// Errors the API maps to statuses.
var (
	// ErrUnknownChannel: no payment channel of that name (404).
	ErrUnknownChannel = errors.New("settlement: unknown payment channel")
	// ErrChannelUnavailable: the channel cannot be reached now (503).
	ErrChannelUnavailable = errors.New("settlement: payment channel unavailable")
	// ErrChannelRefused: the channel refused the request (502).
	ErrChannelRefused = errors.New("settlement: payment channel refused")
	// ErrIdempotencyConflict: the key was used with another body (409).
	ErrIdempotencyConflict = errors.New("settlement: idempotency key reused with another request")
	// ErrInvalid: bad input (400), with a message for the caller.
	ErrInvalid = errors.New("settlement: invalid request")
	// ErrNotificationRefused: a notification was not accepted (a bad
	// signature, an unknown order, another amount); recorded, nothing
	// credited. Any answer but the channel's acknowledgement makes the
	// channel deliver it again, and an operator sees the record.
	ErrNotificationRefused = errors.New("settlement: notification refused")
)

// RefusedError says why a notification was refused.
type RefusedError struct{ Outcome, Detail string }

func (e *RefusedError) Error() string { return "notification refused: " + e.Outcome + ": " + e.Detail }
func (e *RefusedError) Unwrap() error { return ErrNotificationRefused }

// Notification outcomes, recorded with every notification.
const (
	OutcomeCredited      = "credited"          // the funding was applied now
	OutcomeDuplicate     = "duplicate"         // already applied: nothing more
	OutcomeBadSignature  = "refused_signature" // did not verify
	OutcomeUnknownOrder  = "unknown_order"     // no such funding order
	OutcomeAmountDiffers = "amount_mismatch"   // paid amount is not the order's
	OutcomeNotPaid       = "not_paid"          // a verified non-success state
	OutcomeIgnored       = "ignored"           // an event funding does not act on
	OutcomeFailed        = "failed"            // could not be applied now (retried by the channel)
)

// Funding creates funding orders and applies channels' notifications.
type Funding struct {
	DB       *store.DB
	Writer   *store.Writer
	Points   *points.Service
	Channels Channels
	Log      *slog.Logger
	Now      func() time.Time
	// CallTimeout bounds each channel call (default 10 s).
	CallTimeout time.Duration
	// QueryAfter is how long an open order waits for its notification
	// before QueryOpen asks the channel, and how often it asks again
	// (default 5 min); QueryWindow how long after its creation an order is
	// still asked about (default 48 h). See query.go.
	QueryAfter, QueryWindow time.Duration
	// Inbox, when set, takes notifications durably before they are
	// acknowledged and applies them asynchronously (notifications.go);
	// nil: Notify applies each one before answering.
	Inbox *inbox.Inbox
}

func (f *Funding) now() time.Time {
	if f.Now != nil {
		return f.Now().UTC()
	}
	return time.Now().UTC()
}

func (f *Funding) log() *slog.Logger {
	if f.Log != nil {
		return f.Log
	}
	return slog.Default()
}

func (f *Funding) timeout() time.Duration {
	if f.CallTimeout > 0 {
		return f.CallTimeout
	}
	return 10 * time.Second
}

// FundingRequest asks for a top-up.
type FundingRequest struct {
	MerchantID string
	Channel    string
	AmountFen  int64
	// IdemKey is the merchant's Idempotency-Key: the same key is the same
	// order (and the same channel transaction id).
	IdemKey   string
	CreatedBy string
}

// maxFundingFen bounds one top-up (the fund command's own bound).
const maxFundingFen = 1_000_000_000_000

// Create stores a funding order, then asks the channel for a payment.
// Calling it again with the same key returns the same order, asking the
// channel again only while the order has no payment instruction yet (the
// channel's out_trade_no makes that safe).
func (f *Funding) Create(ctx context.Context, r FundingRequest) (store.FundingOrder, error) {
	if r.AmountFen <= 0 || r.AmountFen > maxFundingFen {
		return store.FundingOrder{}, fmt.Errorf("%w: amount_fen must be between 1 and %d", ErrInvalid, int64(maxFundingFen))
	}
	if face := f.Points.Policy.FaceValueFen; face > 0 && r.AmountFen%face != 0 {
		return store.FundingOrder{}, fmt.Errorf("%w: amount_fen must be a multiple of the point face value (%d fen)", ErrInvalid, face)
	}
	if r.IdemKey == "" {
		return store.FundingOrder{}, fmt.Errorf("%w: an Idempotency-Key is required", ErrInvalid)
	}
	// Once a wind-down is announced no budget grows (payments already
	// ordered are still credited when they arrive, and refunded with it).
	if err := f.Points.IssuanceOpen(ctx); err != nil {
		return store.FundingOrder{}, err
	}
	ch, err := f.Channels.PaymentChannel(r.Channel)
	if err != nil {
		return store.FundingOrder{}, fmt.Errorf("%w: %q", ErrUnknownChannel, r.Channel)
	}
	now := f.now()
	o := store.FundingOrder{ID: newOrderID(), MerchantID: r.MerchantID, IdemKey: r.IdemKey, Channel: r.Channel,
		AmountFen: r.AmountFen, Status: store.FundingCreated, CreatedBy: r.CreatedBy, CreatedAt: now}
	switch err := f.DB.InsertFundingOrder(ctx, o); {
	case errors.Is(err, store.ErrFundingOrderExists):
		prev, err := f.DB.FundingOrderByKey(ctx, r.MerchantID, r.IdemKey)
		if err != nil {
			return store.FundingOrder{}, err
		}
		if prev.Channel != r.Channel || prev.AmountFen != r.AmountFen {
			return store.FundingOrder{}, ErrIdempotencyConflict
		}
		if prev.Status != store.FundingCreated && prev.Status != store.FundingUnknown {
			return prev, nil
		}
		o = prev
	case err != nil:
		return store.FundingOrder{}, err
	}
	return f.askChannel(ctx, ch, o)
}

func (f *Funding) askChannel(ctx context.Context, ch payment.Channel, o store.FundingOrder) (store.FundingOrder, error) {
	cctx, cancel := context.WithTimeout(ctx, f.timeout())
	defer cancel()
	res, err := ch.CreatePayment(cctx, payment.CreatePaymentRequest{TransactionID: o.ID, MerchantID: o.MerchantID,
		AmountFen: o.AmountFen, Currency: "CNY", Description: "Lianmeng points budget " + o.MerchantID})
	if err != nil {
		// The plugin is down or broke: the order stays as it was and the
		// merchant may retry with the same key.
		f.log().Warn("funding: channel unavailable", "channel", o.Channel, "order", o.ID, "err", err)
		return o, fmt.Errorf("%w: %v", ErrChannelUnavailable, err)
	}
	switch res.Result.Status {
	case payment.StatusPending, payment.StatusSucceeded:
		o.Status, o.QRCode = store.FundingPending, firstNonEmpty(res.QRCode, res.PayURL)
	case payment.StatusFailed:
		o.Status, o.Failure = store.FundingFailed, res.Result.FailureCode+": "+res.Result.FailureMessage
	default: // unknown, not submitted: ask again later with the same id
		o.Status, o.Failure = store.FundingUnknown, res.Result.FailureCode+": "+res.Result.FailureMessage
	}
	if err := f.DB.UpdateFundingOrder(ctx, o, f.now()); err != nil {
		return o, err
	}
	switch o.Status {
	case store.FundingFailed:
		return o, fmt.Errorf("%w: %s", ErrChannelRefused, o.Failure)
	case store.FundingUnknown:
		return o, fmt.Errorf("%w: %s", ErrChannelUnavailable, o.Failure)
	}
	return o, nil
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func newOrderID() string { return newID("fnd_") }

// newID is an id the channels take as an out-trade or out-request number
// (letters, digits, underscore; 28 characters).
func newID(prefix string) string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// Notify handles a channel's notification: the plugin verifies it; a
// verified successful payment of a known order for the exact amount is
// funded once (the fund command refuses the same channel payment twice);
// everything is recorded. The answer is the channel's own acknowledgement
// once the funding is durable; otherwise a *RefusedError (or
// ErrChannelUnavailable), which the API answers with a 4xx/5xx: every
// channel takes that as "not accepted" (WeChat Pay by the status, Alipay
// because the body is not "success") and delivers again.
func (f *Funding) Notify(ctx context.Context, channel string, req webhook.Request) (webhook.Response, error) {
	if f.Inbox != nil {
		return f.receive(ctx, channel, req)
	}
	ch, err := f.Channels.PaymentChannel(channel)
	if err != nil {
		return webhook.Response{}, fmt.Errorf("%w: %q", ErrUnknownChannel, channel)
	}
	sum := sha256.Sum256(req.Body)
	rec := store.ChannelNotification{Channel: channel, ReceivedAt: f.now(), BodySHA256: hex.EncodeToString(sum[:])}
	cctx, cancel := context.WithTimeout(ctx, f.timeout())
	n, err := ch.HandleNotification(cctx, req)
	cancel()
	if err != nil {
		// Not verified (the plugin is down): not acknowledged, so redelivered.
		return webhook.Response{}, fmt.Errorf("%w: %v", ErrChannelUnavailable, err)
	}
	rec.Verified, rec.EventType = n.Verified, n.EventType
	rec.TransactionID, rec.ChannelRef, rec.AmountFen = n.Result.TransactionID, n.Result.ChannelReference, n.Result.AmountFen
	switch {
	case !n.Verified:
		rec.Outcome, rec.Detail = OutcomeBadSignature, n.Result.FailureCode+": "+n.Result.FailureMessage
	case n.EventType != "payment":
		rec.Outcome = OutcomeIgnored // refunds and payouts are matched by their own flows
	case n.Result.Status != payment.StatusSucceeded:
		rec.Outcome, rec.Detail = OutcomeNotPaid, n.Result.Status.String()
	default:
		rec.Outcome, rec.Detail = f.credit(ctx, channel, n.Result)
	}
	if err := f.DB.InsertChannelNotification(ctx, rec); err != nil {
		// The funding (if any) is durable; only the record is missing.
		f.log().Error("funding: notification not recorded", "channel", channel, "tx", rec.TransactionID, "outcome", rec.Outcome, "err", err)
	}
	switch rec.Outcome {
	case OutcomeCredited, OutcomeDuplicate, OutcomeIgnored, OutcomeNotPaid:
		return n.Ack, nil
	}
	f.log().Warn("funding: notification refused", "channel", channel, "tx", rec.TransactionID, "outcome", rec.Outcome, "detail", rec.Detail)
	return webhook.Response{}, &RefusedError{Outcome: rec.Outcome, Detail: rec.Detail}
}

// credit applies a verified successful payment to its order.
func (f *Funding) credit(ctx context.Context, channel string, res payment.Result) (outcome, detail string) {
	o, err := f.DB.FundingOrder(ctx, res.TransactionID)
	if errors.Is(err, store.ErrFundingOrderNotFound) || err == nil && o.Channel != channel {
		return OutcomeUnknownOrder, "no funding order " + res.TransactionID + " on " + channel
	}
	if err != nil {
		return OutcomeFailed, err.Error()
	}
	if res.AmountFen != o.AmountFen {
		return OutcomeAmountDiffers, fmt.Sprintf("paid %d fen, the order is %d fen", res.AmountFen, o.AmountFen)
	}
	if res.ChannelReference == "" {
		return OutcomeFailed, "the channel gave no transaction reference"
	}
	if o.Status == store.FundingSucceeded {
		return OutcomeDuplicate, "funded by transaction " + fmt.Sprint(o.FundTxID)
	}
	cmd := f.Points.FundCommand(points.FundRequest{MerchantID: o.MerchantID, AmountFen: o.AmountFen, ExternalRef: ExternalRef(channel, res.ChannelReference)})
	r := f.Writer.Submit(ctx, &store.Op{Command: cmd, Audit: &store.OpAudit{Kind: "reserve.funded", Actor: "channel:" + channel,
		Subject: o.MerchantID, Request: map[string]any{"funding_order": o.ID, "amount_fen": o.AmountFen, "channel_ref": res.ChannelReference}}})
	var pe *points.Error
	switch {
	case errors.As(r.Err, &pe) && pe.Code == points.CodeAlreadyFunded:
		outcome, detail = OutcomeDuplicate, "the payment was already funded"
	case r.Err != nil:
		return OutcomeFailed, r.Err.Error()
	default:
		outcome = OutcomeCredited
		if fr, ok := r.Value.(points.FundResult); ok {
			o.FundTxID = fr.TxID
		}
	}
	o.Status, o.ChannelRef, o.Failure = store.FundingSucceeded, res.ChannelReference, ""
	if err := f.DB.UpdateFundingOrder(ctx, o, f.now()); err != nil {
		// The money is in the ledger; the order's status catches up on the
		// next notification (a duplicate) or query.
		f.log().Error("funding: order status not updated", "order", o.ID, "err", err)
	}
	return outcome, detail
}

// ExternalRef is the funding's external reference in the ledger: the
// channel's own transaction id, under the channel's name.
func ExternalRef(channel, channelRef string) string { return channel + ":" + channelRef }
