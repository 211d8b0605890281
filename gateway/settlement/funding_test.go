package settlement_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/gateway/ledger"
	"github.com/lianmeng/lianmeng/gateway/merchant"
	"github.com/lianmeng/lianmeng/gateway/points"
	"github.com/lianmeng/lianmeng/gateway/settlement"
	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
	"github.com/lianmeng/lianmeng/plugins/alipay"
	"github.com/lianmeng/lianmeng/plugins/alipay/alipaytest"
	"github.com/lianmeng/lianmeng/plugins/wechatpay"
	"github.com/lianmeng/lianmeng/plugins/wechatpay/wechatpaytest"
	"github.com/lianmeng/lianmeng/sdk/payment"
	"github.com/lianmeng/lianmeng/sdk/webhook"
)

// channels are the real channel implementations, in process, pointed at
// the fakes; down makes one look like a plugin that is not running.
type channels struct {
	mu   sync.Mutex
	m    map[string]payment.Channel
	down map[string]bool
}

func (c *channels) PaymentChannel(name string) (payment.Channel, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch, ok := c.m[name]
	if !ok {
		return nil, fmt.Errorf("no channel %q", name)
	}
	if c.down[name] {
		return downChannel{}, nil
	}
	return ch, nil
}

// downChannel answers every call as the plugin host does while a plugin is
// down (its circuit open).
type downChannel struct{ payment.Channel }

var errDown = errors.New("pluginhost: plugin down")

func (downChannel) CreatePayment(context.Context, payment.CreatePaymentRequest) (payment.CreatePaymentResponse, error) {
	return payment.CreatePaymentResponse{}, errDown
}
func (downChannel) HandleNotification(context.Context, webhook.Request) (payment.Notification, error) {
	return payment.Notification{}, errDown
}

type fixture struct {
	db       *store.DB
	w        *store.Writer
	svc      *points.Service
	f        *settlement.Funding
	ch       *channels
	wx       *wechatpaytest.Server
	ali      *alipaytest.Server
	merchant string
}

func setup(t *testing.T, db *store.DB) *fixture {
	t.Helper()
	ctx := context.Background()
	wx, err := wechatpaytest.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(wx.Close)
	ali, err := alipaytest.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ali.Close)
	wcfg, _ := json.Marshal(map[string]any{"mch_id": wx.MchID, "app_id": wx.AppID, "merchant_serial_no": wx.MerchantSerial,
		"merchant_private_key": wx.MerchantKeyPEM(), "public_key_id": wx.PublicKeyID, "public_key": wx.PlatformPublicKeyPEM(),
		"api_v3_key": wx.APIv3Key, "notify_url": "https://gw.example/v1/channels/wechatpay/notify", "api_base": wx.URL})
	wch, err := wechatpay.New(ctx, wcfg)
	if err != nil {
		t.Fatal(err)
	}
	acfg, _ := json.Marshal(map[string]any{"app_id": ali.AppID, "app_private_key": ali.AppKeyPEM(), "alipay_public_key": ali.AlipayPublicKeyPEM(),
		"notify_url": "https://gw.example/v1/channels/alipay/notify", "gateway": ali.Gateway()})
	ach, err := alipay.New(ctx, acfg)
	if err != nil {
		t.Fatal(err)
	}
	w := db.NewWriter(store.WriterOptions{})
	t.Cleanup(w.Close)
	svc := &points.Service{Policy: points.Policy{FaceValueFen: 1, ReleaseDelay: time.Hour, Validity: 24 * time.Hour, ExpiryPolicy: "breakage",
		MaxPointsPerEarn: 1e6, MaxAmountFen: 1e9}, Earnings: db, Reader: db}
	chs := &channels{m: map[string]payment.Channel{"wechatpay": wch, "alipay": ach}, down: map[string]bool{}}
	m, _ := merchant.NewMerchant("Noodles", "restaurant", time.Now())
	if err := db.Merchants().CreateMerchant(ctx, m, "operator"); err != nil {
		t.Fatal(err)
	}
	return &fixture{db: db, w: w, svc: svc, ch: chs, wx: wx, ali: ali, merchant: m.ID,
		f: &settlement.Funding{DB: db, Writer: w, Points: svc, Channels: chs}}
}

