package generic

import (
	"context"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/adapters/shopify"
	"github.com/lianmeng/lianmeng/adapters/square"
	"github.com/lianmeng/lianmeng/adapters/youzan"
	"github.com/lianmeng/lianmeng/sdk"
	"github.com/lianmeng/lianmeng/sdk/plugintest"
	"github.com/lianmeng/lianmeng/sdk/pos"
	"github.com/lianmeng/lianmeng/sdk/purchase"
	"github.com/lianmeng/lianmeng/sdk/webhook"
)

// mapping is the map stage of a made-up POS used by every case below.
const mapping = `"event_id": "string(body.id)",
 "route": "body.event in ['order.paid', 'order.refunded']",
 "map": {"kind": "body.event == 'order.refunded' ? 'REFUND' : 'SALE'",
         "order_id": "body.event == 'order.refunded' ? 'r-' + string(body.id) : string(body.order.id)",
         "original_order_id": "body.event == 'order.refunded' ? string(body.order.id) : ''",
         "amount_fen": "toMinor(body.order.total, body.order.currency)", "currency": "body.order.currency",
         "occurred_at": "parseTime(body.order.paid_at, 'Asia/Shanghai')", "store_id": "body.order.shop",
         "phone": "has(body.order.phone) ? normPhone(body.order.phone, 'CN') : ''",
         "items": "body.order.items.map(i, {'sku': i.sku, 'quantity': i.qty, 'amount_fen': toMinor(i.price, 'CNY') * i.qty})"}`

const order = `{"id": 9007199254740993, "event": "order.paid", "order": {"id": 5001, "total": 12.50, "currency": "CNY",
 "paid_at": "2026-12-01 18:30:00", "shop": "S1", "phone": "138 0013 8000",
 "items": [{"sku": "A", "qty": 2, "price": "3.25"}, {"sku": "B", "qty": 1, "price": "6.00"}]}}`

