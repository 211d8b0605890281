package wechatpay

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/plugins/wechatpay/wechatpaytest"
	"github.com/lianmeng/lianmeng/sdk"
	"github.com/lianmeng/lianmeng/sdk/plugintest"
	"github.com/lianmeng/lianmeng/sdk/pos"
	"github.com/lianmeng/lianmeng/sdk/purchase"
	"github.com/lianmeng/lianmeng/sdk/webhook"
)

func fake(t *testing.T) *wechatpaytest.Server {
	t.Helper()
	s, err := wechatpaytest.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func config(s *wechatpaytest.Server) []byte {
	b, _ := json.Marshal(Config{MchID: s.MchID, PublicKeyID: s.PublicKeyID, PublicKey: s.PlatformPublicKeyPEM(), APIv3Key: s.APIv3Key})
	return b
}

func request(s *wechatpaytest.Server, n wechatpaytest.Notification, received time.Time) pos.Request {
	h := n.Header.Clone()
	h.Set(pos.HeaderReceivedAt, strconv.FormatInt(received.Unix(), 10))
	return pos.Request{MerchantID: "mch_1", MerchantConfig: config(s), HTTP: webhook.Request{Method: http.MethodPost, Body: n.Body, Header: h}}
}

func handle(t *testing.T, req pos.Request) (pos.Result, error) {
	t.Helper()
	a, err := New(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return a.HandleWebhook(context.Background(), req)
}

func paid(s *wechatpaytest.Server, mch string) map[string]any {
	return map[string]any{"mchid": mch, "appid": s.AppID, "out_trade_no": "T20261201001", "transaction_id": "4200000001202612011234567890",
		"trade_state": "SUCCESS", "success_time": "2026-12-01T10:00:05+08:00", "payer": map[string]string{"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"},
		"amount": map[string]any{"total": 12800, "payer_total": 12800, "currency": "CNY", "payer_currency": "CNY"}}
}

func TestTransactionAndRefund(t *testing.T) {
	s := fake(t)
	n, err := s.Notify("TRANSACTION.SUCCESS", "transaction", paid(s, s.MchID))
	if err != nil {
		t.Fatal(err)
	}
	res, err := handle(t, request(s, n, time.Now()))
	if err != nil || res.Outcome != pos.Accepted || len(res.Events) != 1 || string(res.Ack.Body) != `{"code":"SUCCESS","message":"成功"}` {
		t.Fatalf("%+v %v", res, err)
	}
	p := res.Events[0]
	if p.ExternalOrderID != "T20261201001" || p.AmountFen != 12800 || len(p.Members) != 1 ||
		p.Members[0] != (purchase.Identity{Type: purchase.IdentityWeChatOpenID, Value: "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"}) ||
		!p.OccurredAt.Equal(time.Date(2026, 12, 1, 2, 0, 5, 0, time.UTC)) {
		t.Fatalf("purchase: %+v", p)
	}
	r, err := s.Notify("REFUND.SUCCESS", "refund", map[string]any{"mchid": s.MchID, "out_trade_no": "T20261201001", "refund_id": "50000000382019052709732678859",
		"out_refund_no": "R1", "refund_status": "SUCCESS", "success_time": "2026-12-01T11:00:00+08:00", "amount": map[string]any{"refund": 2800, "total": 12800}})
	if err != nil {
		t.Fatal(err)
	}
	res, err = handle(t, request(s, r, time.Now()))
	if err != nil || len(res.Events) != 1 || res.Events[0].Type != purchase.TypeRefund || res.Events[0].AmountFen != 2800 || res.Events[0].OriginalOrderID != "T20261201001" {
		t.Fatalf("refund: %+v %v", res, err)
	}
}

// The window is checked against the receive time: an event parsed again
// an hour later (a retry from the inbox) still verifies; one received ten
// minutes after it was signed does not.
func TestTimestampWindowIsTheReceiveTime(t *testing.T) {
	s := fake(t)
	n, _ := s.Notify("TRANSACTION.SUCCESS", "transaction", paid(s, s.MchID))
	if res, err := handle(t, request(s, n, time.Now())); err != nil || res.Outcome != pos.Accepted {
		t.Fatalf("fresh: %+v %v", res, err)
	}
	if res, _ := handle(t, request(s, n, time.Now().Add(10*time.Minute))); res.Outcome != pos.Rejected {
		t.Fatalf("received 10 minutes late: %+v", res)
	}
	ts, _ := strconv.ParseInt(n.Header.Get("Wechatpay-Timestamp"), 10, 64)
	later := request(s, n, time.Unix(ts, 0)) // as stored; parsed again whenever
	if res, err := handle(t, later); err != nil || res.Outcome != pos.Accepted {
		t.Fatalf("parsed again: %+v %v", res, err)
	}
}

func TestForgedProbeAndWrongAccount(t *testing.T) {
	s := fake(t)
	forger, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	s.NotifyKey, s.NotifySerial = forger, s.PublicKeyID
	n, _ := s.Notify("TRANSACTION.SUCCESS", "transaction", paid(s, s.MchID))
	if res, _ := handle(t, request(s, n, time.Now())); res.Outcome != pos.Rejected || res.Ack.Status != 401 {
		t.Fatalf("forged: %+v", res)
	}
	s.NotifyKey = nil
	n, _ = s.Notify("TRANSACTION.SUCCESS", "transaction", paid(s, s.MchID))
	n.Header.Set("Wechatpay-Signature", "WECHATPAY/SIGNTEST/"+n.Header.Get("Wechatpay-Signature"))
	if res, _ := handle(t, request(s, n, time.Now())); res.Outcome != pos.Rejected {
		t.Fatalf("probe: %+v", res)
	}
	n, _ = s.Notify("TRANSACTION.SUCCESS", "transaction", paid(s, "1230000109"))
	if _, err := handle(t, request(s, n, time.Now())); !errors.Is(err, sdk.ErrInvalidInput) {
		t.Fatalf("another merchant's payment: %v", err)
	}
	n, _ = s.Notify("TRANSACTION.SUCCESS", "transaction", paid(s, s.MchID))
	req := request(s, n, time.Now())
	var c Config
	json.Unmarshal(req.MerchantConfig, &c)
	c.APIv3Key = "0123456789abcdef0123456789abcdef"
	req.MerchantConfig, _ = json.Marshal(c)
	if _, err := handle(t, req); !errors.Is(err, sdk.ErrInvalidInput) {
		t.Fatalf("wrong api_v3_key: %v", err)
	}
	n, _ = s.Notify("TRANSACTION.CLOSED", "transaction", paid(s, s.MchID))
	if res, err := handle(t, request(s, n, time.Now())); err != nil || res.Outcome != pos.Ignored {
		t.Fatalf("other event: %+v %v", res, err)
	}
}

func TestConfig(t *testing.T) { plugintest.CheckConfig(t, Plugins(), nil) }

// FuzzResource: whatever a decrypted resource holds, parsing never panics
// and yields only valid purchases.
func FuzzResource(f *testing.F) {
	f.Add(`{"mchid":"m","out_trade_no":"T","trade_state":"SUCCESS","success_time":"2026-12-01T10:00:05+08:00","amount":{"total":1}}`, false)
	f.Add(`{"mchid":"m","out_trade_no":"T","refund_id":"R","refund_status":"SUCCESS","success_time":"2026-12-01T10:00:05+08:00","amount":{"refund":1}}`, true)
	f.Fuzz(func(t *testing.T, plain string, isRefund bool) {
		parse := transaction
		if isRefund {
			parse = refund
		}
		p, err := parse([]byte(plain), "m")
		if err != nil {
			return
		}
		p.MerchantID = "mch_1"
		if verr := p.Validate(); verr != nil && p.AmountFen >= 0 {
			t.Fatalf("invalid purchase %+v: %v", p, verr)
		}
	})
}
