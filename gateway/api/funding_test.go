package api

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/lianmeng/lianmeng/gateway/ledger"
	"github.com/lianmeng/lianmeng/gateway/points"
	"github.com/lianmeng/lianmeng/gateway/settlement"
	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
	"github.com/lianmeng/lianmeng/plugins/wechatpay"
	"github.com/lianmeng/lianmeng/plugins/wechatpay/wechatpaytest"
	"github.com/lianmeng/lianmeng/sdk/client"
	"github.com/lianmeng/lianmeng/sdk/payment"
	"github.com/lianmeng/lianmeng/sdk/signature"
)

// The funding routes' contracts and fuzz target, next to their test.
func init() {
	oaContracts = append(oaContracts,
		oaContract{"POST", "/v1/merchant/funding", typeOf[createFundingRequest](), "201", typeOf[fundingOrder]()},
		oaContract{"GET", "/v1/merchant/funding/:order", nil, "200", typeOf[fundingOrder]()},
		oaContract{"POST", "/v1/channels/:channel/notify", nil, "200", nil}, // the channel's own acknowledgement
		oaContract{"GET", "/v1/operator/channel-notifications", nil, "200", typeOf[struct {
			Notifications []store.ChannelNotification `json:"notifications"`
		}]()},
	)
	fzBodyRoutes["FuzzMerchantFunding"] = fzRoute{"POST", "/v1/merchant/funding", fzMerchant}
}

func FuzzMerchantFunding(f *testing.F) {
	fuzzRoute(f, "FuzzMerchantFunding",
		`{"channel":"wechatpay","amount_fen":10000}`, `{"channel":"wechatpay","amount_fen":-1}`,
		`{"channel":"","amount_fen":1}`, `{"channel":"wechatpay"}`, `{"channel":"wechatpay","amount_fen":1,"x":1}`)
}

type fundingChannels map[string]payment.Channel

func (c fundingChannels) PaymentChannel(name string) (payment.Channel, error) {
	ch, ok := c[name]
	if !ok {
		return nil, fmt.Errorf("no channel %q", name)
	}
	return ch, nil
}

