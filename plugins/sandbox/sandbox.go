// Package sandbox is a SANDBOX payment channel (builtin:sandbox) for the
// embedded default and demos: NO REAL MONEY MOVES. It lets `serve` with
// nothing installed show the whole money flow: CreatePayment returns the
// URL of a payment page the plugin serves itself on 127.0.0.1; pressing
// "Pay" there sends the gateway a notification signed with the configured
// secret (HMAC-SHA256), exactly as a real channel would; payouts succeed at
// once; the statement of a day lists what happened in this process.
//
// Everything it says is marked as sandbox: its name, its summary, its
// page, its QR codes ("SANDBOX:"), its transaction ids ("sbx_") and every
// result's properties (sandbox=true). Its state lives in memory: a
// restarted plugin forgets unpaid payments.
//
//	plugins:
//	  - name: sandbox
//	    kind: payment_channel
//	    path: builtin:sandbox
//	    config:
//	      notify_url: http://127.0.0.1:8080/v1/channels/sandbox/notify
//	      secret: any-long-random-string
package sandbox

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/lianmeng/lianmeng/plugins"
	"github.com/lianmeng/lianmeng/sdk"
	"github.com/lianmeng/lianmeng/sdk/payment"
	"github.com/lianmeng/lianmeng/sdk/webhook"
)

// Name and Version identify the channel ("builtin:sandbox").
const (
	Name    = "sandbox"
	Version = "0.1.0"
)

func init() { plugins.Register(Name, Plugins) }

// Plugins is what "lianmeng plugin serve sandbox" serves.
func Plugins() sdk.Plugins {
	return sdk.Plugins{PaymentChannel: &sdk.PaymentChannel{
		Info: sdk.Info{Name: Name, Version: Version,
			Summary:      "SANDBOX payment channel for demos: no real money moves; its own page completes a payment",
			ConfigSchema: json.RawMessage(Schema),
			Capabilities: []string{sdk.CapRefunds, sdk.CapPayouts, sdk.CapStatements, sdk.CapQueryPayment, sdk.CapLogin}},
		New: func(ctx context.Context, raw []byte) (payment.Channel, error) { return New(ctx, raw) },
	}}
}

// Schema is the JSON Schema of the configuration.
const Schema = `{
  "type": "object",
  "additionalProperties": false,
  "required": ["notify_url", "secret"],
  "properties": {
    "notify_url": {"type": "string", "format": "uri"},
    "secret": {"type": "string", "minLength": 16, "description": "signs the sandbox's notifications"},
    "listen": {"type": "string", "default": "127.0.0.1:0", "description": "where the sandbox payment page is served"}
  }
}`

// Config is the decoded configuration.
type Config struct {
	NotifyURL string `json:"notify_url"`
	Secret    string `json:"secret"`
	Listen    string `json:"listen"`
}

// SignatureHeader carries the notification's HMAC-SHA256 (hex).
const SignatureHeader = "X-Sandbox-Signature"

type record struct {
	payment.Result
	kind string // payment, payout, refund
	// refundedFen: what a payment's refunds took, capped at its amount as
	// a real channel caps them.
	refundedFen int64
}

// Channel is the sandbox.
type Channel struct {
	c    Config
	srv  *http.Server
	base string
	post func(url string, body []byte, sig string) error

	mu      sync.Mutex
	records map[string]*record
	seq     int
}

