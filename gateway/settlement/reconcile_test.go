package settlement_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/gateway/settlement"
	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
	"github.com/lianmeng/lianmeng/plugins/alipay/alipaytest"
	"github.com/lianmeng/lianmeng/plugins/wechatpay/wechatpaytest"
)

// The bill against the ledger: one payment matches, one differs in amount,
// one is unknown to the ledger, one is listed twice, and one funding is
// missing from the bill; each is recorded once, however often the day is
// reconciled, and no money moves.
func TestReconcileWechatBill(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		x, ctx := setup(t, db), context.Background()
		cst := time.FixedZone("CST", 8*3600)
		noon := time.Date(2026, 11, 30, 12, 0, 0, 0, cst)
		x.f.Now = func() time.Time { return noon }
		fund := func(key string, fen int64) (store.FundingOrder, string) {
			o, err := x.f.Create(ctx, settlement.FundingRequest{MerchantID: x.merchant, Channel: "wechatpay", AmountFen: fen, IdemKey: key})
			if err != nil {
				t.Fatal(err)
			}
			txID, _ := x.wx.Pay(o.ID)
			n, _ := x.wx.PaymentNotification(o.ID)
			if _, err := x.f.Notify(ctx, "wechatpay", wxRequest(n)); err != nil {
				t.Fatal(err)
			}
			return o, txID
		}
		a, aTx := fund("a", 10_000)
		b, bTx := fund("b", 20_000)
		c, _ := fund("c", 30_000)
		x.wx.SetBill("2026-11-30", wechatpaytest.TradeBill([]wechatpaytest.BillLine{
			{At: noon, TransactionID: aTx, OutTradeNo: a.ID, AmountFen: 10_000, FeeFen: 60},
			{At: noon, TransactionID: aTx, OutTradeNo: a.ID, AmountFen: 10_000, FeeFen: 60},
			{At: noon, TransactionID: bTx, OutTradeNo: b.ID, AmountFen: 19_999, FeeFen: 120},
			{At: noon, TransactionID: "4200000000000999", OutTradeNo: "fnd_ghost", AmountFen: 5_000},
		}))
		before, _ := x.budget(t)
		rc := &settlement.Reconciler{DB: db, Channels: x.ch}
		for run := 0; run < 2; run++ {
			res, err := rc.Run(ctx, "wechatpay", "2026-11-30")
			if err != nil {
				t.Fatal(err)
			}
			if res.Entries != 4 || res.Matched != 1 || res.Exceptions != 4 {
				t.Fatalf("run %d: %+v", run, res)
			}
		}
		got, err := db.ReconExceptions(ctx, "wechatpay", "2026-11-30")
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]struct {
			kind              string
			ledger, channelFn int64
		}{
			a.ID:        {settlement.ExceptionDuplicate, 0, 10_000},
			b.ID:        {settlement.ExceptionAmountMismatch, 20_000, 19_999},
			"fnd_ghost": {settlement.ExceptionMissingInLedger, 0, 5_000},
			c.ID:        {settlement.ExceptionMissingAtChannel, 30_000, 0},
		}
		if len(got) != len(want) {
			t.Fatalf("exceptions: %+v", got)
		}
		for _, e := range got {
			w, ok := want[e.TransactionID]
			if !ok || e.Kind != w.kind || e.LedgerFen != w.ledger || e.ChannelFen != w.channelFn {
				t.Errorf("exception %+v, want %+v", e, w)
			}
		}
		if after, _ := x.budget(t); after != before {
			t.Fatalf("reconciliation moved money: budget %d -> %d", before, after)
		}
	})
}

