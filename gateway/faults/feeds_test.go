//go:build faults

package faults

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/adapters/shopify"
	"github.com/lianmeng/lianmeng/gateway/loadgen"
	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/plugins/wechatpay/wechatpaytest"
	"github.com/lianmeng/lianmeng/sdk/client"
	"github.com/lianmeng/lianmeng/sdk/signature"
)

// Feeds that reach the ledger without a merchant's signed write: POS
// webhooks (the builtin Shopify adapter, signed as Shopify signs) and
// payment-channel notifications (the builtin WeChat Pay channel against
// its fake, which signs and encrypts them as WeChat Pay does). Both
// senders redeliver until they get their 200, as the real ones do, and
// sometimes once more after it; the gateway stores each in its inbox
// before answering and applies it once.

const posSecret = "shpss_faults_suite"

// feedsEnv configures the two plugins; the channel calls the fake.
func feedsEnv(wx *wechatpaytest.Server) string {
	plugins := []map[string]any{
		{"name": "shopify", "kind": "pos_adapter", "path": "builtin:shopify"},
		{"name": "wechatpay", "kind": "payment_channel", "path": "builtin:wechatpay", "timeout": "5s", "config": map[string]any{
			"mch_id": wx.MchID, "app_id": wx.AppID, "merchant_serial_no": wx.MerchantSerial, "merchant_private_key": wx.MerchantKeyPEM(),
			"public_key_id": wx.PublicKeyID, "public_key": wx.PlatformPublicKeyPEM(), "api_v3_key": wx.APIv3Key,
			"notify_url": "https://gateway.example/v1/channels/wechatpay/notify", "api_base": wx.URL}},
	}
	b, _ := json.Marshal(plugins)
	return "LIANMENG_PLUGINS=" + string(b)
}

// feeds drives POS webhooks and channel fundings beside a load.
type feeds struct {
	wx       *wechatpaytest.Server
	hooks    []string         // merchant index -> the connection's webhook path
	finance  []*client.Client // merchant index -> a finance-scoped credential's client
	base     string
	hc       *http.Client
	deadline time.Duration

	mu        sync.Mutex
	webhooks  []*delivery
	fundings  []*funding
	transient map[string]int
	seq       atomic.Int64
	run       int64 // numeric run prefix of the POS order ids
}

type delivery struct {
	merchant  string
	order     string
	attempts  int
	acked     bool
	redeliver bool
}

type funding struct {
	merchant  string
	order     string // fnd_...
	amount    int64
	txID      string // the channel's transaction id once paid
	attempts  int    // notification deliveries
	acked     bool   // the notification was answered 200
	refused   string // a definite refusal of the order or the notification
	redeliver bool
}

// newFeeds connects each merchant's Shopify shop and gives it a finance
// credential for the channel fundings.
func newFeeds(t testing.TB, l *load, base string, wx *wechatpaytest.Server) *feeds {
	t.Helper()
	ctx, cancel := withTimeout(time.Minute)
	defer cancel()
	f := &feeds{wx: wx, base: base, hc: l.hc, deadline: l.deadline, transient: map[string]int{}, run: 1 + mrand.Int64N(899)}
	boot := client.NewOperator(base, operatorToken, client.WithHTTPClient(l.hc))
	var tok struct {
		Token string `json:"token"`
	}
	if err := boot.Do(ctx, "POST", "/v1/operator/tokens", map[string]any{"label": "faults feeds", "scopes": []string{"read", "merchants:write"},
		"expires_at": time.Now().Add(2 * time.Hour).UTC()}, &tok); err != nil {
		t.Fatalf("operator token: %v", err)
	}
	op := client.NewOperator(base, tok.Token, client.WithHTTPClient(l.hc))
	for _, m := range l.ms {
		var conn struct {
			WebhookPath string `json:"webhook_path"`
		}
		if err := op.Do(ctx, "POST", "/v1/operator/merchants/"+m.ID+"/pos/connections",
			map[string]any{"adapter": "shopify", "label": "faults", "config": map[string]string{"client_secret": posSecret}}, &conn); err != nil {
			t.Fatalf("POS connection for %s: %v", m.ID, err)
		}
		f.hooks = append(f.hooks, conn.WebhookPath)
		var cred struct {
			ID, Secret string
		}
		if err := op.Do(ctx, "POST", "/v1/operator/merchants/"+m.ID+"/credentials",
			map[string]any{"algorithm": "hmac-sha256", "label": "finance", "scopes": []string{"finance"}}, &cred); err != nil {
			t.Fatalf("finance credential for %s: %v", m.ID, err)
		}
		signer, err := signature.NewHMACSigner(cred.ID, cred.Secret)
		if err != nil {
			t.Fatal(err)
		}
		f.finance = append(f.finance, client.NewMerchant(base, m.ID, signer, client.WithHTTPClient(l.hc)))
	}
	return f
}

