package settlement_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/gateway/ledger"
	"github.com/lianmeng/lianmeng/gateway/points"
	"github.com/lianmeng/lianmeng/gateway/settlement"
	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// owe makes the alliance owe the fixture's merchant fen (as redemptions at
// its stores would): funding into the reserve, then reserve -> payable.
func (x *fixture) owe(t *testing.T, fen int64) {
	t.Helper()
	ctx := context.Background()
	if r := x.w.Submit(ctx, &store.Op{Command: x.svc.FundCommand(points.FundRequest{MerchantID: x.merchant, AmountFen: fen, ExternalRef: "owe-" + time.Now().String()})}); r.Err != nil {
		t.Fatal(r.Err)
	}
	cmd := points.Command{Name: "test_owe", IDs: 1, Reads: points.Reads{Accounts: []string{ledger.Reserve, ledger.MerchantBudget(x.merchant)}},
		Apply: func(tx points.Tx) (any, error) {
			// The points go away with the cash they were backed by, as a
			// redemption burns them.
			t := &ledger.Transaction{Kind: "test_owe", Ref: "owe", CreatedAt: tx.Now(),
				Postings: append(ledger.Move(ledger.Reserve, ledger.MerchantPayable(x.merchant), fen), ledger.Move(ledger.MerchantBudget(x.merchant), ledger.Burned, fen)...)}
			return nil, tx.Post(t)
		}}
	if r := x.w.Submit(ctx, &store.Op{Command: cmd}); r.Err != nil {
		t.Fatal(r.Err)
	}
}

func (x *fixture) balances(t *testing.T) (payable, inflight, paid int64) {
	t.Helper()
	b, err := x.db.Balances(context.Background(), ledger.MerchantPayable(x.merchant), ledger.Payouts, ledger.Paid)
	if err != nil {
		t.Fatal(err)
	}
	return b[ledger.MerchantPayable(x.merchant)], b[ledger.Payouts], b[ledger.Paid]
}

func (x *fixture) payouts(c *clock) *settlement.Payouts {
	return &settlement.Payouts{DB: x.db, Writer: x.w, Channels: x.ch, Now: c.now, PollInterval: time.Minute,
		NotSent: func(err error) bool { return errors.Is(err, errDown) }}
}

func process(t *testing.T, p *settlement.Payouts) {
	t.Helper()
	if _, err := p.ProcessDue(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func getPayout(t *testing.T, db *store.DB, id string) store.Payout {
	t.Helper()
	po, err := db.GetPayout(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return po
}

// The money leaves the payable when the payout is requested (held), and
// reaches external:paid only when WeChat Pay confirms the transfer.
func TestPayoutConfirmedOnly(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		x, ctx := setup(t, db), context.Background()
		c := &clock{t: time.Now()}
		x.owe(t, 100_000)
		if err := db.SetPayoutAccounts(ctx, x.merchant, []store.PayoutAccount{{Channel: "wechatpay", PayeeType: "wechat_openid", Account: "o-owner"}}); err != nil {
			t.Fatal(err)
		}
		p := x.payouts(c)
		po, err := p.Request(ctx, settlement.PayoutRequest{MerchantID: x.merchant, AmountFen: 60_000, IdemKey: "p1"})
		if err != nil || po.State != store.PayoutRequested {
			t.Fatalf("request: %+v %v", po, err)
		}
		if again, err := p.Request(ctx, settlement.PayoutRequest{MerchantID: x.merchant, AmountFen: 60_000, IdemKey: "p1"}); err != nil || again.ID != po.ID {
			t.Fatalf("same key: %+v %v", again, err)
		}
		if payable, held, paid := x.balances(t); payable != 40_000 || held != 60_000 || paid != 0 {
			t.Fatalf("after request: payable %d held %d paid %d", payable, held, paid)
		}
		process(t, p)
		if got := getPayout(t, db, po.ID); got.State != store.PayoutSubmitted || got.ChannelRef == "" {
			t.Fatalf("after sending: %+v", got)
		}
		if tr, ok := x.wx.Transfer(po.ID); !ok || tr.Amount != 60_000 || tr.OpenID != "o-owner" {
			t.Fatalf("at WeChat Pay: %+v %v", tr, ok)
		}
		process(t, p) // not due yet: nothing happens
		if _, _, paid := x.balances(t); paid != 0 {
			t.Fatal("paid before confirmation")
		}
		x.wx.SetTransferState(po.ID, "SUCCESS", "")
		c.add(2 * time.Minute)
		process(t, p)
		got := getPayout(t, db, po.ID)
		if got.State != store.PayoutSucceeded || got.LedgerTxID == 0 {
			t.Fatalf("after confirmation: %+v", got)
		}
		if payable, held, paid := x.balances(t); payable != 40_000 || held != 0 || paid != 60_000 {
			t.Fatalf("after confirmation: payable %d held %d paid %d", payable, held, paid)
		}
		c.add(time.Hour)
		process(t, p) // final: never touched again
		if _, _, paid := x.balances(t); paid != 60_000 {
			t.Fatalf("paid %d after another pass", paid)
		}
		if v, err := db.CheckInvariants(ctx, 1, nil); err != nil || len(v) != 0 {
			t.Fatalf("invariants: %v %v", v, err)
		}
	})
}

// Bad requests write nothing.
func TestPayoutRefusals(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		x, ctx := setup(t, db), context.Background()
		p := x.payouts(&clock{t: time.Now()})
		x.owe(t, 1_000)
		if _, err := p.Request(ctx, settlement.PayoutRequest{MerchantID: x.merchant, AmountFen: 500, IdemKey: "n0"}); !errors.Is(err, settlement.ErrNoPayoutAccount) {
			t.Fatalf("no account: %v", err)
		}
		_ = db.SetPayoutAccounts(ctx, x.merchant, []store.PayoutAccount{{Channel: "alipay", PayeeType: "alipay_user_id", Account: "2088"}})
		for _, r := range []settlement.PayoutRequest{
			{MerchantID: x.merchant, AmountFen: -1, IdemKey: "n1"},
			{MerchantID: x.merchant, AmountFen: 0, IdemKey: "n2"},
			{MerchantID: x.merchant, AmountFen: 5, IdemKey: ""},
		} {
			if _, err := p.Request(ctx, r); !errors.Is(err, settlement.ErrInvalid) {
				t.Errorf("%+v: %v", r, err)
			}
		}
		if _, err := p.Request(ctx, settlement.PayoutRequest{MerchantID: x.merchant, AmountFen: 1_001, IdemKey: "n3"}); !errors.Is(err, settlement.ErrInsufficientPayable) {
			t.Fatalf("above the payable: %v", err)
		}
		if ps, _ := db.MerchantPayouts(ctx, x.merchant, 10); len(ps) != 0 {
			t.Fatalf("payouts written by refusals: %+v", ps)
		}
		if payable, held, _ := x.balances(t); payable != 1_000 || held != 0 {
			t.Fatalf("payable %d held %d", payable, held)
		}
		if _, err := p.Request(ctx, settlement.PayoutRequest{MerchantID: x.merchant, AmountFen: 1_000, IdemKey: "n4"}); err != nil {
			t.Fatal(err)
		}
		if _, err := p.Request(ctx, settlement.PayoutRequest{MerchantID: x.merchant, AmountFen: 999, IdemKey: "n4"}); !errors.Is(err, settlement.ErrIdempotencyConflict) {
			t.Fatalf("same key, other amount: %v", err)
		}
		if _, err := p.Request(ctx, settlement.PayoutRequest{MerchantID: x.merchant, AmountFen: 1, IdemKey: "n5"}); !errors.Is(err, settlement.ErrInsufficientPayable) {
			t.Fatalf("the held amount is not payable again: %v", err)
		}
	})
}

