// Package youzan is the POS adapter for Youzan (有赞) push messages:
// trade_TradePaid and trade_TradeSuccess earn, trade_refund_RefundSuccess
// claws back. Youzan signs a push with the header
//
//	Event-Sign = hex(MD5(client_id + raw body + client_secret))
//
// (older pushes carry only the body's sign = MD5(client_id + msg as sent,
// still URL-encoded, + client_secret)); either is compared in constant time
// before anything is parsed. The body is {client_id, kdt_id, type, status,
// msg, sign, test, ...} where msg is URL-encoded JSON; amounts are yuan
// strings ("139.14") converted by their digits. Youzan expects
// {"code":0,"msg":"success"} back. A buyer phone Youzan sent encrypted
// ("$...$1$") cannot be used; the buyer's yz_open_id is then the identity.
//
// Connection configuration: {"client_id": "...", "client_secret": "..."}.
package youzan

import (
	"context"
	"crypto/md5"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
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
	Name    = "youzan"
	Version = "1.0.0"
)

// Headers Youzan sends.
const (
	HeaderSign = "Event-Sign"
	HeaderType = "Event-Type"
)

// ConnectionSchema is the JSON Schema of a connection's configuration.
const ConnectionSchema = `{"type": "object", "additionalProperties": false, "required": ["client_id", "client_secret"],
  "properties": {"client_id": {"type": "string", "minLength": 1}, "client_secret": {"type": "string", "minLength": 1}}}`

// Plugins is what "lianmeng plugin serve youzan" serves.
func Plugins() sdk.Plugins {
	return sdk.Plugins{POSAdapter: &sdk.POSAdapter{
		Info: sdk.Info{Name: Name, Version: Version, Summary: "Youzan (有赞) trade and refund push messages",
			ConfigSchema: json.RawMessage(`{"type": "object", "additionalProperties": false}`)},
		New: New,
	}}
}

// Config is a connection's configuration.
type Config struct {
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
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

// Sign returns the Event-Sign header of body.
func Sign(clientID, secret string, body []byte) string {
	s := md5.Sum([]byte(clientID + string(body) + secret))
	return hex.EncodeToString(s[:])
}

// Ack is what Youzan expects for a push it should not deliver again.
var Ack = webhook.JSON(http.StatusOK, []byte(`{"code":0,"msg":"success"}`))

type push struct {
	ClientID string `json:"client_id"`
	KdtID    any    `json:"kdt_id"`
	Type     string `json:"type"`
	Status   string `json:"status"`
	Msg      string `json:"msg"`
	Sign     string `json:"sign"`
	Test     bool   `json:"test"`
	ID       string `json:"id"`
}

func (adapter) HandleWebhook(_ context.Context, req pos.Request) (pos.Result, error) {
	var cfg Config
	if err := sdk.DecodeConfig(req.MerchantConfig, &cfg); err != nil {
		return pos.Result{}, err
	}
	if cfg.ClientID == "" || cfg.ClientSecret == "" {
		return pos.Result{}, fmt.Errorf("%w: client_id and client_secret are required", sdk.ErrInvalidConfig)
	}
	reject := pos.Result{Outcome: pos.Rejected, Reason: "Event-Sign does not match", Ack: webhook.Text(http.StatusUnauthorized, "")}
	var p push
	if got := req.HTTP.Header.Get(HeaderSign); got != "" {
		if !equalHex(got, Sign(cfg.ClientID, cfg.ClientSecret, req.HTTP.Body)) {
			return reject, nil
		}
		if err := json.Unmarshal(req.HTTP.Body, &p); err != nil {
			return pos.Result{}, fmt.Errorf("%w: %v", sdk.ErrInvalidInput, err)
		}
	} else {
		// The legacy scheme signs msg inside the body: parse only the
		// envelope, verify, then trust nothing else until it matches.
		if err := json.Unmarshal(req.HTTP.Body, &p); err != nil || p.Sign == "" {
			return reject, nil
		}
		s := md5.Sum([]byte(cfg.ClientID + p.Msg + cfg.ClientSecret))
		if !equalHex(p.Sign, hex.EncodeToString(s[:])) {
			return reject, nil
		}
	}
	typ := p.Type
	if h := req.HTTP.Header.Get(HeaderType); h != "" {
		typ = h
	}
	res := pos.Result{Outcome: pos.Accepted, EventType: typ, Ack: Ack}
	if p.Test {
		res.Outcome, res.Reason = pos.Ignored, "a test push"
		return res, nil
	}
	msg, err := url.QueryUnescape(p.Msg)
	if err != nil {
		return pos.Result{}, fmt.Errorf("%w: msg: %v", sdk.ErrInvalidInput, err)
	}
	var ev purchase.Purchase
	switch typ {
	case "trade_TradePaid", "trade_TradeSuccess":
		ev, err = parseTrade([]byte(msg))
		res.EventID = typ + ":" + ev.ExternalOrderID
	case "trade_refund_RefundSuccess":
		ev, err = parseRefund([]byte(msg))
		res.EventID = typ + ":" + ev.ExternalOrderID
	default:
		res.Outcome, res.Reason = pos.Ignored, "type "+typ+" is not used"
		return res, nil
	}
	if err == nil {
		ev.MerchantID = req.MerchantID
		err = ev.Validate()
	}
	if err != nil {
		return pos.Result{}, fmt.Errorf("%w: %s: %v", sdk.ErrInvalidInput, typ, err)
	}
	if p.ID != "" {
		res.EventID = typ + ":" + p.ID
	}
	res.Events = []purchase.Purchase{ev}
	return res, nil
}

func equalHex(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(strings.ToLower(a)), []byte(b)) == 1
}