// Over HTTP on both databases: a merchant with the finance scope creates a
// funding, pays the QR code at the (fake) channel, the channel's
// notification comes to /v1/channels/wechatpay/notify three times, and the
// budget grows once; without the scope, or with bad input, nothing is
// written.
func TestFundingOverHTTP(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
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
		clock := newFndClock()
		w := db.NewWriter(store.WriterOptions{})
		t.Cleanup(w.Close)
		svc := &points.Service{Policy: fndConfig().Points.Policy(), Reader: db}
		d := Deps{Config: fndConfig(), DB: db, Log: fndLogger(), Now: clock.Now, Writer: w, Points: svc}
		d.Funding = &settlement.Funding{DB: db, Writer: w, Points: svc, Channels: fundingChannels{"wechatpay": ch}}
		s := New(d)
		base, _ := fndServe(t, s)
		g := &fndGateway{db: db, srv: s, base: base, clock: clock}
		mid := g.createMerchant(t, "Tea House")

		// A finance credential and a default one (no finance scope).
		_, priv, _ := ed25519.GenerateKey(rand.Reader)
		pemKey, _ := signature.MarshalPublicKey(priv.Public())
		var cred struct{ ID string }
		op := client.NewOperator(base, fndOperatorToken)
		if err := op.Do(ctx, "POST", "/v1/operator/merchants/"+mid+"/credentials",
			map[string]any{"algorithm": "ed25519", "label": "finance", "public_key": pemKey, "scopes": []string{"finance"}}, &cred); err != nil {
			t.Fatal(err)
		}
		finance := signature.NewEd25519Signer(cred.ID, priv)
		cashier := g.createKey(t, mid, signature.Ed25519)

		post := func(s signature.Signer, body, key string) fndResp {
			req := g.signed(t, "POST", "/v1/merchant/funding", []byte(body), mid, s, clock.Now(), signature.NewNonce())
			if key != "" {
				req.Header.Set("Idempotency-Key", key)
			}
			return fndSend(t, req)
		}
		post(cashier, `{"channel":"wechatpay","amount_fen":300000}`, "f1").expectErr(t, 403, CodeScopeDenied)
		post(finance, `{"channel":"wechatpay","amount_fen":300000}`, "").expectErr(t, 400, CodeIdemRequired)
		post(finance, `{"channel":"wechatpay","amount_fen":-3}`, "f1").expectErr(t, 400, CodeValidation)
		post(finance, `{"channel":"paypal","amount_fen":300}`, "f1").expectErr(t, 400, CodeUnknownChannel)
		if n := fndCount(t, db, "funding_orders"); n != 0 {
			t.Fatalf("%d orders after refusals", n)
		}
		r := post(finance, `{"channel":"wechatpay","amount_fen":300000}`, "f1")
		if r.Status != 201 {
			t.Fatalf("create: %s", r)
		}
		var o fundingOrder
		if err := json.Unmarshal(r.Body, &o); err != nil || o.Status != "pending" || o.QRCode == "" {
			t.Fatalf("order %+v %v", o, err)
		}
		post(finance, `{"channel":"wechatpay","amount_fen":300001}`, "f1").expectErr(t, 409, CodeIdemConflict)

		if _, err := wx.Pay(o.ID); err != nil {
			t.Fatal(err)
		}
		n, _ := wx.PaymentNotification(o.ID)
		for i := 0; i < 3; i++ {
			res, body, err := n.Post(base + "/v1/channels/wechatpay/notify")
			if err != nil || res.StatusCode != http.StatusOK {
				t.Fatalf("notification %d: %v %v %s", i, res, err, body)
			}
		}
		bad := wechatpaytest.Notification{Header: n.Header, Body: bytes.Replace(n.Body, []byte(`"id"`), []byte(`"iD"`), 1)}
		if res, body, _ := bad.Post(base + "/v1/channels/wechatpay/notify"); res.StatusCode != 400 || !bytes.Contains(body, []byte(CodeNotificationRefused)) {
			t.Fatalf("a changed notification: %d %s", res.StatusCode, body)
		}
		if res, _, _ := n.Post(base + "/v1/channels/nosuch/notify"); res.StatusCode != 404 {
			t.Fatalf("unknown channel: %d", res.StatusCode)
		}
		bal, err := db.Balances(ctx, ledger.MerchantBudget(mid))
		if err != nil || bal[ledger.MerchantBudget(mid)] != 300000 {
			t.Fatalf("budget %v %v, want 300000", bal, err)
		}
		// The order, as the merchant sees it.
		req := g.signed(t, "GET", "/v1/merchant/funding/"+o.ID, nil, mid, finance, clock.Now(), signature.NewNonce())
		got := fndSend(t, req).expectOK(t)
		if err := json.Unmarshal(got.Body, &o); err != nil || o.Status != "succeeded" || o.FundTxID == 0 {
			t.Fatalf("order after payment: %s", got)
		}
		var list struct {
			Notifications []store.ChannelNotification `json:"notifications"`
		}
		if err := op.Do(ctx, "GET", "/v1/operator/channel-notifications?transaction_id="+o.ID, nil, &list); err != nil {
			t.Fatal(err)
		}
		if len(list.Notifications) != 3 || list.Notifications[2].Outcome != settlement.OutcomeCredited {
			t.Fatalf("recorded notifications: %+v", list.Notifications)
		}
	})
}

func init() {
	oaContracts = append(oaContracts, oaContract{"POST", "/v1/operator/funding/:order/query", nil, "200", typeOf[fundingQuery]()})
}

// noQuery is a channel whose plugin cannot query; failing one whose plugin
// is down.
type (
	noQuery struct{ payment.Channel }
	failing struct{ payment.Channel }
)

