// Package wechatpay is the WeChat Pay (APIv3) payment channel
// (builtin:wechatpay), built on github.com/wechatpay-apiv3/wechatpay-go in
// public-key verification mode, with the combined certificate + public key
// verifier for merchant accounts that still receive certificate-signed
// notifications while they migrate.
//
//   - CreatePayment: a Native (QR code) order to fund a merchant's budget;
//     the host's TransactionID is the out_trade_no.
//   - HandleNotification: verifies the signature (RSA SHA-256 with WeChat
//     Pay's public key), decrypts the resource (AEAD_AES_256_GCM with the
//     APIv3 key) and reports payments, refunds and transfer bills; a
//     notification that does not verify is refused with the body WeChat Pay
//     expects and never reported as verified.
//   - QueryPayment: the order by out_trade_no (payment.Querier).
//   - ExchangeLoginCode: a mini-program's wx.login code for the user's
//     openid, through jscode2session (payment.LoginExchanger).
//   - Refund: a domestic refund (out_refund_no = TransactionID).
//   - Payout / QueryPayout: the merchant transfer bill API
//     (/v3/fund-app/mch-transfer/transfer-bills), which the SDK lacks, through
//     its signed core client; out_bill_no = TransactionID.
//   - FetchStatement: the trade bill of a day, its SHA1 hash checked.
//
// Money is integer fen on both sides; WeChat Pay's JSON is in fen too, and
// the bill's yuan strings are parsed exactly (no floats).
//
// A call whose connection was refused never reached WeChat Pay: it answers
// StatusNotSubmitted (safe to send elsewhere). A 5xx or a timeout after the
// request was sent answers StatusUnknown: the host must query.
package wechatpay

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/wechatpay-apiv3/wechatpay-go/core"
	"github.com/wechatpay-apiv3/wechatpay-go/core/auth"
	"github.com/wechatpay-apiv3/wechatpay-go/core/auth/verifiers"
	"github.com/wechatpay-apiv3/wechatpay-go/core/consts"
	"github.com/wechatpay-apiv3/wechatpay-go/core/notify"
	"github.com/wechatpay-apiv3/wechatpay-go/core/option"
	"github.com/wechatpay-apiv3/wechatpay-go/services/payments"
	"github.com/wechatpay-apiv3/wechatpay-go/services/payments/native"
	"github.com/wechatpay-apiv3/wechatpay-go/services/refunddomestic"
	"github.com/wechatpay-apiv3/wechatpay-go/utils"

	"github.com/lianmeng/lianmeng/plugins"
	"github.com/lianmeng/lianmeng/sdk"
	"github.com/lianmeng/lianmeng/sdk/payment"
	"github.com/lianmeng/lianmeng/sdk/webhook"
)

// Name and Version identify the channel; a configuration selects it as
// path "builtin:wechatpay".
const (
	Name    = "wechatpay"
	Version = "0.1.0"
)

func init() { plugins.Register(Name, Plugins) }

// Plugins is what "lianmeng plugin serve wechatpay" serves.
func Plugins() sdk.Plugins {
	return sdk.Plugins{PaymentChannel: &sdk.PaymentChannel{
		Info: sdk.Info{
			Name:         Name,
			Version:      Version,
			Summary:      "WeChat Pay APIv3: Native funding, notifications, refunds, transfer-bill payouts, trade bills, mini-program sign-in",
			ConfigSchema: json.RawMessage(Schema),
			Capabilities: []string{sdk.CapRefunds, sdk.CapPayouts, sdk.CapStatements, sdk.CapQueryPayment, sdk.CapLogin},
		},
		New: func(ctx context.Context, raw []byte) (payment.Channel, error) { return New(ctx, raw) },
	}}
}