func (x *fixture) budget(t *testing.T) (budget, reserve int64) {
	t.Helper()
	b, err := x.db.Balances(context.Background(), ledger.MerchantBudget(x.merchant), ledger.Reserve)
	if err != nil {
		t.Fatal(err)
	}
	return b[ledger.MerchantBudget(x.merchant)], b[ledger.Reserve]
}

func (x *fixture) notifications(t *testing.T, tx string) []store.ChannelNotification {
	t.Helper()
	ns, err := x.db.ChannelNotifications(context.Background(), tx, 100)
	if err != nil {
		t.Fatal(err)
	}
	return ns
}

func wxRequest(n wechatpaytest.Notification) webhook.Request {
	return webhook.Request{Method: http.MethodPost, Path: "/v1/channels/wechatpay/notify", Header: n.Header.Clone(), Body: n.Body}
}

func aliRequest(v url.Values) webhook.Request {
	return webhook.Request{Method: http.MethodPost, Path: "/v1/channels/alipay/notify",
		Header: http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, Body: []byte(v.Encode())}
}

// WeChat Pay: the verified notification funds the budget exactly once,
// however many times it comes; the ledger's external reference is the
// channel's transaction id.
func TestWechatFundingOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		x, ctx := setup(t, db), context.Background()
		o, err := x.f.Create(ctx, settlement.FundingRequest{MerchantID: x.merchant, Channel: "wechatpay", AmountFen: 500_000, IdemKey: "k1", CreatedBy: "merchant"})
		if err != nil || o.Status != store.FundingPending || o.QRCode == "" {
			t.Fatalf("create: %+v %v", o, err)
		}
		same, err := x.f.Create(ctx, settlement.FundingRequest{MerchantID: x.merchant, Channel: "wechatpay", AmountFen: 500_000, IdemKey: "k1"})
		if err != nil || same.ID != o.ID {
			t.Fatalf("same key: %+v %v", same, err)
		}
		if _, err := x.f.Create(ctx, settlement.FundingRequest{MerchantID: x.merchant, Channel: "wechatpay", AmountFen: 1, IdemKey: "k1"}); !errors.Is(err, settlement.ErrIdempotencyConflict) {
			t.Fatalf("same key, other amount: %v", err)
		}
		if b, _ := x.budget(t); b != 0 {
			t.Fatalf("budget before payment %d", b)
		}
		txID, _ := x.wx.Pay(o.ID)
		n, _ := x.wx.PaymentNotification(o.ID)
		for i := 0; i < 3; i++ { // the channel retries; also a replay
			res, err := x.f.Notify(ctx, "wechatpay", wxRequest(n))
			if err != nil || res.Status/100 != 2 {
				t.Fatalf("notification %d: %+v %v", i, res, err)
			}
		}
		budget, reserve := x.budget(t)
		if budget != 500_000 || reserve != 500_000 {
			t.Fatalf("budget %d reserve %d, want 500000 each", budget, reserve)
		}
		got, _ := db.FundingOrder(ctx, o.ID)
		if got.Status != store.FundingSucceeded || got.ChannelRef != txID || got.FundTxID == 0 {
			t.Fatalf("order after funding: %+v", got)
		}
		var refs int
		if err := db.R.QueryRow(`SELECT COUNT(*) FROM purchases WHERE merchant_id = ? AND kind = 'fund' AND order_id = ?`, x.merchant, settlement.ExternalRef("wechatpay", txID)).Scan(&refs); err != nil || refs != 1 {
			t.Fatalf("funding records for the payment: %d %v", refs, err)
		}
		ns := x.notifications(t, o.ID)
		if len(ns) != 3 || ns[2].Outcome != settlement.OutcomeCredited || ns[1].Outcome != settlement.OutcomeDuplicate || ns[0].Outcome != settlement.OutcomeDuplicate {
			t.Fatalf("recorded notifications: %+v", ns)
		}
		if v, err := db.CheckInvariants(ctx, 1, nil); err != nil || len(v) != 0 {
			t.Fatalf("invariants: %v %v", v, err)
		}
	})
}

