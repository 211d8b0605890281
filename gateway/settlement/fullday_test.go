package settlement_test

import (
	"context"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/gateway/consent"
	"github.com/lianmeng/lianmeng/gateway/ledger"
	"github.com/lianmeng/lianmeng/gateway/merchant"
	"github.com/lianmeng/lianmeng/gateway/points"
	"github.com/lianmeng/lianmeng/gateway/settlement"
	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
	"github.com/lianmeng/lianmeng/plugins/alipay/alipaytest"
	"github.com/lianmeng/lianmeng/plugins/wechatpay/wechatpaytest"
)

// A whole day, on both databases, with the real channel plugins against the
// fakes: fund two merchants through two channels, earn at one, redeem at
// the other (once refunded), expire the rest, settle the day, pay the
// second merchant out through failover, reconcile both bills; every
// balance, statement line, payout and reconciliation result exact to the
// fen, and the invariants hold.
func TestFullDay(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		x, ctx := setup(t, db), context.Background()
		cst := time.FixedZone("CST", 8*3600)
		c := &clock{t: time.Date(2026, 11, 30, 9, 0, 0, 0, cst)}
		x.w.Close()
		x.w = db.NewWriter(store.WriterOptions{Now: c.now})
		t.Cleanup(x.w.Close)
		x.svc.Now, x.f.Now, x.f.Writer = c.now, c.now, x.w
		submit := func(cmd points.Command) any {
			t.Helper()
			r := x.w.Submit(ctx, &store.Op{Command: cmd})
			if r.Err != nil {
				t.Fatalf("%s: %v", cmd.Name, r.Err)
			}
			return r.Value
		}
		a := x.merchant
		mb, _ := merchant.NewMerchant("Bakery", "restaurant", c.now())
		if err := db.Merchants().CreateMerchant(ctx, mb, "operator"); err != nil {
			t.Fatal(err)
		}
		b := mb.ID

		// Funding: A through WeChat Pay, B through Alipay.
		oa, err := x.f.Create(ctx, settlement.FundingRequest{MerchantID: a, Channel: "wechatpay", AmountFen: 100_000, IdemKey: "fa"})
		if err != nil {
			t.Fatal(err)
		}
		txA, _ := x.wx.Pay(oa.ID)
		na, _ := x.wx.PaymentNotification(oa.ID)
		if _, err := x.f.Notify(ctx, "wechatpay", wxRequest(na)); err != nil {
			t.Fatal(err)
		}
		x.f.Writer = x.w
		ob, err := x.f.Create(ctx, settlement.FundingRequest{MerchantID: b, Channel: "alipay", AmountFen: 50_000, IdemKey: "fb"})
		if err != nil {
			t.Fatal(err)
		}
		tradeB, _ := x.ali.Pay(ob.ID)
		nb, _ := x.ali.PaymentNotification(ob.ID)
		if _, err := x.f.Notify(ctx, "alipay", aliRequest(nb)); err != nil {
			t.Fatal(err)
		}

		// Earn 1000 points at A; release; redeem 700 at B (two purchases),
		// refund the second; expire the rest.
		pts := int64(1000)
		cmd, err := x.svc.PrepareEarn(ctx, points.EarnRequest{MerchantID: a, OrderID: "e1", Member: points.Identity{Kind: "phone", Value: "+8613800000001"}, AmountFen: 20_000, Points: &pts})
		if err != nil {
			t.Fatal(err)
		}
		member := submit(cmd).(points.EarnResult).MemberID
		c.add(2 * time.Hour)
		submit(x.svc.ReleaseCommand(100))
		cs := &consent.Service{Store: db, Now: c.now}
		for _, r := range []struct {
			order string
			pts   int64
		}{{"r1", 600}, {"r2", 100}} {
			code, err := cs.IssueRedemptionCode(ctx, member, 0)
			if err != nil {
				t.Fatal(err)
			}
			submit(x.svc.RedeemCommand(points.RedeemRequest{MerchantID: b, OrderID: r.order, Code: code.Code, Points: r.pts, AmountFen: 5_000}))
		}
		submit(x.svc.RefundRedeemCommand(points.RefundRedeemRequest{MerchantID: b, OrderID: "r2", Points: 100}))

		// Settle 30 November.
		key, _ := evidenceKey(t)
		cl := &settlement.Clearing{DB: db, Signer: key}
		sts, err := cl.Run(ctx, "2026-11-30", nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(sts) != 1 || sts[0].MerchantID != b || sts[0].OpeningFen != 0 || sts[0].ClosingFen != 600 {
			t.Fatalf("statements: %+v", sts)
		}
		lines := map[string]settlement.StatementLine{}
		for _, l := range sts[0].Lines {
			lines[l.Kind] = l
		}
		if lines[ledger.KindRedeem].AmountFen != 700 || lines[ledger.KindRedeem].Count != 2 || lines[ledger.KindRedeemReversal].AmountFen != -100 {
			t.Fatalf("statement lines: %+v", sts[0].Lines)
		}

		// The next day: the rest of the points expire (breakage).
		c.add(30 * time.Hour)
		submit(x.svc.ExpireCommand(100))

		// Pay B out: WeChat Pay's plugin is down, so Alipay pays.
		_ = db.SetPayoutAccounts(ctx, b, []store.PayoutAccount{
			{Channel: "wechatpay", PayeeType: "wechat_openid", Account: "o-bakery"},
			{Channel: "alipay", PayeeType: "alipay_user_id", Account: "2088000000000088"},
		})
		p := x.payouts(c)
		x.ch.down["wechatpay"] = true
		po, err := p.Request(ctx, settlement.PayoutRequest{MerchantID: b, AmountFen: 600, IdemKey: "pb"})
		if err != nil {
			t.Fatal(err)
		}
		process(t, p)
		process(t, p)
		x.ch.down["wechatpay"] = false
		if got := getPayout(t, db, po.ID); got.State != store.PayoutSucceeded || got.Channel != "alipay" {
			t.Fatalf("payout: %+v", got)
		}

		// Reconcile both channels' bills of 30 November.
		at := time.Date(2026, 11, 30, 9, 0, 0, 0, cst)
		x.wx.SetBill("2026-11-30", wechatpaytest.TradeBill([]wechatpaytest.BillLine{{At: at, TransactionID: txA, OutTradeNo: oa.ID, AmountFen: 100_000, FeeFen: 600}}))
		zip, _ := alipaytest.BillZip([]alipaytest.BillRow{{At: at, TradeNo: tradeB, OutTradeNo: ob.ID, Yuan: "500.00", FeeYuan: "-3.00"}})
		x.ali.SetBill("2026-11-30", zip)
		rc := &settlement.Reconciler{DB: db, Channels: x.ch}
		for _, ch := range []string{"wechatpay", "alipay"} {
			res, err := rc.Run(ctx, ch, "2026-11-30")
			if err != nil || res.Matched != 1 || res.Exceptions != 0 {
				t.Fatalf("reconcile %s: %+v %v", ch, res, err)
			}
		}

		// Every balance, exact.
		bal, err := db.Balances(ctx, ledger.MerchantBudget(a), ledger.MerchantBudget(b), ledger.MerchantPayable(b), ledger.Reserve,
			ledger.Payouts, ledger.Paid, ledger.Breakage, ledger.MemberAvailable(member))
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]int64{ledger.MerchantBudget(a): 99_000, ledger.MerchantBudget(b): 50_000, ledger.MerchantPayable(b): 0,
			ledger.Reserve: 150_000 - 600 - 400, ledger.Payouts: 0, ledger.Paid: 600, ledger.Breakage: 400, ledger.MemberAvailable(member): 0}
		for acct, w := range want {
			if bal[acct] != w {
				t.Errorf("%s = %d, want %d", acct, bal[acct], w)
			}
		}
		if v, err := db.CheckInvariants(ctx, 1, nil); err != nil || len(v) != 0 {
			t.Fatalf("invariants: %v %v", v, err)
		}
	})
}
