// Package shopify is the POS adapter for Shopify (online stores and
// Shopify POS): the orders/paid and refunds/create webhooks, verified with
// X-Shopify-Hmac-Sha256 = base64(HMAC-SHA256(app client secret, raw body)),
// compared in constant time before anything is parsed.
//
// Configuration (JSON, strictly decoded):
//
//	{"client_secret": "shpss_...", "accept_test_orders": false}
//
// Every other topic is acknowledged and ignored. Amounts are decimal
// strings ("59.99") converted to fen by their digits, never through a
// float; only the shop currency CNY earns (the gateway refuses others).
// The event id is the topic and X-Shopify-Event-Id (X-Shopify-Webhook-Id
// when absent), so a retried delivery is stored once. The member is the
// order's phone (then the customer's), with the email and Shopify's
// customer id as merchant-scoped fall-backs.
//
// It is built only on the SDK, like a third-party adapter, and served as
// builtin:shopify (adapters/all).
package shopify

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/lianmeng/lianmeng/adapters/internal/decimal"
	"github.com/lianmeng/lianmeng/sdk"
	"github.com/lianmeng/lianmeng/sdk/pos"
	"github.com/lianmeng/lianmeng/sdk/purchase"
	"github.com/lianmeng/lianmeng/sdk/webhook"
)

// Name and Version identify the adapter.
const (
	Name    = "shopify"
	Version = "1.0.0"
)

// Schema is the JSON Schema of the plugin configuration: none; each
// connection's settings come with its webhooks (ConnectionSchema).
const Schema = `{"type": "object", "additionalProperties": false}`

// ConnectionSchema is the JSON Schema of a connection's configuration
// (pos.Request.MerchantConfig), which the operator gives when creating the
// connection.
const ConnectionSchema = `{
  "type": "object",
  "additionalProperties": false,
  "required": ["client_secret"],
  "properties": {
    "client_secret": {"type": "string", "minLength": 1, "description": "the app's client secret (Shopify signs webhooks with it)"},
    "accept_test_orders": {"type": "boolean", "default": false}
  }
}`

// Plugins is what "lianmeng plugin serve shopify" serves.
func Plugins() sdk.Plugins {
	return sdk.Plugins{POSAdapter: &sdk.POSAdapter{
		Info: sdk.Info{Name: Name, Version: Version, Summary: "Shopify orders/paid and refunds/create webhooks",
			ConfigSchema: json.RawMessage(Schema)},
		New: New,
	}}
}

// Config is the decoded configuration.
type Config struct {
	ClientSecret     string `json:"client_secret"`
	AcceptTestOrders bool   `json:"accept_test_orders"`
}

type adapter struct{}

// New is the factory. The adapter's per-merchant settings arrive with each
// webhook (pos.Request.MerchantConfig); the plugin configuration needs no
// fields.
func New(_ context.Context, config []byte) (pos.Adapter, error) {
	var c struct{}
	if len(config) > 0 {
		if err := sdk.DecodeConfig(config, &c); err != nil {
			return nil, err
		}
	}
	return adapter{}, nil
}

// Headers Shopify sends.
const (
	HeaderHMAC      = "X-Shopify-Hmac-Sha256"
	HeaderTopic     = "X-Shopify-Topic"
	HeaderEventID   = "X-Shopify-Event-Id"
	HeaderWebhookID = "X-Shopify-Webhook-Id"
)

// Sign returns the X-Shopify-Hmac-Sha256 value of body (for tests and
// fakes).
func Sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

var ok = webhook.Text(http.StatusOK, "")

