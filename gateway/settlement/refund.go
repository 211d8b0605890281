package settlement

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/lianmeng/lianmeng/gateway/ledger"
	"github.com/lianmeng/lianmeng/gateway/points"
	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/sdk/payment"
)

// Refunds return a merchant's unused budget through the channels it paid
// with (issue 13's funding refund; what a merchant leaving the alliance
// gets back, issue 16). A request holds the money at once
// (points.Service.HoldFundingRefund: the budget's points back to the mint,
// their cash from the reserve to alliance:refunds), so nothing issues them
// meanwhile and the reserve keeps covering every outstanding point; the
// refund is split over the merchant's channel payments, newest first, one
// part per payment; a worker sends each part with its own id as the
// channel's refund number (out_refund_no, out_request_no), so sending it
// again can never refund twice; and each part is booked only on the
// channel's final word: paid (to external:refunded), or, if the channel
// refused, returned to the reserve and the budget. A part whose answer was
// lost is sent again with the same number, which every channel answers
// with the refund it already made.
//
// Part states: requested --send--> submitted | succeeded | failed, and
// unknown (sent again later); submitted and unknown are sent again until
// final.
type Refunds struct {
	DB       *store.DB
	Writer   *store.Writer
	Points   *points.Service
	Channels Channels
	Now      func() time.Time
	// BaseBackoff doubles per attempt up to MaxBackoff (1 s and 30 min).
	BaseBackoff, MaxBackoff time.Duration
	// PollInterval is how soon a submitted part is asked again (1 min).
	PollInterval time.Duration
	CallTimeout  time.Duration
}

// Errors of a refund request (4xx at the API).
var (
	// ErrInsufficientBudget: more than the unused budget.
	ErrInsufficientBudget = errors.New("settlement: amount exceeds the unused budget")
	// ErrNotRefundable: the budget was not (all) funded through a channel
	// payment that can still be refunded.
	ErrNotRefundable = errors.New("settlement: not refundable through a channel")
	// ErrReserveShort: the refund would leave outstanding points uncovered.
	ErrReserveShort = errors.New("settlement: the reserve would not cover outstanding points")
)

func (r *Refunds) now() time.Time {
	if r.Now != nil {
		return r.Now().UTC()
	}
	return time.Now().UTC()
}

func (r *Refunds) backoff(attempt int) time.Duration {
	return backoff(r.BaseBackoff, r.MaxBackoff, attempt)
}

// RefundRequest asks to refund AmountFen of a merchant's unused budget
// (0: all of it).
type RefundRequest struct {
	MerchantID  string
	AmountFen   int64
	Reason      string
	IdemKey     string
	RequestedBy string
}

// Request plans, stores and holds a refund; the same key is the same
// refund. Parts are sent by ProcessDue.
func (r *Refunds) Request(ctx context.Context, req RefundRequest) (store.FundingRefund, error) {
	face := r.Points.Policy.FaceValueFen
	if req.AmountFen < 0 || req.AmountFen > maxFundingFen || face > 0 && req.AmountFen%face != 0 {
		return store.FundingRefund{}, fmt.Errorf("%w: amount_fen must be 0 (all the unused budget) or a positive multiple of the point face value (%d fen) up to %d", ErrInvalid, face, int64(maxFundingFen))
	}
	if req.IdemKey == "" {
		return store.FundingRefund{}, fmt.Errorf("%w: an Idempotency-Key is required", ErrInvalid)
	}
	if len(req.Reason) > 255 {
		return store.FundingRefund{}, fmt.Errorf("%w: reason is at most 255 bytes", ErrInvalid)
	}
	if prev, err := r.DB.FundingRefundByKey(ctx, req.MerchantID, req.IdemKey); err == nil {
		if req.AmountFen != 0 && prev.AmountFen != req.AmountFen {
			return store.FundingRefund{}, ErrIdempotencyConflict
		}
		return prev, nil
	} else if !errors.Is(err, store.ErrFundingRefundNotFound) {
		return store.FundingRefund{}, err
	}
	budget := ledger.MerchantBudget(req.MerchantID)
	bal, err := r.DB.Balances(ctx, budget)
	if err != nil {
		return store.FundingRefund{}, err
	}
	unused, ok := ledger.MulChecked(bal[budget], face)
	if !ok {
		return store.FundingRefund{}, fmt.Errorf("settlement: budget overflow")
	}
	amount := req.AmountFen
	if amount == 0 {
		amount = unused
	}
	if amount == 0 {
		return store.FundingRefund{}, fmt.Errorf("%w: the merchant has no unused budget", ErrInsufficientBudget)
	}
	if amount > unused {
		return store.FundingRefund{}, fmt.Errorf("%w: the unused budget is %d fen", ErrInsufficientBudget, unused)
	}
	now := r.now()
	rf := store.FundingRefund{ID: newID("rf_"), MerchantID: req.MerchantID, IdemKey: req.IdemKey, AmountFen: amount, Reason: req.Reason,
		State: store.RefundRequested, RequestedBy: req.RequestedBy, CreatedAt: now}
	plan := func(pays []store.RefundablePayment) ([]store.FundingRefundPart, error) {
		var parts []store.FundingRefundPart
		left := amount
		for _, p := range pays {
			if left == 0 {
				break
			}
			n := min(left, p.LeftFen)
			parts = append(parts, store.FundingRefundPart{ID: newID("rfp_"), FundingOrderID: p.Order.ID, Channel: p.Order.Channel,
				AmountFen: n, State: store.RefundPartRequested, NextAt: now})
			left -= n
		}
		if left > 0 {
			return nil, fmt.Errorf("%w: %d fen of it has no channel payment left to refund", store.ErrNotRefundable, left)
		}
		return parts, nil
	}
	created, err := r.DB.CreateFundingRefund(ctx, rf, plan)
	switch {
	case errors.Is(err, store.ErrFundingRefundExists): // a concurrent request with the same key
		return r.DB.FundingRefundByKey(ctx, req.MerchantID, req.IdemKey)
	case errors.Is(err, store.ErrNotRefundable):
		return store.FundingRefund{}, fmt.Errorf("%w: %v", ErrNotRefundable, err)
	case err != nil:
		return store.FundingRefund{}, err
	}
	// The row first, so a crash cannot leave held money without a refund;
	// the worker makes the hold again (once) before sending.
	if err := r.hold(ctx, &created); err != nil {
		return created, err
	}
	return created, nil
}

