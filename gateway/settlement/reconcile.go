package settlement

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/lianmeng/lianmeng/gateway/store"
)

// Reconciliation exception kinds (what each means: README, Payments and
// settlement). Each is recorded with its line type: payment (a funding
// order), refund (a funding refund part) or payout.
const (
	// ExceptionMissingInLedger: the channel's bill has a line the ledger has
	// no record of (no such order, refund or payout on this channel), or a
	// payment the ledger never funded.
	ExceptionMissingInLedger = "missing_in_ledger"
	// ExceptionMissingAtChannel: the ledger completed it that day (funded,
	// refunded, paid out through this channel); the bill does not have it.
	ExceptionMissingAtChannel = "missing_at_channel"
	// ExceptionAmountMismatch: both have it, for different amounts.
	ExceptionAmountMismatch = "amount_mismatch"
	// ExceptionReferenceMismatch: both have it, under another channel
	// transaction id than the one the ledger booked.
	ExceptionReferenceMismatch = "reference_mismatch"
	// ExceptionStatusMismatch: the channel completed a refund or payout the
	// ledger failed (and returned the money), or that the ledger sent
	// through another channel: money may have left twice.
	ExceptionStatusMismatch = "status_mismatch"
	// ExceptionPendingInLedger: the channel completed a refund or payout
	// the ledger is still waiting to hear about (submitted, unknown): the
	// next query books it. Replaced on every run of the day.
	ExceptionPendingInLedger = "pending_in_ledger"
	// ExceptionDuplicate: the bill lists the same line twice.
	ExceptionDuplicate = "duplicate"
)

// Line types of a bill the reconciliation matches.
const (
	LinePayment = "payment"
	LineRefund  = "refund"
	LinePayout  = "payout"
)

// Reconciler matches each channel's daily bill against the ledger's
// fundings and records the differences for an operator. It never adjusts
// money.
type Reconciler struct {
	DB       *store.DB
	Channels Channels
	// Location is the alliance's time zone, which days are cut in
	// (default Asia/Shanghai, UTC+8).
	Location *time.Location
	Now      func() time.Time
}

// ReconResult summarizes one run.
type ReconResult struct {
	Channel    string `json:"channel"`
	Date       string `json:"date"`
	Entries    int    `json:"entries"`
	Matched    int    `json:"matched"`
	Ignored    int    `json:"ignored"`    // lines of other types (fees, adjustments)
	Exceptions int    `json:"exceptions"` // found this run (new or already recorded)
	Final      bool   `json:"final"`      // the channel says the bill will not change
}

func (r *Reconciler) loc() *time.Location {
	if r.Location != nil {
		return r.Location
	}
	return ChinaTime
}

func (r *Reconciler) now() time.Time {
	if r.Now != nil {
		return r.Now().UTC()
	}
	return time.Now().UTC()
}

// Run reconciles one channel's day (YYYY-MM-DD): every payment, refund and
// payout line of its bill against the funding orders, funding refund parts
// and payouts, and back. Running it again finds the same exceptions and
// records none twice. Money is never adjusted.
func (r *Reconciler) Run(ctx context.Context, channel, date string) (ReconResult, error) {
	res := ReconResult{Channel: channel, Date: date}
	day, err := time.ParseInLocation("2006-01-02", date, r.loc())
	if err != nil {
		return res, fmt.Errorf("%w: date %q is not YYYY-MM-DD", ErrInvalid, date)
	}
	ch, err := r.Channels.PaymentChannel(channel)
	if err != nil {
		return res, fmt.Errorf("%w: %q", ErrUnknownChannel, channel)
	}
	st, err := ch.FetchStatement(ctx, date)
	if err != nil {
		return res, fmt.Errorf("%w: bill of %s: %v", ErrChannelUnavailable, date, err)
	}
	res.Entries, res.Final = len(st.Entries), st.Final
	var found []store.ReconException
	add := func(line, kind, tx, ref string, ledgerFen, channelFen int64, detail string) {
		found = append(found, store.ReconException{Channel: channel, BillDate: date, Kind: kind, LineType: line, TransactionID: tx, ChannelRef: ref,
			LedgerFen: ledgerFen, ChannelFen: channelFen, Detail: detail, CreatedAt: r.now()})
	}
	seen := map[string]map[string]bool{LinePayment: {}, LineRefund: {}, LinePayout: {}}
	for _, e := range st.Entries {
		line := e.Type
		if seen[line] == nil {
			res.Ignored++ // fees, adjustments: not the ledger's records
			continue
		}
		// Channels write refunds and payouts as positive or negative
		// amounts; the ledger's records are positive.
		amount := e.AmountFen
		if amount < 0 {
			amount = -amount
		}
		if seen[line][e.TransactionID] {
			add(line, ExceptionDuplicate, e.TransactionID, e.ChannelReference, 0, amount, "the bill lists this "+line+" more than once")
			continue
		}
		seen[line][e.TransactionID] = true
		var rec ledgerRecord
		switch line {
		case LinePayment:
			rec, err = r.payment(ctx, channel, e.TransactionID)
		case LineRefund:
			rec, err = r.refund(ctx, channel, e.TransactionID)
		default:
			rec, err = r.payout(ctx, channel, e.TransactionID)
		}
		if err != nil {
			return res, err
		}
		switch {
		case rec.problem != "":
			add(line, rec.problem, e.TransactionID, e.ChannelReference, rec.amount, amount, rec.detail)
		case rec.amount != amount:
			add(line, ExceptionAmountMismatch, e.TransactionID, e.ChannelReference, rec.amount, amount, "the ledger booked a different amount")
		case rec.ref != "" && e.ChannelReference != "" && rec.ref != e.ChannelReference:
			add(line, ExceptionReferenceMismatch, e.TransactionID, e.ChannelReference, rec.amount, amount, "the ledger booked channel transaction "+rec.ref)
		default:
			res.Matched++
		}
	}
	// The ledger's side: what it completed through this channel that day.
	from, to := day.UTC(), day.AddDate(0, 0, 1).UTC()
	funded, err := r.DB.SucceededFundingOrders(ctx, channel, from, to)
	if err != nil {
		return res, err
	}
	for _, o := range funded {
		if !seen[LinePayment][o.ID] {
			add(LinePayment, ExceptionMissingAtChannel, o.ID, o.ChannelRef, o.AmountFen, 0, "funded that day, not in the channel's bill")
		}
	}
	refunded, err := r.DB.SucceededRefundParts(ctx, channel, from, to)
	if err != nil {
		return res, err
	}
	for _, p := range refunded {
		if !seen[LineRefund][p.ID] {
			add(LineRefund, ExceptionMissingAtChannel, p.ID, p.ChannelRef, p.AmountFen, 0, "refunded that day (funding refund "+p.RefundID+"), not in the channel's bill")
		}
	}
	paid, err := r.DB.SucceededPayouts(ctx, channel, from, to)
	if err != nil {
		return res, err
	}
	for _, po := range paid {
		if !seen[LinePayout][po.ID] {
			add(LinePayout, ExceptionMissingAtChannel, po.ID, po.ChannelRef, po.AmountFen, 0, "paid out that day, not in the channel's bill")
		}
	}
	if err := r.DB.ClearReconExceptions(ctx, channel, date, ExceptionPendingInLedger); err != nil {
		return res, err
	}
	for _, e := range found {
		if _, err := r.DB.RecordReconException(ctx, e); err != nil {
			return res, err
		}
	}
	res.Exceptions = len(found)
	return res, nil
}