// Bad notifications are refused with a failure the channel understands,
// recorded, and credit nothing.
func TestFundingRefusals(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		x, ctx := setup(t, db), context.Background()
		o, err := x.f.Create(ctx, settlement.FundingRequest{MerchantID: x.merchant, Channel: "wechatpay", AmountFen: 10_000, IdemKey: "k2"})
		if err != nil {
			t.Fatal(err)
		}
		_, _ = x.wx.Pay(o.ID)
		good, _ := x.wx.PaymentNotification(o.ID)

		bad := good
		bad.Body = append([]byte(nil), good.Body...)
		bad.Body[len(bad.Body)-2] ^= 1
		forged, _ := x.wx.Notify("TRANSACTION.SUCCESS", "transaction", map[string]any{"mchid": x.wx.MchID, "appid": x.wx.AppID,
			"out_trade_no": "fnd_unknown", "transaction_id": "4200999", "trade_state": "SUCCESS", "amount": map[string]any{"total": 10_000}})
		other, _ := x.wx.Notify("TRANSACTION.SUCCESS", "transaction", map[string]any{"mchid": x.wx.MchID, "appid": x.wx.AppID,
			"out_trade_no": o.ID, "transaction_id": "4200998", "trade_state": "SUCCESS", "amount": map[string]any{"total": 99_999}})
		for name, c := range map[string]struct {
			n       wechatpaytest.Notification
			outcome string
		}{
			"bad signature":  {bad, settlement.OutcomeBadSignature},
			"unknown order":  {forged, settlement.OutcomeUnknownOrder},
			"amount differs": {other, settlement.OutcomeAmountDiffers},
		} {
			res, err := x.f.Notify(ctx, "wechatpay", wxRequest(c.n))
			var re *settlement.RefusedError
			if !errors.As(err, &re) || re.Outcome != c.outcome || res.Status != 0 {
				t.Errorf("%s: answered %+v %v, want refused %s", name, res, err, c.outcome)
			}
			ns, _ := db.ChannelNotifications(ctx, "", 1)
			if len(ns) != 1 || ns[0].Outcome != c.outcome {
				t.Errorf("%s: recorded %+v, want outcome %s", name, ns, c.outcome)
			}
		}
		if b, r := x.budget(t); b != 0 || r != 0 {
			t.Fatalf("credited after refusals: budget %d reserve %d", b, r)
		}
		// A notification for the order arriving on the other channel's
		// route is not its payment either.
		if res, err := x.f.Notify(ctx, "alipay", wxRequest(good)); !errors.Is(err, settlement.ErrNotificationRefused) || res.Status != 0 {
			t.Fatalf("a WeChat Pay notification accepted on the Alipay route: %+v", res)
		}
		// Bad input to Create writes nothing.
		for _, r := range []settlement.FundingRequest{
			{MerchantID: x.merchant, Channel: "wechatpay", AmountFen: -5, IdemKey: "n1"},
			{MerchantID: x.merchant, Channel: "wechatpay", AmountFen: 0, IdemKey: "n2"},
			{MerchantID: x.merchant, Channel: "wechatpay", AmountFen: 100, IdemKey: ""},
		} {
			if _, err := x.f.Create(ctx, r); !errors.Is(err, settlement.ErrInvalid) {
				t.Errorf("%+v: %v, want ErrInvalid", r, err)
			}
		}
		if _, err := x.f.Create(ctx, settlement.FundingRequest{MerchantID: x.merchant, Channel: "paypal", AmountFen: 100, IdemKey: "n3"}); !errors.Is(err, settlement.ErrUnknownChannel) {
			t.Errorf("unknown channel: %v", err)
		}
		var orders int
		_ = db.R.QueryRow(`SELECT COUNT(*) FROM funding_orders`).Scan(&orders)
		if orders != 1 {
			t.Fatalf("%d funding orders, want only the good one", orders)
		}
	})
}