// New starts the sandbox's payment page.
func New(_ context.Context, raw []byte) (*Channel, error) {
	var c Config
	if err := sdk.DecodeConfig(raw, &c); err != nil {
		return nil, err
	}
	if u, err := url.Parse(c.NotifyURL); err != nil || u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("%w: sandbox: notify_url must be an absolute URL", sdk.ErrInvalidConfig)
	}
	if len(c.Secret) < 16 {
		return nil, fmt.Errorf("%w: sandbox: secret must be at least 16 characters", sdk.ErrInvalidConfig)
	}
	if c.Listen == "" {
		c.Listen = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", c.Listen)
	if err != nil {
		return nil, fmt.Errorf("%w: sandbox: listen %s: %v", sdk.ErrInvalidConfig, c.Listen, err)
	}
	ch := &Channel{c: c, base: "http://" + ln.Addr().String(), records: map[string]*record{}}
	ch.post = func(u string, body []byte, sig string) error {
		req, err := http.NewRequest(http.MethodPost, u, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(SignatureHeader, sig)
		res, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
		if err != nil {
			return err
		}
		res.Body.Close()
		if res.StatusCode/100 != 2 {
			return fmt.Errorf("the gateway answered %s", res.Status)
		}
		return nil
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /pay/{id}", ch.page)
	mux.HandleFunc("POST /pay/{id}", ch.pay)
	ch.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = ch.srv.Serve(ln) }()
	return ch, nil
}

// Close stops the page.
func (ch *Channel) Close() error { return ch.srv.Close() }

// PageURL is the payment page of a transaction.
func (ch *Channel) PageURL(id string) string { return ch.base + "/pay/" + url.PathEscape(id) }

func (ch *Channel) sign(body []byte) string {
	m := hmac.New(sha256.New, []byte(ch.c.Secret))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

func sandboxProps() map[string]string { return map[string]string{"sandbox": "true"} }

// CreatePayment records a payment to be completed on the sandbox page.
func (ch *Channel) CreatePayment(_ context.Context, req payment.CreatePaymentRequest) (payment.CreatePaymentResponse, error) {
	if req.TransactionID == "" || req.AmountFen <= 0 {
		return payment.CreatePaymentResponse{}, fmt.Errorf("%w: sandbox: a transaction id and a positive amount are required", sdk.ErrInvalidInput)
	}
	ch.mu.Lock()
	defer ch.mu.Unlock()
	r, ok := ch.records[req.TransactionID]
	if !ok {
		r = &record{kind: "payment", Result: payment.Result{Status: payment.StatusPending, TransactionID: req.TransactionID, AmountFen: req.AmountFen, Properties: sandboxProps()}}
		ch.records[req.TransactionID] = r
	}
	return payment.CreatePaymentResponse{Result: r.Result, PayURL: ch.PageURL(req.TransactionID), QRCode: "SANDBOX:" + ch.PageURL(req.TransactionID)}, nil
}

const pageHTML = `<!doctype html><html lang="en"><meta charset="utf-8"><title>SANDBOX payment — no real money</title>
<body style="font-family:sans-serif;max-width:30em;margin:3em auto">
<p style="background:#fc0;padding:.5em;font-weight:bold">SANDBOX — NO REAL MONEY MOVES (沙箱：不涉及真实资金)</p>
<h1>Pay %s fen</h1><p>Transaction %s: %s</p>
<form method="post"><button>Pay (sandbox)</button></form></body></html>`

func (ch *Channel) page(w http.ResponseWriter, r *http.Request) {
	ch.mu.Lock()
	rec, ok := ch.records[r.PathValue("id")]
	var res payment.Result
	if ok {
		res = rec.Result
	}
	ch.mu.Unlock()
	if !ok || rec.kind != "payment" {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	fmt.Fprintf(w, pageHTML, html.EscapeString(fmt.Sprint(res.AmountFen)), html.EscapeString(res.TransactionID), html.EscapeString(res.Status.String()))
}

// pay completes a payment and notifies the gateway, as a real channel would.
func (ch *Channel) pay(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	ch.mu.Lock()
	rec, ok := ch.records[id]
	if ok && rec.kind == "payment" && rec.Status == payment.StatusPending {
		ch.seq++
		rec.Status, rec.ChannelReference, rec.CompletedAt = payment.StatusSucceeded, fmt.Sprintf("sbx_%d_%d", time.Now().Unix(), ch.seq), time.Now().UTC()
	}
	var res payment.Result
	if ok {
		res = rec.Result
	}
	ch.mu.Unlock()
	if !ok || rec.kind != "payment" {
		http.NotFound(w, r)
		return
	}
	body, _ := json.Marshal(notification{Event: "payment", TransactionID: res.TransactionID, ChannelRef: res.ChannelReference,
		AmountFen: res.AmountFen, Status: res.Status.String(), Sandbox: true})
	if err := ch.post(ch.c.NotifyURL, body, ch.sign(body)); err != nil {
		http.Error(w, "SANDBOX: paid, but the gateway did not take the notification: "+err.Error(), http.StatusBadGateway)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintf(w, "SANDBOX: paid %d fen (%s); no real money moved\n", res.AmountFen, res.ChannelReference)
}

type notification struct {
	Event         string `json:"event"`
	TransactionID string `json:"transaction_id"`
	ChannelRef    string `json:"channel_ref"`
	AmountFen     int64  `json:"amount_fen"`
	Status        string `json:"status"`
	Sandbox       bool   `json:"sandbox"`
}

// HandleNotification verifies the sandbox's own HMAC.
func (ch *Channel) HandleNotification(_ context.Context, req webhook.Request) (payment.Notification, error) {
	sig := req.Header.Get(SignatureHeader)
	if !hmac.Equal([]byte(sig), []byte(ch.sign(req.Body))) {
		return payment.Notification{Verified: false, Ack: webhook.Text(http.StatusUnauthorized, "bad signature"),
			Result: payment.Result{FailureCode: "bad_notification", FailureMessage: "sandbox signature does not verify"}}, nil
	}
	var n notification
	if err := json.Unmarshal(req.Body, &n); err != nil || !n.Sandbox {
		return payment.Notification{Verified: false, Ack: webhook.Text(http.StatusBadRequest, "malformed"),
			Result: payment.Result{FailureCode: "bad_notification", FailureMessage: "not a sandbox notification"}}, nil
	}
	st := payment.StatusUnknown
	if n.Status == payment.StatusSucceeded.String() {
		st = payment.StatusSucceeded
	}
	return payment.Notification{Verified: true, EventType: n.Event, Ack: webhook.Text(http.StatusOK, "ok"),
		Result: payment.Result{Status: st, TransactionID: n.TransactionID, ChannelReference: n.ChannelRef, AmountFen: n.AmountFen, Properties: sandboxProps()}}, nil
}

// Payout succeeds at once (the same id is the same payout).
func (ch *Channel) Payout(_ context.Context, req payment.PayoutRequest) (payment.Result, error) {
	if req.TransactionID == "" || req.AmountFen <= 0 {
		return payment.Result{}, fmt.Errorf("%w: sandbox: a transaction id and a positive amount are required", sdk.ErrInvalidInput)
	}
	ch.mu.Lock()
	defer ch.mu.Unlock()
	r, ok := ch.records[req.TransactionID]
	if !ok {
		ch.seq++
		r = &record{kind: "payout", Result: payment.Result{Status: payment.StatusSucceeded, TransactionID: req.TransactionID,
			ChannelReference: fmt.Sprintf("sbx_po_%d", ch.seq), AmountFen: req.AmountFen, CompletedAt: time.Now().UTC(), Properties: sandboxProps()}}
		ch.records[req.TransactionID] = r
	}
	return r.Result, nil
}

// QueryPayout answers what Payout did; an unknown id was never submitted.
func (ch *Channel) QueryPayout(_ context.Context, req payment.QueryPayoutRequest) (payment.Result, error) {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if r, ok := ch.records[req.TransactionID]; ok && r.kind == "payout" {
		return r.Result, nil
	}
	return payment.Result{Status: payment.StatusNotSubmitted, TransactionID: req.TransactionID, Properties: sandboxProps()}, nil
}

// QueryPayment answers what the sandbox knows of a payment; one it never
// saw (or forgot in a restart) was never taken.
func (ch *Channel) QueryPayment(_ context.Context, req payment.QueryPaymentRequest) (payment.Result, error) {
	if req.TransactionID == "" {
		return payment.Result{}, fmt.Errorf("%w: sandbox: query needs the transaction id", sdk.ErrInvalidInput)
	}
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if r, ok := ch.records[req.TransactionID]; ok && r.kind == "payment" {
		return r.Result, nil
	}
	return payment.Result{Status: payment.StatusNotSubmitted, TransactionID: req.TransactionID, FailureCode: "not_found", Properties: sandboxProps()}, nil
}

// ExchangeLoginCode signs in a SANDBOX mini-program user: any code of
// letters, digits, '-' and '_' (up to 64) is user "sbx_" + code, as a
// wechat_openid. Real openids never start with "sbx_", so no real
// member can be signed in through the sandbox.
func (ch *Channel) ExchangeLoginCode(_ context.Context, req payment.LoginRequest) (payment.LoginIdentity, error) {
	ok := req.Code != "" && len(req.Code) <= 64
	for _, r := range req.Code {
		ok = ok && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_')
	}
	if !ok || strings.HasPrefix(req.Code, "expired") {
		// "expired…" plays a refused code in demos and tests.
		return payment.LoginIdentity{}, fmt.Errorf("%w: sandbox: login code refused", sdk.ErrInvalidInput)
	}
	return payment.LoginIdentity{Kind: payment.IdentityWeChatOpenID, UserID: "sbx_" + req.Code, Properties: sandboxProps()}, nil
}

// Refund refunds a paid sandbox payment at once.
func (ch *Channel) Refund(_ context.Context, req payment.RefundRequest) (payment.Result, error) {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if r, ok := ch.records[req.TransactionID]; ok && r.kind == "refund" {
		return r.Result, nil // the same refund number is the same refund
	}
	orig, ok := ch.records[req.OriginalTransactionID]
	if !ok || orig.kind != "payment" || orig.Status != payment.StatusSucceeded || req.AmountFen <= 0 || req.AmountFen > orig.AmountFen-orig.refundedFen {
		return payment.Result{Status: payment.StatusFailed, TransactionID: req.TransactionID, FailureCode: "not_refundable", Properties: sandboxProps()}, nil
	}
	r, ok := ch.records[req.TransactionID]
	if !ok {
		orig.refundedFen += req.AmountFen
		ch.seq++
		r = &record{kind: "refund", Result: payment.Result{Status: payment.StatusSucceeded, TransactionID: req.TransactionID,
			ChannelReference: fmt.Sprintf("sbx_rf_%d", ch.seq), AmountFen: req.AmountFen, CompletedAt: time.Now().UTC(), Properties: sandboxProps()}}
		ch.records[req.TransactionID] = r
	}
	return r.Result, nil
}

// FetchStatement lists the day's completed payments, payouts and refunds
// this process saw (UTC+8 days).
func (ch *Channel) FetchStatement(_ context.Context, date string) (payment.Statement, error) {
	day, err := time.ParseInLocation("2006-01-02", date, time.FixedZone("CST", 8*3600))
	if err != nil {
		return payment.Statement{}, fmt.Errorf("%w: sandbox: date %q is not YYYY-MM-DD", sdk.ErrInvalidInput, date)
	}
	ch.mu.Lock()
	defer ch.mu.Unlock()
	st := payment.Statement{Date: date, Final: false}
	for _, r := range ch.records {
		if r.Status != payment.StatusSucceeded || r.CompletedAt.Before(day) || !r.CompletedAt.Before(day.AddDate(0, 0, 1)) {
			continue
		}
		st.Entries = append(st.Entries, payment.StatementEntry{TransactionID: r.TransactionID, ChannelReference: r.ChannelReference,
			Type: r.kind, AmountFen: r.AmountFen, Currency: "CNY", OccurredAt: r.CompletedAt, Status: r.Status})
	}
	sort.Slice(st.Entries, func(i, j int) bool { return st.Entries[i].TransactionID < st.Entries[j].TransactionID })
	return st, nil
}
