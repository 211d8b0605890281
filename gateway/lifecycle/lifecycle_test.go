package lifecycle_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/gateway/consent"
	"github.com/lianmeng/lianmeng/gateway/ledger"
	"github.com/lianmeng/lianmeng/gateway/lifecycle"
	"github.com/lianmeng/lianmeng/gateway/merchant"
	"github.com/lianmeng/lianmeng/gateway/points"
	"github.com/lianmeng/lianmeng/gateway/settlement"
	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
	"github.com/lianmeng/lianmeng/plugins/wechatpay"
	"github.com/lianmeng/lianmeng/plugins/wechatpay/wechatpaytest"
	"github.com/lianmeng/lianmeng/sdk/payment"
	"github.com/lianmeng/lianmeng/sdk/webhook"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

type channels map[string]payment.Channel

func (c channels) PaymentChannel(name string) (payment.Channel, error) {
	if ch, ok := c[name]; ok {
		return ch, nil
	}
	return nil, fmt.Errorf("no channel %q", name)
}

const notice = 30 * 24 * time.Hour

type world struct {
	db      *store.DB
	w       *store.Writer
	svc     *points.Service
	clock   *clock
	wx      *wechatpaytest.Server
	funding *settlement.Funding
	refunds *settlement.Refunds
	payouts *settlement.Payouts
	life    *lifecycle.Service
	consent *consent.Service
}

func newWorld(t *testing.T, db *store.DB) *world {
	t.Helper()
	ctx := context.Background()
	wx, err := wechatpaytest.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(wx.Close)
	cfg, _ := json.Marshal(map[string]any{"mch_id": wx.MchID, "app_id": wx.AppID, "merchant_serial_no": wx.MerchantSerial,
		"merchant_private_key": wx.MerchantKeyPEM(), "public_key_id": wx.PublicKeyID, "public_key": wx.PlatformPublicKeyPEM(),
		"api_v3_key": wx.APIv3Key, "notify_url": "https://gw.example/v1/channels/wechatpay/notify", "api_base": wx.URL})
	ch, err := wechatpay.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{t: time.Now().UTC().Truncate(time.Second)}
	w := db.NewWriter(store.WriterOptions{Now: c.now})
	t.Cleanup(w.Close)
	svc := &points.Service{Policy: points.Policy{FaceValueFen: 1, ReleaseDelay: time.Hour, Validity: 365 * 24 * time.Hour,
		ExpiryPolicy: "breakage", MaxPointsPerEarn: 1e7, MaxAmountFen: 1e10}, Earnings: db, Reader: db, Now: c.now}
	chs := channels{"wechatpay": ch}
	x := &world{db: db, w: w, svc: svc, clock: c, wx: wx,
		funding: &settlement.Funding{DB: db, Writer: w, Points: svc, Channels: chs, Now: c.now},
		refunds: &settlement.Refunds{DB: db, Writer: w, Points: svc, Channels: chs, Now: c.now},
		payouts: &settlement.Payouts{DB: db, Writer: w, Channels: chs, Now: c.now},
		consent: &consent.Service{Store: db, Now: c.now}}
	x.life = &lifecycle.Service{DB: db, Writer: w, Points: svc, Refunds: x.refunds, Payouts: x.payouts, Notice: notice, Now: c.now}
	svc.Issuance = x.life
	return x
}

func (x *world) merchant(t *testing.T, name string) string {
	t.Helper()
	m, _ := merchant.NewMerchant(name, "restaurant", x.clock.now())
	if err := x.db.Merchants().CreateMerchant(context.Background(), m, "operator"); err != nil {
		t.Fatal(err)
	}
	return m.ID
}

