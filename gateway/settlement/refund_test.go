package settlement_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/gateway/ledger"
	"github.com/lianmeng/lianmeng/gateway/points"
	"github.com/lianmeng/lianmeng/gateway/settlement"
	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
	"github.com/lianmeng/lianmeng/sdk/payment"
)

func (downChannel) Refund(context.Context, payment.RefundRequest) (payment.Result, error) {
	return payment.Result{}, errDown
}

// fund tops the fixture's merchant up through a channel, paid and
// notified as the fakes do.
func (x *fixture) fund(t *testing.T, channel string, fen int64, key string) store.FundingOrder {
	t.Helper()
	ctx := context.Background()
	o, err := x.f.Create(ctx, settlement.FundingRequest{MerchantID: x.merchant, Channel: channel, AmountFen: fen, IdemKey: key})
	if err != nil {
		t.Fatal(err)
	}
	switch channel {
	case "wechatpay":
		_, _ = x.wx.Pay(o.ID)
		n, _ := x.wx.PaymentNotification(o.ID)
		if _, err := x.f.Notify(ctx, channel, wxRequest(n)); err != nil {
			t.Fatal(err)
		}
	case "alipay":
		_, _ = x.ali.Pay(o.ID)
		n, _ := x.ali.PaymentNotification(o.ID)
		if _, err := x.f.Notify(ctx, channel, aliRequest(n)); err != nil {
			t.Fatal(err)
		}
	}
	got, err := x.db.FundingOrder(ctx, o.ID)
	if err != nil || got.Status != store.FundingSucceeded {
		t.Fatalf("funding %s: %+v %v", channel, got, err)
	}
	time.Sleep(2 * time.Millisecond) // distinct creation times: newest first is well defined
	return got
}

func (x *fixture) refunds(c *clock) *settlement.Refunds {
	return &settlement.Refunds{DB: x.db, Writer: x.w, Points: x.svc, Channels: x.ch, Now: c.now, PollInterval: time.Minute}
}

// accounts reads the balances a refund moves.
func (x *fixture) accounts(t *testing.T) map[string]int64 {
	t.Helper()
	b, err := x.db.Balances(context.Background(), ledger.MerchantBudget(x.merchant), ledger.Reserve, ledger.Refunds, ledger.Refunded, ledger.Mint)
	if err != nil {
		t.Fatal(err)
	}
	return map[string]int64{"budget": b[ledger.MerchantBudget(x.merchant)], "reserve": b[ledger.Reserve], "held": b[ledger.Refunds],
		"refunded": b[ledger.Refunded], "mint": b[ledger.Mint]}
}