func (adapter) HandleWebhook(_ context.Context, req pos.Request) (pos.Result, error) {
	var cfg Config
	if err := sdk.DecodeConfig(req.MerchantConfig, &cfg); err != nil {
		return pos.Result{}, err
	}
	if cfg.ClientSecret == "" {
		return pos.Result{}, fmt.Errorf("%w: client_secret is empty", sdk.ErrInvalidConfig)
	}
	got, err := base64.StdEncoding.DecodeString(req.HTTP.Header.Get(HeaderHMAC))
	want := hmac.New(sha256.New, []byte(cfg.ClientSecret))
	want.Write(req.HTTP.Body)
	if err != nil || !hmac.Equal(got, want.Sum(nil)) {
		return pos.Result{Outcome: pos.Rejected, Reason: "X-Shopify-Hmac-Sha256 does not match the body",
			Ack: webhook.Text(http.StatusUnauthorized, "invalid signature\n")}, nil
	}
	topic := req.HTTP.Header.Get(HeaderTopic)
	id := req.HTTP.Header.Get(HeaderEventID)
	if id == "" {
		id = req.HTTP.Header.Get(HeaderWebhookID)
	}
	res := pos.Result{Outcome: pos.Accepted, EventType: topic, Ack: ok}
	if id != "" {
		res.EventID = topic + ":" + id
	}
	var p purchase.Purchase
	switch topic {
	case "orders/paid":
		p, err = parseOrder(req.HTTP.Body, cfg)
	case "refunds/create":
		p, err = parseRefund(req.HTTP.Body)
	default:
		res.Outcome, res.Reason = pos.Ignored, "topic "+topic+" is not used"
		return res, nil
	}
	if errors.Is(err, errSkip) {
		res.Outcome, res.Reason = pos.Ignored, err.Error()
		return res, nil
	}
	if err != nil {
		return pos.Result{}, fmt.Errorf("%w: %s: %v", sdk.ErrInvalidInput, topic, err)
	}
	p.MerchantID = req.MerchantID
	if err := p.Validate(); err != nil {
		return pos.Result{}, fmt.Errorf("%w: %s: %v", sdk.ErrInvalidInput, topic, err)
	}
	res.Events = []purchase.Purchase{p}
	return res, nil
}

var errSkip = errors.New("skipped")

// order is the part of Shopify's order object the adapter reads. Ids are
// json.Number: they exceed 2^53.
type order struct {
	ID           json.Number `json:"id"`
	Name         string      `json:"name"`
	TotalPrice   *string     `json:"total_price"`
	Currency     string      `json:"currency"`
	Phone        string      `json:"phone"`
	Email        string      `json:"email"`
	Test         bool        `json:"test"`
	LocationID   json.Number `json:"location_id"`
	ProcessedAt  string      `json:"processed_at"`
	CreatedAt    string      `json:"created_at"`
	FinancialSt  string      `json:"financial_status"`
	SourceName   string      `json:"source_name"`
	Customer     *customer   `json:"customer"`
	BillingPhone *struct {
		Phone string `json:"phone"`
	} `json:"billing_address"`
	LineItems []struct {
		SKU      string `json:"sku"`
		Title    string `json:"title"`
		Quantity int64  `json:"quantity"`
		Price    string `json:"price"`
	} `json:"line_items"`
}

type customer struct {
	ID    json.Number `json:"id"`
	Email string      `json:"email"`
	Phone string      `json:"phone"`
}

func decode(body []byte, v any) error {
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.UseNumber()
	return dec.Decode(v)
}

