// Package wechatpay is a POS adapter for merchants without a POS: their own
// WeChat Pay (APIv3) payment notifications earn points. TRANSACTION.SUCCESS
// earns on amount.total (fen) for the payer's openid; REFUND.SUCCESS claws
// back by out_trade_no. Each notification is verified with wechatpay-go's
// RSA verifier in public-key mode: Wechatpay-Signature is RSA-SHA256 over
// "timestamp\nnonce\nbody\n" under the key Wechatpay-Serial names, and the
// resource is decrypted (AES-256-GCM) with the APIv3 key. The timestamp
// window (5 minutes) is checked against the gateway's receive time
// (pos.ReceivedAt), so an event parsed again later still verifies; a
// replayed notification is stored once by its id. The probe WeChat Pay
// sends with a "WECHATPAY/SIGNTEST/" signature fails verification, as it
// must. Answers {"code":"SUCCESS","message":"成功"}.
//
// Connection configuration:
//
//	{"mch_id": "1900000109", "public_key_id": "PUB_KEY_ID_...", "public_key": "-----BEGIN PUBLIC KEY-----...", "api_v3_key": "..."}
//
// The member is known only by openid (no phone, no line items): the
// openid earns into a member the person can later bind to a phone.
package wechatpay

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/wechatpay-apiv3/wechatpay-go/core/auth/verifiers"
	"github.com/wechatpay-apiv3/wechatpay-go/utils"

	"github.com/lianmeng/lianmeng/sdk"
	"github.com/lianmeng/lianmeng/sdk/pos"
	"github.com/lianmeng/lianmeng/sdk/purchase"
	"github.com/lianmeng/lianmeng/sdk/webhook"
)

// Name and Version identify the adapter.
const (
	Name    = "wechatpay_pos"
	Version = "1.0.0"
)

// Window is how far Wechatpay-Timestamp may be from the receive time.
const Window = 5 * time.Minute

// ConnectionSchema is the JSON Schema of a connection's configuration.
const ConnectionSchema = `{"type": "object", "additionalProperties": false, "required": ["mch_id", "public_key_id", "public_key", "api_v3_key"],
  "properties": {"mch_id": {"type": "string"}, "public_key_id": {"type": "string", "pattern": "^PUB_KEY_ID_"},
    "public_key": {"type": "string", "description": "WeChat Pay's public key, PEM"}, "api_v3_key": {"type": "string", "minLength": 32, "maxLength": 32}}}`

// Plugins is what "lianmeng plugin serve wechatpay_pos" serves.
func Plugins() sdk.Plugins {
	return sdk.Plugins{POSAdapter: &sdk.POSAdapter{
		Info: sdk.Info{Name: Name, Version: Version, Summary: "WeChat Pay payment notifications as a source of purchases",
			ConfigSchema: json.RawMessage(`{"type": "object", "additionalProperties": false}`)},
		New: New,
	}}
}

