package settlement_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/gateway/inbox"
	"github.com/lianmeng/lianmeng/gateway/settlement"
	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
)

// withInbox routes the fixture's notifications through a durable inbox,
// as serve does.
func (x *fixture) withInbox() *inbox.Inbox {
	in := &inbox.Inbox{DB: x.db, Writer: x.w, Points: x.svc, Channels: x.f, BaseBackoff: time.Millisecond}
	x.f.Inbox = in
	return in
}

func inboxEvents(t *testing.T, db *store.DB, state string) []store.InboxEvent {
	t.Helper()
	evs, err := db.InboxEvents(context.Background(), store.InboxFilter{State: state, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var out []store.InboxEvent
	for _, e := range evs {
		if strings.HasPrefix(e.ConnectionID, inbox.ChannelPrefix) {
			out = append(out, e)
		}
	}
	return out
}

func drainInbox(t *testing.T, in *inbox.Inbox) {
	t.Helper()
	for i := 0; i < 5; i++ {
		n, err := in.ProcessDue(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
	}
}

// Channel notifications through the durable inbox, with the fakes' real
// signatures: acknowledged once stored, applied later by the inbox worker,
// once however often delivered (WeChat Pay and Alipay); a bad signature or
// a plugin that is down is not stored (and not acknowledged); a payment
// the ledger does not know is kept, refused and dead-lettered with its
// reason, never credited; a payout's notification makes it asked about at
// once. On both databases.
func TestChannelNotificationsThroughInbox(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		x, ctx := setup(t, db), context.Background()
		in := x.withInbox()

		// WeChat Pay: paid, notified three times (each freshly encrypted).
		o, err := x.f.Create(ctx, settlement.FundingRequest{MerchantID: x.merchant, Channel: "wechatpay", AmountFen: 10_000, IdemKey: "w"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := x.wx.Pay(o.ID); err != nil {
			t.Fatal(err)
		}
		before, _ := x.budget(t)
		for i := 0; i < 3; i++ {
			n, _ := x.wx.PaymentNotification(o.ID)
			ack, err := x.f.Notify(ctx, "wechatpay", wxRequest(n))
			if err != nil || ack.Status != http.StatusOK {
				t.Fatalf("delivery %d: %+v %v", i+1, ack, err)
			}
		}
		if got := inboxEvents(t, db, store.InboxPending); len(got) != 1 || got[0].ConnectionID != "channel:wechatpay" || got[0].MerchantID != "" {
			t.Fatalf("stored: %+v", got)
		}
		if b, _ := x.budget(t); b != before {
			t.Fatal("credited before the inbox worker ran")
		}
		drainInbox(t, in)
		if b, _ := x.budget(t); b != before+10_000 {
			t.Fatalf("budget %d, want %d", b, before+10_000)
		}
		if got, _ := db.FundingOrder(ctx, o.ID); got.Status != store.FundingSucceeded {
			t.Fatalf("order %+v", got)
		}
		// Delivered again after it was applied: acknowledged, not applied.
		n, _ := x.wx.PaymentNotification(o.ID)
		if _, err := x.f.Notify(ctx, "wechatpay", wxRequest(n)); err != nil {
			t.Fatal(err)
		}
		drainInbox(t, in)
		if b, _ := x.budget(t); b != before+10_000 {
			t.Fatalf("budget %d after a late duplicate", b)
		}
		if done := inboxEvents(t, db, store.InboxDone); len(done) != 1 || !strings.HasPrefix(done[0].Outcome, settlement.OutcomeCredited) {
			t.Fatalf("done: %+v", done)
		}

		// Alipay, delivered twice.
		ao, err := x.f.Create(ctx, settlement.FundingRequest{MerchantID: x.merchant, Channel: "alipay", AmountFen: 20_000, IdemKey: "a"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := x.ali.Pay(ao.ID); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 2; i++ {
			v, _ := x.ali.PaymentNotification(ao.ID)
			if ack, err := x.f.Notify(ctx, "alipay", aliRequest(v)); err != nil || string(ack.Body) != "success" {
				t.Fatalf("alipay delivery %d: %+v %v", i+1, ack, err)
			}
		}
		drainInbox(t, in)
		if b, _ := x.budget(t); b != before+30_000 {
			t.Fatalf("budget %d after Alipay", b)
		}

		// A bad signature and a plugin that is down: nothing stored.
		n, _ = x.wx.PaymentNotification(o.ID)
		bad := wxRequest(n)
		bad.Body = []byte(strings.Replace(string(bad.Body), `"summary":"notification"`, `"summary":"notificatioN"`, 1))
		var re *settlement.RefusedError
		if _, err := x.f.Notify(ctx, "wechatpay", bad); !errors.As(err, &re) || re.Outcome != settlement.OutcomeBadSignature {
			t.Fatalf("bad signature: %v", err)
		}
		x.ch.down["wechatpay"] = true
		if _, err := x.f.Notify(ctx, "wechatpay", wxRequest(n)); !errors.Is(err, settlement.ErrChannelUnavailable) {
			t.Fatalf("plugin down: %v", err)
		}
		x.ch.down["wechatpay"] = false
		all, _ := db.InboxEvents(ctx, store.InboxFilter{Limit: 100})
		if len(all) != 2 {
			t.Fatalf("%d inbox events, want 2 (one per payment)", len(all))
		}

		// A verified payment of an order the ledger does not have: kept,
		// refused (the channel keeps asking), stored once, dead-lettered
		// with the reason, never credited.
		ghost := map[string]any{"appid": x.wx.AppID, "mchid": x.wx.MchID, "out_trade_no": "fnd_ghost", "transaction_id": "4200000000000000777",
			"trade_type": "NATIVE", "trade_state": "SUCCESS", "trade_state_desc": "SUCCESS", "success_time": time.Now().Format(time.RFC3339),
			"bank_type": "OTHERS", "payer": map[string]string{"openid": "o1"},
			"amount": map[string]any{"total": 5_000, "payer_total": 5_000, "currency": "CNY", "payer_currency": "CNY"}}
		for i := 0; i < 2; i++ {
			gn, err := x.wx.Notify("TRANSACTION.SUCCESS", "transaction", ghost)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := x.f.Notify(ctx, "wechatpay", wxRequest(gn)); !errors.As(err, &re) || re.Outcome != settlement.OutcomeUnknownOrder {
				t.Fatalf("unknown payment, delivery %d: %v", i+1, err)
			}
		}
		drainInbox(t, in)
		dead := inboxEvents(t, db, store.InboxDead)
		if len(dead) != 1 || !strings.Contains(dead[0].LastError, settlement.OutcomeUnknownOrder) || !strings.Contains(dead[0].LastError, "fnd_ghost") {
			t.Fatalf("dead letters: %+v", dead)
		}
		if b, _ := x.budget(t); b != before+30_000 {
			t.Fatalf("budget %d after an unknown payment", b)
		}
		recs, _ := db.ChannelNotifications(ctx, "fnd_ghost", 10)
		if len(recs) != 1 || recs[0].Outcome != settlement.OutcomeUnknownOrder {
			t.Fatalf("recorded: %+v", recs)
		}
		// Replayed by an operator, it is applied again (and kept again).
		if err := db.ReplayInboxEvent(ctx, dead[0].ID, "", time.Now(), "operator:test"); err != nil {
			t.Fatal(err)
		}
		drainInbox(t, in)
		if dead = inboxEvents(t, db, store.InboxDead); len(dead) != 1 {
			t.Fatalf("after the replay: %+v", dead)
		}

		// A payout's notification: the payout is asked about at once, not
		// a minute later, and booked from the channel's own answer.
		x.owe(t, 50_000)
		_ = db.SetPayoutAccounts(ctx, x.merchant, []store.PayoutAccount{{Channel: "wechatpay", PayeeType: "wechat_openid", Account: "o1"}})
		c := &clock{t: time.Now()}
		p := x.payouts(c)
		po, err := p.Request(ctx, settlement.PayoutRequest{MerchantID: x.merchant, AmountFen: 20_000, IdemKey: "p"})
		if err != nil {
			t.Fatal(err)
		}
		process(t, p)
		if got := getPayout(t, db, po.ID); got.State != store.PayoutSubmitted {
			t.Fatalf("payout %+v", got)
		}
		x.wx.SetTransferState(po.ID, "SUCCESS", "")
		tr, _ := x.wx.Transfer(po.ID)
		pn, err := x.wx.Notify("MCHTRANSFER.BILL.FINISHED", "mch_payment", map[string]any{"mch_id": x.wx.MchID, "out_bill_no": po.ID,
			"transfer_bill_no": tr.TransferBillNo, "state": "SUCCESS", "transfer_amount": 20_000, "openid": "o1",
			"create_time": time.Now().Format(time.RFC3339), "update_time": time.Now().Format(time.RFC3339)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := x.f.Notify(ctx, "wechatpay", wxRequest(pn)); err != nil {
			t.Fatal(err)
		}
		drainInbox(t, in)
		c.add(time.Second) // a second, not the minute until its next poll:
		process(t, p)      // due only because of the notification
		if got := getPayout(t, db, po.ID); got.State != store.PayoutSucceeded {
			t.Fatalf("payout after its notification: %+v", got)
		}
		if _, _, paid := x.balances(t); paid != 20_000 {
			t.Fatalf("paid %d", paid)
		}
		// A notification of a payout nobody asked for is kept.
		un, _ := x.wx.Notify("MCHTRANSFER.BILL.FINISHED", "mch_payment", map[string]any{"mch_id": x.wx.MchID, "out_bill_no": "po_ghost",
			"transfer_bill_no": "1330999", "state": "SUCCESS", "transfer_amount": 1, "openid": "o1"})
		if _, err := x.f.Notify(ctx, "wechatpay", wxRequest(un)); err != nil {
			t.Fatal(err)
		}
		drainInbox(t, in)
		if dead = inboxEvents(t, db, store.InboxDead); len(dead) != 2 {
			t.Fatalf("dead letters: %+v", dead)
		}
		if v, err := db.CheckInvariants(ctx, 1, nil); err != nil || len(v) != 0 {
			t.Fatalf("invariants: %v %v", v, err)
		}
	})
}
