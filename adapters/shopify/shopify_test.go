package shopify

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/sdk"
	"github.com/lianmeng/lianmeng/sdk/plugintest"
	"github.com/lianmeng/lianmeng/sdk/pos"
	"github.com/lianmeng/lianmeng/sdk/purchase"
	"github.com/lianmeng/lianmeng/sdk/webhook"
)

const secret = "shpss_0123456789abcdef"

// orderPaid follows the orders/paid example payload of Shopify's webhook
// reference (trimmed), in a CNY shop.
const orderPaid = `{
  "id": 820982911946154508,
  "admin_graphql_api_id": "gid://shopify/Order/820982911946154508",
  "email": "Jon@Example.com",
  "created_at": "2026-11-30T12:00:00-05:00",
  "processed_at": "2026-11-30T12:00:05-05:00",
  "currency": "CNY",
  "financial_status": "paid",
  "name": "#9999",
  "phone": null,
  "source_name": "pos",
  "test": false,
  "location_id": 655441491,
  "total_price": "403.00",
  "customer": {"id": 115310627314723954, "email": "john@example.com", "phone": "+8613800138000"},
  "line_items": [
    {"id": 866550311766439020, "sku": "IPOD2008PINK", "title": "IPod Nano - 8GB", "quantity": 1, "price": "199.00"},
    {"id": 141249953214522974, "sku": "IPOD2008BLACK", "title": "IPod Nano - 8GB", "quantity": 2, "price": "102.00"}
  ]
}`

// refundCreate follows the refunds/create example payload.
const refundCreate = `{
  "id": 890088186047892319,
  "order_id": 820982911946154508,
  "created_at": "2026-12-01T09:00:00-05:00",
  "note": "Things were damaged",
  "restock": true,
  "transactions": [
    {"id": 1, "kind": "refund", "status": "success", "amount": "102.00", "currency": "CNY"},
    {"id": 2, "kind": "refund", "status": "failure", "amount": "5.00", "currency": "CNY"}
  ],
  "refund_line_items": [{"line_item_id": 141249953214522974, "quantity": 1, "subtotal": 102.0}]
}`

func request(topic, body string, sig string) pos.Request {
	if sig == "" {
		sig = Sign(secret, []byte(body))
	}
	return pos.Request{MerchantID: "mch_1", MerchantConfig: []byte(`{"client_secret":"` + secret + `"}`),
		HTTP: webhook.Request{Method: http.MethodPost, Path: "/v1/pos/pc_1", Body: []byte(body), Header: http.Header{
			HeaderHMAC: {sig}, HeaderTopic: {topic}, HeaderEventID: {"98880550-7158-44d4-b7cd-2c97c8a091b5"},
			HeaderWebhookID: {"b54557e4-bdd9-4b37-8a5f-bf7d70bcd043"}, "X-Shopify-Shop-Domain": {"example.myshopify.com"}}}}
}

