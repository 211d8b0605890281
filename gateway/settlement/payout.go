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

// Payouts pay merchants what the alliance owes them, through the channels
// of their payout accounts, asynchronously: a request only holds the money
// (merchant payable -> alliance:payouts, refused above the payable); a
// worker sends it, queries it, retries it with backoff and fails over; the
// money reaches external:paid only when a channel confirms, and goes back
// to the payable when a payout certainly failed. Nothing here is on the
// earn or redeem path.
//
// The state machine (store.Payout.State):
//
//	requested --send--> submitted --query--> succeeded | failed
//	    |                   ^
//	    +--> unknown -------+ (query; never guessed)
//
// The out-request number (the payout id) is the channel's idempotency key,
// so a retry cannot pay twice. A payout moves to the merchant's next payout
// account only when the channel certainly did not take it: the plugin's
// circuit was open (NotSent) or the channel answered not_submitted, or a
// query says it never saw it.
type Payouts struct {
	DB       *store.DB
	Writer   *store.Writer
	Channels Channels
	// NotSent reports whether a channel call's error means the request
	// certainly never reached the channel (the plugin host knows: circuit
	// open, plugin not running). Nil: every error may have reached it.
	NotSent func(error) bool
	Now     func() time.Time
	// BaseBackoff doubles per attempt up to MaxBackoff (1 s and 30 min).
	BaseBackoff, MaxBackoff time.Duration
	// PollInterval is how soon a submitted payout is queried (default 1 min).
	PollInterval time.Duration
	CallTimeout  time.Duration
}

// Errors of a payout request (4xx at the API).
var (
	// ErrInsufficientPayable: more than the merchant's settled payable.
	ErrInsufficientPayable = errors.New("settlement: amount exceeds the payable")
	// ErrNoPayoutAccount: the merchant has no payout account.
	ErrNoPayoutAccount = errors.New("settlement: no payout account")
)

func (p *Payouts) now() time.Time {
	if p.Now != nil {
		return p.Now().UTC()
	}
	return time.Now().UTC()
}

func (p *Payouts) backoff(attempt int) time.Duration {
	return backoff(p.BaseBackoff, p.MaxBackoff, attempt)
}

func (p *Payouts) poll() time.Duration { return orDefault(p.PollInterval, time.Minute) }

func (p *Payouts) timeout() time.Duration { return orDefault(p.CallTimeout, 10*time.Second) }

// backoff is the channel workers' (payouts, funding refunds) delay before
// attempt: base doubled per attempt up to max (defaults 1 s and 30 min).
func backoff(base, max time.Duration, attempt int) time.Duration {
	base, max = orDefault(base, time.Second), orDefault(max, 30*time.Minute)
	d := base
	for i := 1; i < attempt && d < max; i++ {
		d *= 2
	}
	return min(d, max)
}

// orDefault is d, or def when d is unset.
func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// Purchase kinds of the payout postings: one of each per payout, so a
// retried confirmation cannot post twice.
const (
	kindPayoutHold   = ledger.KindPayoutHold
	kindPayoutPaid   = ledger.KindPayoutPaid
	kindPayoutReturn = ledger.KindPayoutReturn
)

// post moves the payout's amount from one account to another once per
// (merchant, kind, payout id), through the writer; with after set, only if
// that posting was made (a payout whose hold never happened returns
// nothing).
func (p *Payouts) post(ctx context.Context, po store.Payout, kind, from, to, after string) (int64, error) {
	keys := []points.PurchaseKey{{MerchantID: po.MerchantID, Kind: kind, OrderID: po.ID}}
	if after != "" {
		keys = append(keys, points.PurchaseKey{MerchantID: po.MerchantID, Kind: after, OrderID: po.ID})
	}
	cmd := points.Command{Name: kind, IDs: 2,
		Reads: points.Reads{Merchants: []string{po.MerchantID}, Accounts: []string{from}, Purchases: keys},
		Apply: func(tx points.Tx) (any, error) {
			if prev, err := tx.Purchase(po.MerchantID, kind, po.ID); err == nil {
				return prev.TxID, nil // posted before: the same answer
			} else if !errors.Is(err, points.ErrNotFound) {
				return nil, err
			}
			if after != "" {
				if _, err := tx.Purchase(po.MerchantID, after, po.ID); errors.Is(err, points.ErrNotFound) {
					return int64(0), nil
				} else if err != nil {
					return nil, err
				}
			}
			t := &ledger.Transaction{Kind: kind, Ref: kind + ":" + po.MerchantID + ":" + po.ID, CreatedAt: tx.Now(),
				Postings: ledger.Move(from, to, po.AmountFen)}
			if err := tx.Post(t); err != nil {
				return nil, err
			}
			id, err := tx.NewID()
			if err != nil {
				return nil, err
			}
			if err := tx.SavePurchase(&points.Purchase{ID: id, Kind: kind, MerchantID: po.MerchantID, OrderID: po.ID,
				AmountFen: po.AmountFen, TxID: t.ID, CreatedAt: tx.Now(), New: true}); err != nil {
				return nil, err
			}
			return t.ID, nil
		}}
	r := p.Writer.Submit(ctx, &store.Op{Command: cmd, Audit: &store.OpAudit{Kind: "payout." + kind, Actor: "settlement",
		Subject: po.MerchantID, Request: map[string]any{"payout": po.ID, "amount_fen": po.AmountFen, "channel": po.Channel}}})
	if r.Err != nil {
		return 0, r.Err
	}
	id, _ := r.Value.(int64)
	return id, nil
}