// Schema is the JSON Schema of the configuration.
const Schema = `{
  "type": "object",
  "additionalProperties": false,
  "required": ["mch_id", "app_id", "merchant_serial_no", "merchant_private_key", "public_key_id", "public_key", "api_v3_key", "notify_url"],
  "properties": {
    "mch_id": {"type": "string", "minLength": 1},
    "app_id": {"type": "string", "minLength": 1},
    "merchant_serial_no": {"type": "string", "minLength": 1},
    "merchant_private_key": {"type": "string", "description": "PKCS#8 PEM of the merchant API key"},
    "public_key_id": {"type": "string", "pattern": "^PUB_KEY_ID_"},
    "public_key": {"type": "string", "description": "PEM of WeChat Pay's public key"},
    "platform_certificates": {"type": "array", "items": {"type": "string"}, "description": "PEM platform certificates, while the account migrates"},
    "api_v3_key": {"type": "string", "minLength": 32, "maxLength": 32},
    "notify_url": {"type": "string", "format": "uri"},
    "transfer_scene_id": {"type": "string", "default": "1000"},
    "api_base": {"type": "string", "description": "test only: replaces https://api.mch.weixin.qq.com"},
    "mini_program_app_id": {"type": "string", "description": "the mini-program whose wx.login codes members sign in with [app_id]"},
    "mini_program_secret": {"type": "string", "description": "its AppSecret; without it the channel offers no member sign-in"},
    "login_api_base": {"type": "string", "description": "test only: replaces https://api.weixin.qq.com"},
    "timeout_seconds": {"type": "integer", "minimum": 1, "default": 10}
  }
}`

// Config is the decoded configuration.
type Config struct {
	MchID                string   `json:"mch_id"`
	AppID                string   `json:"app_id"`
	MerchantSerialNo     string   `json:"merchant_serial_no"`
	MerchantPrivateKey   string   `json:"merchant_private_key"`
	PublicKeyID          string   `json:"public_key_id"`
	PublicKey            string   `json:"public_key"`
	PlatformCertificates []string `json:"platform_certificates"`
	APIv3Key             string   `json:"api_v3_key"`
	NotifyURL            string   `json:"notify_url"`
	TransferSceneID      string   `json:"transfer_scene_id"`
	APIBase              string   `json:"api_base"`
	MiniProgramAppID     string   `json:"mini_program_app_id"`
	MiniProgramSecret    string   `json:"mini_program_secret"`
	LoginAPIBase         string   `json:"login_api_base"`
	TimeoutSeconds       int      `json:"timeout_seconds"`
}

// Channel is one configured WeChat Pay merchant account.
type Channel struct {
	c        Config
	client   *core.Client // signs requests, validates signed replies
	download *core.Client // signs requests, validates nothing (the bill file is unsigned)
	notify   *notify.Handler
	login    *http.Client // jscode2session: unsigned, the AppSecret in the query
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: wechatpay: %s", sdk.ErrInvalidConfig, fmt.Sprintf(format, args...))
}

// New builds a channel from its configuration.
func New(ctx context.Context, raw []byte) (*Channel, error) {
	var c Config
	if err := sdk.DecodeConfig(raw, &c); err != nil {
		return nil, err
	}
	for name, v := range map[string]string{"mch_id": c.MchID, "app_id": c.AppID, "merchant_serial_no": c.MerchantSerialNo,
		"merchant_private_key": c.MerchantPrivateKey, "public_key_id": c.PublicKeyID, "public_key": c.PublicKey, "notify_url": c.NotifyURL} {
		if strings.TrimSpace(v) == "" {
			return nil, invalid("%s is required", name)
		}
	}
	if len(c.APIv3Key) != 32 {
		return nil, invalid("api_v3_key must be 32 characters (AES-256), got %d", len(c.APIv3Key))
	}
	if !strings.HasPrefix(c.PublicKeyID, "PUB_KEY_ID_") {
		return nil, invalid("public_key_id must start with PUB_KEY_ID_")
	}
	if u, err := url.Parse(c.NotifyURL); err != nil || u.Scheme == "" || u.Host == "" || u.RawQuery != "" {
		return nil, invalid("notify_url must be an absolute URL without a query")
	}
	key, err := utils.LoadPrivateKey(c.MerchantPrivateKey)
	if err != nil {
		return nil, invalid("merchant_private_key: %v", err)
	}
	pub, err := loadPublicKey(c.PublicKey)
	if err != nil {
		return nil, invalid("public_key: %v", err)
	}
	if c.TransferSceneID == "" {
		c.TransferSceneID = "1000"
	}
	if c.TimeoutSeconds == 0 {
		c.TimeoutSeconds = 10
	}
	httpClient := &http.Client{Timeout: time.Duration(c.TimeoutSeconds) * time.Second}
	if c.APIBase != "" {
		base, err := url.Parse(c.APIBase)
		if err != nil || base.Host == "" {
			return nil, invalid("api_base must be an absolute URL")
		}
		httpClient.Transport = rewrite{base: base}
	}

	// The verifier: public key, plus certificates while an account migrates.
	var verifier auth.Verifier = verifiers.NewSHA256WithRSAPubkeyVerifier(c.PublicKeyID, *pub)
	if len(c.PlatformCertificates) > 0 {
		certs := make([]*x509.Certificate, 0, len(c.PlatformCertificates))
		for i, p := range c.PlatformCertificates {
			cert, err := utils.LoadCertificate(p)
			if err != nil {
				return nil, invalid("platform_certificates[%d]: %v", i, err)
			}
			certs = append(certs, cert)
		}
		verifier = verifiers.NewSHA256WithRSACombinedVerifier(core.NewCertificateMapWithList(certs), c.PublicKeyID, *pub)
	}
	client, err := core.NewClient(ctx,
		option.WithWechatPayPublicKeyAuthCipher(c.MchID, c.MerchantSerialNo, key, c.PublicKeyID, pub),
		option.WithVerifier(verifier),
		option.WithHTTPClient(httpClient))
	if err != nil {
		return nil, fmt.Errorf("wechatpay: client: %w", err)
	}
	download, err := core.NewClient(ctx,
		option.WithMerchantCredential(c.MchID, c.MerchantSerialNo, key),
		option.WithoutValidator(),
		option.WithHTTPClient(httpClient))
	if err != nil {
		return nil, fmt.Errorf("wechatpay: download client: %w", err)
	}
	h, err := notify.NewRSANotifyHandler(c.APIv3Key, verifier)
	if err != nil {
		return nil, invalid("api_v3_key: %v", err)
	}
	if c.LoginAPIBase != "" {
		if u, err := url.Parse(c.LoginAPIBase); err != nil || u.Host == "" || u.Path != "" {
			return nil, invalid("login_api_base must be an absolute URL without a path")
		}
	}
	return &Channel{c: c, client: client, download: download, notify: h, login: loginClient(time.Duration(c.TimeoutSeconds) * time.Second)}, nil
}