func handle(t *testing.T, req pos.Request) (pos.Result, error) {
	t.Helper()
	a, err := New(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return a.HandleWebhook(context.Background(), req)
}

func TestOrderPaid(t *testing.T) {
	res, err := handle(t, request("orders/paid", orderPaid, ""))
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != pos.Accepted || res.EventID != "orders/paid:98880550-7158-44d4-b7cd-2c97c8a091b5" || res.Ack.Status != 200 || len(res.Events) != 1 {
		t.Fatalf("result: %+v", res)
	}
	p := res.Events[0]
	if p.ExternalOrderID != "820982911946154508" || p.AmountFen != 40300 || p.Currency != "CNY" || p.StoreID != "655441491" ||
		p.MerchantID != "mch_1" || !p.OccurredAt.Equal(time.Date(2026, 11, 30, 17, 0, 5, 0, time.UTC)) {
		t.Fatalf("purchase: %+v", p)
	}
	if len(p.Items) != 2 || p.Items[1].AmountFen != 20400 || p.Items[1].Quantity != 2 {
		t.Fatalf("items: %+v", p.Items)
	}
	want := []purchase.Identity{{Type: "phone", Value: "+8613800138000"}, {Type: "email", Value: "jon@example.com"}, {Type: "shopify_customer", Value: "115310627314723954"}}
	if len(p.Members) != 3 || p.Members[0] != want[0] || p.Members[1] != want[1] || p.Members[2] != want[2] {
		t.Fatalf("members: %+v", p.Members)
	}
}

func TestRefundCreate(t *testing.T) {
	res, err := handle(t, request("refunds/create", refundCreate, ""))
	if err != nil || res.Outcome != pos.Accepted || len(res.Events) != 1 {
		t.Fatalf("%+v %v", res, err)
	}
	p := res.Events[0]
	if p.Type != purchase.TypeRefund || p.OriginalOrderID != "820982911946154508" || p.AmountFen != 10200 || p.ExternalOrderID != "refund:890088186047892319" {
		t.Fatalf("refund: %+v", p)
	}
}

func TestSignature(t *testing.T) {
	for name, req := range map[string]pos.Request{
		"wrong secret":    request("orders/paid", orderPaid, Sign("other", []byte(orderPaid))),
		"not base64":      request("orders/paid", orderPaid, "%%%"),
		"missing":         request("orders/paid", orderPaid, "x"),
		"hex, not base64": request("orders/paid", orderPaid, "0f"),
	} {
		res, err := handle(t, req)
		if err != nil || res.Outcome != pos.Rejected || res.Ack.Status != http.StatusUnauthorized || len(res.Events) != 0 {
			t.Errorf("%s: %+v %v", name, res, err)
		}
	}
	// A body changed after signing does not verify.
	req := request("orders/paid", orderPaid, "")
	req.HTTP.Body = []byte(string(req.HTTP.Body[:len(req.HTTP.Body)-2]) + " }")
	if res, _ := handle(t, req); res.Outcome != pos.Rejected {
		t.Errorf("tampered body: %+v", res)
	}
}

func TestIgnoredAndMalformed(t *testing.T) {
	if res, err := handle(t, request("customers/create", `{"id": 1}`, "")); err != nil || res.Outcome != pos.Ignored || res.Ack.Status != 200 {
		t.Errorf("other topic: %+v %v", res, err)
	}
	test := `{"id": 1, "test": true, "total_price": "1.00", "currency": "CNY", "created_at": "2026-01-01T00:00:00Z"}`
	if res, err := handle(t, request("orders/paid", test, "")); err != nil || res.Outcome != pos.Ignored {
		t.Errorf("test order: %+v %v", res, err)
	}
	for name, body := range map[string]string{
		"not json":        `{"id": `,
		"float total":     `{"id": 1, "total_price": 12.5, "currency": "CNY", "created_at": "2026-01-01T00:00:00Z"}`,
		"sub-fen total":   `{"id": 1, "total_price": "1.001", "currency": "CNY", "created_at": "2026-01-01T00:00:00Z"}`,
		"no time":         `{"id": 1, "total_price": "1.00", "currency": "CNY"}`,
		"negative amount": `{"id": 1, "total_price": "-1.00", "currency": "CNY", "created_at": "2026-01-01T00:00:00Z"}`,
	} {
		if _, err := handle(t, request("orders/paid", body, "")); !errors.Is(err, sdk.ErrInvalidInput) {
			t.Errorf("%s: want sdk.ErrInvalidInput, got %v", name, err)
		}
	}
}

func TestConfig(t *testing.T) {
	plugintest.CheckConfig(t, Plugins(), nil)
	req := request("orders/paid", orderPaid, "")
	req.MerchantConfig = []byte(`{"client_secret": "x", "secret": "typo"}`)
	if _, err := handle(t, req); !errors.Is(err, sdk.ErrInvalidConfig) {
		t.Errorf("unknown field: %v", err)
	}
}

// FuzzOrderPaid: whatever a correctly signed body holds, the adapter never
// panics, and either refuses it as invalid input or returns valid events.
func FuzzOrderPaid(f *testing.F) {
	f.Add("orders/paid", orderPaid)
	f.Add("refunds/create", refundCreate)
	f.Add("orders/paid", `{"id": 1, "total_price": "99999999999999999.99", "currency": "CNY", "created_at": "2026-01-01T00:00:00Z", "line_items": [{"quantity": 9223372036854775807, "price": "2"}]}`)
	f.Fuzz(func(t *testing.T, topic, body string) {
		res, err := handle(t, request(topic, body, ""))
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