// PayoutRequest asks to pay a merchant.
type PayoutRequest struct {
	MerchantID string
	AmountFen  int64
	IdemKey    string
}

// Request holds the amount and queues the payout. The same key is the
// same payout.
func (p *Payouts) Request(ctx context.Context, r PayoutRequest) (store.Payout, error) {
	if r.AmountFen <= 0 || r.AmountFen > maxFundingFen {
		return store.Payout{}, fmt.Errorf("%w: amount_fen must be between 1 and %d", ErrInvalid, int64(maxFundingFen))
	}
	if r.IdemKey == "" {
		return store.Payout{}, fmt.Errorf("%w: an Idempotency-Key is required", ErrInvalid)
	}
	if prev, err := p.DB.PayoutByKey(ctx, r.MerchantID, r.IdemKey); err == nil {
		if prev.AmountFen != r.AmountFen {
			return store.Payout{}, ErrIdempotencyConflict
		}
		return prev, nil
	} else if !errors.Is(err, store.ErrPayoutNotFound) {
		return store.Payout{}, err
	}
	accts, err := p.DB.PayoutAccounts(ctx, r.MerchantID)
	if err != nil {
		return store.Payout{}, err
	}
	if len(accts) == 0 {
		return store.Payout{}, ErrNoPayoutAccount
	}
	// Refuse the plain case without writing anything; the hold below is the
	// atomic check.
	payable := ledger.MerchantPayable(r.MerchantID)
	bal, err := p.DB.Balances(ctx, payable)
	if err != nil {
		return store.Payout{}, err
	}
	if bal[payable] < r.AmountFen {
		return store.Payout{}, fmt.Errorf("%w: the payable is %d fen", ErrInsufficientPayable, bal[payable])
	}
	now := p.now()
	po := store.Payout{ID: newID("po_"), MerchantID: r.MerchantID, IdemKey: r.IdemKey, AmountFen: r.AmountFen,
		State: store.PayoutRequested, Channel: accts[0].Channel, NextAt: now, CreatedAt: now}
	// The row first, so a crash cannot leave held money without a payout;
	// the worker makes the hold again (once) before sending.
	if err := p.DB.InsertPayout(ctx, po); err != nil {
		if errors.Is(err, store.ErrPayoutExists) { // a concurrent request with the same key
			return p.DB.PayoutByKey(ctx, r.MerchantID, r.IdemKey)
		}
		return store.Payout{}, err
	}
	if err := p.hold(ctx, po); err != nil {
		return store.Payout{}, err
	}
	return po, nil
}

// hold moves the amount out of the payable (once): the writer refuses more
// than the payable atomically with every redemption and reversal touching
// it. A payout that cannot be held fails at once.
func (p *Payouts) hold(ctx context.Context, po store.Payout) error {
	_, err := p.post(ctx, po, kindPayoutHold, ledger.MerchantPayable(po.MerchantID), ledger.Payouts, "")
	var ins *points.ErrInsufficient
	if errors.As(err, &ins) {
		po.State, po.Failure = store.PayoutFailed, fmt.Sprintf("the payable (%d fen) is less than the payout", ins.Balance)
		if uerr := p.DB.UpdatePayout(ctx, po, p.now()); uerr != nil {
			return uerr
		}
		return fmt.Errorf("%w: the payable is %d fen", ErrInsufficientPayable, ins.Balance)
	}
	return err
}

// ProcessDue advances every due payout one step; it returns how many it
// looked at. Run it under the scheduler's lease.
func (p *Payouts) ProcessDue(ctx context.Context) (int, error) {
	due, err := p.DB.DuePayouts(ctx, p.now(), 100)
	if err != nil {
		return 0, err
	}
	for _, po := range due {
		if err := p.step(ctx, po); err != nil {
			return 0, fmt.Errorf("payout %s: %w", po.ID, err)
		}
	}
	return len(due), nil
}

