package woocommerce

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/lianmeng/lianmeng/sdk"
	"github.com/lianmeng/lianmeng/sdk/plugintest"
	"github.com/lianmeng/lianmeng/sdk/pos"
	"github.com/lianmeng/lianmeng/sdk/purchase"
	"github.com/lianmeng/lianmeng/sdk/webhook"
)

const secret = "wc-secret-1"

// orderUpdated follows the REST v3 order object WooCommerce's webhooks
// carry (trimmed): paid, with one partial refund.
const orderUpdated = `{
  "id": 727, "parent_id": 0, "status": "processing", "currency": "CNY", "total": "29.35", "customer_id": 0,
  "date_created_gmt": "2026-11-30T15:38:51", "date_paid_gmt": "2026-11-30T15:39:02",
  "billing": {"first_name": "John", "email": "John.Doe@example.com", "phone": "138-0013-8000"},
  "line_items": [{"id": 315, "name": "Woo Single #1", "sku": "", "quantity": 2, "total": "6.0", "price": 3},
                 {"id": 316, "name": "Ship Your Idea", "sku": "SYI", "quantity": 1, "total": "12.00", "price": 12}],
  "refunds": [{"id": 730, "reason": "damaged", "total": "-5.00"}]
}`

func request(topic, body, sig string) pos.Request {
	if sig == "" {
		sig = Sign(secret, []byte(body))
	}
	return pos.Request{MerchantID: "mch_1", MerchantConfig: []byte(`{"secret":"` + secret + `"}`),
		HTTP: webhook.Request{Method: http.MethodPost, Body: []byte(body), Header: http.Header{
			HeaderSignature: {sig}, HeaderTopic: {topic}, HeaderDeliveryID: {"5b8c3a1e"}, "Content-Type": {"application/json"}}}}
}

func handle(t testing.TB, req pos.Request) (pos.Result, error) {
	a, err := New(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return a.HandleWebhook(context.Background(), req)
}

func TestPaidOrderWithRefund(t *testing.T) {
	res, err := handle(t, request("order.updated", orderUpdated, ""))
	if err != nil || res.Outcome != pos.Accepted || res.EventID != "order.updated:5b8c3a1e" || len(res.Events) != 2 {
		t.Fatalf("%+v %v", res, err)
	}
	p, r := res.Events[0], res.Events[1]
	if p.ExternalOrderID != "727" || p.AmountFen != 2935 || len(p.Items) != 2 || p.Items[0].AmountFen != 600 || p.Items[0].Quantity != 2 ||
		len(p.Members) != 2 || p.Members[0] != (purchase.Identity{Type: "phone", Value: "138-0013-8000"}) {
		t.Fatalf("sale: %+v", p)
	}
	if r.Type != purchase.TypeRefund || r.ExternalOrderID != "refund:730" || r.OriginalOrderID != "727" || r.AmountFen != 500 {
		t.Fatalf("refund: %+v", r)
	}
}

func TestPingAndSignature(t *testing.T) {
	ping := pos.Request{MerchantConfig: []byte(`{"secret":"` + secret + `"}`), HTTP: webhook.Request{Body: []byte("webhook_id=15"),
		Header: http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}}}
	if res, err := handle(t, ping); err != nil || res.Outcome != pos.Ignored || res.Ack.Status != 200 {
		t.Fatalf("ping: %+v %v", res, err)
	}
	// Anything else unsigned, or a ping with more in it, must verify.
	ping.HTTP.Body = []byte("webhook_id=15&status=paid")
	if res, _ := handle(t, ping); res.Outcome != pos.Rejected {
		t.Fatalf("ping with more: %+v", res)
	}
	if res, _ := handle(t, request("order.updated", orderUpdated, Sign("other", []byte(orderUpdated)))); res.Outcome != pos.Rejected || res.Ack.Status != 401 {
		t.Fatalf("bad signature: %+v", res)
	}
}

func TestUnpaidIgnoredAndMalformed(t *testing.T) {
	pending := `{"id": 9, "status": "pending", "currency": "CNY", "total": "1.00", "date_paid_gmt": null, "refunds": []}`
	if res, err := handle(t, request("order.created", pending, "")); err != nil || res.Outcome != pos.Ignored {
		t.Errorf("pending order: %+v %v", res, err)
	}
	if res, err := handle(t, request("product.updated", `{}`, "")); err != nil || res.Outcome != pos.Ignored {
		t.Errorf("other topic: %+v %v", res, err)
	}
	for name, body := range map[string]string{
		"not json":    `[`,
		"bad total":   `{"id": 9, "status": "completed", "currency": "CNY", "total": "1,00", "date_paid_gmt": "2026-11-30T15:39:02"}`,
		"bad date":    `{"id": 9, "status": "completed", "currency": "CNY", "total": "1.00", "date_paid_gmt": "yesterday"}`,
		"bad refund":  `{"id": 9, "status": "refunded", "currency": "CNY", "total": "1.00", "refunds": [{"id": 1, "total": "x"}]}`,
		"no currency": `{"id": 9, "status": "completed", "total": "1.00", "date_paid_gmt": "2026-11-30T15:39:02"}`,
	} {
		if _, err := handle(t, request("order.updated", body, "")); !errors.Is(err, sdk.ErrInvalidInput) {
			t.Errorf("%s: want sdk.ErrInvalidInput, got %v", name, err)
		}
	}
}

func TestConfig(t *testing.T) { plugintest.CheckConfig(t, Plugins(), nil) }

func FuzzOrder(f *testing.F) {
	f.Add(orderUpdated)
	f.Add(`{"id": 1, "status": "refunded", "currency": "CNY", "total": "0", "refunds": [{"id": 2, "total": "-0.00"}]}`)
	f.Fuzz(func(t *testing.T, body string) {
		res, err := handle(t, request("order.updated", body, ""))
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
