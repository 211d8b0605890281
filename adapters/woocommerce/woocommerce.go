// Package woocommerce is the POS adapter for WooCommerce (self-hosted
// WordPress shops): the order.created and order.updated webhooks. A paid
// order (date_paid set, status processing or completed) earns; each entry of
// the order's refunds[] claws back once (WooCommerce reports a refund with
// order.updated, and repeats every earlier refund in each later delivery, so
// refunds are keyed by their own id). WooCommerce signs
//
//	X-WC-Webhook-Signature = base64(HMAC-SHA256(webhook secret, raw body))
//
// and sends X-WC-Webhook-Topic and X-WC-Webhook-Delivery-ID (the event id).
// When a webhook is created it posts an unsigned, form-encoded ping
// (webhook_id=N) and disables the webhook unless it gets a 200: that ping is
// answered 200 and ignored. Amounts are decimal strings ("12.00", "12.0")
// converted by their digits.
//
// Connection configuration: {"secret": "..."}.
package woocommerce

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
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
	Name    = "woocommerce"
	Version = "1.0.0"
)

// Headers WooCommerce sends.
const (
	HeaderSignature  = "X-Wc-Webhook-Signature"
	HeaderTopic      = "X-Wc-Webhook-Topic"
	HeaderDeliveryID = "X-Wc-Webhook-Delivery-Id"
)

// ConnectionSchema is the JSON Schema of a connection's configuration.
const ConnectionSchema = `{"type": "object", "additionalProperties": false, "required": ["secret"],
  "properties": {"secret": {"type": "string", "minLength": 1, "description": "the webhook's secret in WooCommerce → Settings → Advanced → Webhooks"}}}`

// Plugins is what "lianmeng plugin serve woocommerce" serves.
func Plugins() sdk.Plugins {
	return sdk.Plugins{POSAdapter: &sdk.POSAdapter{
		Info: sdk.Info{Name: Name, Version: Version, Summary: "WooCommerce order.created and order.updated webhooks, refunds included",
			ConfigSchema: json.RawMessage(`{"type": "object", "additionalProperties": false}`)},
		New: New,
	}}
}

// Config is a connection's configuration.
type Config struct {
	Secret string `json:"secret"`
}

type adapter struct{}

// New is the factory; the plugin configuration has no fields.
func New(_ context.Context, config []byte) (pos.Adapter, error) {
	var c struct{}
	if len(config) > 0 {
		if err := sdk.DecodeConfig(config, &c); err != nil {
			return nil, err
		}
	}
	return adapter{}, nil
}

// Sign returns the X-WC-Webhook-Signature of body.
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
	if cfg.Secret == "" {
		return pos.Result{}, fmt.Errorf("%w: secret is empty", sdk.ErrInvalidConfig)
	}
	sig := req.HTTP.Header.Get(HeaderSignature)
	if sig == "" && isPing(req.HTTP) {
		// The creation ping is unsigned; it carries nothing to trust and
		// changes nothing, and anything but 200 disables the webhook.
		return pos.Result{Outcome: pos.Ignored, EventType: "ping", Reason: "webhook creation ping", Ack: ok}, nil
	}
	got, err := base64.StdEncoding.DecodeString(sig)
	want := hmac.New(sha256.New, []byte(cfg.Secret))
	want.Write(req.HTTP.Body)
	if err != nil || !hmac.Equal(got, want.Sum(nil)) {
		return pos.Result{Outcome: pos.Rejected, Reason: "X-WC-Webhook-Signature does not match the body",
			Ack: webhook.Text(http.StatusUnauthorized, "")}, nil
	}
	topic := req.HTTP.Header.Get(HeaderTopic)
	res := pos.Result{Outcome: pos.Accepted, EventType: topic, Ack: ok}
	if id := req.HTTP.Header.Get(HeaderDeliveryID); id != "" {
		res.EventID = topic + ":" + id
	}
	if topic != "order.created" && topic != "order.updated" {
		res.Outcome, res.Reason = pos.Ignored, "topic "+topic+" is not used"
		return res, nil
	}
	evs, err := parseOrder(req.HTTP.Body)
	if err != nil {
		return pos.Result{}, fmt.Errorf("%w: %s: %v", sdk.ErrInvalidInput, topic, err)
	}
	for i := range evs {
		evs[i].MerchantID = req.MerchantID
		if err := evs[i].Validate(); err != nil {
			return pos.Result{}, fmt.Errorf("%w: %s: %v", sdk.ErrInvalidInput, topic, err)
		}
	}
	if len(evs) == 0 {
		res.Outcome, res.Reason = pos.Ignored, "order not paid and nothing refunded"
	}
	res.Events = evs
	return res, nil
}