// cst is the zone Youzan's times ("2026-11-30 20:49:59") are in.
var cst = time.FixedZone("CST", 8*3600)

func parseTime(s string) (time.Time, error) {
	t, err := time.ParseInLocation("2006-01-02 15:04:05", s, cst)
	if err != nil {
		return time.Time{}, fmt.Errorf("time %q: %v", s, err)
	}
	return t.UTC(), nil
}

type trade struct {
	FullOrderInfo struct {
		OrderInfo struct {
			Tid     string      `json:"tid"`
			PayTime string      `json:"pay_time"`
			Created string      `json:"created"`
			NodeKdt json.Number `json:"node_kdt_id"`
		} `json:"order_info"`
		PayInfo struct {
			Payment string `json:"payment"`
		} `json:"pay_info"`
		BuyerInfo struct {
			BuyerPhone  string `json:"buyer_phone"`
			YzOpenID    string `json:"yz_open_id"`
			OuterUserID string `json:"outer_user_id"`
		} `json:"buyer_info"`
		Orders []struct {
			Title      string `json:"title"`
			Num        int64  `json:"num"`
			Payment    string `json:"payment"`
			OuterSkuID string `json:"outer_sku_id"`
		} `json:"orders"`
	} `json:"full_order_info"`
}

func parseTrade(msg []byte) (purchase.Purchase, error) {
	var t trade
	if err := json.Unmarshal(msg, &t); err != nil {
		return purchase.Purchase{}, err
	}
	o := t.FullOrderInfo
	if o.OrderInfo.Tid == "" {
		return purchase.Purchase{}, errors.New("no full_order_info.order_info.tid")
	}
	amount, err := decimal.ToMinor(o.PayInfo.Payment, "CNY")
	if err != nil {
		return purchase.Purchase{}, fmt.Errorf("pay_info.payment: %v", err)
	}
	ts := o.OrderInfo.PayTime
	if ts == "" {
		ts = o.OrderInfo.Created
	}
	at, err := parseTime(ts)
	if err != nil {
		return purchase.Purchase{}, err
	}
	p := purchase.Purchase{Type: purchase.TypePurchase, ExternalOrderID: o.OrderInfo.Tid, AmountFen: amount, Currency: "CNY", OccurredAt: at,
		Attributes: map[string]string{"source": "youzan"}}
	p.StoreID = o.OrderInfo.NodeKdt.String() // the branch store, for the store map
	for i, it := range o.Orders {
		a, err := decimal.ToMinor(it.Payment, "CNY")
		if err != nil || it.Num < 0 {
			return purchase.Purchase{}, fmt.Errorf("orders[%d]: num %d, payment %q", i, it.Num, it.Payment)
		}
		p.Items = append(p.Items, purchase.LineItem{SKU: it.OuterSkuID, Name: it.Title, Quantity: it.Num, AmountFen: a})
	}
	b := o.BuyerInfo
	if b.BuyerPhone != "" && !strings.HasPrefix(b.BuyerPhone, "$") { // "$...$1$" is encrypted
		p.Members = append(p.Members, purchase.Identity{Type: purchase.IdentityPhone, Value: b.BuyerPhone})
	}
	if b.YzOpenID != "" {
		p.Members = append(p.Members, purchase.Identity{Type: "youzan_open_id", Value: b.YzOpenID})
	}
	return p, nil
}

type refund struct {
	Tid         string `json:"tid"`
	RefundID    string `json:"refund_id"`
	RefundedFee string `json:"refunded_fee"`
	Modified    string `json:"modified"`
	Created     string `json:"created"`
}

func parseRefund(msg []byte) (purchase.Purchase, error) {
	var r refund
	if err := json.Unmarshal(msg, &r); err != nil {
		return purchase.Purchase{}, err
	}
	if r.Tid == "" || r.RefundID == "" {
		return purchase.Purchase{}, errors.New("refund needs tid and refund_id")
	}
	amount, err := decimal.ToMinor(r.RefundedFee, "CNY")
	if err != nil {
		return purchase.Purchase{}, fmt.Errorf("refunded_fee: %v", err)
	}
	ts := r.Modified
	if ts == "" {
		ts = r.Created
	}
	at, err := parseTime(ts)
	if err != nil {
		return purchase.Purchase{}, err
	}
	return purchase.Purchase{Type: purchase.TypeRefund, ExternalOrderID: "refund:" + r.RefundID, OriginalOrderID: r.Tid,
		AmountFen: amount, Currency: "CNY", OccurredAt: at}, nil
}
