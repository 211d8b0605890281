// Package square is the POS adapter for Square: payment.created and
// payment.updated (a COMPLETED payment earns), refund.created and
// refund.updated (a COMPLETED refund claws back). Square signs
//
//	x-square-hmacsha256-signature = base64(HMAC-SHA256(signature key, notification URL + raw body))
//
// so the connection's configuration holds the notification URL exactly as
// subscribed in Square (the gateway behind a proxy cannot know it):
//
//	{"signature_key": "...", "notification_url": "https://gw.example.com/v1/pos/pc_..."}
//
// Amounts are already integer minor units (amount_money.amount; tips, in
// tip_money, earn nothing). A sale is the payment (its id is the order id
// the gateway records), so a refund finds it by payment_id; the event id is
// Square's event_id.
package square

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/lianmeng/lianmeng/sdk"
	"github.com/lianmeng/lianmeng/sdk/pos"
	"github.com/lianmeng/lianmeng/sdk/purchase"
	"github.com/lianmeng/lianmeng/sdk/webhook"
)

// Name and Version identify the adapter.
const (
	Name    = "square"
	Version = "1.0.0"
)

// HeaderSignature is Square's signature header.
const HeaderSignature = "X-Square-Hmacsha256-Signature"

// ConnectionSchema is the JSON Schema of a connection's configuration.
const ConnectionSchema = `{
  "type": "object", "additionalProperties": false, "required": ["signature_key", "notification_url"],
  "properties": {
    "signature_key": {"type": "string", "minLength": 1},
    "notification_url": {"type": "string", "minLength": 1, "description": "the URL exactly as subscribed in Square; it is signed"}
  }
}`

// Plugins is what "lianmeng plugin serve square" serves.
func Plugins() sdk.Plugins {
	return sdk.Plugins{POSAdapter: &sdk.POSAdapter{
		Info: sdk.Info{Name: Name, Version: Version, Summary: "Square payment and refund webhooks",
			ConfigSchema: json.RawMessage(`{"type": "object", "additionalProperties": false}`)},
		New: New,
	}}
}

// Config is a connection's configuration.
type Config struct {
	SignatureKey    string `json:"signature_key"`
	NotificationURL string `json:"notification_url"`
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

// Sign returns the signature header value for body delivered to url.
func Sign(key, url string, body []byte) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte(url))
	m.Write(body)
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

type money struct {
	Amount   *int64 `json:"amount"`
	Currency string `json:"currency"`
}

type notification struct {
	MerchantID string `json:"merchant_id"`
	Type       string `json:"type"`
	EventID    string `json:"event_id"`
	CreatedAt  string `json:"created_at"`
	Data       struct {
		Type   string `json:"type"`
		ID     string `json:"id"`
		Object struct {
			Payment *struct {
				ID                string `json:"id"`
				OrderID           string `json:"order_id"`
				LocationID        string `json:"location_id"`
				Status            string `json:"status"`
				AmountMoney       money  `json:"amount_money"`
				CustomerID        string `json:"customer_id"`
				BuyerEmailAddress string `json:"buyer_email_address"`
				CreatedAt         string `json:"created_at"`
				UpdatedAt         string `json:"updated_at"`
				SourceType        string `json:"source_type"`
			} `json:"payment"`
			Refund *struct {
				ID          string `json:"id"`
				PaymentID   string `json:"payment_id"`
				OrderID     string `json:"order_id"`
				LocationID  string `json:"location_id"`
				Status      string `json:"status"`
				AmountMoney money  `json:"amount_money"`
				CreatedAt   string `json:"created_at"`
				UpdatedAt   string `json:"updated_at"`
			} `json:"refund"`
		} `json:"object"`
	} `json:"data"`
}

var ok = webhook.Text(http.StatusOK, "")