func (x *fixture) clean(t *testing.T) {
	t.Helper()
	if v, err := x.db.CheckInvariants(context.Background(), 1, nil); err != nil || len(v) != 0 {
		t.Fatalf("invariants: %v %v", v, err)
	}
	tot, err := x.db.Totals(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if cov := points.CoverageOf(tot, x.svc.Policy.FaceValueFen); cov.BasisPoints != 10000 {
		t.Fatalf("coverage %d bp: %+v", cov.BasisPoints, tot)
	}
}

// A merchant's unused budget goes back through the channels it paid with,
// newest payment first, exactly once however often the worker runs; the
// points it issued stay covered; asking for more than the unused budget
// refuses and writes nothing.
func TestFundingRefundThroughChannels(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		x, ctx := setup(t, db), context.Background()
		c := &clock{t: time.Now().UTC()}
		wxo := x.fund(t, "wechatpay", 500_000, "w1")
		alo := x.fund(t, "alipay", 300_000, "a1")
		// 100,000 points issued to a member: they stay covered.
		pts := int64(100_000)
		cmd, err := x.svc.PrepareEarn(ctx, points.EarnRequest{MerchantID: x.merchant, OrderID: "o1", AmountFen: 200_000, Points: &pts,
			Member: points.Identity{Kind: points.IdentityPhone, Value: "13800000001"}})
		if err != nil {
			t.Fatal(err)
		}
		if r := x.w.Submit(ctx, &store.Op{Command: cmd}); r.Err != nil {
			t.Fatal(r.Err)
		}
		rs := x.refunds(c)

		// More than the unused budget (700,000 fen): refused, nothing stored.
		if _, err := rs.Request(ctx, settlement.RefundRequest{MerchantID: x.merchant, AmountFen: 700_001, IdemKey: "too-much"}); !errors.Is(err, settlement.ErrInsufficientBudget) {
			t.Fatalf("over the budget: %v", err)
		}
		for _, bad := range []settlement.RefundRequest{{MerchantID: x.merchant, AmountFen: -1, IdemKey: "n"}, {MerchantID: x.merchant, AmountFen: 1}} {
			if _, err := rs.Request(ctx, bad); !errors.Is(err, settlement.ErrInvalid) {
				t.Fatalf("%+v: %v", bad, err)
			}
		}
		if got, _ := db.MerchantFundingRefunds(ctx, x.merchant, 10); len(got) != 0 {
			t.Fatalf("refused requests stored: %+v", got)
		}

		// All of it (amount 0): 700,000 fen, split alipay 300,000 (newest)
		// then wechatpay 400,000.
		rf, err := rs.Request(ctx, settlement.RefundRequest{MerchantID: x.merchant, IdemKey: "all", Reason: "leaving", RequestedBy: "operator:test"})
		if err != nil {
			t.Fatal(err)
		}
		if rf.AmountFen != 700_000 || len(rf.Parts) != 2 || rf.Parts[0].FundingOrderID != alo.ID || rf.Parts[0].AmountFen != 300_000 ||
			rf.Parts[1].FundingOrderID != wxo.ID || rf.Parts[1].AmountFen != 400_000 {
			t.Fatalf("refund plan: %+v", rf)
		}
		a := x.accounts(t)
		if a["budget"] != 0 || a["held"] != 700_000 || a["reserve"] != 100_000 {
			t.Fatalf("after the hold: %+v", a)
		}
		x.clean(t)
		// The budget is held: an earn now finds nothing to issue.
		one := int64(1)
		cmd, _ = x.svc.PrepareEarn(ctx, points.EarnRequest{MerchantID: x.merchant, OrderID: "o2", AmountFen: 100, Points: &one,
			Member: points.Identity{Kind: points.IdentityPhone, Value: "13800000001"}})
		if r := x.w.Submit(ctx, &store.Op{Command: cmd}); r.Err == nil {
			t.Fatal("earned from a budget held for refund")
		}
		again, err := rs.Request(ctx, settlement.RefundRequest{MerchantID: x.merchant, IdemKey: "all"})
		if err != nil || again.ID != rf.ID {
			t.Fatalf("same key: %+v %v", again, err)
		}
		for i := 0; i < 3; i++ {
			if _, err := rs.ProcessDue(ctx); err != nil {
				t.Fatal(err)
			}
			c.add(2 * time.Minute)
		}
		got, _ := db.GetFundingRefund(ctx, rf.ID)
		if got.State != store.RefundSucceeded || got.Parts[0].State != store.RefundPartSucceeded || got.Parts[1].State != store.RefundPartSucceeded {
			t.Fatalf("refund after processing: %+v", got)
		}
		if tr, _ := x.ali.Trade(alo.ID); len(tr.Refunds) != 1 || tr.Refunds[got.Parts[0].ID] != "3000.00" {
			t.Fatalf("refunds at Alipay: %+v", tr.Refunds)
		}
		if o, _ := x.wx.Order(wxo.ID); o.Refunded != 400_000 {
			t.Fatalf("refunded at WeChat Pay: %d", o.Refunded)
		}
		a = x.accounts(t)
		if a["budget"] != 0 || a["held"] != 0 || a["refunded"] != 700_000 || a["reserve"] != 100_000 {
			t.Fatalf("after the refund: %+v", a)
		}
		x.clean(t)
		// Nothing left: another refund is refused.
		if _, err := rs.Request(ctx, settlement.RefundRequest{MerchantID: x.merchant, IdemKey: "more"}); !errors.Is(err, settlement.ErrInsufficientBudget) {
			t.Fatalf("refund of an empty budget: %v", err)
		}
	})
}