func handle(t testing.TB, cfg string, body []byte, h http.Header) (pos.Result, error) {
	a, err := New(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if h.Get(pos.HeaderReceivedAt) == "" {
		h.Set(pos.HeaderReceivedAt, strconv.FormatInt(time.Now().Unix(), 10))
	}
	return a.HandleWebhook(context.Background(), pos.Request{MerchantID: "mch_1", MerchantConfig: []byte(cfg),
		HTTP: webhook.Request{Method: http.MethodPost, Body: body, Header: h}})
}

func TestMappingIsExact(t *testing.T) {
	cfg := `{"verify": {"kind": "hmac", "algo": "sha256", "secret": "s", "message": ["body"], "encoding": "base64", "header": "X-Shopify-Hmac-Sha256"}, ` + mapping + `}`
	res, err := handle(t, cfg, []byte(order), http.Header{"X-Shopify-Hmac-Sha256": {shopify.Sign("s", []byte(order))}})
	if err != nil || res.Outcome != pos.Accepted || len(res.Events) != 1 {
		t.Fatalf("%+v %v", res, err)
	}
	p := res.Events[0]
	// 12.50 arrives as a JSON number and still converts exactly; the id
	// beyond 2^53 keeps every digit.
	if res.EventID != "9007199254740993" || p.ExternalOrderID != "5001" || p.AmountFen != 1250 || p.StoreID != "S1" ||
		p.Members[0] != (purchase.Identity{Type: "phone", Value: "+8613800138000"}) ||
		!p.OccurredAt.Equal(time.Date(2026, 12, 1, 10, 30, 0, 0, time.UTC)) {
		t.Fatalf("purchase: %+v", p)
	}
	if len(p.Items) != 2 || p.Items[0].AmountFen != 650 || p.Items[0].Quantity != 2 || p.Items[1].SKU != "B" {
		t.Fatalf("items: %+v", p.Items)
	}
	refund := `{"id": 77, "event": "order.refunded", "order": {"id": 5001, "total": "3.25", "currency": "CNY", "paid_at": "2026-12-01T11:00:00Z", "shop": "S1", "items": []}}`
	res, err = handle(t, cfg, []byte(refund), http.Header{"X-Shopify-Hmac-Sha256": {shopify.Sign("s", []byte(refund))}})
	if err != nil || res.Events[0].Type != purchase.TypeRefund || res.Events[0].OriginalOrderID != "5001" || res.Events[0].AmountFen != 325 {
		t.Fatalf("refund: %+v %v", res, err)
	}
	other := `{"id": 78, "event": "customer.created"}`
	if res, err := handle(t, cfg, []byte(other), http.Header{"X-Shopify-Hmac-Sha256": {shopify.Sign("s", []byte(other))}}); err != nil || res.Outcome != pos.Ignored {
		t.Fatalf("route false: %+v %v", res, err)
	}
}

// The presets of pos-formats.md reproduce the providers' real signatures,
// computed here by the first-party adapters' own signers.
func TestSignatureSchemes(t *testing.T) {
	body := []byte(order)
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	mac := hmac.New(sha256.New, []byte("k"))
	mac.Write([]byte(ts + "." + order))
	stripeLike := hex.EncodeToString(mac.Sum(nil))
	yz := md5.Sum([]byte("cid" + order + "sec"))
	cases := []struct {
		name, verify string
		h            http.Header
	}{
		{"shopify", `{"kind": "hmac", "algo": "sha256", "secret": "s", "message": ["body"], "header": "X-Shopify-Hmac-Sha256"}`,
			http.Header{"X-Shopify-Hmac-Sha256": {shopify.Sign("s", body)}}},
		{"square url+body", `{"kind": "hmac", "algo": "sha256", "secret": "k", "message": ["url", "body"], "url": "https://gw/v1/pos/pc_1", "header": "X-Square-Hmacsha256-Signature"}`,
			http.Header{"X-Square-Hmacsha256-Signature": {square.Sign("k", "https://gw/v1/pos/pc_1", body)}}},
		{"youzan md5", `{"kind": "digest", "algo": "md5", "secret": "sec", "message": ["literal:cid", "body", "secret"], "encoding": "hex", "header": "Event-Sign"}`,
			http.Header{"Event-Sign": {youzan.Sign("cid", "sec", body)}}},
		{"youzan md5 upper", `{"kind": "digest", "algo": "md5", "secret": "sec", "message": ["literal:cid", "body", "secret"], "encoding": "hex_upper", "header": "Event-Sign"}`,
			http.Header{"Event-Sign": {hex.EncodeToString(yz[:])}}},
		{"prefixed hex with timestamp", `{"kind": "hmac", "algo": "sha256", "secret": "k", "message": ["header:X-Ts", "literal:.", "body"], "encoding": "hex", "header": "X-Sig", "prefix": "sha256=", "timestamp": {"header": "X-Ts", "tolerance_seconds": 300}}`,
			http.Header{"X-Sig": {"sha256=" + stripeLike}, "X-Ts": {ts}}},
		{"static token", `{"kind": "static_token", "secret": "tok", "header": "X-Clover-Auth"}`, http.Header{"X-Clover-Auth": {"tok"}}},
	}
	for _, c := range cases {
		cfg := `{"verify": ` + c.verify + `, ` + mapping + `}`
		if res, err := handle(t, cfg, body, c.h.Clone()); err != nil || res.Outcome != pos.Accepted {
			t.Errorf("%s: %+v %v", c.name, res, err)
		}
		// The same with a changed body, or a signature off by one
		// character, is rejected.
		if res, _ := handle(t, cfg, append([]byte(" "), body...), c.h.Clone()); c.name != "static token" && res.Outcome != pos.Rejected {
			t.Errorf("%s, other body: %+v", c.name, res)
		}
		h := c.h.Clone()
		for k := range h {
			if k != "X-Ts" {
				v := []byte(h.Get(k))
				v[len(v)-2] ^= 1
				h.Set(k, string(v))
			}
		}
		if res, _ := handle(t, cfg, body, h); res.Outcome != pos.Rejected {
			t.Errorf("%s, altered signature: %+v", c.name, res)
		}
	}
	// A timestamp older than the tolerance at receipt is rejected.
	old := strconv.FormatInt(time.Now().Add(-10*time.Minute).Unix(), 10)
	mac = hmac.New(sha256.New, []byte("k"))
	mac.Write([]byte(old + "." + order))
	cfg := `{"verify": ` + cases[4].verify + `, ` + mapping + `}`
	if res, _ := handle(t, cfg, body, http.Header{"X-Sig": {"sha256=" + hex.EncodeToString(mac.Sum(nil))}, "X-Ts": {old}}); res.Outcome != pos.Rejected {
		t.Errorf("stale timestamp: %+v", res)
	}
	_ = base64.StdEncoding
}

func TestBadConfigAndBadBodies(t *testing.T) {
	for name, cfg := range map[string]string{
		"unknown field":  `{"verify": {"kind": "none"}, "mapp": {}}`,
		"no verify kind": `{"map": {"order_id": "'x'", "amount_fen": "1", "occurred_at": "parseTime('2026-01-01T00:00:00Z')"}}`,
		"bad algo":       `{"verify": {"kind": "hmac", "algo": "md4", "secret": "s", "header": "X", "message": ["body"]}, "map": {}}`,
		"bad part":       `{"verify": {"kind": "hmac", "algo": "sha256", "secret": "s", "header": "X", "message": ["query"]}, "map": {}}`,
		"missing map":    `{"verify": {"kind": "none"}, "map": {"order_id": "'x'"}}`,
		"bad cel":        `{"verify": {"kind": "none"}, "map": {"order_id": "body.(", "amount_fen": "1", "occurred_at": "parseTime('x')"}}`,
		"unknown output": `{"verify": {"kind": "none"}, "map": {"order_id": "'x'", "amount_fen": "1", "occurred_at": "parseTime('x')", "points": "1"}}`,
		"route not bool": `{"verify": {"kind": "none"}, "route": "'yes'", "map": {"order_id": "'x'", "amount_fen": "1", "occurred_at": "parseTime('x')"}}`,
	} {
		if _, err := handle(t, cfg, []byte(order), http.Header{}); !errors.Is(err, sdk.ErrInvalidConfig) {
			t.Errorf("%s: want sdk.ErrInvalidConfig, got %v", name, err)
		}
	}
	cfg := `{"verify": {"kind": "none"}, ` + mapping + `}`
	for name, body := range map[string]string{
		"not json":     `{`,
		"sub-fen":      `{"id": 1, "event": "order.paid", "order": {"id": 1, "total": "1.001", "currency": "CNY", "paid_at": "2026-12-01 18:30:00", "shop": "S", "items": []}}`,
		"missing path": `{"id": 1, "event": "order.paid"}`,
		"bad time":     `{"id": 1, "event": "order.paid", "order": {"id": 1, "total": "1", "currency": "CNY", "paid_at": "soon", "shop": "S", "items": []}}`,
	} {
		if _, err := handle(t, cfg, []byte(body), http.Header{}); !errors.Is(err, sdk.ErrInvalidInput) {
			t.Errorf("%s: want sdk.ErrInvalidInput, got %v", name, err)
		}
	}
}

func TestNormPhone(t *testing.T) {
	for in, want := range map[string]string{"138 0013 8000": "+8613800138000", "+86 138-0013-8000": "+8613800138000",
		"0086 13800138000": "+8613800138000", "8613800138000": "+8613800138000", "(021) 6666-8888": "02166668888"} {
		if got := NormPhone(in, "CN"); got != want {
			t.Errorf("NormPhone(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestConfig(t *testing.T) { plugintest.CheckConfig(t, Plugins(), nil) }

func FuzzGeneric(f *testing.F) {
	f.Add(order)
	f.Add(`{"id": 1, "event": "order.paid", "order": {"id": "x", "total": 1e400, "currency": "CNY", "paid_at": "2026-12-01 18:30:00", "shop": "S", "items": [{"qty": 9223372036854775807, "price": "2"}]}}`)
	cfg := `{"verify": {"kind": "none"}, ` + mapping + `}`
	f.Fuzz(func(t *testing.T, body string) {
		res, err := handle(t, cfg, []byte(body), http.Header{})
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