// fundWechat funds a merchant through the fake WeChat Pay, as a merchant
// paying its QR code would.
func (x *world) fundWechat(t *testing.T, mid string, fen int64) {
	t.Helper()
	ctx := context.Background()
	o, err := x.funding.Create(ctx, settlement.FundingRequest{MerchantID: mid, Channel: "wechatpay", AmountFen: fen, IdemKey: "fund-" + mid})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := x.wx.Pay(o.ID); err != nil {
		t.Fatal(err)
	}
	n, err := x.wx.PaymentNotification(o.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := x.funding.Notify(ctx, "wechatpay", webhook.Request{Method: http.MethodPost, Path: "/v1/channels/wechatpay/notify", Header: n.Header.Clone(), Body: n.Body}); err != nil {
		t.Fatal(err)
	}
}

func (x *world) submit(t *testing.T, cmd points.Command) any {
	t.Helper()
	r := x.w.Submit(context.Background(), &store.Op{Command: cmd})
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	return r.Value
}

func (x *world) earn(mid, order, phone string, pts int64) error {
	cmd, err := x.svc.PrepareEarn(context.Background(), points.EarnRequest{MerchantID: mid, OrderID: order, AmountFen: pts * 2, Points: &pts,
		Member: points.Identity{Kind: points.IdentityPhone, Value: phone}})
	if err != nil {
		return err
	}
	return x.w.Submit(context.Background(), &store.Op{Command: cmd}).Err
}

// redeem spends a member's points at a merchant with the member's own
// redemption code.
func (x *world) redeem(t *testing.T, mid, memberID, order string, pts int64) error {
	t.Helper()
	rc, err := x.consent.IssueRedemptionCode(context.Background(), memberID, 0)
	if err != nil {
		t.Fatal(err)
	}
	return x.w.Submit(context.Background(), &store.Op{Command: x.svc.RedeemCommand(points.RedeemRequest{MerchantID: mid, OrderID: order,
		Code: rc.Code, Points: pts, AmountFen: pts * 2})}).Err
}

func (x *world) balance(t *testing.T, acct string) int64 {
	t.Helper()
	b, err := x.db.Balances(context.Background(), acct)
	if err != nil {
		t.Fatal(err)
	}
	return b[acct]
}

func (x *world) clean(t *testing.T) {
	t.Helper()
	if v, err := x.db.CheckInvariants(context.Background(), 1, nil); err != nil || len(v) != 0 {
		t.Fatalf("invariants: %v %v", v, err)
	}
}

func code(err error) string {
	var pe *points.Error
	if errors.As(err, &pe) {
		return pe.Code
	}
	return fmt.Sprint(err)
}

// A merchant leaves: the exit is announced at least the notice period
// ahead and nothing changes before its date; at the date the merchant is
// suspended, its unused budget is refunded through WeChat Pay (the fake,
// real signatures) and its payable paid out; the points it issued keep
// their lots and terms and are redeemed at another merchant.
func TestMerchantExit(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		x, ctx := newWorld(t, db), context.Background()
		a, b := x.merchant(t, "Leaving Noodles"), x.merchant(t, "Staying Tea")
		x.fundWechat(t, a, 100_000)
		// Part of A's budget was funded by hand (a bank transfer): no channel
		// can refund it, so the exit notes it for the operator.
		x.submit(t, x.svc.FundCommand(points.FundRequest{MerchantID: a, AmountFen: 80_000, ExternalRef: "bank-a"}))
		x.submit(t, x.svc.FundCommand(points.FundRequest{MerchantID: b, AmountFen: 50_000, ExternalRef: "bank-1"}))
		if err := x.earn(a, "a-1", "13800000001", 30_000); err != nil {
			t.Fatal(err)
		}
		if err := db.SetPayoutAccounts(ctx, a, []store.PayoutAccount{{Channel: "wechatpay", PayeeType: "wechat_openid", Account: "o-leaving", Name: "Leaving Noodles"}}); err != nil {
			t.Fatal(err)
		}
		memberID, err := db.FindMember(ctx, a, points.Identity{Kind: points.IdentityPhone, Value: "13800000001"})
		if err != nil {
			t.Fatal(err)
		}
		lotsBefore, err := db.MemberLots(ctx, memberID, false, 100)
		if err != nil || len(lotsBefore) != 1 {
			t.Fatalf("lots %+v %v", lotsBefore, err)
		}

		if _, err := x.life.AnnounceExit(ctx, a, x.clock.now().Add(notice-time.Hour), "", "operator:test"); !errors.Is(err, lifecycle.ErrNoticeTooShort) {
			t.Fatalf("exit inside the notice period: %v", err)
		}
		e, err := x.life.AnnounceExit(ctx, a, time.Time{}, "closing the shop", "operator:test")
		if err != nil || !e.EffectiveAt.Equal(x.clock.now().Add(notice)) || e.State != store.ExitAnnounced {
			t.Fatalf("announce: %+v %v", e, err)
		}
		if _, err := x.life.AnnounceExit(ctx, a, time.Time{}, "", "operator:test"); !errors.Is(err, store.ErrExitExists) {
			t.Fatalf("announced twice: %v", err)
		}
		// Before the date nothing changes: the merchant still issues.
		x.clock.add(notice / 2)
		if n, err := x.life.ProcessDue(ctx); err != nil || n != 0 {
			t.Fatalf("process before the date: %d %v", n, err)
		}
		if err := x.earn(a, "a-2", "13800000002", 10_000); err != nil {
			t.Fatal(err)
		}
		// A redemption at the leaving merchant gives it a payable.
		x.submit(t, x.svc.ReleaseCommand(0))
		if err := x.redeem(t, a, memberID, "a-r1", 5_000); err != nil {
			t.Fatal(err)
		}

		x.clock.add(notice)
		if n, err := x.life.ProcessDue(ctx); err != nil || n != 1 {
			t.Fatalf("process at the date: %d %v", n, err)
		}
		if _, err := x.life.ProcessDue(ctx); err != nil {
			t.Fatal(err)
		}
		e, _ = db.MerchantExit(ctx, a)
		if e.State != store.ExitDone || e.RefundID == "" || e.PayoutID == "" || e.Note != "40000 fen of the unused budget was not paid through a channel: the operator returns it" {
			t.Fatalf("exit after its date: %+v", e)
		}
		if m, _ := db.Merchants().GetMerchant(ctx, a); m.Status != merchant.StatusSuspended {
			t.Fatalf("merchant status %q", m.Status)
		}
		if _, err := x.refunds.ProcessDue(ctx); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 2; i++ { // sent; WeChat Pay completes it; queried
			if _, err := x.payouts.ProcessDue(ctx); err != nil {
				t.Fatal(err)
			}
			x.wx.SetTransferState(e.PayoutID, "SUCCESS", "")
			x.clock.add(2 * time.Minute)
		}
		rf, _ := db.GetFundingRefund(ctx, e.RefundID)
		if rf.State != store.RefundSucceeded || rf.AmountFen != 100_000 {
			t.Fatalf("refund: %+v", rf)
		}
		po, _ := db.GetPayout(ctx, e.PayoutID)
		if po.State != store.PayoutSucceeded || po.AmountFen != 5_000 {
			t.Fatalf("payout: %+v", po)
		}
		if x.balance(t, ledger.MerchantBudget(a)) != 40_000 || x.balance(t, ledger.MerchantPayable(a)) != 0 || x.balance(t, ledger.Refunded) != 100_000 {
			t.Fatal("the leaving merchant's account is not closed")
		}
		// The left merchant no longer issues or redeems.
		if err := x.earn(a, "a-3", "13800000001", 1); code(err) != points.CodeMerchantInactive {
			t.Fatalf("earn after the exit: %v", err)
		}
		// The member's lot from the leaving merchant is unchanged (terms
		// and points), and spendable at the other merchant.
		lots, _ := db.MemberLots(ctx, memberID, false, 100)
		if len(lots) != 1 || lots[0].ID != lotsBefore[0].ID || !lots[0].ExpiresAt.Equal(lotsBefore[0].ExpiresAt) || lots[0].Remaining != 25_000 {
			t.Fatalf("the member's lot after the exit: %+v (was %+v)", lots, lotsBefore)
		}
		if err := x.redeem(t, b, memberID, "b-r1", 25_000); err != nil {
			t.Fatalf("redeem the left merchant's points elsewhere: %v", err)
		}
		if x.balance(t, ledger.MerchantPayable(b)) != 25_000 {
			t.Fatalf("payable at the other merchant %d", x.balance(t, ledger.MerchantPayable(b)))
		}
		x.clean(t)
	})
}

