package square

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

const (
	key = "sq0wsk_test_key"
	url = "https://gw.example.com/v1/pos/pc_sq"
)

// paymentUpdated follows Square's payment.updated example payload.
const paymentUpdated = `{
  "merchant_id": "6SSW7HV8K2ST5",
  "type": "payment.updated",
  "event_id": "6a8f5f28-54a1-4eb0-a98a-3111513fd4fc",
  "created_at": "2026-11-30T20:50:01.107Z",
  "data": {"type": "payment", "id": "hYy9pRFVxpDsO1FB05SunFWUe9JZY",
    "object": {"payment": {
      "id": "hYy9pRFVxpDsO1FB05SunFWUe9JZY", "order_id": "03O3USaPaAaFnI6kkwB1JxGgBsUZY", "location_id": "S8GWD5R9QB376",
      "status": "COMPLETED", "source_type": "CARD", "customer_id": "W92WH6P11H4Z77CTET0RNTGFW8",
      "amount_money": {"amount": 12800, "currency": "CNY"}, "tip_money": {"amount": 500, "currency": "CNY"},
      "total_money": {"amount": 13300, "currency": "CNY"},
      "created_at": "2026-11-30T20:49:59.526Z", "updated_at": "2026-11-30T20:50:00.864Z", "version": 3}}}
}`

// refundUpdated follows Square's refund.updated example payload.
const refundUpdated = `{
  "merchant_id": "6SSW7HV8K2ST5", "type": "refund.updated", "event_id": "9d7a3b16-8a11-4e3f-b7f9-3c0bd5f8d6a1",
  "created_at": "2026-12-01T10:00:02Z",
  "data": {"type": "refund", "id": "hYy9pRFVxpDsO1FB05SunFWUe9JZY_R",
    "object": {"refund": {"id": "hYy9pRFVxpDsO1FB05SunFWUe9JZY_R", "payment_id": "hYy9pRFVxpDsO1FB05SunFWUe9JZY",
      "order_id": "03O3USaPaAaFnI6kkwB1JxGgBsUZY", "location_id": "S8GWD5R9QB376", "status": "COMPLETED",
      "amount_money": {"amount": 3000, "currency": "CNY"}, "created_at": "2026-12-01T10:00:00Z", "updated_at": "2026-12-01T10:00:01Z"}}}
}`

func request(body, sig string) pos.Request {
	if sig == "" {
		sig = Sign(key, url, []byte(body))
	}
	return pos.Request{MerchantID: "mch_1", MerchantConfig: []byte(`{"signature_key":"` + key + `","notification_url":"` + url + `"}`),
		HTTP: webhook.Request{Method: http.MethodPost, Path: "/v1/pos/pc_sq", Body: []byte(body), Header: http.Header{HeaderSignature: {sig}}}}
}

func handle(t testing.TB, req pos.Request) (pos.Result, error) {
	a, err := New(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return a.HandleWebhook(context.Background(), req)
}

func TestPaymentAndRefund(t *testing.T) {
	res, err := handle(t, request(paymentUpdated, ""))
	if err != nil || res.Outcome != pos.Accepted || res.EventID != "6a8f5f28-54a1-4eb0-a98a-3111513fd4fc" || len(res.Events) != 1 {
		t.Fatalf("%+v %v", res, err)
	}
	p := res.Events[0]
	if p.ExternalOrderID != "hYy9pRFVxpDsO1FB05SunFWUe9JZY" || p.AmountFen != 12800 || p.StoreID != "S8GWD5R9QB376" || p.Currency != "CNY" ||
		len(p.Members) != 1 || p.Members[0].Value != "W92WH6P11H4Z77CTET0RNTGFW8" {
		t.Fatalf("payment: %+v", p)
	}
	res, err = handle(t, request(refundUpdated, ""))
	if err != nil || res.Outcome != pos.Accepted || len(res.Events) != 1 {
		t.Fatalf("%+v %v", res, err)
	}
	r := res.Events[0]
	if r.Type != purchase.TypeRefund || r.OriginalOrderID != p.ExternalOrderID || r.AmountFen != 3000 || r.ExternalOrderID != "refund:hYy9pRFVxpDsO1FB05SunFWUe9JZY_R" {
		t.Fatalf("refund: %+v", r)
	}
}

func TestSignatureCoversURLAndBody(t *testing.T) {
	for name, req := range map[string]pos.Request{
		"other url": request(paymentUpdated, Sign(key, "https://gw.example.com/v1/pos/other", []byte(paymentUpdated))),
		"other key": request(paymentUpdated, Sign("k", url, []byte(paymentUpdated))),
		"body only": request(paymentUpdated, Sign(key, "", []byte(paymentUpdated))),
		"none":      request(paymentUpdated, "-"),
	} {
		if res, err := handle(t, req); err != nil || res.Outcome != pos.Rejected || res.Ack.Status != 401 {
			t.Errorf("%s: %+v %v", name, res, err)
		}
	}
}

func TestIgnoredAndMalformed(t *testing.T) {
	pending := `{"type": "payment.created", "event_id": "e", "data": {"object": {"payment": {"id": "p", "status": "APPROVED", "amount_money": {"amount": 1, "currency": "CNY"}}}}}`
	if res, err := handle(t, request(pending, "")); err != nil || res.Outcome != pos.Ignored {
		t.Errorf("approved, not completed: %+v %v", res, err)
	}
	if res, err := handle(t, request(`{"type": "customer.created", "event_id": "e"}`, "")); err != nil || res.Outcome != pos.Ignored {
		t.Errorf("other type: %+v %v", res, err)
	}
	for name, body := range map[string]string{
		"not json":     `{`,
		"float amount": `{"type": "payment.updated", "data": {"object": {"payment": {"id": "p", "status": "COMPLETED", "amount_money": {"amount": 1.5, "currency": "CNY"}, "created_at": "2026-01-01T00:00:00Z"}}}}`,
		"no payment":   `{"type": "payment.updated", "data": {"object": {}}}`,
		"refund no id": `{"type": "refund.updated", "data": {"object": {"refund": {"status": "COMPLETED", "amount_money": {"amount": 1, "currency": "CNY"}}}}}`,
	} {
		if _, err := handle(t, request(body, "")); !errors.Is(err, sdk.ErrInvalidInput) {
			t.Errorf("%s: want sdk.ErrInvalidInput, got %v", name, err)
		}
	}
}

func TestConfig(t *testing.T) { plugintest.CheckConfig(t, Plugins(), nil) }

func FuzzNotification(f *testing.F) {
	f.Add(paymentUpdated)
	f.Add(refundUpdated)
	f.Fuzz(func(t *testing.T, body string) {
		res, err := handle(t, request(body, ""))
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