func (failing) QueryPayment(context.Context, payment.QueryPaymentRequest) (payment.Result, error) {
	return payment.Result{}, errors.New("pluginhost: plugin down")
}

// An operator settles a funding whose notification never came: the query
// asks WeChat Pay (the real plugin against its fake) and funds the budget
// once; asking again changes nothing; a channel that cannot query, one that
// is down and an unknown order are refused with their codes and write
// nothing. Both databases.
func TestFundingQueryOverHTTP(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
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
		clock := newFndClock()
		w := db.NewWriter(store.WriterOptions{})
		t.Cleanup(w.Close)
		svc := &points.Service{Policy: fndConfig().Points.Policy(), Reader: db}
		d := Deps{Config: fndConfig(), DB: db, Log: fndLogger(), Now: clock.Now, Writer: w, Points: svc}
		chs := fundingChannels{"wechatpay": ch, "old": noQuery{ch}, "down": failing{ch}}
		d.Funding = &settlement.Funding{DB: db, Writer: w, Points: svc, Channels: chs}
		s := New(d)
		base, _ := fndServe(t, s)
		g := &fndGateway{db: db, srv: s, base: base, clock: clock}
		mid := g.createMerchant(t, "Tea House")
		o, err := d.Funding.Create(ctx, settlement.FundingRequest{MerchantID: mid, Channel: "wechatpay", AmountFen: 250_000, IdemKey: "q1"})
		if err != nil {
			t.Fatal(err)
		}
		query := func(order string) fndResp {
			return fndOp(t, "POST", base+"/v1/operator/funding/"+order+"/query", "")
		}
		var q fundingQuery
		if err := json.Unmarshal(query(o.ID).expectOK(t).Body, &q); err != nil || q.Outcome != settlement.OutcomeQueryPending || q.Order.Status != "pending" {
			t.Fatalf("before paying: %+v %v", q, err)
		}
		ref, _ := wx.Pay(o.ID)
		for i, want := range []string{settlement.OutcomeCredited, settlement.OutcomeAlreadyFunded} {
			if err := json.Unmarshal(query(o.ID).expectOK(t).Body, &q); err != nil || q.Outcome != want || q.Order.Status != "succeeded" ||
				q.Order.ChannelRef != ref || q.Order.FundTxID == 0 || q.Order.QueriedAt == nil || q.Order.QueryOutcome != settlement.OutcomeCredited {
				t.Fatalf("query %d: %+v %v, want %s", i, q, err, want)
			}
		}
		bal, err := db.Balances(ctx, ledger.MerchantBudget(mid))
		if err != nil || bal[ledger.MerchantBudget(mid)] != 250_000 {
			t.Fatalf("budget %v %v, want 250000", bal, err)
		}

		for name, c := range map[string]struct {
			channel string
			status  int
			code    string
		}{"cannot query": {"old", 409, CodeChannelCannotQuery}, "down": {"down", 503, CodeChannelUnavailable}} {
			other, err := d.Funding.Create(ctx, settlement.FundingRequest{MerchantID: mid, Channel: "wechatpay", AmountFen: 100, IdemKey: "q-" + name})
			if err != nil {
				t.Fatal(err)
			}
			// The order names a channel whose plugin cannot answer.
			if _, err := db.W.Exec(`UPDATE funding_orders SET channel = ? WHERE id = ?`, c.channel, other.ID); err != nil {
				t.Fatal(err)
			}
			before, _ := db.FundingOrder(ctx, other.ID)
			query(other.ID).expectErr(t, c.status, c.code)
			if after, _ := db.FundingOrder(ctx, other.ID); after != before {
				t.Fatalf("%s: the order changed: %+v -> %+v", name, before, after)
			}
		}
		query("fnd_nosuch").expectErr(t, 404, CodeNotFound)
		if bal, _ := db.Balances(ctx, ledger.MerchantBudget(mid)); bal[ledger.MerchantBudget(mid)] != 250_000 {
			t.Fatalf("budget %v after refusals", bal)
		}
	})
}