func parseOrder(body []byte, cfg Config) (purchase.Purchase, error) {
	var o order
	if err := decode(body, &o); err != nil {
		return purchase.Purchase{}, err
	}
	if o.Test && !cfg.AcceptTestOrders {
		return purchase.Purchase{}, fmt.Errorf("%w: a test order", errSkip)
	}
	if o.ID == "" || o.TotalPrice == nil || o.Currency == "" {
		return purchase.Purchase{}, errors.New("order needs id, total_price and currency")
	}
	amount, err := decimal.ToMinor(*o.TotalPrice, o.Currency)
	if err != nil {
		return purchase.Purchase{}, fmt.Errorf("total_price: %v", err)
	}
	at, err := when(o.ProcessedAt, o.CreatedAt)
	if err != nil {
		return purchase.Purchase{}, err
	}
	p := purchase.Purchase{Type: purchase.TypePurchase, ExternalOrderID: o.ID.String(), AmountFen: amount, Currency: o.Currency,
		OccurredAt: at, StoreID: o.LocationID.String(), Attributes: map[string]string{"source": "shopify"}}
	if o.SourceName != "" {
		p.Attributes["channel"] = o.SourceName
	}
	for i, li := range o.LineItems {
		unit, err := decimal.ToMinor(li.Price, o.Currency)
		if err != nil {
			return purchase.Purchase{}, fmt.Errorf("line_items[%d].price: %v", i, err)
		}
		if li.Quantity < 0 || (li.Quantity > 0 && unit > (1<<62)/li.Quantity) {
			return purchase.Purchase{}, fmt.Errorf("line_items[%d]: quantity %d out of range", i, li.Quantity)
		}
		p.Items = append(p.Items, purchase.LineItem{SKU: li.SKU, Name: li.Title, Quantity: li.Quantity, AmountFen: unit * li.Quantity})
	}
	phone := o.Phone
	if phone == "" && o.Customer != nil {
		phone = o.Customer.Phone
	}
	if phone == "" && o.BillingPhone != nil {
		phone = o.BillingPhone.Phone
	}
	if phone != "" {
		p.Members = append(p.Members, purchase.Identity{Type: purchase.IdentityPhone, Value: phone})
	}
	email := o.Email
	if email == "" && o.Customer != nil {
		email = o.Customer.Email
	}
	if email != "" {
		p.Members = append(p.Members, purchase.Identity{Type: "email", Value: strings.ToLower(email)})
	}
	if o.Customer != nil && o.Customer.ID != "" {
		p.Members = append(p.Members, purchase.Identity{Type: "shopify_customer", Value: o.Customer.ID.String()})
	}
	return p, nil
}

// refund is the part of the refunds/create payload the adapter reads: the
// money returned is the sum of its successful refund transactions.
type refund struct {
	ID           json.Number `json:"id"`
	OrderID      json.Number `json:"order_id"`
	CreatedAt    string      `json:"created_at"`
	ProcessedAt  string      `json:"processed_at"`
	Transactions []struct {
		Kind     string `json:"kind"`
		Status   string `json:"status"`
		Amount   string `json:"amount"`
		Currency string `json:"currency"`
	} `json:"transactions"`
}

func parseRefund(body []byte) (purchase.Purchase, error) {
	var r refund
	if err := decode(body, &r); err != nil {
		return purchase.Purchase{}, err
	}
	if r.ID == "" || r.OrderID == "" {
		return purchase.Purchase{}, errors.New("refund needs id and order_id")
	}
	var amount int64
	currency := ""
	for i, t := range r.Transactions {
		if t.Kind != "refund" || t.Status != "success" {
			continue
		}
		a, err := decimal.ToMinor(t.Amount, t.Currency)
		if err != nil {
			return purchase.Purchase{}, fmt.Errorf("transactions[%d].amount: %v", i, err)
		}
		if currency != "" && t.Currency != currency {
			return purchase.Purchase{}, errors.New("refund transactions in several currencies")
		}
		currency = t.Currency
		amount += a
	}
	if amount == 0 {
		return purchase.Purchase{}, fmt.Errorf("%w: a refund that returns no money (restock only)", errSkip)
	}
	at, err := when(r.ProcessedAt, r.CreatedAt)
	if err != nil {
		return purchase.Purchase{}, err
	}
	return purchase.Purchase{Type: purchase.TypeRefund, ExternalOrderID: "refund:" + r.ID.String(), OriginalOrderID: r.OrderID.String(),
		AmountFen: amount, Currency: currency, OccurredAt: at}, nil
}

// when parses the first set RFC 3339 time.
func when(ts ...string) (time.Time, error) {
	for _, s := range ts {
		if s != "" {
			t, err := time.Parse(time.RFC3339, s)
			if err != nil {
				return time.Time{}, fmt.Errorf("time %q: %v", s, err)
			}
			return t.UTC(), nil
		}
	}
	return time.Time{}, errors.New("no processed_at or created_at")
}