// ledgerRecord is the ledger's side of one bill line: what it booked, or
// the exception kind (problem) and why.
type ledgerRecord struct {
	amount          int64
	ref             string
	problem, detail string
}

func (r *Reconciler) payment(ctx context.Context, channel, id string) (ledgerRecord, error) {
	o, err := r.DB.FundingOrder(ctx, id)
	switch {
	case errors.Is(err, store.ErrFundingOrderNotFound) || err == nil && o.Channel != channel:
		return ledgerRecord{problem: ExceptionMissingInLedger, detail: "no funding order with this out_trade_no on this channel"}, nil
	case err != nil:
		return ledgerRecord{}, err
	case o.Status != store.FundingSucceeded:
		return ledgerRecord{problem: ExceptionMissingInLedger, detail: "the funding order is " + o.Status + ": its notification never credited it"}, nil
	}
	return ledgerRecord{amount: o.AmountFen, ref: o.ChannelRef}, nil
}

func (r *Reconciler) refund(ctx context.Context, channel, id string) (ledgerRecord, error) {
	p, err := r.DB.FundingRefundPart(ctx, id)
	switch {
	case errors.Is(err, store.ErrFundingRefundNotFound) || err == nil && p.Channel != channel:
		return ledgerRecord{problem: ExceptionMissingInLedger, detail: "no funding refund with this refund number on this channel"}, nil
	case err != nil:
		return ledgerRecord{}, err
	}
	rec := ledgerRecord{amount: p.AmountFen, ref: p.ChannelRef}
	switch p.State {
	case store.RefundPartSucceeded:
	case store.RefundPartFailed:
		rec.problem, rec.detail = ExceptionStatusMismatch, "the ledger failed this refund and returned the money to the budget; the channel refunded it"
	default:
		rec.problem, rec.detail = ExceptionPendingInLedger, "the ledger is still waiting for the channel's answer (state "+p.State+"); the next query books it"
	}
	return rec, nil
}

func (r *Reconciler) payout(ctx context.Context, channel, id string) (ledgerRecord, error) {
	po, err := r.DB.GetPayout(ctx, id)
	switch {
	case errors.Is(err, store.ErrPayoutNotFound):
		return ledgerRecord{problem: ExceptionMissingInLedger, detail: "no payout with this out-request number"}, nil
	case err != nil:
		return ledgerRecord{}, err
	}
	rec := ledgerRecord{amount: po.AmountFen, ref: po.ChannelRef}
	switch {
	case po.Channel != channel:
		rec.problem, rec.detail = ExceptionStatusMismatch, "the ledger moved this payout to "+po.Channel+" (state "+po.State+"), yet this channel paid it"
	case po.State == store.PayoutSucceeded:
	case po.State == store.PayoutFailed:
		rec.problem, rec.detail = ExceptionStatusMismatch, "the ledger failed this payout and returned the money to the merchant's payable; the channel paid it"
	default:
		rec.problem, rec.detail = ExceptionPendingInLedger, "the ledger is still waiting for the channel's answer (state "+po.State+"); the next query books it"
	}
	return rec, nil
}
