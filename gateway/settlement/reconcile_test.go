package settlement_test

import (
	"context"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/gateway/settlement"
	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
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