func loadPublicKey(p string) (*rsa.PublicKey, error) {
	block, _ := pem.Decode([]byte(p))
	if block == nil {
		return nil, errors.New("not PEM")
	}
	k, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, err
	}
	rk, ok := k.(*rsa.PublicKey)
	if !ok {
		return nil, errors.New("not an RSA public key")
	}
	return rk, nil
}

// rewrite sends every request to base instead of WeChat Pay's host. The
// signature covers only the request URI, which does not change.
type rewrite struct{ base *url.URL }

func (r rewrite) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.URL.Scheme, req.URL.Host, req.Host = r.base.Scheme, r.base.Host, r.base.Host
	return http.DefaultTransport.RoundTrip(req)
}

// classify turns an SDK error into a result status: refused connections
// never reached WeChat Pay; HTTP 5xx, timeouts and broken replies may have
// taken effect; 4xx replies are WeChat Pay's definite refusal.
func classify(err error) payment.Result {
	var api *core.APIError
	if errors.As(err, &api) {
		if api.StatusCode >= 500 || api.Code == "SYSTEM_ERROR" || api.Code == "FREQUENCY_LIMITED" {
			return payment.Result{Status: payment.StatusUnknown, FailureCode: api.Code, FailureMessage: api.Message}
		}
		return payment.Result{Status: payment.StatusFailed, FailureCode: api.Code, FailureMessage: api.Message}
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return payment.Result{Status: payment.StatusNotSubmitted, FailureCode: "connection_refused", FailureMessage: err.Error()}
	}
	return payment.Result{Status: payment.StatusUnknown, FailureCode: "no_answer", FailureMessage: err.Error()}
}

