package api

import (
	"context"
	"encoding/json"
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
)

func init() {
	oaContracts = append(oaContracts,
		oaContract{"POST", "/v1/operator/merchants/:merchant/funding-refunds", typeOf[fundingRefundRequest](), "202", typeOf[store.FundingRefund]()},
		oaContract{"GET", "/v1/operator/merchants/:merchant/funding-refunds", nil, "200", typeOf[fundingRefundList]()},
		oaContract{"GET", "/v1/operator/funding-refunds/:refund", nil, "200", typeOf[store.FundingRefund]()},
	)
	fzBodyRoutes["FuzzOperatorFundingRefund"] = fzRoute{"POST", "/v1/operator/merchants/:merchant/funding-refunds", fzOperator}
}

func FuzzOperatorFundingRefund(f *testing.F) {
	fuzzRoute(f, "FuzzOperatorFundingRefund", `{}`, `{"amount_fen":100}`, `{"amount_fen":-1}`, `{"reason":"leaving"}`, `{"amount_fen":1,"x":1}`)
}

// Over HTTP on both databases: the operator refunds a merchant's unused
// budget through WeChat Pay (the fake, with real signatures); refusals
// (more than the budget, no key, bad amount) write nothing; the same key
// is the same refund.
func TestFundingRefundOverHTTP(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		wx, err := wechatpaytest.New()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(wx.Close)
		ch := fundingWechat(t, wx)
		clock := newFndClock()
		w := db.NewWriter(store.WriterOptions{})
		t.Cleanup(w.Close)
		svc := &points.Service{Policy: fndConfig().Points.Policy(), Reader: db}
		chs := fundingChannels{"wechatpay": ch}
		d := Deps{Config: fndConfig(), DB: db, Log: fndLogger(), Now: clock.Now, Writer: w, Points: svc}
		d.Funding = &settlement.Funding{DB: db, Writer: w, Points: svc, Channels: chs}
		d.Refunds = &settlement.Refunds{DB: db, Writer: w, Points: svc, Channels: chs, Now: clock.Now}
		s := New(d)
		base, _ := fndServe(t, s)
		g := &fndGateway{db: db, srv: s, base: base, clock: clock}
		mid := g.createMerchant(t, "Tea House")

		o, err := d.Funding.Create(ctx, settlement.FundingRequest{MerchantID: mid, Channel: "wechatpay", AmountFen: 300_000, IdemKey: "f1"})
		if err != nil {
			t.Fatal(err)
		}
		_, _ = wx.Pay(o.ID)
		n, _ := wx.PaymentNotification(o.ID)
		if res, _, err := n.Post(base + "/v1/channels/wechatpay/notify"); err != nil || res.StatusCode != 200 {
			t.Fatalf("notification: %v %v", res, err)
		}
		path := "/v1/operator/merchants/" + mid + "/funding-refunds"
		postTo := func(path, body, key string) fndResp {
			h := []string{"Authorization", "Bearer " + fndOperatorToken, "Content-Type", "application/json"}
			if key != "" {
				h = append(h, "Idempotency-Key", key)
			}
			return fndReq(t, "POST", base+path, []byte(body), h...)
		}
		post := func(body, key string) fndResp { return postTo(path, body, key) }
		post(`{"amount_fen":400000}`, "r1").expectErr(t, 422, CodeRefundExceedsBudget)
		post(`{"amount_fen":-100}`, "r1").expectErr(t, 400, CodeValidation)
		post(`{"amount_fen":1,"x":1}`, "r1").expectErr(t, 400, CodeValidation)
		post(`{}`, "").expectErr(t, 400, CodeIdemRequired)
		postTo("/v1/operator/merchants/mch_nosuch/funding-refunds", `{}`, "x").expectErr(t, 404, "merchant_not_found")
		if n := fndCount(t, db, "funding_refunds"); n != 0 {
			t.Fatalf("%d refunds after refusals", n)
		}
		r := post(`{"amount_fen":100000,"reason":"budget no longer needed"}`, "r1")
		if r.Status != 202 {
			t.Fatalf("request: %s", r)
		}
		var rf store.FundingRefund
		if err := json.Unmarshal(r.Body, &rf); err != nil || rf.State != store.RefundProcessing || len(rf.Parts) != 1 || rf.Parts[0].FundingOrderID != o.ID {
			t.Fatalf("refund %+v %v", rf, err)
		}
		if again := post(`{"amount_fen":100000}`, "r1"); again.Status != 202 || !json.Valid(again.Body) {
			t.Fatalf("same key: %s", again)
		}
		post(`{"amount_fen":200000}`, "r1").expectErr(t, 409, CodeIdemConflict)
		if _, err := d.Refunds.ProcessDue(ctx); err != nil {
			t.Fatal(err)
		}
		var got store.FundingRefund
		if err := client.NewOperator(base, fndOperatorToken).Do(ctx, "GET", "/v1/operator/funding-refunds/"+rf.ID, nil, &got); err != nil || got.State != store.RefundSucceeded {
			t.Fatalf("get: %+v %v", got, err)
		}
		var list fundingRefundList
		if err := client.NewOperator(base, fndOperatorToken).Do(ctx, "GET", path, nil, &list); err != nil || len(list.Refunds) != 1 {
			t.Fatalf("list: %+v %v", list, err)
		}
		if wo, _ := wx.Order(o.ID); wo.Refunded != 100_000 {
			t.Fatalf("refunded at WeChat Pay: %d", wo.Refunded)
		}
		bal, _ := db.Balances(ctx, ledger.MerchantBudget(mid), ledger.Refunded, ledger.Reserve)
		if bal[ledger.MerchantBudget(mid)] != 200_000 || bal[ledger.Refunded] != 100_000 || bal[ledger.Reserve] != 200_000 {
			t.Fatalf("balances %v", bal)
		}
	})
}

// fundingWechat is the WeChat Pay channel pointed at the fake.
func fundingWechat(t *testing.T, wx *wechatpaytest.Server) payment.Channel {
	t.Helper()
	cfg, _ := json.Marshal(map[string]any{"mch_id": wx.MchID, "app_id": wx.AppID, "merchant_serial_no": wx.MerchantSerial,
		"merchant_private_key": wx.MerchantKeyPEM(), "public_key_id": wx.PublicKeyID, "public_key": wx.PlatformPublicKeyPEM(),
		"api_v3_key": wx.APIv3Key, "notify_url": "https://gw.example/v1/channels/wechatpay/notify", "api_base": wx.URL})
	ch, err := wechatpay.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return ch
}