func (f *feeds) count(code string) {
	f.mu.Lock()
	f.transient[code]++
	f.mu.Unlock()
}

// webhook sends one Shopify orders/paid webhook for a member of the load
// until it is answered 200 (and, sometimes, once more).
func (f *feeds) webhook(t testing.TB, l *load) {
	mi := mrand.IntN(len(f.hooks))
	d := &delivery{merchant: l.ms[mi].ID, order: fmt.Sprintf("%d%09d", f.run, f.seq.Add(1)), redeliver: mrand.IntN(4) == 0}
	m := l.members[mrand.IntN(len(l.members))]
	body := []byte(fmt.Sprintf(`{"id": %s, "currency": "CNY", "total_price": "%d.%02d", "created_at": %q, "phone": "+86%s", "line_items": []}`,
		d.order, 10+mrand.IntN(200), mrand.IntN(100), time.Now().UTC().Format(time.RFC3339), m.phone))
	f.mu.Lock()
	f.webhooks = append(f.webhooks, d)
	f.mu.Unlock()
	send := func() (int, error) {
		req, _ := http.NewRequest("POST", f.base+f.hooks[mi], bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(shopify.HeaderHMAC, shopify.Sign(posSecret, body))
		req.Header.Set(shopify.HeaderTopic, "orders/paid")
		req.Header.Set(shopify.HeaderEventID, "evt-"+d.order)
		resp, err := f.hc.Do(req)
		if err != nil {
			return 0, err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	for end := time.Now().Add(f.deadline); time.Now().Before(end); {
		d.attempts++
		status, err := send()
		switch {
		case err == nil && status == 200:
			d.acked = true
			l.acked.Add(1)
			if d.redeliver {
				if status, err := send(); err == nil && status != 200 {
					t.Errorf("POS redelivery of order %s answered %d", d.order, status)
				}
			}
			return
		case err == nil && status < 500:
			t.Errorf("POS webhook for order %s answered %d", d.order, status)
			return
		case err != nil:
			f.count("pos " + loadgen.ErrorCode(err))
		default:
			f.count(fmt.Sprintf("pos %d", status))
		}
		time.Sleep(100*time.Millisecond + time.Duration(mrand.Int64N(int64(50*time.Millisecond))))
	}
}

// fund orders a funding through the channel with a finance credential
// (retried with its key until answered), pays it at the fake and delivers
// the channel's notification until it is answered 200 (each delivery
// sealed afresh, as WeChat Pay re-encrypts), sometimes once more.
func (f *feeds) fund(t testing.TB, l *load) {
	mi := mrand.IntN(len(f.finance))
	fd := &funding{merchant: l.ms[mi].ID, amount: 100 + mrand.Int64N(100_000), redeliver: mrand.IntN(4) == 0}
	f.mu.Lock()
	f.fundings = append(f.fundings, fd)
	f.mu.Unlock()
	key := fmt.Sprintf("%s-fund-%d", l.run, f.seq.Add(1))
	ctx := context.Background()
	end := time.Now().Add(f.deadline)
	for {
		var out struct {
			ID string `json:"id"`
		}
		err := f.finance[mi].Do(ctx, "POST", "/v1/merchant/funding", map[string]any{"channel": "wechatpay", "amount_fen": fd.amount}, &out, client.IdempotencyKey(key))
		if err == nil {
			fd.order = out.ID
			break
		}
		var ae *client.APIError
		if errors.As(err, &ae) && ae.Status < 500 {
			fd.refused = ae.Code
			t.Errorf("funding order refused: %v", err)
			return
		}
		f.count("funding " + loadgen.ErrorCode(err))
		if time.Now().After(end) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	tx, err := f.wx.Pay(fd.order)
	if err != nil {
		t.Errorf("pay %s at the fake: %v", fd.order, err)
		return
	}
	fd.txID = tx
	notify := func() (int, error) {
		n, err := f.wx.PaymentNotification(fd.order)
		if err != nil {
			return 0, err
		}
		req, _ := http.NewRequest("POST", f.base+"/v1/channels/wechatpay/notify", bytes.NewReader(n.Body))
		req.Header = n.Header.Clone()
		resp, err := f.hc.Do(req)
		if err != nil {
			return 0, err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	for time.Now().Before(end) {
		fd.attempts++
		status, err := notify()
		switch {
		case err == nil && status == 200:
			fd.acked = true
			l.acked.Add(1)
			if fd.redeliver {
				if status, err := notify(); err == nil && status != 200 {
					t.Errorf("redelivered notification of %s answered %d", fd.order, status)
				}
			}
			return
		case err == nil && status < 500:
			fd.refused = fmt.Sprint(status)
			t.Errorf("notification of %s answered %d", fd.order, status)
			return
		case err != nil:
			f.count("notify " + loadgen.ErrorCode(err))
		default:
			f.count(fmt.Sprintf("notify %d", status))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// check waits for the inbox to apply everything, then: every acknowledged
// webhook earned exactly once at its merchant, every acknowledged
// notification funded exactly once for its amount, and nothing else.
func (f *feeds) check(t testing.TB, driver, dsn string) {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, driver, dsn, store.Options{MaxOpenConns: 2})
	if err != nil {
		t.Fatalf("open the database to check the feeds: %v", err)
	}
	defer db.Close()
	for end := time.Now().Add(90 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		var pending, dead int
		if err := db.R.GetContext(ctx, &pending, `SELECT COUNT(*) FROM inbox_events WHERE state = 'pending'`); err != nil {
			t.Fatal(err)
		}
		if err := db.R.GetContext(ctx, &dead, `SELECT COUNT(*) FROM inbox_events WHERE state = 'dead'`); err != nil {
			t.Fatal(err)
		}
		if dead > 0 {
			t.Errorf("%d inbox events dead-lettered", dead)
		}
		if pending == 0 {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("%d inbox events still pending 90 s after the load", pending)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	count := func(kind, merchant, order string) (n int, amount int64) {
		var r struct {
			N      int   `db:"n"`
			Amount int64 `db:"amount"`
		}
		if err := db.R.GetContext(ctx, &r, `SELECT COUNT(*) AS n, COALESCE(SUM(amount_fen), 0) AS amount FROM purchases WHERE kind = ? AND merchant_id = ? AND order_id = ?`,
			kind, merchant, order); err != nil {
			t.Fatal(err)
		}
		return r.N, r.Amount
	}
	for _, d := range f.webhooks {
		n, _ := count("earn", d.merchant, d.order)
		switch {
		case d.acked && n != 1:
			t.Errorf("acknowledged POS webhook for order %s earned %d times", d.order, n)
		case !d.acked && n > 1:
			t.Errorf("POS webhook for order %s earned %d times", d.order, n)
		case !d.acked:
			t.Errorf("POS webhook for order %s was never answered 200 after %d deliveries", d.order, d.attempts)
		}
	}
	for _, fd := range f.fundings {
		if fd.txID == "" {
			if fd.refused == "" {
				t.Errorf("funding of %d fen at %s was never ordered", fd.amount, fd.merchant)
			}
			continue
		}
		n, amount := count("fund", fd.merchant, "wechatpay:"+fd.txID)
		switch {
		case !fd.acked:
			t.Errorf("notification of %s was never answered 200 after %d deliveries", fd.order, fd.attempts)
		case n != 1 || amount != fd.amount:
			t.Errorf("acknowledged notification of %s funded %d times, %d fen in all (ordered %d)", fd.order, n, amount, fd.amount)
		}
	}
}

// summary is the feeds' part of the report.
func (f *feeds) summary() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var hooks, hookTries, funds, fundTries int
	for _, d := range f.webhooks {
		hookTries += d.attempts
		if d.acked {
			hooks++
		}
	}
	for _, fd := range f.fundings {
		fundTries += fd.attempts
		if fd.acked {
			funds++
		}
	}
	return fmt.Sprintf("POS webhooks %d acknowledged of %d (%d deliveries), channel notifications %d acknowledged of %d (%d deliveries), retried answers %v",
		hooks, len(f.webhooks), hookTries, funds, len(f.fundings), fundTries, f.transient)
}

// checkCanFail makes sure the feeds' check reports a webhook acknowledged
// but never earned and a notification whose funding differs from what was
// ordered (run after a clean check of the same load).
func (f *feeds) checkCanFail(t testing.TB, driver, dsn string) {
	t.Helper()
	f.mu.Lock()
	var paid *funding
	for _, fd := range f.fundings {
		if fd.acked {
			paid = fd
			break
		}
	}
	if len(f.webhooks) == 0 || paid == nil {
		f.mu.Unlock()
		t.Errorf("the load acknowledged no webhook or no notification")
		return
	}
	hooks, funds := f.webhooks, f.fundings
	wrong := *paid
	wrong.amount++
	f.webhooks = append(append([]*delivery(nil), hooks...), &delivery{merchant: hooks[0].merchant, order: "999999999999", acked: true})
	f.fundings = append(append([]*funding(nil), funds...), &wrong)
	f.mu.Unlock()
	rec := &findings{TB: t}
	f.check(rec, driver, dsn)
	f.mu.Lock()
	f.webhooks, f.fundings = hooks, funds
	f.mu.Unlock()
	got := strings.Join(rec.errs, "\n")
	for _, want := range []string{"order 999999999999 earned 0 times", "funded 1 times"} {
		if !strings.Contains(got, want) {
			t.Errorf("the feeds' check missed a planted fault: want %q in %q", want, got)
		}
	}
}