// CreatePayment places a Native order; the payer scans QRCode.
func (ch *Channel) CreatePayment(ctx context.Context, req payment.CreatePaymentRequest) (payment.CreatePaymentResponse, error) {
	if err := checkMoney(req.TransactionID, req.AmountFen, req.Currency); err != nil {
		return payment.CreatePaymentResponse{}, err
	}
	desc := req.Description
	if desc == "" {
		desc = "Points budget " + req.MerchantID
	}
	notifyURL := ch.c.NotifyURL
	if req.NotifyURL != "" {
		notifyURL = req.NotifyURL
	}
	pr := native.PrepayRequest{
		Appid: core.String(ch.c.AppID), Mchid: core.String(ch.c.MchID), Description: core.String(desc),
		OutTradeNo: core.String(req.TransactionID), NotifyUrl: core.String(notifyURL), Attach: core.String(req.MerchantID),
		Amount: &native.Amount{Total: core.Int64(req.AmountFen), Currency: core.String("CNY")},
	}
	if !req.ExpiresAt.IsZero() {
		pr.TimeExpire = core.Time(req.ExpiresAt)
	}
	svc := native.NativeApiService{Client: ch.client}
	resp, _, err := svc.Prepay(ctx, pr)
	res := payment.Result{TransactionID: req.TransactionID, AmountFen: req.AmountFen}
	if err != nil {
		c := classify(err)
		c.TransactionID, c.AmountFen = req.TransactionID, req.AmountFen
		return payment.CreatePaymentResponse{Result: c}, nil
	}
	res.Status = payment.StatusPending
	return payment.CreatePaymentResponse{Result: res, QRCode: *resp.CodeUrl, PayURL: *resp.CodeUrl}, nil
}

func checkMoney(id string, fen int64, currency string) error {
	if id == "" {
		return fmt.Errorf("%w: wechatpay: a transaction id is required", sdk.ErrInvalidInput)
	}
	if len(id) < 6 || len(id) > 32 {
		return fmt.Errorf("%w: wechatpay: transaction id %q must be 6 to 32 characters", sdk.ErrInvalidInput, id)
	}
	if fen <= 0 {
		return fmt.Errorf("%w: wechatpay: amount %d fen must be positive", sdk.ErrInvalidInput, fen)
	}
	if currency != "" && currency != "CNY" {
		return fmt.Errorf("%w: wechatpay: currency %q (only CNY)", sdk.ErrInvalidInput, currency)
	}
	return nil
}

// QueryPayment reads an order by its out_trade_no (the host's transaction
// id): the active query that credits a funding whose notification was lost.
// An order WeChat Pay does not have was never taken: StatusNotSubmitted.
func (ch *Channel) QueryPayment(ctx context.Context, req payment.QueryPaymentRequest) (payment.Result, error) {
	if req.TransactionID == "" {
		return payment.Result{}, fmt.Errorf("%w: wechatpay: query needs the transaction id", sdk.ErrInvalidInput)
	}
	svc := native.NativeApiService{Client: ch.client}
	tx, _, err := svc.QueryOrderByOutTradeNo(ctx, native.QueryOrderByOutTradeNoRequest{
		OutTradeNo: core.String(req.TransactionID), Mchid: core.String(ch.c.MchID)})
	if err != nil {
		res := classify(err)
		res.TransactionID = req.TransactionID
		if core.IsAPIError(err, "ORDER_NOT_EXIST") || core.IsAPIError(err, "ORDERNOTEXIST") {
			res.Status = payment.StatusNotSubmitted
		}
		return res, nil
	}
	res, err := ch.transactionResult(tx)
	if err == nil && res.TransactionID != req.TransactionID {
		return payment.Result{}, fmt.Errorf("wechatpay: query %s answered order %s", req.TransactionID, res.TransactionID)
	}
	return res, err
}

var tradeStates = map[string]payment.Status{
	"SUCCESS": payment.StatusSucceeded, "REFUND": payment.StatusSucceeded, // paid, then (partly) refunded
	"NOTPAY": payment.StatusPending, "USERPAYING": payment.StatusPending, "ACCEPT": payment.StatusPending,
	"CLOSED": payment.StatusFailed, "REVOKED": payment.StatusFailed, "PAYERROR": payment.StatusFailed,
}

