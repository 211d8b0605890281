package youzan

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"testing"

	"github.com/lianmeng/lianmeng/sdk"
	"github.com/lianmeng/lianmeng/sdk/plugintest"
	"github.com/lianmeng/lianmeng/sdk/pos"
	"github.com/lianmeng/lianmeng/sdk/purchase"
	"github.com/lianmeng/lianmeng/sdk/webhook"
)

const (
	clientID = "bifrost-test-client"
	secret   = "yz-secret"
)

// tradeMsg is a full_order_info in the shape of Youzan's public samples.
const tradeMsg = `{"full_order_info":{"order_info":{"tid":"E20261130204959012300001","pay_time":"2026-11-30 20:49:59","created":"2026-11-30 20:49:30","node_kdt_id":43116991},
"pay_info":{"payment":"139.14","post_fee":"0.00"},
"buyer_info":{"buyer_phone":"13800138000","yz_open_id":"bXc9R2dGZmNh","outer_user_id":""},
"orders":[{"title":"拿铁","num":2,"payment":"60.00","outer_sku_id":"LATTE"},{"title":"蛋糕","num":1,"payment":"79.14","outer_sku_id":""}]}}`

const refundMsg = `{"tid":"E20261130204959012300001","refund_id":"201612011234567","refunded_fee":"60.00","modified":"2026-12-01 10:00:00"}`

// body builds a push as Youzan sends it: msg URL-encoded, with the legacy
// body sign.
func body(typ, msg string) []byte {
	enc := url.QueryEscape(msg)
	s := md5.Sum([]byte(clientID + enc + secret))
	b, _ := json.Marshal(map[string]any{"client_id": clientID, "kdt_id": 43116991, "type": typ, "status": "TRADE_PAID", "msg": enc,
		"sign": hex.EncodeToString(s[:]), "test": false, "version": 1764547200})
	return b
}

func request(typ string, b []byte, headerSign bool) pos.Request {
	h := http.Header{HeaderType: {typ}}
	if headerSign {
		h.Set(HeaderSign, Sign(clientID, secret, b))
	}
	return pos.Request{MerchantID: "mch_1", MerchantConfig: []byte(`{"client_id":"` + clientID + `","client_secret":"` + secret + `"}`),
		HTTP: webhook.Request{Method: http.MethodPost, Body: b, Header: h}}
}

func handle(t testing.TB, req pos.Request) (pos.Result, error) {
	a, err := New(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return a.HandleWebhook(context.Background(), req)
}

func TestTradePaidBothSchemes(t *testing.T) {
	for _, headerSign := range []bool{true, false} {
		res, err := handle(t, request("trade_TradePaid", body("trade_TradePaid", tradeMsg), headerSign))
		if err != nil || res.Outcome != pos.Accepted || len(res.Events) != 1 || string(res.Ack.Body) != `{"code":0,"msg":"success"}` {
			t.Fatalf("header sign %v: %+v %v", headerSign, res, err)
		}
		p := res.Events[0]
		if p.ExternalOrderID != "E20261130204959012300001" || p.AmountFen != 13914 || p.StoreID != "43116991" || len(p.Items) != 2 ||
			p.Items[1].AmountFen != 7914 || p.Members[0] != (purchase.Identity{Type: "phone", Value: "13800138000"}) ||
			p.OccurredAt.Format("2006-01-02T15:04:05Z07:00") != "2026-11-30T12:49:59Z" {
			t.Fatalf("trade: %+v", p)
		}
	}
}

func TestRefundAndEncryptedPhone(t *testing.T) {
	res, err := handle(t, request("trade_refund_RefundSuccess", body("trade_refund_RefundSuccess", refundMsg), true))
	if err != nil || len(res.Events) != 1 || res.Events[0].Type != purchase.TypeRefund || res.Events[0].AmountFen != 6000 ||
		res.Events[0].OriginalOrderID != "E20261130204959012300001" {
		t.Fatalf("%+v %v", res, err)
	}
	enc := `{"full_order_info":{"order_info":{"tid":"T1","pay_time":"2026-11-30 20:49:59"},"pay_info":{"payment":"1.00"},"buyer_info":{"buyer_phone":"$kq1f2Bzh$1$","yz_open_id":"oid"}}}`
	res, err = handle(t, request("trade_TradePaid", body("trade_TradePaid", enc), true))
	if err != nil || len(res.Events[0].Members) != 1 || res.Events[0].Members[0].Type != "youzan_open_id" {
		t.Fatalf("encrypted phone: %+v %v", res, err)
	}
}

func TestSignature(t *testing.T) {
	b := body("trade_TradePaid", tradeMsg)
	req := request("trade_TradePaid", b, true)
	req.HTTP.Header.Set(HeaderSign, Sign(clientID, "other", b))
	if res, _ := handle(t, req); res.Outcome != pos.Rejected {
		t.Fatalf("header sign with another secret: %+v", res)
	}
	// Legacy: the body's sign over a changed msg does not verify.
	var m map[string]any
	json.Unmarshal(b, &m)
	m["msg"] = url.QueryEscape(`{"full_order_info":{"order_info":{"tid":"X"},"pay_info":{"payment":"99999.00"}}}`)
	tampered, _ := json.Marshal(m)
	if res, _ := handle(t, request("trade_TradePaid", tampered, false)); res.Outcome != pos.Rejected {
		t.Fatalf("tampered msg: %+v", res)
	}
	if res, _ := handle(t, request("trade_TradePaid", []byte(`not json`), false)); res.Outcome != pos.Rejected {
		t.Fatalf("unsigned garbage: %+v", res)
	}
}

func TestIgnoredAndMalformed(t *testing.T) {
	if res, err := handle(t, request("trade_TradeCreate", body("trade_TradeCreate", tradeMsg), true)); err != nil || res.Outcome != pos.Ignored {
		t.Errorf("trade created: %+v %v", res, err)
	}
	for name, msg := range map[string]string{
		"msg not json": `{`,
		"float yuan":   `{"full_order_info":{"order_info":{"tid":"T","pay_time":"2026-11-30 20:49:59"},"pay_info":{"payment":"1.005"}}}`,
		"no tid":       `{"full_order_info":{"pay_info":{"payment":"1.00"}}}`,
		"bad time":     `{"full_order_info":{"order_info":{"tid":"T","pay_time":"yesterday"},"pay_info":{"payment":"1.00"}}}`,
	} {
		if _, err := handle(t, request("trade_TradePaid", body("trade_TradePaid", msg), true)); !errors.Is(err, sdk.ErrInvalidInput) {
			t.Errorf("%s: want sdk.ErrInvalidInput, got %v", name, err)
		}
	}
}

func TestConfig(t *testing.T) { plugintest.CheckConfig(t, Plugins(), nil) }

func FuzzPush(f *testing.F) {
	f.Add("trade_TradePaid", tradeMsg)
	f.Add("trade_refund_RefundSuccess", refundMsg)
	f.Fuzz(func(t *testing.T, typ, msg string) {
		res, err := handle(t, request(typ, body(typ, msg), true))
		if err != nil {
			if !errors.Is(err, sdk.ErrInvalidInput) {
				t.Fatalf("error that is not invalid input: %v", err)
			}
			return
		}
		for _, p := range res.Events {
			if verr := p.Validate(); verr != nil {
				t.Fatalf("invalid event %+v: %v", p, verr)
			}
		}
	})
}