func (p *Payouts) step(ctx context.Context, po store.Payout) error {
	accts, err := p.DB.PayoutAccounts(ctx, po.MerchantID)
	if err != nil {
		return err
	}
	if po.Position >= len(accts) {
		return p.fail(ctx, po, "no payout account left")
	}
	acct := accts[po.Position]
	ch, err := p.Channels.PaymentChannel(acct.Channel)
	if err != nil {
		return p.retry(ctx, po, "channel "+acct.Channel+": "+err.Error())
	}
	cctx, cancel := context.WithTimeout(ctx, p.timeout())
	defer cancel()
	po.Attempts++
	switch po.State {
	case store.PayoutRequested:
		if err := p.hold(ctx, po); errors.Is(err, ErrInsufficientPayable) {
			return nil // failed and recorded
		} else if err != nil {
			return p.retry(ctx, po, "hold: "+err.Error())
		}
		res, err := ch.Payout(cctx, payment.PayoutRequest{TransactionID: po.ID, MerchantID: po.MerchantID, AmountFen: po.AmountFen, Currency: "CNY",
			Payee: payment.Payee{Type: acct.PayeeType, Account: acct.Account, Name: acct.Name, Bank: acct.Bank}, Remark: "Lianmeng settlement"})
		if err != nil {
			if p.NotSent != nil && p.NotSent(err) {
				return p.failover(ctx, po, len(accts), "not sent: "+err.Error())
			}
			return p.toUnknown(ctx, po, err.Error())
		}
		return p.apply(ctx, po, len(accts), res)
	default: // submitted, unknown: only a query decides
		res, err := ch.QueryPayout(cctx, payment.QueryPayoutRequest{TransactionID: po.ID, ChannelReference: po.ChannelRef})
		if err != nil {
			return p.retry(ctx, po, "query: "+err.Error())
		}
		if res.Status == payment.StatusNotSubmitted {
			// The channel never saw it: send it again, as is.
			po.State = store.PayoutRequested
			po.NextAt = p.now()
			return p.DB.UpdatePayout(ctx, po, p.now())
		}
		return p.apply(ctx, po, len(accts), res)
	}
}

// apply takes a channel's answer.
func (p *Payouts) apply(ctx context.Context, po store.Payout, naccts int, res payment.Result) error {
	if res.ChannelReference != "" {
		po.ChannelRef = res.ChannelReference
	}
	switch res.Status {
	case payment.StatusSucceeded:
		if res.AmountFen != 0 && res.AmountFen != po.AmountFen {
			// Never book an amount the channel contradicts: an operator decides.
			po.State, po.Failure = store.PayoutUnknown, fmt.Sprintf("channel reports %d fen, the payout is %d", res.AmountFen, po.AmountFen)
			po.NextAt = p.now().Add(p.backoff(po.Attempts))
			return p.DB.UpdatePayout(ctx, po, p.now())
		}
		txID, err := p.post(ctx, po, kindPayoutPaid, ledger.Payouts, ledger.Paid, kindPayoutHold)
		if err != nil {
			return p.retry(ctx, po, "booking the confirmed payout: "+err.Error())
		}
		if txID == 0 { // no hold to pay from: never book money that was not held
			return p.retry(ctx, po, "confirmed, but its hold is missing")
		}
		po.State, po.LedgerTxID, po.Failure = store.PayoutSucceeded, txID, ""
		return p.DB.UpdatePayout(ctx, po, p.now())
	case payment.StatusPending:
		po.State, po.Failure = store.PayoutSubmitted, ""
		po.NextAt = p.now().Add(p.poll())
		return p.DB.UpdatePayout(ctx, po, p.now())
	case payment.StatusFailed:
		return p.fail(ctx, po, res.FailureCode+": "+res.FailureMessage)
	case payment.StatusNotSubmitted:
		return p.failover(ctx, po, naccts, "not submitted: "+res.FailureCode+" "+res.FailureMessage)
	default: // unknown
		return p.toUnknown(ctx, po, res.FailureCode+": "+res.FailureMessage)
	}
}

func (p *Payouts) toUnknown(ctx context.Context, po store.Payout, why string) error {
	po.State, po.Failure = store.PayoutUnknown, why
	po.NextAt = p.now().Add(p.backoff(po.Attempts))
	return p.DB.UpdatePayout(ctx, po, p.now())
}

// failover moves a payout the channel certainly did not take to the next
// payout account, or retries the same one later if there is none.
func (p *Payouts) failover(ctx context.Context, po store.Payout, naccts int, why string) error {
	po.State, po.Failure = store.PayoutRequested, why
	if po.Position+1 < naccts {
		po.Position++
		accts, err := p.DB.PayoutAccounts(ctx, po.MerchantID)
		if err != nil {
			return err
		}
		po.Channel, po.ChannelRef = accts[po.Position].Channel, ""
		po.NextAt = p.now()
	} else {
		po.NextAt = p.now().Add(p.backoff(po.Attempts))
	}
	return p.DB.UpdatePayout(ctx, po, p.now())
}

func (p *Payouts) retry(ctx context.Context, po store.Payout, why string) error {
	po.Failure = why
	po.NextAt = p.now().Add(p.backoff(po.Attempts))
	return p.DB.UpdatePayout(ctx, po, p.now())
}

// fail returns the held money to the payable and closes the payout.
func (p *Payouts) fail(ctx context.Context, po store.Payout, why string) error {
	if _, err := p.post(ctx, po, kindPayoutReturn, ledger.Payouts, ledger.MerchantPayable(po.MerchantID), kindPayoutHold); err != nil {
		return p.retry(ctx, po, "returning the failed payout: "+err.Error())
	}
	po.State, po.Failure = store.PayoutFailed, why
	return p.DB.UpdatePayout(ctx, po, p.now())
}
