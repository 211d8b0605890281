package settlement

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/sdk"
	"github.com/lianmeng/lianmeng/sdk/payment"
)

// Active queries: a funding whose notification never came (lost, or the
// gateway was down when the channel gave up redelivering) is learnt by
// asking the channel (payment.Querier). The answer is applied exactly as a
// verified notification would be: a succeeded payment of the order's
// amount funds the budget once (the fund command refuses the same channel
// payment twice, so a query racing a notification cannot double it); a
// failed one fails the order; anything else changes nothing. Every query
// is noted on the order (queried_at, query_outcome).

// ErrQueryUnsupported: the channel's plugin cannot query payments (it does
// not implement payment.Querier, or was built before the call existed).
var ErrQueryUnsupported = errors.New("settlement: the payment channel cannot query payments")

// Query outcomes, noted on the order, beyond the notification outcomes
// (OutcomeCredited, OutcomeDuplicate, OutcomeAmountDiffers, OutcomeFailed).
const (
	OutcomeQueryPending  = "pending"        // the payer has not paid (yet)
	OutcomeQueryUnknown  = "unknown"        // the channel could not tell
	OutcomeQueryFailed   = "payment_failed" // closed, revoked, failed: the order failed
	OutcomeNotAtChannel  = "not_at_channel" // the channel has no such payment
	OutcomeAlreadyFunded = "already_funded" // the order was funded before: not asked
	OutcomeOrderFailed   = "order_failed"   // the order failed before: not asked
)

// QueryResult is what a query found and did.
type QueryResult struct {
	Order   store.FundingOrder
	Outcome string
	Detail  string
}

// Query asks the channel for the truth of a funding order and applies it.
// A settled order (succeeded or failed) is answered as it is, without
// asking. Errors: store.ErrFundingOrderNotFound, ErrUnknownChannel,
// ErrQueryUnsupported, ErrChannelUnavailable (nothing was written).
func (f *Funding) Query(ctx context.Context, orderID string) (QueryResult, error) {
	o, err := f.DB.FundingOrder(ctx, orderID)
	if err != nil {
		return QueryResult{}, err
	}
	switch o.Status {
	case store.FundingSucceeded:
		return QueryResult{Order: o, Outcome: OutcomeAlreadyFunded}, nil
	case store.FundingFailed:
		return QueryResult{Order: o, Outcome: OutcomeOrderFailed, Detail: o.Failure}, nil
	}
	ch, err := f.Channels.PaymentChannel(o.Channel)
	if err != nil {
		return QueryResult{}, fmt.Errorf("%w: %q", ErrUnknownChannel, o.Channel)
	}
	q, ok := ch.(payment.Querier)
	if !ok {
		return QueryResult{}, fmt.Errorf("%w: %s", ErrQueryUnsupported, o.Channel)
	}
	cctx, cancel := context.WithTimeout(ctx, f.timeout())
	res, err := q.QueryPayment(cctx, payment.QueryPaymentRequest{TransactionID: o.ID, ChannelReference: o.ChannelRef})
	cancel()
	switch {
	case errors.Is(err, sdk.ErrUnimplemented):
		return QueryResult{}, fmt.Errorf("%w: %s: %v", ErrQueryUnsupported, o.Channel, err)
	case err != nil:
		return QueryResult{}, fmt.Errorf("%w: %v", ErrChannelUnavailable, err)
	}
	if res.TransactionID == "" {
		res.TransactionID = o.ID
	}
	out := QueryResult{Order: o}
	switch res.Status {
	case payment.StatusSucceeded:
		// The same checks and the same funding as a verified notification.
		out.Outcome, out.Detail = f.credit(ctx, o.Channel, res)
	case payment.StatusFailed:
		o.Status, o.Failure = store.FundingFailed, res.FailureCode+": "+res.FailureMessage
		if err := f.DB.UpdateFundingOrder(ctx, o, f.now()); err != nil {
			return QueryResult{}, err
		}
		out.Outcome, out.Detail = OutcomeQueryFailed, o.Failure
	case payment.StatusNotSubmitted:
		out.Outcome, out.Detail = OutcomeNotAtChannel, res.FailureCode
		if o.Status == store.FundingPending {
			// The channel issued a payment code for it once and has no
			// such payment now: nobody can pay it any more.
			o.Status, o.Failure = store.FundingFailed, "not_at_channel: the channel has no such payment"
			if err := f.DB.UpdateFundingOrder(ctx, o, f.now()); err != nil {
				return QueryResult{}, err
			}
		}
		// created or unknown: the channel never took it, so the merchant's
		// retry with the same Idempotency-Key may still create it.
	case payment.StatusPending:
		out.Outcome = OutcomeQueryPending
	default:
		out.Outcome, out.Detail = OutcomeQueryUnknown, res.FailureCode+": "+res.FailureMessage
	}
	if err := f.DB.RecordFundingQuery(ctx, o.ID, out.Outcome, f.now()); err != nil {
		// What the query did to the money is durable; only the note is lost.
		f.log().Error("funding: query not noted", "order", o.ID, "outcome", out.Outcome, "err", err)
	}
	if o, err := f.DB.FundingOrder(ctx, o.ID); err == nil {
		out.Order = o
	}
	if out.Outcome != OutcomeQueryPending {
		f.log().Info("funding: queried the channel", "channel", o.Channel, "order", o.ID, "outcome", out.Outcome, "detail", out.Detail)
	}
	return out, nil
}

// Sweep defaults.
const (
	defaultQueryAfter  = 5 * time.Minute
	defaultQueryWindow = 48 * time.Hour
	sweepBatch         = 100
)

// QueryOpen queries the open funding orders (created, pending, unknown)
// whose notification is overdue: untouched for QueryAfter, created within
// QueryWindow, least recently queried first, each at most once per
// QueryAfter. It returns how many it queried; an unreachable channel or
// one that cannot query is skipped until the next run.
func (f *Funding) QueryOpen(ctx context.Context) (int, error) {
	after, window := f.QueryAfter, f.QueryWindow
	if after <= 0 {
		after = defaultQueryAfter
	}
	if window <= 0 {
		window = defaultQueryWindow
	}
	now := f.now()
	orders, err := f.DB.OpenFundingOrders(ctx, now.Add(-window), now.Add(-after), now.Add(-after), sweepBatch)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, o := range orders {
		if ctx.Err() != nil {
			return n, ctx.Err()
		}
		_, err := f.Query(ctx, o.ID)
		switch {
		case errors.Is(err, ErrQueryUnsupported) || errors.Is(err, ErrUnknownChannel):
			// Note it, so the sweep moves on to other orders.
			if err := f.DB.RecordFundingQuery(ctx, o.ID, "query_unsupported", now); err != nil {
				return n, err
			}
		case errors.Is(err, ErrChannelUnavailable):
			f.log().Warn("funding: channel unavailable for a query", "channel", o.Channel, "order", o.ID, "err", err)
			if err := f.DB.RecordFundingQuery(ctx, o.ID, "channel_unavailable", now); err != nil {
				return n, err
			}
		case err != nil:
			return n, err
		default:
			n++
		}
	}
	return n, nil
}