// The primary channel's plugin is down (its circuit open: certainly not
// sent): the payout goes to the secondary channel and completes there. A
// 500 from a channel is unknown: no failover, resolved by querying. A
// failed transfer returns the money to the payable.
func TestPayoutFailoverUnknownAndFailure(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		x, ctx := setup(t, db), context.Background()
		c := &clock{t: time.Now()}
		p := x.payouts(c)
		x.owe(t, 300_000)
		_ = db.SetPayoutAccounts(ctx, x.merchant, []store.PayoutAccount{
			{Channel: "wechatpay", PayeeType: "wechat_openid", Account: "o-owner"},
			{Channel: "alipay", PayeeType: "alipay_user_id", Account: "2088000000000077"},
		})

		// 1. Failover.
		x.ch.down["wechatpay"] = true
		a, _ := p.Request(ctx, settlement.PayoutRequest{MerchantID: x.merchant, AmountFen: 100_000, IdemKey: "f1"})
		process(t, p) // wechatpay: not sent -> next account
		if got := getPayout(t, db, a.ID); got.Channel != "alipay" || got.Position != 1 || got.State != store.PayoutRequested {
			t.Fatalf("after the primary was down: %+v", got)
		}
		process(t, p) // alipay: SUCCESS at once
		if got := getPayout(t, db, a.ID); got.State != store.PayoutSucceeded {
			t.Fatalf("through the secondary: %+v", got)
		}
		if tr, ok := x.ali.Transfer(a.ID); !ok || tr.Amount != "1000.00" {
			t.Fatalf("at Alipay: %+v", tr)
		}
		if _, ok := x.wx.Transfer(a.ID); ok {
			t.Fatal("the payout reached both channels")
		}
		x.ch.down["wechatpay"] = false

		// 2. Unknown: WeChat Pay answers 500; the payout stays on WeChat Pay
		// and is resolved by a query, never by guessing or failing over.
		x.wx.SetDown(true)
		b, _ := p.Request(ctx, settlement.PayoutRequest{MerchantID: x.merchant, AmountFen: 50_000, IdemKey: "u1"})
		process(t, p)
		if got := getPayout(t, db, b.ID); got.State != store.PayoutUnknown || got.Channel != "wechatpay" {
			t.Fatalf("after a 500: %+v", got)
		}
		c.add(time.Hour)
		process(t, p) // still down: the query fails, stays unknown
		if got := getPayout(t, db, b.ID); got.State != store.PayoutUnknown {
			t.Fatalf("query while down: %+v", got)
		}
		x.wx.SetDown(false)
		c.add(time.Hour)
		process(t, p) // the query: WeChat Pay never saw it -> send again
		process(t, p) // sent
		if got := getPayout(t, db, b.ID); got.State != store.PayoutSubmitted {
			t.Fatalf("after recovery: %+v", got)
		}
		// 3. WeChat Pay fails it: the money goes back to the payable.
		x.wx.SetTransferState(b.ID, "FAIL", "ACCOUNT_FROZEN")
		c.add(time.Hour)
		process(t, p)
		if got := getPayout(t, db, b.ID); got.State != store.PayoutFailed || got.LedgerTxID != 0 {
			t.Fatalf("after failure: %+v", got)
		}
		payable, held, paid := x.balances(t)
		if payable != 200_000 || held != 0 || paid != 100_000 {
			t.Fatalf("payable %d held %d paid %d; want 200000, 0, 100000", payable, held, paid)
		}
		if v, err := db.CheckInvariants(ctx, 1, nil); err != nil || len(v) != 0 {
			t.Fatalf("invariants: %v %v", v, err)
		}
	})
}
