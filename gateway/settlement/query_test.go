package settlement_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/gateway/settlement"
	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
	"github.com/lianmeng/lianmeng/sdk"
	"github.com/lianmeng/lianmeng/sdk/payment"
)

func (downChannel) QueryPayment(context.Context, payment.QueryPaymentRequest) (payment.Result, error) {
	return payment.Result{}, errDown
}

// stubChannel answers queries with a set result (what the real channels
// answer is tested against their fakes in plugins/); old has no queries,
// like a plugin built before the call existed.
type stubChannel struct {
	payment.Channel
	res     payment.Result
	old     bool
	queries int
}

func (s *stubChannel) QueryPayment(_ context.Context, req payment.QueryPaymentRequest) (payment.Result, error) {
	s.queries++
	if s.old {
		return payment.Result{}, fmt.Errorf("plugin QueryPayment: %w", sdk.ErrUnimplemented)
	}
	r := s.res
	r.TransactionID = req.TransactionID
	return r, nil
}

// later moves the fixture's clock past the sweep's wait.
func (x *fixture) later(d time.Duration) {
	x.f.Now = func() time.Time { return time.Now().Add(d) }
}

// A funding whose notification never came: the sweep asks WeChat Pay and
// Alipay (the real plugins against their fakes) and funds each payment
// once; the late notification is then a duplicate, a second sweep asks
// nothing about a funded order, and an unpaid order stays open until its
// channel closes it.
func TestQueryFundsLostNotifications(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		x, ctx := setup(t, db), context.Background()
		wo, err := x.f.Create(ctx, settlement.FundingRequest{MerchantID: x.merchant, Channel: "wechatpay", AmountFen: 300_000, IdemKey: "q1"})
		if err != nil {
			t.Fatal(err)
		}
		ao, err := x.f.Create(ctx, settlement.FundingRequest{MerchantID: x.merchant, Channel: "alipay", AmountFen: 12_345, IdemKey: "q2"})
		if err != nil {
			t.Fatal(err)
		}
		unpaid, err := x.f.Create(ctx, settlement.FundingRequest{MerchantID: x.merchant, Channel: "alipay", AmountFen: 777, IdemKey: "q3"})
		if err != nil {
			t.Fatal(err)
		}
		wxRef, _ := x.wx.Pay(wo.ID)
		aliRef, _ := x.ali.Pay(ao.ID)

		// Too early: the notification may still come; nothing is asked.
		if n, err := x.f.QueryOpen(ctx); err != nil || n != 0 {
			t.Fatalf("sweep before the wait: %d %v", n, err)
		}
		if c := x.wx.Calls("GET /v3/pay/transactions/out-trade-no/"); c != 0 {
			t.Fatalf("asked WeChat Pay %d times before the wait", c)
		}
		x.later(6 * time.Minute)
		if n, err := x.f.QueryOpen(ctx); err != nil || n != 3 {
			t.Fatalf("sweep: queried %d, %v; want 3", n, err)
		}
		if b, r := x.budget(t); b != 312_345 || r != 312_345 {
			t.Fatalf("budget %d reserve %d after the sweep, want 312345", b, r)
		}
		for id, want := range map[string]struct{ status, outcome, ref string }{
			wo.ID:     {store.FundingSucceeded, settlement.OutcomeCredited, wxRef},
			ao.ID:     {store.FundingSucceeded, settlement.OutcomeCredited, aliRef},
			unpaid.ID: {store.FundingPending, settlement.OutcomeQueryPending, ""},
		} {
			o, _ := db.FundingOrder(ctx, id)
			if o.Status != want.status || o.QueryOutcome != want.outcome || o.ChannelRef != want.ref || o.QueriedAt.IsZero() {
				t.Errorf("order %s: %+v, want %+v", id, o, want)
			}
		}

		// The notification arrives after all: a duplicate, nothing more.
		n, _ := x.wx.PaymentNotification(wo.ID)
		if _, err := x.f.Notify(ctx, "wechatpay", wxRequest(n)); err != nil {
			t.Fatal(err)
		}
		if ns := x.notifications(t, wo.ID); len(ns) != 1 || ns[0].Outcome != settlement.OutcomeDuplicate {
			t.Fatalf("late notification: %+v", ns)
		}
		// Asking again about a funded order does not reach the channel.
		calls := x.wx.Calls("GET /v3/pay/transactions/out-trade-no/")
		if r, err := x.f.Query(ctx, wo.ID); err != nil || r.Outcome != settlement.OutcomeAlreadyFunded {
			t.Fatalf("query of a funded order: %+v %v", r, err)
		}
		if x.wx.Calls("GET /v3/pay/transactions/out-trade-no/") != calls {
			t.Fatal("a funded order was asked about")
		}
		// Queried moments ago: the next sweep leaves the open order alone.
		if n, err := x.f.QueryOpen(ctx); err != nil || n != 0 {
			t.Fatalf("second sweep: %d %v", n, err)
		}
		// Its channel closes it: the order fails, nothing is credited.
		x.ali.CloseTrade(unpaid.ID)
		r, err := x.f.Query(ctx, unpaid.ID)
		if err != nil || r.Outcome != settlement.OutcomeQueryFailed || r.Order.Status != store.FundingFailed {
			t.Fatalf("closed trade: %+v %v", r, err)
		}
		if b, _ := x.budget(t); b != 312_345 {
			t.Fatalf("budget %d after all, want 312345", b)
		}
		var refs int
		if err := db.R.QueryRow(`SELECT COUNT(*) FROM purchases WHERE merchant_id = ? AND kind = 'fund'`, x.merchant).Scan(&refs); err != nil || refs != 2 {
			t.Fatalf("fundings recorded: %d %v, want 2", refs, err)
		}
		if v, err := db.CheckInvariants(ctx, 1, nil); err != nil || len(v) != 0 {
			t.Fatalf("invariants: %v %v", v, err)
		}
	})
}