// The wind-down: announced at least the notice period ahead; from then no
// earning and no funding; members redeem until the date; at the date every
// open lot expires to the merchant that issued it and every budget goes
// back to its merchant, the reserve is empty, and the report says what each
// merchant got, matching its payable.
func TestWindDown(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		x, ctx := newWorld(t, db), context.Background()
		a, b := x.merchant(t, "Noodles"), x.merchant(t, "Tea")
		x.submit(t, x.svc.FundCommand(points.FundRequest{MerchantID: a, AmountFen: 100_000, ExternalRef: "bank-a"}))
		x.submit(t, x.svc.FundCommand(points.FundRequest{MerchantID: b, AmountFen: 40_000, ExternalRef: "bank-b"}))
		// The operator's marketing budget: nobody referred, so it is all
		// left at the date and goes back to the alliance, not a merchant.
		x.submit(t, x.svc.FundMarketingCommand(points.FundRequest{AmountFen: 7_000, ExternalRef: "bank-mkt"}))
		if err := x.earn(a, "a-1", "13800000001", 30_000); err != nil {
			t.Fatal(err)
		}
		if err := x.earn(b, "b-1", "13800000001", 10_000); err != nil {
			t.Fatal(err)
		}
		if err := x.earn(a, "a-2", "13800000002", 5_000); err != nil {
			t.Fatal(err)
		}
		x.submit(t, x.svc.ReleaseCommand(0)) // not yet due: a-2 stays pending below
		if _, err := x.life.AnnounceWindDown(ctx, x.clock.now().Add(time.Hour), "", "operator:test"); !errors.Is(err, lifecycle.ErrNoticeTooShort) {
			t.Fatalf("inside the notice: %v", err)
		}
		x.clock.add(2 * time.Hour) // a-1 and b-1 released; a-2 earned later below
		x.submit(t, x.svc.ReleaseCommand(0))
		if err := x.earn(a, "a-3", "13800000002", 5_000); err != nil { // stays pending
			t.Fatal(err)
		}
		w, err := x.life.AnnounceWindDown(ctx, time.Time{}, "the alliance closes", "operator:test")
		if err != nil || w.State != store.WindDownAnnounced {
			t.Fatalf("announce: %+v %v", w, err)
		}
		if _, err := x.life.AnnounceWindDown(ctx, time.Time{}, "", "operator:test"); !errors.Is(err, store.ErrWindDownExists) {
			t.Fatalf("announced twice: %v", err)
		}
		// No new issuance from the announcement.
		if err := x.earn(a, "a-4", "13800000001", 1); code(err) != points.CodeWindingDown {
			t.Fatalf("earn after the announcement: %v", err)
		}
		if _, err := x.funding.Create(ctx, settlement.FundingRequest{MerchantID: a, Channel: "wechatpay", AmountFen: 100, IdemKey: "late"}); code(err) != points.CodeWindingDown {
			t.Fatalf("funding after the announcement: %v", err)
		}
		// Members redeem until the date.
		m1, _ := db.FindMember(ctx, a, points.Identity{Kind: points.IdentityPhone, Value: "13800000001"})
		if err := x.redeem(t, b, m1, "b-r1", 12_000); err != nil {
			t.Fatal(err)
		}
		if n, err := x.life.ProcessDue(ctx); err != nil || n != 0 {
			t.Fatalf("before the date: %d %v", n, err)
		}
		// The domain itself refuses to close lots before the date.
		if r := x.w.Submit(ctx, &store.Op{Command: x.svc.WindDownLotsCommand(w.EffectiveAt, 0)}); code(r.Err) != points.CodeWindingDown {
			t.Fatalf("lots closed before the date: %v", r.Err)
		}
		x.clock.add(notice)
		if n, err := x.life.ProcessDue(ctx); err != nil || n != 1 {
			t.Fatalf("at the date: %d %v", n, err)
		}
		rep, err := x.life.WindDownReport(ctx)
		if err != nil || rep == nil {
			t.Fatalf("report: %+v %v", rep, err)
		}
		// m1 spent 12,000 (first-expiring first: a-1's lot, earned first),
		// so open: a-1 18,000 (a), b-1 10,000 (b), a-2 and a-3 5,000 each (a).
		// Budgets: a 100,000 - 40,000 = 60,000; b 30,000.
		want := map[string]store.WindDownLine{
			a: {MerchantID: a, LotsFen: 28_000, BudgetFen: 60_000, TotalFen: 88_000},
			b: {MerchantID: b, LotsFen: 10_000, BudgetFen: 30_000, TotalFen: 40_000},
		}
		if len(rep.Merchants) != 2 || rep.ReserveFen != 0 || rep.TotalFen != 128_000 || rep.MarketingFen != 7_000 {
			t.Fatalf("report %+v", rep)
		}
		for _, l := range rep.Merchants {
			if l != want[l.MerchantID] {
				t.Fatalf("report line %+v, want %+v", l, want[l.MerchantID])
			}
		}
		if x.balance(t, ledger.MerchantPayable(a)) != 88_000 || x.balance(t, ledger.MerchantPayable(b)) != 40_000+12_000 || x.balance(t, ledger.Reserve) != 0 ||
			x.balance(t, ledger.Marketing) != 0 || x.balance(t, ledger.Breakage) != 7_000 {
			t.Fatalf("payables %d %d reserve %d", x.balance(t, ledger.MerchantPayable(a)), x.balance(t, ledger.MerchantPayable(b)), x.balance(t, ledger.Reserve))
		}
		if n, _ := db.OpenLots(ctx); n != 0 {
			t.Fatalf("%d lots open", n)
		}
		// Done once: running again changes nothing.
		if n, err := x.life.ProcessDue(ctx); err != nil || n != 0 {
			t.Fatalf("again: %d %v", n, err)
		}
		// Every step is in the audit log (which the evidence log seals).
		var kinds []string
		if err := db.R.Select(&kinds, `SELECT kind FROM audit_events WHERE kind LIKE 'alliance.%' ORDER BY id`); err != nil {
			t.Fatal(err)
		}
		if len(kinds) != 5 || kinds[0] != "alliance.wind_down_announced" || kinds[3] != "alliance.wind_down_marketing_closed" || kinds[4] != "alliance.wound_down" {
			t.Fatalf("audit %v", kinds)
		}
		x.clean(t)
	})
}