func (ch *Channel) transactionResult(tx *payments.Transaction) (payment.Result, error) {
	if tx.Mchid != nil && *tx.Mchid != ch.c.MchID || tx.Appid != nil && *tx.Appid != ch.c.AppID {
		return payment.Result{}, fmt.Errorf("%w: wechatpay: transaction for another account (mchid %s)", sdk.ErrInvalidInput, deref(tx.Mchid))
	}
	state := deref(tx.TradeState)
	st, ok := tradeStates[state]
	if !ok {
		st = payment.StatusUnknown
	}
	res := payment.Result{Status: st, TransactionID: deref(tx.OutTradeNo), ChannelReference: deref(tx.TransactionId),
		Properties: map[string]string{"trade_state": state, "trade_type": deref(tx.TradeType)}}
	if tx.Amount != nil {
		res.AmountFen = derefInt(tx.Amount.Total)
		res.Properties["currency"] = deref(tx.Amount.Currency)
		res.Properties["payer_total"] = fmt.Sprint(derefInt(tx.Amount.PayerTotal))
	}
	if tx.Attach != nil {
		res.Properties["attach"] = *tx.Attach
	}
	if tx.SuccessTime != nil {
		if t, err := time.Parse(time.RFC3339, *tx.SuccessTime); err == nil {
			res.CompletedAt = t.UTC()
		}
	}
	if st == payment.StatusFailed {
		res.FailureCode, res.FailureMessage = state, deref(tx.TradeStateDesc)
	}
	return res, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func derefInt(i *int64) int64 {
	if i == nil {
		return 0
	}
	return *i
}

// ack is the answer WeChat Pay expects: 200 (or 204) for success, 4xx/5xx
// with a code and message for failure (it then retries).
func ack(status int, code, msg string) webhook.Response {
	if status == http.StatusOK {
		return webhook.JSON(http.StatusOK, []byte(`{"code":"SUCCESS","message":"成功"}`))
	}
	b, _ := json.Marshal(map[string]string{"code": code, "message": msg})
	return webhook.JSON(status, b)
}

// HandleNotification verifies and decrypts a notification. One that does
// not verify or decrypt is answered 401 FAIL (WeChat Pay will retry it)
// and reported with Verified false.
func (ch *Channel) HandleNotification(ctx context.Context, req webhook.Request) (payment.Notification, error) {
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, "/", strings.NewReader(string(req.Body)))
	if err != nil {
		return payment.Notification{}, fmt.Errorf("wechatpay: notification: %w", err)
	}
	hr.Header = req.Header.Clone()
	var content json.RawMessage
	n, err := ch.notify.ParseNotifyRequest(ctx, hr, &content)
	if err != nil {
		// The SDK's error quotes the whole request; keep only the reason.
		reason, _, _ := strings.Cut(err.Error(), ", request:")
		return payment.Notification{Verified: false, Ack: ack(http.StatusUnauthorized, "FAIL", "verification failed"),
			Result: payment.Result{Status: payment.StatusUnspecified, FailureCode: "bad_notification", FailureMessage: reason}}, nil
	}
	out := payment.Notification{Verified: true, Ack: ack(http.StatusOK, "", "")}
	switch {
	case strings.HasPrefix(n.EventType, "TRANSACTION."):
		var tx payments.Transaction
		if err := json.Unmarshal(content, &tx); err != nil {
			return refused("transaction resource: " + err.Error()), nil
		}
		res, err := ch.transactionResult(&tx)
		if err != nil {
			return refused(err.Error()), nil
		}
		out.EventType, out.Result = "payment", res
	case strings.HasPrefix(n.EventType, "REFUND."):
		var r struct {
			MchID       string `json:"mchid"`
			OutTradeNo  string `json:"out_trade_no"`
			OutRefundNo string `json:"out_refund_no"`
			RefundID    string `json:"refund_id"`
			Status      string `json:"refund_status"`
			SuccessTime string `json:"success_time"`
			Amount      struct {
				Refund int64 `json:"refund"`
			} `json:"amount"`
		}
		if err := json.Unmarshal(content, &r); err != nil || r.MchID != "" && r.MchID != ch.c.MchID {
			return refused("refund resource for another account or malformed"), nil
		}
		out.EventType = "refund"
		out.Result = payment.Result{Status: refundStatus(r.Status), TransactionID: r.OutRefundNo, ChannelReference: r.RefundID,
			AmountFen: r.Amount.Refund, Properties: map[string]string{"out_trade_no": r.OutTradeNo, "refund_status": r.Status}}
		out.Result.CompletedAt, _ = time.Parse(time.RFC3339, r.SuccessTime)
	case strings.HasPrefix(n.EventType, "MCHTRANSFER."):
		var t transferBill
		if err := json.Unmarshal(content, &t); err != nil || t.MchID != "" && t.MchID != ch.c.MchID {
			return refused("transfer resource for another account or malformed"), nil
		}
		out.EventType, out.Result = "payout", t.result()
	default:
		out.EventType = strings.ToLower(n.EventType)
	}
	out.Result.Properties = withProp(out.Result.Properties, "notification_id", n.ID)
	return out, nil
}