// What a query cannot settle changes no money: a paid amount other than
// the order's, a channel that cannot tell, a channel that is down or
// cannot query at all; a payment the channel never took fails an order
// that had a payment code and leaves a retryable one open.
func TestQueryRefusals(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		x, ctx := setup(t, db), context.Background()
		stub := &stubChannel{}
		x.ch.m["stub"] = stub
		o, err := x.f.Create(ctx, settlement.FundingRequest{MerchantID: x.merchant, Channel: "wechatpay", AmountFen: 5_000, IdemKey: "r1"})
		if err != nil {
			t.Fatal(err)
		}
		// The order names wechatpay; point the name at the stub.
		x.ch.m["wechatpay"] = stub
		for _, c := range []struct {
			res     payment.Result
			outcome string
		}{
			{payment.Result{Status: payment.StatusSucceeded, ChannelReference: "420001", AmountFen: 4_999}, settlement.OutcomeAmountDiffers},
			{payment.Result{Status: payment.StatusSucceeded, AmountFen: 5_000}, settlement.OutcomeFailed}, // no channel reference
			{payment.Result{Status: payment.StatusUnknown, FailureCode: "no_answer"}, settlement.OutcomeQueryUnknown},
			{payment.Result{Status: payment.StatusPending}, settlement.OutcomeQueryPending},
		} {
			stub.res = c.res
			r, err := x.f.Query(ctx, o.ID)
			if err != nil || r.Outcome != c.outcome || r.Order.Status != store.FundingPending {
				t.Errorf("%+v: got %+v %v, want outcome %s and the order still pending", c.res, r, err, c.outcome)
			}
		}
		if b, r := x.budget(t); b != 0 || r != 0 {
			t.Fatalf("credited: budget %d reserve %d", b, r)
		}

		before, _ := db.FundingOrder(ctx, o.ID)
		x.ch.down["wechatpay"] = true
		if _, err := x.f.Query(ctx, o.ID); !errors.Is(err, settlement.ErrChannelUnavailable) {
			t.Fatalf("channel down: %v", err)
		}
		x.ch.down["wechatpay"] = false
		stub.old = true
		if _, err := x.f.Query(ctx, o.ID); !errors.Is(err, settlement.ErrQueryUnsupported) {
			t.Fatalf("old plugin: %v", err)
		}
		if after, _ := db.FundingOrder(ctx, o.ID); after != before {
			t.Fatalf("a failed query wrote: %+v -> %+v", before, after)
		}
		if _, err := x.f.Query(ctx, "fnd_nope"); !errors.Is(err, store.ErrFundingOrderNotFound) {
			t.Fatalf("unknown order: %v", err)
		}

		// Not at the channel: a pending order fails.
		stub.old, stub.res = false, payment.Result{Status: payment.StatusNotSubmitted, FailureCode: "ORDER_NOT_EXIST"}
		r, err := x.f.Query(ctx, o.ID)
		if err != nil || r.Outcome != settlement.OutcomeNotAtChannel || r.Order.Status != store.FundingFailed {
			t.Fatalf("pending order not at the channel: %+v %v", r, err)
		}
		// ...an unknown one stays open for the merchant's retry.
		x.ch.m["wechatpay"] = x.ch.m["alipay"] // any working channel to create through
		x.ali.SetDown(true)
		u, err := x.f.Create(ctx, settlement.FundingRequest{MerchantID: x.merchant, Channel: "alipay", AmountFen: 100, IdemKey: "r2"})
		if !errors.Is(err, settlement.ErrChannelUnavailable) || u.Status != store.FundingUnknown {
			t.Fatalf("create during an outage: %+v %v", u, err)
		}
		x.ali.SetDown(false)
		x.ch.m["alipay"] = stub
		r, err = x.f.Query(ctx, u.ID)
		if err != nil || r.Outcome != settlement.OutcomeNotAtChannel || r.Order.Status != store.FundingUnknown {
			t.Fatalf("unknown order not at the channel: %+v %v", r, err)
		}
		if b, _ := x.budget(t); b != 0 {
			t.Fatalf("credited: budget %d", b)
		}
	})
}