// hold posts the refund's hold once. A refusal (the budget was spent
// meanwhile) fails the refund and its parts: nothing was held.
func (r *Refunds) hold(ctx context.Context, rf *store.FundingRefund) error {
	res := r.Writer.Submit(ctx, &store.Op{Command: r.Points.HoldFundingRefundCommand(points.FundingRefundHold{MerchantID: rf.MerchantID, RefundID: rf.ID, AmountFen: rf.AmountFen}),
		Audit: &store.OpAudit{Kind: "funding_refund.held", Actor: "settlement", Subject: rf.MerchantID, Request: map[string]any{"refund": rf.ID, "amount_fen": rf.AmountFen}}})
	var pe *points.Error
	if errors.As(res.Err, &pe) && (pe.Code == points.CodeInsufficientBudget || pe.Code == points.CodeReserveWouldNotCover) {
		now := r.now()
		for i := range rf.Parts {
			rf.Parts[i].State, rf.Parts[i].Failure = store.RefundPartFailed, "not held: "+pe.Message
			if err := r.DB.UpdateRefundPart(ctx, rf.Parts[i], now); err != nil {
				return err
			}
		}
		rf.State, rf.Failure = store.RefundFailed, pe.Message
		if err := r.DB.UpdateFundingRefund(ctx, *rf, now); err != nil {
			return err
		}
		if pe.Code == points.CodeReserveWouldNotCover {
			return fmt.Errorf("%w: %s", ErrReserveShort, pe.Message)
		}
		return fmt.Errorf("%w: %s", ErrInsufficientBudget, pe.Message)
	}
	if res.Err != nil {
		return res.Err
	}
	hr, _ := res.Value.(points.FundingRefundResult)
	if rf.HoldTxID == hr.TxID && rf.State != store.RefundRequested {
		return nil
	}
	rf.HoldTxID = hr.TxID
	if rf.State == store.RefundRequested {
		rf.State = store.RefundProcessing
	}
	return r.DB.UpdateFundingRefund(ctx, *rf, r.now())
}

// ProcessDue advances every due part one step; it returns how many it
// looked at. Run it under the scheduler's lease.
func (r *Refunds) ProcessDue(ctx context.Context) (int, error) {
	due, err := r.DB.DueRefundParts(ctx, r.now(), 100)
	if err != nil {
		return 0, err
	}
	for _, p := range due {
		if err := r.step(ctx, p); err != nil {
			return 0, fmt.Errorf("refund part %s: %w", p.ID, err)
		}
	}
	return len(due), nil
}