// Refund and payout lines, both ways, against the WeChat Pay fake's trade
// bill and fund flow bill: each kind of difference is recorded once with
// its line type; a payout the ledger still waits for is pending_in_ledger
// until it is booked, and then matches; no money moves.
func TestReconcileRefundsAndPayouts(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		x, ctx := setup(t, db), context.Background()
		cst := time.FixedZone("CST", 8*3600)
		c := &clock{t: time.Date(2026, 11, 30, 12, 0, 0, 0, cst)}
		x.f.Now = c.now
		tick := func() time.Time { c.add(time.Minute); return c.now() }
		a, b, o3 := x.fund(t, "wechatpay", 100_000, "a"), x.fund(t, "wechatpay", 50_000, "b"), x.fund(t, "wechatpay", 30_000, "c")

		// A funding refund of all of it: three parts, newest payment first.
		rs := x.refunds(c)
		rf, err := rs.Request(ctx, settlement.RefundRequest{MerchantID: x.merchant, IdemKey: "all"})
		if err != nil || len(rf.Parts) != 3 {
			t.Fatalf("refund: %+v %v", rf, err)
		}
		for i := 0; i < 2; i++ {
			if _, err := rs.ProcessDue(ctx); err != nil {
				t.Fatal(err)
			}
			tick()
		}
		rf, _ = db.GetFundingRefund(ctx, rf.ID)
		part := map[string]store.FundingRefundPart{}
		for _, p := range rf.Parts {
			if p.State != store.RefundPartSucceeded {
				t.Fatalf("part %+v", p)
			}
			part[p.FundingOrderID] = p
		}

		// Payouts through WeChat Pay: confirmed, confirmed, failed, waiting.
		x.owe(t, 300_000)
		if err := db.SetPayoutAccounts(ctx, x.merchant, []store.PayoutAccount{{Channel: "wechatpay", PayeeType: "wechat_openid", Account: "o1"}}); err != nil {
			t.Fatal(err)
		}
		p := x.payouts(c)
		var po [4]store.Payout
		for i, fen := range []int64{60_000, 40_000, 30_000, 20_000} {
			if po[i], err = p.Request(ctx, settlement.PayoutRequest{MerchantID: x.merchant, AmountFen: fen, IdemKey: fmt.Sprint("p", i)}); err != nil {
				t.Fatal(err)
			}
		}
		process(t, p)
		x.wx.SetTransferState(po[0].ID, "SUCCESS", "")
		x.wx.SetTransferState(po[1].ID, "SUCCESS", "")
		x.wx.SetTransferState(po[2].ID, "FAIL", "ACCOUNT_FROZEN")
		c.add(2 * time.Minute)
		process(t, p)
		for i, want := range []string{store.PayoutSucceeded, store.PayoutSucceeded, store.PayoutFailed, store.PayoutSubmitted} {
			if po[i] = getPayout(t, db, po[i].ID); po[i].State != want {
				t.Fatalf("payout %d: %+v, want %s", i, po[i], want)
			}
		}
		ref := func(p store.Payout) string { tr, _ := x.wx.Transfer(p.ID); return tr.TransferBillNo }

		// The channel's bills of the day.
		wxo := func(o store.FundingOrder) wechatpaytest.Order { w, _ := x.wx.Order(o.ID); return w }
		at := c.now()
		x.wx.SetBill("2026-11-30", wechatpaytest.TradeBill([]wechatpaytest.BillLine{
			{At: at, TransactionID: wxo(a).TransactionID, OutTradeNo: a.ID, AmountFen: 100_000},
			{At: at, TransactionID: wxo(b).TransactionID, OutTradeNo: b.ID, AmountFen: 50_000},
			{At: at, TransactionID: wxo(o3).TransactionID, OutTradeNo: o3.ID, AmountFen: 30_000},
			{At: at, TransactionID: wxo(o3).TransactionID, OutTradeNo: o3.ID, Refund: true, RefundID: part[o3.ID].ChannelRef, OutRefundNo: part[o3.ID].ID, AmountFen: 30_000},
			{At: at, TransactionID: wxo(b).TransactionID, OutTradeNo: b.ID, Refund: true, RefundID: part[b.ID].ChannelRef, OutRefundNo: part[b.ID].ID, AmountFen: 49_999},
			{At: at, TransactionID: wxo(a).TransactionID, OutTradeNo: a.ID, Refund: true, RefundID: "50300000000000009999", OutRefundNo: "rfp_ghost", AmountFen: 1_000},
		}))
		x.wx.SetFundFlowBill("2026-11-30", wechatpaytest.FundFlowBill([]wechatpaytest.FundFlowLine{
			{At: at, WechatPayNo: ref(po[0]), Business: "商家转账", Out: true, AmountFen: 60_000, MerchantNumber: po[0].ID},
			{At: at, WechatPayNo: ref(po[0]), Business: "商家转账", Out: true, AmountFen: 60_000, MerchantNumber: po[0].ID},
			{At: at, WechatPayNo: ref(po[2]), Business: "商家转账", Out: true, AmountFen: 30_000, MerchantNumber: po[2].ID},
			{At: at, WechatPayNo: ref(po[3]), Business: "商家转账", Out: true, AmountFen: 20_000, MerchantNumber: po[3].ID},
			{At: at, WechatPayNo: "1330000000000000999", Business: "商家转账", Out: true, AmountFen: 5_000, MerchantNumber: "po_ghost"},
			{At: at, WechatPayNo: "4200000000000000888", Business: "交易", AmountFen: 7, MerchantNumber: "not-a-payout"},
		}))
		type key struct{ line, tx string }
		want := map[key]struct {
			kind          string
			ledger, chanF int64
		}{
			{"refund", part[b.ID].ID}: {settlement.ExceptionAmountMismatch, 50_000, 49_999},
			{"refund", "rfp_ghost"}:   {settlement.ExceptionMissingInLedger, 0, 1_000},
			{"refund", part[a.ID].ID}: {settlement.ExceptionMissingAtChannel, 100_000, 0},
			{"payout", po[0].ID}:      {settlement.ExceptionDuplicate, 0, 60_000},
			{"payout", po[2].ID}:      {settlement.ExceptionStatusMismatch, 30_000, 30_000},
			{"payout", po[3].ID}:      {settlement.ExceptionPendingInLedger, 20_000, 20_000},
			{"payout", "po_ghost"}:    {settlement.ExceptionMissingInLedger, 0, 5_000},
			{"payout", po[1].ID}:      {settlement.ExceptionMissingAtChannel, 40_000, 0},
		}
		budget, _ := x.budget(t)
		payable, held, paid := x.balances(t)
		check := func() {
			t.Helper()
			got, err := db.ReconExceptions(ctx, "wechatpay", "2026-11-30")
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want) {
				t.Fatalf("%d exceptions, want %d: %+v", len(got), len(want), got)
			}
			for _, e := range got {
				w, ok := want[key{e.LineType, e.TransactionID}]
				if !ok || e.Kind != w.kind || e.LedgerFen != w.ledger || e.ChannelFen != w.chanF {
					t.Errorf("exception %+v, want %+v", e, w)
				}
			}
			if after, _ := x.budget(t); after != budget {
				t.Fatalf("reconciliation moved the budget: %d -> %d", budget, after)
			}
			if p2, h2, d2 := x.balances(t); p2 != payable || h2 != held || d2 != paid {
				t.Fatal("reconciliation moved payables")
			}
		}
		rc := &settlement.Reconciler{DB: db, Channels: x.ch}
		for run := 0; run < 2; run++ {
			res, err := rc.Run(ctx, "wechatpay", "2026-11-30")
			if err != nil {
				t.Fatal(err)
			}
			// 3 payments and 1 refund and 1 payout match; one trade line
			// of the fund flow bill is not a payout (not even an entry).
			if res.Entries != 11 || res.Matched != 5 || res.Exceptions != 8 || res.Ignored != 0 {
				t.Fatalf("run %d: %+v", run, res)
			}
			check()
		}

		// The waiting payout is confirmed: the next run matches it and the
		// pending_in_ledger exception goes.
		x.wx.SetTransferState(po[3].ID, "SUCCESS", "")
		c.add(2 * time.Minute)
		process(t, p)
		if got := getPayout(t, db, po[3].ID); got.State != store.PayoutSucceeded {
			t.Fatalf("payout 3: %+v", got)
		}
		delete(want, key{"payout", po[3].ID})
		payable, held, paid = x.balances(t)
		res, err := rc.Run(ctx, "wechatpay", "2026-11-30")
		if err != nil || res.Matched != 6 || res.Exceptions != 7 {
			t.Fatalf("after the confirmation: %+v %v", res, err)
		}
		check()
	})
}