// refused is a notification that verified but cannot be accepted (another
// account's, or not the shape its event says): refused so WeChat Pay
// retries and an operator sees it, never credited.
func refused(msg string) payment.Notification {
	return payment.Notification{Verified: false, Ack: ack(http.StatusBadRequest, "FAIL", "refused"),
		Result: payment.Result{FailureCode: "bad_notification", FailureMessage: msg}}
}

func withProp(m map[string]string, k, v string) map[string]string {
	if m == nil {
		m = map[string]string{}
	}
	m[k] = v
	return m
}

func refundStatus(s string) payment.Status {
	switch s {
	case "SUCCESS":
		return payment.StatusSucceeded
	case "PROCESSING":
		return payment.StatusPending
	case "CLOSED", "ABNORMAL":
		return payment.StatusFailed
	}
	return payment.StatusUnknown
}

// Refund refunds part or all of a funding payment. WeChat Pay needs the
// order's total, so the order is queried first.
func (ch *Channel) Refund(ctx context.Context, req payment.RefundRequest) (payment.Result, error) {
	if err := checkMoney(req.TransactionID, req.AmountFen, req.Currency); err != nil {
		return payment.Result{}, err
	}
	if req.OriginalTransactionID == "" {
		return payment.Result{}, fmt.Errorf("%w: wechatpay: refund needs the original transaction id", sdk.ErrInvalidInput)
	}
	order, err := ch.QueryPayment(ctx, payment.QueryPaymentRequest{TransactionID: req.OriginalTransactionID})
	if err != nil {
		return payment.Result{}, err
	}
	if order.Status != payment.StatusSucceeded {
		// The refund itself was not sent: the order could not be read, or it
		// is not paid.
		st := payment.StatusFailed
		if order.Status == payment.StatusUnknown || order.Status == payment.StatusNotSubmitted {
			st = payment.StatusNotSubmitted
		}
		return payment.Result{Status: st, TransactionID: req.TransactionID, AmountFen: req.AmountFen,
			FailureCode: "order_not_refundable", FailureMessage: "original order " + order.Status.String() + " " + order.FailureCode}, nil
	}
	svc := refunddomestic.RefundsApiService{Client: ch.client}
	cr := refunddomestic.CreateRequest{OutTradeNo: core.String(req.OriginalTransactionID), OutRefundNo: core.String(req.TransactionID),
		Amount: &refunddomestic.AmountReq{Refund: core.Int64(req.AmountFen), Total: core.Int64(order.AmountFen), Currency: core.String("CNY")}}
	if req.Reason != "" {
		cr.Reason = core.String(req.Reason)
	}
	r, _, err := svc.Create(ctx, cr)
	if err != nil {
		res := classify(err)
		res.TransactionID, res.AmountFen = req.TransactionID, req.AmountFen
		return res, nil
	}
	res := payment.Result{Status: refundStatus(string(derefStatus(r.Status))), TransactionID: deref(r.OutRefundNo),
		ChannelReference: deref(r.RefundId), Properties: map[string]string{"out_trade_no": deref(r.OutTradeNo)}}
	if r.Amount != nil {
		res.AmountFen = derefInt(r.Amount.Refund)
	}
	if r.SuccessTime != nil {
		res.CompletedAt = r.SuccessTime.UTC()
	}
	return res, nil
}

func derefStatus(s *refunddomestic.Status) refunddomestic.Status {
	if s == nil {
		return ""
	}
	return *s
}

// transferBill is the merchant transfer bill as WeChat Pay returns it.
type transferBill struct {
	MchID          string `json:"mch_id"`
	OutBillNo      string `json:"out_bill_no"`
	TransferBillNo string `json:"transfer_bill_no"`
	State          string `json:"state"`
	TransferAmount int64  `json:"transfer_amount"`
	FailReason     string `json:"fail_reason"`
	UpdateTime     string `json:"update_time"`
}

func (t transferBill) result() payment.Result {
	var st payment.Status
	switch t.State {
	case "SUCCESS":
		st = payment.StatusSucceeded
	case "FAIL", "CANCELLED":
		st = payment.StatusFailed
	case "ACCEPTED", "PROCESSING", "WAIT_USER_CONFIRM", "TRANSFERING", "CANCELING":
		st = payment.StatusPending
	default:
		st = payment.StatusUnknown
	}
	res := payment.Result{Status: st, TransactionID: t.OutBillNo, ChannelReference: t.TransferBillNo, AmountFen: t.TransferAmount,
		Properties: map[string]string{"state": t.State}}
	if st == payment.StatusFailed {
		res.FailureCode, res.FailureMessage = t.State, t.FailReason
	}
	if st == payment.StatusSucceeded {
		res.CompletedAt, _ = time.Parse(time.RFC3339, t.UpdateTime)
	}
	return res
}