func (r *Refunds) step(ctx context.Context, p store.FundingRefundPart) error {
	rf, err := r.DB.GetFundingRefund(ctx, p.RefundID)
	if err != nil {
		return err
	}
	if rf.State == store.RefundRequested {
		if err := r.hold(ctx, &rf); errors.Is(err, ErrInsufficientBudget) || errors.Is(err, ErrReserveShort) {
			return nil // failed and recorded
		} else if err != nil {
			return r.retry(ctx, p, "hold: "+err.Error())
		}
	}
	order, err := r.DB.FundingOrder(ctx, p.FundingOrderID)
	if err != nil {
		return err
	}
	ch, err := r.Channels.PaymentChannel(p.Channel)
	if err != nil {
		return r.retry(ctx, p, "channel "+p.Channel+": "+err.Error())
	}
	cctx, cancel := context.WithTimeout(ctx, orDefault(r.CallTimeout, 10*time.Second))
	defer cancel()
	p.Attempts++
	// Sent again with the same refund number, a refund the channel already
	// has is answered as it stands: the query of a refund.
	res, err := ch.Refund(cctx, payment.RefundRequest{TransactionID: p.ID, OriginalTransactionID: order.ID, OriginalChannelReference: order.ChannelRef,
		AmountFen: p.AmountFen, Currency: "CNY", Reason: "Lianmeng: unused points budget refunded"})
	if err != nil {
		return r.toUnknown(ctx, p, err.Error())
	}
	if res.ChannelReference != "" {
		p.ChannelRef = res.ChannelReference
	}
	switch res.Status {
	case payment.StatusSucceeded:
		if res.AmountFen != 0 && res.AmountFen != p.AmountFen {
			// Never book an amount the channel contradicts: an operator decides.
			return r.toUnknown(ctx, p, fmt.Sprintf("channel reports %d fen, the refund part is %d", res.AmountFen, p.AmountFen))
		}
		return r.settle(ctx, rf, p, true, "")
	case payment.StatusPending:
		p.State, p.Failure = store.RefundPartSubmitted, ""
		p.NextAt = r.now().Add(orDefault(r.PollInterval, time.Minute))
		return r.DB.UpdateRefundPart(ctx, p, r.now())
	case payment.StatusFailed:
		return r.settle(ctx, rf, p, false, res.FailureCode+": "+res.FailureMessage)
	default: // unknown, not submitted: the same number again later
		return r.toUnknown(ctx, p, res.Status.String()+" "+res.FailureCode+": "+res.FailureMessage)
	}
}

func (r *Refunds) toUnknown(ctx context.Context, p store.FundingRefundPart, why string) error {
	if p.State != store.RefundPartSubmitted {
		p.State = store.RefundPartUnknown
	}
	return r.retry(ctx, p, why)
}

func (r *Refunds) retry(ctx context.Context, p store.FundingRefundPart, why string) error {
	p.Failure = why
	p.NextAt = r.now().Add(r.backoff(p.Attempts))
	return r.DB.UpdateRefundPart(ctx, p, r.now())
}

// settle books a part's final outcome, then the refund's state.
func (r *Refunds) settle(ctx context.Context, rf store.FundingRefund, p store.FundingRefundPart, paid bool, why string) error {
	res := r.Writer.Submit(ctx, &store.Op{Command: r.Points.SettleFundingRefundCommand(points.FundingRefundSettle{MerchantID: p.MerchantID,
		RefundID: rf.ID, PartID: p.ID, AmountFen: p.AmountFen, Paid: paid}),
		Audit: &store.OpAudit{Kind: "funding_refund." + map[bool]string{true: "paid", false: "returned"}[paid], Actor: "channel:" + p.Channel,
			Subject: p.MerchantID, Request: map[string]any{"refund": rf.ID, "part": p.ID, "amount_fen": p.AmountFen, "channel_ref": p.ChannelRef, "failure": why}}})
	if res.Err != nil {
		return r.retry(ctx, p, "booking: "+res.Err.Error())
	}
	sr, _ := res.Value.(points.FundingRefundResult)
	if sr.TxID == 0 {
		return r.retry(ctx, p, "final, but its hold is missing")
	}
	p.LedgerTxID, p.Failure = sr.TxID, why
	p.State = store.RefundPartFailed
	if paid {
		p.State = store.RefundPartSucceeded
	}
	now := r.now()
	if err := r.DB.UpdateRefundPart(ctx, p, now); err != nil {
		return err
	}
	fresh, err := r.DB.GetFundingRefund(ctx, rf.ID)
	if err != nil {
		return err
	}
	var ok, failed int
	for _, q := range fresh.Parts {
		switch q.State {
		case store.RefundPartSucceeded:
			ok++
		case store.RefundPartFailed:
			failed++
		}
	}
	switch {
	case ok+failed < len(fresh.Parts):
		return nil
	case failed == 0:
		fresh.State, fresh.Failure = store.RefundSucceeded, ""
	case ok == 0:
		fresh.State = store.RefundFailed
	default:
		fresh.State = store.RefundPartial
	}
	if fresh.State != store.RefundSucceeded && fresh.Failure == "" {
		fresh.Failure = why
	}
	return r.DB.UpdateFundingRefund(ctx, fresh, now)
}
