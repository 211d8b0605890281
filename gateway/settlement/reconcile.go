package settlement

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/lianmeng/lianmeng/gateway/store"
)

// Reconciliation exception kinds (what each means: README, Payments and
// settlement).
const (
	// ExceptionMissingInLedger: the channel's bill has a payment the ledger
	// never funded (no such order, or the order was not funded).
	ExceptionMissingInLedger = "missing_in_ledger"
	// ExceptionMissingAtChannel: the ledger funded an order that day that
	// the channel's bill does not have.
	ExceptionMissingAtChannel = "missing_at_channel"
	// ExceptionAmountMismatch: both have it, for different amounts.
	ExceptionAmountMismatch = "amount_mismatch"
	// ExceptionDuplicate: the bill lists the same transaction twice.
	ExceptionDuplicate = "duplicate"
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
	Exceptions int    `json:"exceptions"` // found this run (new or already recorded)
	Final      bool   `json:"final"`      // the channel says the bill will not change
}

func (r *Reconciler) loc() *time.Location {
	if r.Location != nil {
		return r.Location
	}
	return time.FixedZone("CST", 8*3600)
}

func (r *Reconciler) now() time.Time {
	if r.Now != nil {
		return r.Now().UTC()
	}
	return time.Now().UTC()
}

// Run reconciles one channel's day (YYYY-MM-DD). Running it again finds
// the same exceptions and records none twice.
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
	add := func(kind, tx, ref string, ledgerFen, channelFen int64, detail string) {
		found = append(found, store.ReconException{Channel: channel, BillDate: date, Kind: kind, TransactionID: tx, ChannelRef: ref,
			LedgerFen: ledgerFen, ChannelFen: channelFen, Detail: detail, CreatedAt: r.now()})
	}
	seen := map[string]bool{}
	for _, e := range st.Entries {
		if e.Type != "payment" {
			continue // refunds and payouts: matched by their own flows (not yet)
		}
		if seen[e.TransactionID] {
			add(ExceptionDuplicate, e.TransactionID, e.ChannelReference, 0, e.AmountFen, "the bill lists this payment more than once")
			continue
		}
		seen[e.TransactionID] = true
		o, err := r.DB.FundingOrder(ctx, e.TransactionID)
		switch {
		case errors.Is(err, store.ErrFundingOrderNotFound) || err == nil && o.Channel != channel:
			add(ExceptionMissingInLedger, e.TransactionID, e.ChannelReference, 0, e.AmountFen, "no funding order with this out_trade_no on this channel")
		case err != nil:
			return res, err
		case o.Status != store.FundingSucceeded:
			add(ExceptionMissingInLedger, e.TransactionID, e.ChannelReference, 0, e.AmountFen, "the funding order is "+o.Status+": its notification never credited it")
		case o.AmountFen != e.AmountFen:
			add(ExceptionAmountMismatch, e.TransactionID, e.ChannelReference, o.AmountFen, e.AmountFen, "the ledger funded a different amount")
		case o.ChannelRef != "" && e.ChannelReference != "" && o.ChannelRef != e.ChannelReference:
			add(ExceptionAmountMismatch, e.TransactionID, e.ChannelReference, o.AmountFen, e.AmountFen, "the channel's transaction id differs from the funded one ("+o.ChannelRef+")")
		default:
			res.Matched++
		}
	}
	funded, err := r.DB.SucceededFundingOrders(ctx, channel, day, day.AddDate(0, 0, 1))
	if err != nil {
		return res, err
	}
	for _, o := range funded {
		if !seen[o.ID] {
			add(ExceptionMissingAtChannel, o.ID, o.ChannelRef, o.AmountFen, 0, "funded that day, not in the channel's bill")
		}
	}
	for _, e := range found {
		if _, err := r.DB.RecordReconException(ctx, e); err != nil {
			return res, err
		}
	}
	res.Exceptions = len(found)
	return res, nil
}