// isPing reports whether r is WooCommerce's creation ping: a form-encoded
// body holding only webhook_id=<digits>.
func isPing(r webhook.Request) bool {
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		return false
	}
	v, err := url.ParseQuery(string(r.Body))
	if err != nil || len(v) != 1 || len(v["webhook_id"]) != 1 {
		return false
	}
	_, err = strconv.ParseUint(v.Get("webhook_id"), 10, 64)
	return err == nil
}

type order struct {
	ID          json.Number `json:"id"`
	Status      string      `json:"status"`
	Currency    string      `json:"currency"`
	Total       string      `json:"total"`
	CustomerID  json.Number `json:"customer_id"`
	DatePaidGMT *string     `json:"date_paid_gmt"`
	DateCreated string      `json:"date_created_gmt"`
	Billing     struct {
		Email string `json:"email"`
		Phone string `json:"phone"`
	} `json:"billing"`
	LineItems []struct {
		SKU      string      `json:"sku"`
		Name     string      `json:"name"`
		Quantity json.Number `json:"quantity"`
		Total    string      `json:"total"`
	} `json:"line_items"`
	Refunds []struct {
		ID     json.Number `json:"id"`
		Reason string      `json:"reason"`
		Total  string      `json:"total"` // negative: "-5.00"
	} `json:"refunds"`
}

// gmt is WooCommerce's *_gmt time: RFC 3339 without a zone, in UTC.
const gmt = "2006-01-02T15:04:05"

func parseOrder(body []byte) ([]purchase.Purchase, error) {
	var o order
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.UseNumber()
	if err := dec.Decode(&o); err != nil {
		return nil, err
	}
	if o.ID == "" || o.Currency == "" {
		return nil, errors.New("order needs id and currency")
	}
	var evs []purchase.Purchase
	paid := o.DatePaidGMT != nil && *o.DatePaidGMT != "" && (o.Status == "processing" || o.Status == "completed" || o.Status == "refunded")
	if paid {
		at, err := time.Parse(gmt, *o.DatePaidGMT)
		if err != nil {
			return nil, fmt.Errorf("date_paid_gmt: %v", err)
		}
		// The order's total is what was paid; refunds come separately.
		amount, err := decimal.ToMinor(o.Total, o.Currency)
		if err != nil {
			return nil, fmt.Errorf("total: %v", err)
		}
		p := purchase.Purchase{Type: purchase.TypePurchase, ExternalOrderID: o.ID.String(), AmountFen: amount, Currency: o.Currency,
			OccurredAt: at.UTC(), Attributes: map[string]string{"source": "woocommerce"}}
		for i, li := range o.LineItems {
			t, err := decimal.ToMinor(li.Total, o.Currency)
			if err != nil {
				return nil, fmt.Errorf("line_items[%d].total: %v", i, err)
			}
			q, err := strconv.ParseInt(li.Quantity.String(), 10, 64)
			if err != nil || q < 0 {
				return nil, fmt.Errorf("line_items[%d].quantity %q", i, li.Quantity)
			}
			p.Items = append(p.Items, purchase.LineItem{SKU: li.SKU, Name: li.Name, Quantity: q, AmountFen: t})
		}
		if o.Billing.Phone != "" {
			p.Members = append(p.Members, purchase.Identity{Type: purchase.IdentityPhone, Value: o.Billing.Phone})
		}
		if o.Billing.Email != "" {
			p.Members = append(p.Members, purchase.Identity{Type: "email", Value: strings.ToLower(o.Billing.Email)})
		}
		if c := o.CustomerID.String(); c != "" && c != "0" { // 0 is a guest
			p.Members = append(p.Members, purchase.Identity{Type: "woocommerce_customer", Value: c})
		}
		evs = append(evs, p)
	}
	for i, r := range o.Refunds {
		amount, err := decimal.ToMinor(strings.TrimPrefix(r.Total, "-"), o.Currency)
		if err != nil || r.ID == "" {
			return nil, fmt.Errorf("refunds[%d]: id %q, total %q", i, r.ID, r.Total)
		}
		if amount == 0 {
			continue
		}
		at := time.Unix(0, 0).UTC() // a refund line carries no time of its own
		if t, err := time.Parse(gmt, o.DateCreated); err == nil {
			at = t.UTC()
		}
		evs = append(evs, purchase.Purchase{Type: purchase.TypeRefund, ExternalOrderID: "refund:" + r.ID.String(), OriginalOrderID: o.ID.String(),
			AmountFen: amount, Currency: o.Currency, OccurredAt: at, Attributes: map[string]string{"reason": clip(r.Reason, 256)}})
	}
	return evs, nil
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}
