// Package alipay is the Alipay payment channel (builtin:alipay), built on
// github.com/smartwalle/alipay/v3 with RSA2 keys, in public-key mode or
// certificate mode.
//
//   - CreatePayment: alipay.trade.precreate (a QR code) to fund a budget;
//     out_trade_no is the host's TransactionID.
//   - HandleNotification: the form Alipay POSTs, its RSA2 signature
//     verified; answered "success" only when verified, "failure" otherwise
//     (Alipay retries).
//   - QueryPayment: alipay.trade.query (payment.Querier).
//   - ExchangeLoginCode: a mini-program's my.getAuthCode code for the
//     user's user_id, through alipay.system.oauth.token
//     (payment.LoginExchanger).
//   - Refund: alipay.trade.refund, out_request_no = TransactionID.
//   - Payout / QueryPayout: alipay.fund.trans.uni.transfer and
//     alipay.fund.trans.common.query, out_biz_no = TransactionID.
//   - FetchStatement: the bill download URL, then the file (a zip of GBK
//     CSVs), its business detail read.
//
// Alipay speaks yuan strings: amounts cross into them only here, with
// payment.FormatYuan and payment.ParseYuan, exactly (never a float).
package alipay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/smartwalle/alipay/v3"

	"github.com/lianmeng/lianmeng/plugins"
	"github.com/lianmeng/lianmeng/sdk"
	"github.com/lianmeng/lianmeng/sdk/payment"
	"github.com/lianmeng/lianmeng/sdk/webhook"
)

// Name and Version identify the channel ("builtin:alipay").
const (
	Name    = "alipay"
	Version = "0.1.0"
)

// ProductionGateway is Alipay's gateway; SandboxGateway its sandbox.
const (
	ProductionGateway = "https://openapi.alipay.com/gateway.do"
	SandboxGateway    = "https://openapi-sandbox.dl.alipaydev.com/gateway.do"
)

func init() { plugins.Register(Name, Plugins) }