// Alipay through the same flow: precreate, the signed form notification,
// once; a forged form is refused.
func TestAlipayFundingOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		x, ctx := setup(t, db), context.Background()
		o, err := x.f.Create(ctx, settlement.FundingRequest{MerchantID: x.merchant, Channel: "alipay", AmountFen: 1_234_567, IdemKey: "a1"})
		if err != nil || o.Status != store.FundingPending {
			t.Fatalf("create: %+v %v", o, err)
		}
		if tr, _ := x.ali.Trade(o.ID); tr.Total != "12345.67" {
			t.Fatalf("trade total at Alipay %q", tr.Total)
		}
		tradeNo, _ := x.ali.Pay(o.ID)
		n, _ := x.ali.PaymentNotification(o.ID)
		for i := 0; i < 2; i++ {
			res, err := x.f.Notify(ctx, "alipay", aliRequest(n))
			if err != nil || string(res.Body) != "success" {
				t.Fatalf("notification %d: %+v %v", i, res, err)
			}
		}
		if b, r := x.budget(t); b != 1_234_567 || r != 1_234_567 {
			t.Fatalf("budget %d reserve %d", b, r)
		}
		if got, _ := db.FundingOrder(ctx, o.ID); got.ChannelRef != tradeNo || got.Status != store.FundingSucceeded {
			t.Fatalf("order: %+v", got)
		}
		forged := url.Values{}
		for k, v := range n {
			forged[k] = v
		}
		forged.Set("total_amount", "99999.99")
		if res, err := x.f.Notify(ctx, "alipay", aliRequest(forged)); !errors.Is(err, settlement.ErrNotificationRefused) || string(res.Body) == "success" {
			t.Fatal("a changed notification was acknowledged")
		}
	})
}

// A channel that is down: creating a funding says unavailable and keeps
// the order for a retry with the same key; a notification is not
// acknowledged (the channel redelivers) and credits nothing until the
// plugin is back.
func TestFundingChannelDown(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		x, ctx := setup(t, db), context.Background()
		x.ch.down["wechatpay"] = true
		if _, err := x.f.Create(ctx, settlement.FundingRequest{MerchantID: x.merchant, Channel: "wechatpay", AmountFen: 700, IdemKey: "d1"}); !errors.Is(err, settlement.ErrChannelUnavailable) {
			t.Fatalf("create while down: %v", err)
		}
		x.ch.down["wechatpay"] = false
		x.wx.SetDown(true) // the plugin is up, WeChat Pay answers 500
		o, err := x.f.Create(ctx, settlement.FundingRequest{MerchantID: x.merchant, Channel: "wechatpay", AmountFen: 700, IdemKey: "d1"})
		if !errors.Is(err, settlement.ErrChannelUnavailable) || o.Status != store.FundingUnknown {
			t.Fatalf("create during a 500: %+v %v", o, err)
		}
		x.wx.SetDown(false)
		o, err = x.f.Create(ctx, settlement.FundingRequest{MerchantID: x.merchant, Channel: "wechatpay", AmountFen: 700, IdemKey: "d1"})
		if err != nil || o.Status != store.FundingPending {
			t.Fatalf("retry after recovery: %+v %v", o, err)
		}
		_, _ = x.wx.Pay(o.ID)
		n, _ := x.wx.PaymentNotification(o.ID)
		x.ch.down["wechatpay"] = true
		if _, err := x.f.Notify(ctx, "wechatpay", wxRequest(n)); !errors.Is(err, settlement.ErrChannelUnavailable) {
			t.Fatalf("notification while the plugin is down: %v", err)
		}
		if b, _ := x.budget(t); b != 0 {
			t.Fatalf("credited while unverifiable: %d", b)
		}
		x.ch.down["wechatpay"] = false
		if res, err := x.f.Notify(ctx, "wechatpay", wxRequest(n)); err != nil || res.Status/100 != 2 {
			t.Fatalf("redelivery: %+v %v", res, err)
		}
		if b, _ := x.budget(t); b != 700 {
			t.Fatalf("budget %d after redelivery", b)
		}
	})
}

func (downChannel) Payout(context.Context, payment.PayoutRequest) (payment.Result, error) {
	return payment.Result{}, errDown
}
func (downChannel) QueryPayout(context.Context, payment.QueryPayoutRequest) (payment.Result, error) {
	return payment.Result{}, errDown
}