func (adapter) HandleWebhook(_ context.Context, req pos.Request) (pos.Result, error) {
	var cfg Config
	if err := sdk.DecodeConfig(req.MerchantConfig, &cfg); err != nil {
		return pos.Result{}, err
	}
	if cfg.SignatureKey == "" || cfg.NotificationURL == "" {
		return pos.Result{}, fmt.Errorf("%w: signature_key and notification_url are required", sdk.ErrInvalidConfig)
	}
	got, err := base64.StdEncoding.DecodeString(req.HTTP.Header.Get(HeaderSignature))
	want := hmac.New(sha256.New, []byte(cfg.SignatureKey))
	want.Write([]byte(cfg.NotificationURL))
	want.Write(req.HTTP.Body)
	if err != nil || !hmac.Equal(got, want.Sum(nil)) {
		return pos.Result{Outcome: pos.Rejected, Reason: "x-square-hmacsha256-signature does not match (check notification_url)",
			Ack: webhook.Text(http.StatusUnauthorized, "")}, nil
	}
	var n notification
	if err := json.Unmarshal(req.HTTP.Body, &n); err != nil {
		return pos.Result{}, fmt.Errorf("%w: %v", sdk.ErrInvalidInput, err)
	}
	res := pos.Result{Outcome: pos.Accepted, EventID: n.EventID, EventType: n.Type, Ack: ok}
	p, err := parse(n)
	if errors.Is(err, errSkip) {
		res.Outcome, res.Reason = pos.Ignored, err.Error()
		return res, nil
	}
	if err == nil {
		p.MerchantID = req.MerchantID
		err = p.Validate()
	}
	if err != nil {
		return pos.Result{}, fmt.Errorf("%w: %s: %v", sdk.ErrInvalidInput, n.Type, err)
	}
	res.Events = []purchase.Purchase{p}
	return res, nil
}

var errSkip = errors.New("skipped")

func parse(n notification) (purchase.Purchase, error) {
	o := n.Data.Object
	switch n.Type {
	case "payment.created", "payment.updated":
		pm := o.Payment
		if pm == nil {
			return purchase.Purchase{}, errors.New("no data.object.payment")
		}
		if pm.Status != "COMPLETED" {
			return purchase.Purchase{}, fmt.Errorf("%w: payment status %s", errSkip, pm.Status)
		}
		if pm.ID == "" || pm.AmountMoney.Amount == nil || *pm.AmountMoney.Amount < 0 {
			return purchase.Purchase{}, errors.New("payment needs id and a non-negative amount_money.amount")
		}
		at, err := when(pm.UpdatedAt, pm.CreatedAt, n.CreatedAt)
		if err != nil {
			return purchase.Purchase{}, err
		}
		p := purchase.Purchase{Type: purchase.TypePurchase, ExternalOrderID: pm.ID, StoreID: pm.LocationID,
			AmountFen: *pm.AmountMoney.Amount, Currency: pm.AmountMoney.Currency, OccurredAt: at,
			Attributes: map[string]string{"source": "square"}}
		if pm.OrderID != "" {
			p.Attributes["square_order_id"] = pm.OrderID
		}
		if pm.SourceType != "" {
			p.Attributes["channel"] = pm.SourceType
		}
		if pm.BuyerEmailAddress != "" {
			p.Members = append(p.Members, purchase.Identity{Type: "email", Value: pm.BuyerEmailAddress})
		}
		if pm.CustomerID != "" {
			p.Members = append(p.Members, purchase.Identity{Type: "square_customer", Value: pm.CustomerID})
		}
		return p, nil
	case "refund.created", "refund.updated":
		r := o.Refund
		if r == nil {
			return purchase.Purchase{}, errors.New("no data.object.refund")
		}
		if r.Status != "COMPLETED" {
			return purchase.Purchase{}, fmt.Errorf("%w: refund status %s", errSkip, r.Status)
		}
		if r.ID == "" || r.PaymentID == "" || r.AmountMoney.Amount == nil || *r.AmountMoney.Amount <= 0 {
			return purchase.Purchase{}, errors.New("refund needs id, payment_id and a positive amount_money.amount")
		}
		at, err := when(r.UpdatedAt, r.CreatedAt, n.CreatedAt)
		if err != nil {
			return purchase.Purchase{}, err
		}
		return purchase.Purchase{Type: purchase.TypeRefund, ExternalOrderID: "refund:" + r.ID, OriginalOrderID: r.PaymentID,
			StoreID: r.LocationID, AmountFen: *r.AmountMoney.Amount, Currency: r.AmountMoney.Currency, OccurredAt: at}, nil
	}
	return purchase.Purchase{}, fmt.Errorf("%w: event type %s is not used", errSkip, n.Type)
}

func when(ts ...string) (time.Time, error) {
	for _, s := range ts {
		if s != "" {
			t, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				return time.Time{}, fmt.Errorf("time %q: %v", s, err)
			}
			return t.UTC(), nil
		}
	}
	return time.Time{}, errors.New("no time")
}