// Alipay payouts against its account bill: one matches, one is listed for
// another amount, one the ledger paid is missing; on both databases.
func TestReconcileAlipayPayouts(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		x, ctx := setup(t, db), context.Background()
		cst := time.FixedZone("CST", 8*3600)
		c := &clock{t: time.Date(2026, 11, 30, 15, 0, 0, 0, cst)}
		x.owe(t, 100_000)
		if err := db.SetPayoutAccounts(ctx, x.merchant, []store.PayoutAccount{{Channel: "alipay", PayeeType: "alipay_user_id", Account: "2088000000000077"}}); err != nil {
			t.Fatal(err)
		}
		p := x.payouts(c)
		var po [3]store.Payout
		for i, fen := range []int64{30_000, 20_000, 10_000} {
			var err error
			if po[i], err = p.Request(ctx, settlement.PayoutRequest{MerchantID: x.merchant, AmountFen: fen, IdemKey: fmt.Sprint("a", i)}); err != nil {
				t.Fatal(err)
			}
		}
		process(t, p) // Alipay: SUCCESS at once
		for i := range po {
			if po[i] = getPayout(t, db, po[i].ID); po[i].State != store.PayoutSucceeded {
				t.Fatalf("payout %d: %+v", i, po[i])
			}
		}
		trade, _ := alipaytest.BillZip(nil)
		x.ali.SetBill("2026-11-30", trade)
		acct, err := alipaytest.AccountBillZip([]alipaytest.AccountRow{
			{At: c.now(), OrderID: po[0].ChannelRef, OutBizNo: po[0].ID, Business: "转账", OutYuan: "-300.00"},
			{At: c.now(), OrderID: po[1].ChannelRef, OutBizNo: po[1].ID, Business: "转账", OutYuan: "-200.01"},
		})
		if err != nil {
			t.Fatal(err)
		}
		x.ali.SetAccountBill("2026-11-30", acct)
		res, err := (&settlement.Reconciler{DB: db, Channels: x.ch}).Run(ctx, "alipay", "2026-11-30")
		if err != nil || res.Entries != 2 || res.Matched != 1 || res.Exceptions != 2 {
			t.Fatalf("run: %+v %v", res, err)
		}
		got, _ := db.ReconExceptions(ctx, "alipay", "2026-11-30")
		kinds := map[string]string{}
		for _, e := range got {
			if e.LineType != settlement.LinePayout {
				t.Errorf("line type %q", e.LineType)
			}
			kinds[e.TransactionID] = e.Kind
		}
		if len(got) != 2 || kinds[po[1].ID] != settlement.ExceptionAmountMismatch || kinds[po[2].ID] != settlement.ExceptionMissingAtChannel {
			t.Fatalf("exceptions: %+v", got)
		}
	})
}