// A channel that is down leaves the part unknown and sends the same refund
// number again later; a channel that refuses returns the money to the
// reserve and the points to the budget; budget that no channel payment
// backs cannot be refunded through a channel.
func TestFundingRefundRetriesAndRefusals(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		x, ctx := setup(t, db), context.Background()
		c := &clock{t: time.Now().UTC()}
		wxo := x.fund(t, "wechatpay", 50_000, "w1")
		alo := x.fund(t, "alipay", 20_000, "a1")
		rs := x.refunds(c)

		x.ch.down["wechatpay"] = true
		rf, err := rs.Request(ctx, settlement.RefundRequest{MerchantID: x.merchant, AmountFen: 30_000, IdemKey: "r1"})
		if err != nil || len(rf.Parts) != 2 {
			t.Fatalf("request: %+v %v", rf, err)
		}
		// Alipay's trade was refunded outside Lianmeng (the merchant's own
		// console) in full: Alipay refuses our part.
		ach, _ := x.ch.PaymentChannel("alipay")
		if res, err := ach.Refund(ctx, payment.RefundRequest{TransactionID: "console-1", OriginalTransactionID: alo.ID, AmountFen: 20_000}); err != nil || res.Status != payment.StatusSucceeded {
			t.Fatalf("console refund: %+v %v", res, err)
		}
		if _, err := rs.ProcessDue(ctx); err != nil {
			t.Fatal(err)
		}
		got, _ := db.GetFundingRefund(ctx, rf.ID)
		if got.Parts[0].State != store.RefundPartFailed || got.Parts[1].State != store.RefundPartUnknown || got.State != store.RefundProcessing {
			t.Fatalf("after the first pass: %+v", got)
		}
		a := x.accounts(t)
		if a["budget"] != 60_000 || a["held"] != 10_000 || a["reserve"] != 60_000 {
			t.Fatalf("refused part not returned: %+v", a)
		}
		x.clean(t)
		x.ch.down["wechatpay"] = false
		c.add(time.Hour)
		if _, err := rs.ProcessDue(ctx); err != nil {
			t.Fatal(err)
		}
		got, _ = db.GetFundingRefund(ctx, rf.ID)
		if got.State != store.RefundPartial || got.Parts[1].State != store.RefundPartSucceeded {
			t.Fatalf("after recovery: %+v", got)
		}
		if o, _ := x.wx.Order(wxo.ID); o.Refunded != 10_000 {
			t.Fatalf("WeChat Pay refunded %d", o.Refunded)
		}
		a = x.accounts(t)
		if a["budget"] != 60_000 || a["held"] != 0 || a["refunded"] != 10_000 {
			t.Fatalf("final: %+v", a)
		}
		x.clean(t)
		// Money funded by hand (no channel payment) is not refundable through
		// a channel; the channel payments left are 60,000 fen as Lianmeng
		// knows them.
		if r := x.w.Submit(ctx, &store.Op{Command: x.svc.FundCommand(points.FundRequest{MerchantID: x.merchant, AmountFen: 100_000, ExternalRef: "bank-transfer-1"})}); r.Err != nil {
			t.Fatal(r.Err)
		}
		if _, err := rs.Request(ctx, settlement.RefundRequest{MerchantID: x.merchant, AmountFen: 70_000, IdemKey: "r2"}); !errors.Is(err, settlement.ErrNotRefundable) {
			t.Fatalf("refund beyond the channel payments: %v", err)
		}
		if a := x.accounts(t); a["budget"] != 160_000 || a["held"] != 0 {
			t.Fatalf("a refused refund moved money: %+v", a)
		}
		x.clean(t)
	})
}
