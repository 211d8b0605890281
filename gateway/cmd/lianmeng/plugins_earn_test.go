package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/gateway/api"
	"github.com/lianmeng/lianmeng/gateway/config"
	"github.com/lianmeng/lianmeng/gateway/internal/eventually"
	"github.com/lianmeng/lianmeng/gateway/pluginhost"
	"github.com/lianmeng/lianmeng/gateway/points"
	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
	"github.com/lianmeng/lianmeng/sdk/client"
	"github.com/lianmeng/lianmeng/sdk/host"
	"github.com/lianmeng/lianmeng/sdk/plugintest"
	"github.com/lianmeng/lianmeng/sdk/signature"
)

// TestEarnThroughRulePluginFailureSemantics: a rule plugin that is slow,
// panics or is killed makes earn answer 503 rule_unavailable with
// Retry-After and write nothing; once the host has restarted it, the
// client's retry with the same idempotency key succeeds exactly once.
func TestEarnThroughRulePluginFailureSemantics(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "testrule")
	if err := plugintest.BuildTo("../../pluginhost/testdata/testrule", bin); err != nil {
		t.Fatal(err)
	}
	sum, err := host.FileSHA256(bin)
	if err != nil {
		t.Fatal(err)
	}
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		cfg := config.Default()
		cfg.Operator.Token = "operator-token-0123456789"
		cfg.Plugins = []config.Plugin{{Name: "rule", Kind: "earning_rule", Path: bin, SHA256: hex.EncodeToString(sum),
			Timeout: config.Duration(500 * time.Millisecond), Required: true}}
		log := slog.New(slog.NewTextHandler(io.Discard, nil))
		w := db.NewWriter(store.WriterOptions{})
		defer w.Close()
		deps := api.Deps{Config: cfg, DB: db, Log: log, Writer: w, Points: &points.Service{Policy: cfg.Points.Policy()}}
		stop, err := startPluginsWith(cfg, pluginhost.Options{Logger: log, MinBackoff: 2 * time.Second, HealthInterval: 100 * time.Millisecond}, &deps)
		if err != nil {
			t.Fatal(err)
		}
		defer stop()
		h := deps.Points.Rules.(ruleEvaluator).h
		srv := api.New(deps)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		sctx, cancel := context.WithCancel(ctx)
		defer cancel()
		go srv.Serve(sctx, ln)
		base := "http://" + ln.Addr().String()

		// The bootstrap token only makes a named token, which does the rest.
		var named struct{ Token string }
		must(t, client.NewOperator(base, cfg.Operator.Token.Reveal()).Do(ctx, "POST", "/v1/operator/tokens",
			map[string]any{"label": "test", "scopes": []string{"merchants:write", "funds:write"}}, &named))
		op := client.NewOperator(base, named.Token)
		var m struct{ ID string }
		must(t, op.Do(ctx, "POST", "/v1/operator/merchants", map[string]string{"name": "Hotpot", "industry": "restaurant"}, &m))
		var cred struct{ ID, Secret string }
		must(t, op.Do(ctx, "POST", "/v1/operator/merchants/"+m.ID+"/credentials", map[string]string{"algorithm": "hmac-sha256"}, &cred))
		must(t, op.Do(ctx, "PUT", "/v1/operator/merchants/"+m.ID+"/earning", map[string]any{"rule_plugin": "rule"}, nil))
		must(t, op.Do(ctx, "POST", "/v1/operator/merchants/"+m.ID+"/fund", map[string]any{"amount_fen": 100000, "external_ref": "p1"}, nil, client.IdempotencyKey("f1")))
		signer, err := signature.NewHMACSigner(cred.ID, cred.Secret)
		must(t, err)
		mc := client.NewMerchant(base, m.ID, signer)
		earn := func(order, key string, attrs map[string]string) (map[string]any, error) {
			var out map[string]any
			err := mc.Do(ctx, "POST", "/v1/merchant/earn", map[string]any{"order_id": order, "amount_fen": 12000,
				"member": map[string]string{"kind": "phone", "value": "13800138000"}, "attributes": attrs}, &out, client.IdempotencyKey(key))
			return out, err
		}
		count := func() int {
			var n int
			must(t, db.R.Get(&n, "SELECT COUNT(*) FROM ledger_transactions"))
			return n
		}
		before := count()
		unavailable := func(what string, err error) {
			t.Helper()
			var ae *client.APIError
			if !errors.As(err, &ae) || ae.Status != 503 || ae.Code != "rule_unavailable" || ae.RetryAfter <= 0 {
				t.Fatalf("%s: got %v, want 503 rule_unavailable with Retry-After", what, err)
			}
			if n := count(); n != before {
				t.Fatalf("%s: %d ledger transactions written", what, n-before)
			}
		}
		_, err = earn("slow", "k-slow", map[string]string{"sleep": "3s"})
		unavailable("plugin past its deadline", err)
		_, err = earn("panic", "k-panic", map[string]string{"panic": "boom"})
		unavailable("panicking plugin", err)

		// Kill the plugin: earn fails cleanly until the host restarts it.
		old := pluginPid(t, h)
		must(t, syscall.Kill(old, syscall.SIGKILL))
		_, err = earn("after-kill", "k-kill", nil)
		unavailable("killed plugin", err)
		eventually.True(t, 30*time.Second, "plugin restarted and ready", func() bool {
			pid := pluginPid(t, h)
			return pid != old && pid != 0 && h.Ready() == nil
		})
		first, err := earn("after-kill", "k-kill", nil)
		if err != nil {
			t.Fatalf("retry after restart: %v", err)
		}
		if first["points"].(float64) != 120 || first["rule_version"] == "" {
			t.Fatalf("earn through plugin: %v", first)
		}
		again, err := earn("after-kill", "k-kill", nil)
		if err != nil || fmt.Sprint(again) != fmt.Sprint(first) {
			t.Fatalf("second retry: %v %v, want the first answer replayed", again, err)
		}
		var n int
		must(t, db.R.Get(&n, "SELECT COUNT(*) FROM purchases WHERE order_id = 'after-kill'"))
		if n != 1 {
			t.Fatalf("purchase recorded %d times", n)
		}
		vs, err := db.CheckInvariants(ctx, 1, nil)
		if err != nil || len(vs) > 0 {
			t.Fatalf("invariants: %v %v", vs, err)
		}
	})
}

func pluginPid(t *testing.T, h *pluginhost.Host) int {
	for _, st := range h.Status() {
		if st.Name == "rule" && st.State == "up" {
			return st.Pid
		}
	}
	return 0
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
