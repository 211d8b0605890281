package main

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/gateway/config"
	"github.com/lianmeng/lianmeng/gateway/internal/eventually"
	"github.com/lianmeng/lianmeng/sdk/client"
	"github.com/lianmeng/lianmeng/sdk/signature"
)

// TestServeChannelNotificationThroughInbox: serve with the sandbox channel
// (builtin:sandbox, out of process): a merchant's funding is paid on the
// sandbox page, the plugin's signed notification reaches the gateway, which
// stores it in the inbox (connection channel:sandbox), acknowledges it,
// and the inbox worker funds the budget once, though Pay was pressed twice.
func TestServeChannelNotificationThroughInbox(t *testing.T) {
	t.Setenv(reexecEnv, "1") // this test binary serves builtin:sandbox
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	listen := l.Addr().String()
	l.Close()
	cfg := testConfig(t)
	cfg.Listen = listen
	cfg.Operator.Token = "operator-token-0123456789"
	cfg.Plugins = []config.Plugin{{Name: "sandbox", Kind: "payment_channel", Path: "builtin:sandbox", Timeout: config.Duration(5 * time.Second), Env: []string{reexecEnv},
		Config: map[string]any{"notify_url": "http://" + listen + "/v1/channels/sandbox/notify", "secret": "0123456789abcdef-secret"}}}
	addr, logs, cancel, done := startServe(t, cfg)
	defer func() {
		if t.Failed() {
			t.Log(logs.String())
		}
	}()
	defer func() { cancel(); <-done }()
	base, ctx := "http://"+addr, context.Background()

	var named struct{ Token string }
	must(t, client.NewOperator(base, cfg.Operator.Token.Reveal()).Do(ctx, "POST", "/v1/operator/tokens",
		map[string]any{"label": "test", "scopes": []string{"read", "merchants:write"}}, &named))
	op := client.NewOperator(base, named.Token)
	var m struct{ ID string }
	must(t, op.Do(ctx, "POST", "/v1/operator/merchants", map[string]string{"name": "Teahouse", "industry": "restaurant"}, &m))
	var cred struct{ ID, Secret string }
	must(t, op.Do(ctx, "POST", "/v1/operator/merchants/"+m.ID+"/credentials", map[string]any{"algorithm": "hmac-sha256", "scopes": []string{"finance", "read"}}, &cred))
	s, err := signature.NewHMACSigner(cred.ID, cred.Secret)
	must(t, err)
	mc := client.NewMerchant(base, m.ID, s)
	var order struct {
		ID     string `json:"id"`
		QRCode string `json:"qr_code"`
	}
	var lastErr error
	eventually.True(t, 30*time.Second, "the sandbox plugin up", func() bool {
		// 503 channel_unavailable until the plugin has started: the same key again.
		lastErr = mc.Do(ctx, "POST", "/v1/merchant/funding", map[string]any{"channel": "sandbox", "amount_fen": 12_345}, &order, client.IdempotencyKey("f1"))
		return lastErr == nil
	})
	page, ok := strings.CutPrefix(order.QRCode, "SANDBOX:")
	if !ok {
		t.Fatalf("order %+v", order)
	}
	for i := 0; i < 2; i++ {
		r, err := http.Post(page, "application/x-www-form-urlencoded", nil)
		must(t, err)
		r.Body.Close()
		if r.StatusCode != http.StatusOK {
			t.Fatalf("pay %d: %s", i+1, r.Status)
		}
	}
	var acct struct {
		BudgetPoints int64 `json:"budget_points"`
	}
	eventually.True(t, 20*time.Second, "the budget funded by the inbox worker", func() bool {
		must(t, mc.Do(ctx, "GET", "/v1/merchant/account", nil, &acct))
		return acct.BudgetPoints == 12_345
	})
	var inbox struct {
		Events []struct {
			ConnectionID, State, Outcome string
		} `json:"events"`
	}
	must(t, op.Do(ctx, "GET", "/v1/operator/pos/inbox?connection=channel:sandbox", nil, &inbox))
	if len(inbox.Events) != 1 || inbox.Events[0].State != "done" || !strings.HasPrefix(inbox.Events[0].Outcome, "credited") {
		t.Fatalf("inbox: %+v", inbox)
	}
	time.Sleep(500 * time.Millisecond) // a second worker pass finds nothing more
	must(t, mc.Do(ctx, "GET", "/v1/merchant/account", nil, &acct))
	if acct.BudgetPoints != 12_345 {
		t.Fatalf("budget %d after two payments of one order", acct.BudgetPoints)
	}
}