// Config is a connection's configuration.
type Config struct {
	MchID       string `json:"mch_id"`
	PublicKeyID string `json:"public_key_id"`
	PublicKey   string `json:"public_key"`
	APIv3Key    string `json:"api_v3_key"`
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

var (
	success = webhook.JSON(http.StatusOK, []byte(`{"code":"SUCCESS","message":"成功"}`))
	fail    = webhook.JSON(http.StatusUnauthorized, []byte(`{"code":"FAIL","message":"verification failed"}`))
)

type notification struct {
	ID        string `json:"id"`
	EventType string `json:"event_type"`
	Resource  struct {
		Algorithm      string `json:"algorithm"`
		Ciphertext     string `json:"ciphertext"`
		AssociatedData string `json:"associated_data"`
		Nonce          string `json:"nonce"`
	} `json:"resource"`
}

func (adapter) HandleWebhook(ctx context.Context, req pos.Request) (pos.Result, error) {
	var cfg Config
	if err := sdk.DecodeConfig(req.MerchantConfig, &cfg); err != nil {
		return pos.Result{}, err
	}
	pub, err := publicKey(cfg)
	if err != nil {
		return pos.Result{}, err
	}
	h := req.HTTP.Header
	reject := func(why string) (pos.Result, error) {
		return pos.Result{Outcome: pos.Rejected, Reason: why, Ack: fail}, nil
	}
	ts, err := strconv.ParseInt(h.Get("Wechatpay-Timestamp"), 10, 64)
	if err != nil {
		return reject("no Wechatpay-Timestamp")
	}
	at, ok := pos.ReceivedAt(req)
	if !ok {
		at = time.Now()
	}
	if d := at.Sub(time.Unix(ts, 0)); d > Window || d < -Window {
		return reject("Wechatpay-Timestamp outside the 5-minute window of the receive time")
	}
	sig := h.Get("Wechatpay-Signature")
	if strings.HasPrefix(sig, "WECHATPAY/SIGNTEST/") {
		return reject("signature probe")
	}
	msg := fmt.Sprintf("%s\n%s\n%s\n", h.Get("Wechatpay-Timestamp"), h.Get("Wechatpay-Nonce"), req.HTTP.Body)
	v := verifiers.NewSHA256WithRSAPubkeyVerifier(cfg.PublicKeyID, *pub)
	if err := v.Verify(ctx, h.Get("Wechatpay-Serial"), msg, sig); err != nil {
		return reject("Wechatpay-Signature does not verify")
	}
	var n notification
	if err := json.Unmarshal(req.HTTP.Body, &n); err != nil {
		return pos.Result{}, fmt.Errorf("%w: %v", sdk.ErrInvalidInput, err)
	}
	res := pos.Result{Outcome: pos.Accepted, EventID: n.ID, EventType: n.EventType, Ack: success}
	if n.EventType != "TRANSACTION.SUCCESS" && n.EventType != "REFUND.SUCCESS" {
		res.Outcome, res.Reason = pos.Ignored, "event "+n.EventType+" is not used"
		return res, nil
	}
	if n.Resource.Algorithm != "AEAD_AES_256_GCM" {
		return pos.Result{}, fmt.Errorf("%w: resource algorithm %q", sdk.ErrInvalidInput, n.Resource.Algorithm)
	}
	plain, err := utils.DecryptAES256GCM(cfg.APIv3Key, n.Resource.AssociatedData, n.Resource.Nonce, n.Resource.Ciphertext)
	if err != nil {
		// Signed by WeChat Pay but not sealed with this api_v3_key: the
		// configuration is wrong, and it may be fixed and replayed.
		return pos.Result{}, fmt.Errorf("%w: resource does not decrypt with this api_v3_key", sdk.ErrInvalidInput)
	}
	var p purchase.Purchase
	if n.EventType == "TRANSACTION.SUCCESS" {
		p, err = transaction([]byte(plain), cfg.MchID)
	} else {
		p, err = refund([]byte(plain), cfg.MchID)
	}
	if err == nil {
		p.MerchantID = req.MerchantID
		err = p.Validate()
	}
	if err != nil {
		return pos.Result{}, fmt.Errorf("%w: %s: %v", sdk.ErrInvalidInput, n.EventType, err)
	}
	res.Events = []purchase.Purchase{p}
	return res, nil
}

func publicKey(c Config) (*rsa.PublicKey, error) {
	if c.MchID == "" || !strings.HasPrefix(c.PublicKeyID, "PUB_KEY_ID_") || len(c.APIv3Key) != 32 {
		return nil, fmt.Errorf("%w: mch_id, public_key_id (PUB_KEY_ID_...) and a 32-character api_v3_key are required", sdk.ErrInvalidConfig)
	}
	block, _ := pem.Decode([]byte(c.PublicKey))
	if block == nil {
		return nil, fmt.Errorf("%w: public_key is not PEM", sdk.ErrInvalidConfig)
	}
	k, err := x509.ParsePKIXPublicKey(block.Bytes)
	rk, ok := k.(*rsa.PublicKey)
	if err != nil || !ok {
		return nil, fmt.Errorf("%w: public_key is not an RSA public key", sdk.ErrInvalidConfig)
	}
	return rk, nil
}

func transaction(b []byte, mchID string) (purchase.Purchase, error) {
	var t struct {
		MchID         string `json:"mchid"`
		OutTradeNo    string `json:"out_trade_no"`
		TransactionID string `json:"transaction_id"`
		TradeState    string `json:"trade_state"`
		SuccessTime   string `json:"success_time"`
		Payer         struct {
			OpenID string `json:"openid"`
		} `json:"payer"`
		Amount struct {
			Total    *int64 `json:"total"`
			Currency string `json:"currency"`
		} `json:"amount"`
	}
	if err := json.Unmarshal(b, &t); err != nil {
		return purchase.Purchase{}, err
	}
	switch {
	case t.MchID != mchID:
		return purchase.Purchase{}, fmt.Errorf("mchid %q is not this connection's", t.MchID)
	case t.TradeState != "SUCCESS":
		return purchase.Purchase{}, fmt.Errorf("trade_state %q", t.TradeState)
	case t.OutTradeNo == "" || t.Amount.Total == nil:
		return purchase.Purchase{}, errors.New("needs out_trade_no and amount.total")
	}
	at, err := time.Parse(time.RFC3339, t.SuccessTime)
	if err != nil {
		return purchase.Purchase{}, fmt.Errorf("success_time: %v", err)
	}
	cur := t.Amount.Currency
	if cur == "" {
		cur = "CNY"
	}
	p := purchase.Purchase{Type: purchase.TypePurchase, ExternalOrderID: t.OutTradeNo, AmountFen: *t.Amount.Total, Currency: cur,
		OccurredAt: at.UTC(), PaymentMethod: "wechat_pay", Attributes: map[string]string{"source": "wechatpay", "transaction_id": t.TransactionID}}
	if t.Payer.OpenID != "" {
		p.Members = []purchase.Identity{{Type: purchase.IdentityWeChatOpenID, Value: t.Payer.OpenID}}
	}
	return p, nil
}

func refund(b []byte, mchID string) (purchase.Purchase, error) {
	var r struct {
		MchID        string `json:"mchid"`
		OutTradeNo   string `json:"out_trade_no"`
		RefundID     string `json:"refund_id"`
		OutRefundNo  string `json:"out_refund_no"`
		RefundStatus string `json:"refund_status"`
		SuccessTime  string `json:"success_time"`
		Amount       struct {
			Refund *int64 `json:"refund"`
		} `json:"amount"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return purchase.Purchase{}, err
	}
	switch {
	case r.MchID != mchID:
		return purchase.Purchase{}, fmt.Errorf("mchid %q is not this connection's", r.MchID)
	case r.RefundStatus != "SUCCESS":
		return purchase.Purchase{}, fmt.Errorf("refund_status %q", r.RefundStatus)
	case r.OutTradeNo == "" || r.RefundID == "" || r.Amount.Refund == nil || *r.Amount.Refund <= 0:
		return purchase.Purchase{}, errors.New("needs out_trade_no, refund_id and a positive amount.refund")
	}
	at, err := time.Parse(time.RFC3339, r.SuccessTime)
	if err != nil {
		return purchase.Purchase{}, fmt.Errorf("success_time: %v", err)
	}
	return purchase.Purchase{Type: purchase.TypeRefund, ExternalOrderID: "refund:" + r.RefundID, OriginalOrderID: r.OutTradeNo,
		AmountFen: *r.Amount.Refund, Currency: "CNY", OccurredAt: at.UTC()}, nil
}