// Payout creates a transfer bill to the payee's openid. out_bill_no is the
// host's TransactionID, so a retry cannot pay twice.
func (ch *Channel) Payout(ctx context.Context, req payment.PayoutRequest) (payment.Result, error) {
	if err := checkMoney(req.TransactionID, req.AmountFen, req.Currency); err != nil {
		return payment.Result{}, err
	}
	if req.Payee.Type != "wechat_openid" || req.Payee.Account == "" {
		return payment.Result{}, fmt.Errorf("%w: wechatpay: payee must be a wechat_openid (got %q)", sdk.ErrInvalidInput, req.Payee.Type)
	}
	remark := req.Remark
	if remark == "" {
		remark = "Settlement"
	}
	body := map[string]any{"appid": ch.c.AppID, "out_bill_no": req.TransactionID, "transfer_scene_id": ch.c.TransferSceneID,
		"openid": req.Payee.Account, "transfer_amount": req.AmountFen, "transfer_remark": remark}
	header := http.Header{}
	if req.Payee.Name != "" {
		// WeChat Pay checks the payee's real name (required from 2,000
		// yuan); it travels RSA-OAEP encrypted to WeChat Pay's public key,
		// whose id goes in Wechatpay-Serial.
		name := &struct {
			UserName *string `json:"user_name" encryption:"EM_APIV3"`
		}{UserName: core.String(req.Payee.Name)}
		serial, err := ch.client.EncryptRequest(ctx, name)
		if err != nil {
			return payment.Result{Status: payment.StatusNotSubmitted, TransactionID: req.TransactionID, AmountFen: req.AmountFen,
				FailureCode: "encrypt_failed", FailureMessage: err.Error()}, nil
		}
		body["user_name"] = *name.UserName
		header.Set("Wechatpay-Serial", serial)
	}
	r, err := ch.client.Request(ctx, http.MethodPost, consts.WechatPayAPIServer+"/v3/fund-app/mch-transfer/transfer-bills", header, nil, body, "application/json")
	if err != nil {
		res := classify(err)
		res.TransactionID, res.AmountFen = req.TransactionID, req.AmountFen
		return res, nil
	}
	var t transferBill
	if err := core.UnMarshalResponse(r.Response, &t); err != nil {
		return payment.Result{Status: payment.StatusUnknown, TransactionID: req.TransactionID, AmountFen: req.AmountFen,
			FailureCode: "bad_reply", FailureMessage: err.Error()}, nil
	}
	if t.TransferAmount == 0 {
		t.TransferAmount = req.AmountFen // the create reply omits the amount
	}
	return t.result(), nil
}

// QueryPayout reads a transfer bill by its out_bill_no.
func (ch *Channel) QueryPayout(ctx context.Context, req payment.QueryPayoutRequest) (payment.Result, error) {
	if req.TransactionID == "" {
		return payment.Result{}, fmt.Errorf("%w: wechatpay: query needs the transaction id", sdk.ErrInvalidInput)
	}
	r, err := ch.client.Get(ctx, consts.WechatPayAPIServer+"/v3/fund-app/mch-transfer/transfer-bills/out-bill-no/"+url.PathEscape(req.TransactionID))
	if err != nil {
		res := classify(err)
		res.TransactionID = req.TransactionID
		if core.IsAPIError(err, "NOT_FOUND") {
			// Definitely not taken: WeChat Pay has no such bill.
			res.Status, res.FailureCode = payment.StatusNotSubmitted, "NOT_FOUND"
		}
		return res, nil
	}
	var t transferBill
	if err := core.UnMarshalResponse(r.Response, &t); err != nil {
		return payment.Result{Status: payment.StatusUnknown, TransactionID: req.TransactionID, FailureCode: "bad_reply", FailureMessage: err.Error()}, nil
	}
	return t.result(), nil
}

// Close releases nothing: the HTTP clients hold only idle connections.
func (ch *Channel) Close() error { return nil }