// Plugins is what "lianmeng plugin serve alipay" serves.
func Plugins() sdk.Plugins {
	return sdk.Plugins{PaymentChannel: &sdk.PaymentChannel{
		Info: sdk.Info{
			Name:         Name,
			Version:      Version,
			Summary:      "Alipay: precreate (QR) funding, notifications, refunds, uni.transfer payouts, bills, mini-program sign-in",
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
  "required": ["app_id", "app_private_key", "notify_url"],
  "properties": {
    "app_id": {"type": "string", "minLength": 1},
    "app_private_key": {"type": "string", "description": "RSA2 private key, PKCS#1 or PKCS#8, PEM or bare base64"},
    "alipay_public_key": {"type": "string", "description": "public-key mode: Alipay's public key"},
    "app_cert": {"type": "string", "description": "certificate mode: appCertPublicKey_*.crt"},
    "alipay_cert": {"type": "string", "description": "certificate mode: alipayCertPublicKey_RSA2.crt"},
    "alipay_root_cert": {"type": "string", "description": "certificate mode: alipayRootCert.crt"},
    "notify_url": {"type": "string", "format": "uri"},
    "sandbox": {"type": "boolean", "default": false},
    "gateway": {"type": "string", "description": "test only: replaces the gateway URL"},
    "timeout_seconds": {"type": "integer", "minimum": 1, "default": 10}
  }
}`

// Config is the decoded configuration.
type Config struct {
	AppID           string `json:"app_id"`
	AppPrivateKey   string `json:"app_private_key"`
	AlipayPublicKey string `json:"alipay_public_key"`
	AppCert         string `json:"app_cert"`
	AlipayCert      string `json:"alipay_cert"`
	AlipayRootCert  string `json:"alipay_root_cert"`
	NotifyURL       string `json:"notify_url"`
	Sandbox         bool   `json:"sandbox"`
	Gateway         string `json:"gateway"`
	TimeoutSeconds  int    `json:"timeout_seconds"`
}

// Channel is one configured Alipay app.
type Channel struct {
	c      Config
	client *alipay.Client
	http   *http.Client
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: alipay: %s", sdk.ErrInvalidConfig, fmt.Sprintf(format, args...))
}

// New builds a channel from its configuration.
func New(_ context.Context, raw []byte) (*Channel, error) {
	var c Config
	if err := sdk.DecodeConfig(raw, &c); err != nil {
		return nil, err
	}
	if c.AppID == "" || c.AppPrivateKey == "" || c.NotifyURL == "" {
		return nil, invalid("app_id, app_private_key and notify_url are required")
	}
	if u, err := url.Parse(c.NotifyURL); err != nil || u.Scheme == "" || u.Host == "" {
		return nil, invalid("notify_url must be an absolute URL")
	}
	certMode := c.AppCert != "" || c.AlipayCert != "" || c.AlipayRootCert != ""
	if certMode && (c.AppCert == "" || c.AlipayCert == "" || c.AlipayRootCert == "") {
		return nil, invalid("certificate mode needs app_cert, alipay_cert and alipay_root_cert")
	}
	if certMode == (c.AlipayPublicKey != "") {
		return nil, invalid("give either alipay_public_key or the three certificates")
	}
	if c.TimeoutSeconds == 0 {
		c.TimeoutSeconds = 10
	}
	hc := &http.Client{Timeout: time.Duration(c.TimeoutSeconds) * time.Second}
	// The SDK uses the production gateway override only with production
	// true, so the sandbox is selected by its URL, not by the flag.
	gateway := ProductionGateway
	if c.Sandbox {
		gateway = SandboxGateway
	}
	if c.Gateway != "" {
		gateway = c.Gateway
	}
	client, err := alipay.New(c.AppID, c.AppPrivateKey, true, alipay.WithProductionGateway(gateway), alipay.WithHTTPClient(hc),
		alipay.WithTimeLocation(time.FixedZone("CST", 8*3600)))
	if err != nil {
		return nil, invalid("app_private_key: %v", err)
	}
	if certMode {
		if err := client.LoadAppCertPublicKey(c.AppCert); err != nil {
			return nil, invalid("app_cert: %v", err)
		}
		if err := client.LoadAlipayCertPublicKey(c.AlipayCert); err != nil {
			return nil, invalid("alipay_cert: %v", err)
		}
		if err := client.LoadAliPayRootCert(c.AlipayRootCert); err != nil {
			return nil, invalid("alipay_root_cert: %v", err)
		}
	} else if err := client.LoadAliPayPublicKey(c.AlipayPublicKey); err != nil {
		return nil, invalid("alipay_public_key: %v", err)
	}
	return &Channel{c: c, client: client, http: hc}, nil
}

// classify turns a call's error into a status: a refused connection never
// reached Alipay; a signed business failure is definite; anything else
// (5xx, timeout, an unsigned or unverifiable reply) may have taken effect.
func classify(err error) payment.Result {
	var ae *alipay.Error
	if errors.As(err, &ae) {
		return payment.Result{Status: payment.StatusFailed, FailureCode: firstNonEmpty(ae.SubCode, string(ae.Code)), FailureMessage: ae.SubMsg}
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return payment.Result{Status: payment.StatusNotSubmitted, FailureCode: "connection_refused", FailureMessage: err.Error()}
	}
	return payment.Result{Status: payment.StatusUnknown, FailureCode: "no_answer", FailureMessage: err.Error()}
}

// business turns a verified reply's code into a result: 10000 succeeded;
// 20000 (service unavailable) and ACQ.SYSTEM_ERROR are unknown; anything
// else is Alipay's definite refusal.
func business(e alipay.Error) (payment.Result, bool) {
	if e.Code.IsSuccess() {
		return payment.Result{}, true
	}
	code := firstNonEmpty(e.SubCode, string(e.Code))
	st := payment.StatusFailed
	if e.Code == "20000" || strings.HasSuffix(e.SubCode, "SYSTEM_ERROR") || e.SubCode == "isp.unknow-error" {
		st = payment.StatusUnknown
	}
	return payment.Result{Status: st, FailureCode: code, FailureMessage: e.SubMsg}, false
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func checkMoney(id string, fen int64, currency string) error {
	if id == "" || len(id) > 64 {
		return fmt.Errorf("%w: alipay: a transaction id of 1 to 64 characters is required", sdk.ErrInvalidInput)
	}
	if fen <= 0 {
		return fmt.Errorf("%w: alipay: amount %d fen must be positive", sdk.ErrInvalidInput, fen)
	}
	if currency != "" && currency != "CNY" {
		return fmt.Errorf("%w: alipay: currency %q (only CNY)", sdk.ErrInvalidInput, currency)
	}
	return nil
}

// CreatePayment precreates a trade; the payer scans QRCode.
func (ch *Channel) CreatePayment(ctx context.Context, req payment.CreatePaymentRequest) (payment.CreatePaymentResponse, error) {
	if err := checkMoney(req.TransactionID, req.AmountFen, req.Currency); err != nil {
		return payment.CreatePaymentResponse{}, err
	}
	subject := req.Description
	if subject == "" {
		subject = "Points budget " + req.MerchantID
	}
	p := alipay.TradePreCreate{}
	p.NotifyURL = ch.c.NotifyURL
	if req.NotifyURL != "" {
		p.NotifyURL = req.NotifyURL
	}
	p.Subject, p.OutTradeNo, p.TotalAmount = subject, req.TransactionID, payment.FormatYuan(req.AmountFen)
	p.ProductCode = "FACE_TO_FACE_PAYMENT"
	p.PassbackParams = url.QueryEscape(req.MerchantID)
	if !req.ExpiresAt.IsZero() {
		if m := int(time.Until(req.ExpiresAt).Minutes()); m >= 1 {
			p.TimeoutExpress = fmt.Sprintf("%dm", m)
		}
	}
	base := payment.Result{TransactionID: req.TransactionID, AmountFen: req.AmountFen}
	rsp, err := ch.client.TradePreCreate(ctx, p)
	if err != nil {
		r := classify(err)
		r.TransactionID, r.AmountFen = base.TransactionID, base.AmountFen
		return payment.CreatePaymentResponse{Result: r}, nil
	}
	if r, ok := business(rsp.Error); !ok {
		r.TransactionID, r.AmountFen = base.TransactionID, base.AmountFen
		return payment.CreatePaymentResponse{Result: r}, nil
	}
	base.Status = payment.StatusPending
	return payment.CreatePaymentResponse{Result: base, QRCode: rsp.QRCode, PayURL: rsp.QRCode}, nil
}

var tradeStates = map[alipay.TradeStatus]payment.Status{
	alipay.TradeStatusSuccess: payment.StatusSucceeded, alipay.TradeStatusFinished: payment.StatusSucceeded,
	alipay.TradeStatusWaitBuyerPay: payment.StatusPending, alipay.TradeStatusClosed: payment.StatusFailed,
}

// QueryPayment reads a trade by its out_trade_no. A trade Alipay does not
// have (ACQ.TRADE_NOT_EXIST) was never taken: StatusNotSubmitted.
func (ch *Channel) QueryPayment(ctx context.Context, req payment.QueryPaymentRequest) (payment.Result, error) {
	if req.TransactionID == "" {
		return payment.Result{}, fmt.Errorf("%w: alipay: query needs the transaction id", sdk.ErrInvalidInput)
	}
	rsp, err := ch.client.TradeQuery(ctx, alipay.TradeQuery{OutTradeNo: req.TransactionID, TradeNo: req.ChannelReference})
	if err != nil {
		r := classify(err)
		r.TransactionID = req.TransactionID
		return r, nil
	}
	if r, ok := business(rsp.Error); !ok {
		r.TransactionID = req.TransactionID
		if rsp.SubCode == "ACQ.TRADE_NOT_EXIST" {
			r.Status = payment.StatusNotSubmitted
		}
		return r, nil
	}
	if rsp.OutTradeNo != req.TransactionID {
		return payment.Result{}, fmt.Errorf("alipay: query %s answered trade %s", req.TransactionID, rsp.OutTradeNo)
	}
	st, known := tradeStates[rsp.TradeStatus]
	if !known {
		st = payment.StatusUnknown
	}
	res := payment.Result{Status: st, TransactionID: rsp.OutTradeNo, ChannelReference: rsp.TradeNo,
		Properties: map[string]string{"trade_status": string(rsp.TradeStatus)}}
	if res.AmountFen, err = payment.ParseYuan(rsp.TotalAmount); err != nil {
		return payment.Result{}, fmt.Errorf("alipay: query %s: total_amount: %w", req.TransactionID, err)
	}
	if st == payment.StatusFailed {
		res.FailureCode = string(rsp.TradeStatus)
	}
	if at, err := time.ParseInLocation("2006-01-02 15:04:05", rsp.SendPayDate, shanghai); err == nil && st == payment.StatusSucceeded {
		res.CompletedAt = at.UTC()
	}
	return res, nil
}

// HandleNotification verifies an asynchronous notification (a form POST).
func (ch *Channel) HandleNotification(ctx context.Context, req webhook.Request) (payment.Notification, error) {
	form, err := url.ParseQuery(string(req.Body))
	if err != nil {
		return rejected("form: " + err.Error()), nil
	}
	if err := ch.client.VerifySign(ctx, form); err != nil {
		return rejected("signature: " + err.Error()), nil
	}
	if form.Get("app_id") != ch.c.AppID {
		return rejected("notification for app " + form.Get("app_id")), nil
	}
	out := payment.Notification{Verified: true, Ack: webhook.Text(http.StatusOK, "success")}
	props := map[string]string{"notify_id": form.Get("notify_id")}
	if form.Get("msg_method") == "alipay.fund.trans.order.changed" {
		var b struct {
			OutBizNo    string `json:"out_biz_no"`
			OrderID     string `json:"order_id"`
			Status      string `json:"status"`
			TransAmount string `json:"trans_amount"`
			ErrorCode   string `json:"error_code"`
			FailReason  string `json:"fail_reason"`
		}
		if err := json.Unmarshal([]byte(form.Get("biz_content")), &b); err != nil {
			return rejected("biz_content: " + err.Error()), nil
		}
		fen, err := payment.ParseYuan(b.TransAmount)
		if err != nil {
			return rejected("trans_amount: " + err.Error()), nil
		}
		out.EventType = "payout"
		out.Result = transferResult(b.Status, b.OutBizNo, b.OrderID, fen, b.ErrorCode, b.FailReason)
		out.Result.Properties = props
		return out, nil
	}
	total, err := payment.ParseYuan(form.Get("total_amount"))
	if err != nil {
		return rejected("total_amount: " + err.Error()), nil
	}
	st, known := tradeStates[alipay.TradeStatus(form.Get("trade_status"))]
	if !known {
		st = payment.StatusUnknown
	}
	props["trade_status"] = form.Get("trade_status")
	if pb, err := url.QueryUnescape(form.Get("passback_params")); err == nil && pb != "" {
		props["passback_params"] = pb
	}
	out.EventType = "payment"
	out.Result = payment.Result{Status: st, TransactionID: form.Get("out_trade_no"), ChannelReference: form.Get("trade_no"),
		AmountFen: total, Properties: props}
	if at, err := time.ParseInLocation("2006-01-02 15:04:05", form.Get("gmt_payment"), time.FixedZone("CST", 8*3600)); err == nil {
		out.Result.CompletedAt = at.UTC()
	}
	// A refund is reported on the trade: refund_fee (total refunded) and
	// out_biz_no (the refund's out_request_no).
	if form.Get("refund_fee") != "" && form.Get("out_biz_no") != "" {
		fee, err := payment.ParseYuan(form.Get("refund_fee"))
		if err != nil {
			return rejected("refund_fee: " + err.Error()), nil
		}
		out.EventType = "refund"
		out.Result.TransactionID, out.Result.AmountFen, out.Result.Status = form.Get("out_biz_no"), fee, payment.StatusSucceeded
		props["out_trade_no"] = form.Get("out_trade_no")
	}
	return out, nil
}

func rejected(msg string) payment.Notification {
	return payment.Notification{Verified: false, Ack: webhook.Text(http.StatusOK, "failure"),
		Result: payment.Result{FailureCode: "bad_notification", FailureMessage: msg}}
}

// Refund refunds part of a funding trade.
func (ch *Channel) Refund(ctx context.Context, req payment.RefundRequest) (payment.Result, error) {
	if err := checkMoney(req.TransactionID, req.AmountFen, req.Currency); err != nil {
		return payment.Result{}, err
	}
	if req.OriginalTransactionID == "" && req.OriginalChannelReference == "" {
		return payment.Result{}, fmt.Errorf("%w: alipay: refund needs the original transaction", sdk.ErrInvalidInput)
	}
	rsp, err := ch.client.TradeRefund(ctx, alipay.TradeRefund{OutTradeNo: req.OriginalTransactionID, TradeNo: req.OriginalChannelReference,
		RefundAmount: payment.FormatYuan(req.AmountFen), RefundReason: req.Reason, OutRequestNo: req.TransactionID})
	res := payment.Result{TransactionID: req.TransactionID, AmountFen: req.AmountFen}
	if err != nil {
		r := classify(err)
		r.TransactionID, r.AmountFen = res.TransactionID, res.AmountFen
		return r, nil
	}
	if r, ok := business(rsp.Error); !ok {
		r.TransactionID, r.AmountFen = res.TransactionID, res.AmountFen
		return r, nil
	}
	res.ChannelReference = rsp.TradeNo
	res.Properties = map[string]string{"refund_fee": rsp.RefundFee, "fund_change": rsp.FundChange}
	// fund_change N means this out_request_no was refunded before: the
	// same refund, not a second one; either way it is done.
	res.Status = payment.StatusSucceeded
	return res, nil
}

func transferResult(status, outBizNo, orderID string, fen int64, code, reason string) payment.Result {
	var st payment.Status
	switch status {
	case "SUCCESS":
		st = payment.StatusSucceeded
	case "DEALING", "WAIT_PAY":
		st = payment.StatusPending
	case "FAIL", "CLOSED", "REFUND":
		st = payment.StatusFailed
	default:
		st = payment.StatusUnknown
	}
	r := payment.Result{Status: st, TransactionID: outBizNo, ChannelReference: orderID, AmountFen: fen,
		Properties: map[string]string{"status": status}}
	if st == payment.StatusFailed {
		r.FailureCode, r.FailureMessage = firstNonEmpty(code, status), reason
	}
	return r
}

// payeeIdentity maps the SDK's payee to Alipay's identity type.
func payeeIdentity(p payment.Payee) (*alipay.PayeeInfo, string, error) {
	switch p.Type {
	case "alipay_user_id":
		return &alipay.PayeeInfo{Identity: p.Account, IdentityType: "ALIPAY_USER_ID", Name: p.Name}, "TRANS_ACCOUNT_NO_PWD", nil
	case "alipay_account":
		if p.Name == "" {
			return nil, "", fmt.Errorf("%w: alipay: an alipay_account payee needs the account holder's name", sdk.ErrInvalidInput)
		}
		return &alipay.PayeeInfo{Identity: p.Account, IdentityType: "ALIPAY_LOGON_ID", Name: p.Name}, "TRANS_ACCOUNT_NO_PWD", nil
	case "bank_account":
		if p.Name == "" {
			return nil, "", fmt.Errorf("%w: alipay: a bank_account payee needs the account holder's name", sdk.ErrInvalidInput)
		}
		return &alipay.PayeeInfo{Identity: p.Account, IdentityType: "BANKCARD_ACCOUNT", Name: p.Name,
			BankcardExtInfo: &alipay.BankcardExtInfo{InstName: p.Bank, AccountType: "1"}}, "TRANS_BANKCARD_NO_PWD", nil
	}
	return nil, "", fmt.Errorf("%w: alipay: payee type %q (want alipay_user_id, alipay_account or bank_account)", sdk.ErrInvalidInput, p.Type)
}

// Payout transfers to the payee; out_biz_no is the host's TransactionID.
func (ch *Channel) Payout(ctx context.Context, req payment.PayoutRequest) (payment.Result, error) {
	if err := checkMoney(req.TransactionID, req.AmountFen, req.Currency); err != nil {
		return payment.Result{}, err
	}
	payee, product, err := payeeIdentity(req.Payee)
	if err != nil {
		return payment.Result{}, err
	}
	title := req.Remark
	if title == "" {
		title = "Settlement"
	}
	rsp, err := ch.client.FundTransUniTransfer(ctx, alipay.FundTransUniTransfer{OutBizNo: req.TransactionID,
		TransAmount: payment.FormatYuan(req.AmountFen), ProductCode: product, BizScene: "DIRECT_TRANSFER",
		OrderTitle: title, PayeeInfo: payee, TransferSceneName: "业务结算"})
	if err != nil {
		r := classify(err)
		r.TransactionID, r.AmountFen = req.TransactionID, req.AmountFen
		return r, nil
	}
	if r, ok := business(rsp.Error); !ok {
		r.TransactionID, r.AmountFen = req.TransactionID, req.AmountFen
		return r, nil
	}
	return transferResult(rsp.Status, rsp.OutBizNo, rsp.OrderId, req.AmountFen, "", ""), nil
}

// QueryPayout reads a transfer by out_biz_no.
func (ch *Channel) QueryPayout(ctx context.Context, req payment.QueryPayoutRequest) (payment.Result, error) {
	if req.TransactionID == "" {
		return payment.Result{}, fmt.Errorf("%w: alipay: query needs the transaction id", sdk.ErrInvalidInput)
	}
	rsp, err := ch.client.FundTransCommonQuery(ctx, alipay.FundTransCommonQuery{ProductCode: "TRANS_ACCOUNT_NO_PWD",
		BizScene: "DIRECT_TRANSFER", OutBizNo: req.TransactionID})
	if err != nil {
		r := classify(err)
		r.TransactionID = req.TransactionID
		return r, nil
	}
	if r, ok := business(rsp.Error); !ok {
		r.TransactionID = req.TransactionID
		if rsp.SubCode == "ORDER_NOT_EXIST" {
			r.Status = payment.StatusNotSubmitted // Alipay never took it
		}
		return r, nil
	}
	fen, err := payment.ParseYuan(rsp.TransAmount)
	if err != nil {
		return payment.Result{}, fmt.Errorf("alipay: query payout %s: trans_amount: %w", req.TransactionID, err)
	}
	return transferResult(rsp.Status, rsp.OutBizNo, rsp.OrderId, fen, rsp.ErrorCode, rsp.FailReason), nil
}

// Close releases nothing.
func (ch *Channel) Close() error { return nil }
