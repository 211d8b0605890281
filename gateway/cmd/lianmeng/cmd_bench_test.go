package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/gateway/config"
	"github.com/lianmeng/lianmeng/gateway/loadgen"
	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
)

const benchTestToken = "bench-test-operator-token"

// startInProcessGateway runs serve on a temporary SQLite file and returns
// its base URL; it stops when the test ends.
func startInProcessGateway(t *testing.T) string {
	t.Helper()
	cfg := config.Default()
	cfg.Listen = "127.0.0.1:0"
	cfg.Metrics.Listen = "127.0.0.1:0"
	cfg.Database.DSN = config.Secret(filepath.Join(t.TempDir(), "data", "lianmeng.db"))
	cfg.Operator.Token = config.Secret(benchTestToken)
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), ready) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("serve did not stop")
		}
	})
	select {
	case addr := <-ready:
		return "http://" + addr
	case err := <-done:
		t.Fatalf("serve: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("gateway did not start")
	}
	return ""
}

// TestBenchCommand runs `lianmeng bench` for about a second per shape
// against an in-process gateway: it must set up merchants, complete earns
// and see no errors. It never looks at the figures' values.
func TestBenchCommand(t *testing.T) {
	base := startInProcessGateway(t)
	for _, shape := range []string{loadgen.ShapeSpread, loadgen.ShapeHot} {
		t.Run(shape, func(t *testing.T) {
			code, stdout, stderr := runCLI("bench", "-url", base, "-token", benchTestToken, "-shape", shape,
				"-merchants", "20", "-clients", "8", "-warmup", "200ms", "-duration", "1s", "-json")
			if code != 0 {
				t.Fatalf("bench exit %d: %s", code, stderr)
			}
			var r loadgen.Result
			if err := json.Unmarshal([]byte(stdout), &r); err != nil {
				t.Fatalf("bench -json output %q: %v", stdout, err)
			}
			wantMerchants := 20
			if shape == loadgen.ShapeHot {
				wantMerchants = 1
			}
			if r.Shape != shape || r.Merchants != wantMerchants || r.Clients != 8 {
				t.Errorf("result describes shape %q, %d merchants, %d clients", r.Shape, r.Merchants, r.Clients)
			}
			if r.OK <= 0 || r.Requests < r.OK || r.EarnPerS <= 0 || r.P50Ms <= 0 || r.P99Ms < r.P50Ms {
				t.Errorf("no work measured: %+v", r)
			}
			if len(r.Errors) != 0 || r.WarmupErrors != 0 {
				t.Errorf("unexpected errors: %v (warm-up errors %d)", r.Errors, r.WarmupErrors)
			}
		})
	}
	// Under a CEL rule version (scripts/bench.sh BENCH_RULE=cel): published
	// at once when it awards at least the flat rate; a less favourable one
	// is refused without notice, and bench says so.
	t.Run("cel", func(t *testing.T) {
		const expr = `eligible_fen / 100 + (member_tier == "gold" ? 10 : 0)`
		code, stdout, stderr := runCLI("bench", "-url", base, "-token", benchTestToken, "-shape", "spread", "-merchants", "5",
			"-clients", "4", "-warmup", "0s", "-duration", "500ms", "-json", "-rule-expression", expr)
		if code != 0 {
			t.Fatalf("bench exit %d: %s", code, stderr)
		}
		var r loadgen.Result
		if err := json.Unmarshal([]byte(stdout), &r); err != nil || r.RuleExpression != expr || r.OK <= 0 || len(r.Errors) != 0 {
			t.Fatalf("result %+v (%v)", r, err)
		}
		code, _, stderr = runCLI("bench", "-url", base, "-token", benchTestToken, "-shape", "hot",
			"-clients", "1", "-warmup", "0s", "-duration", "200ms", "-rule-expression", "eligible_fen / 200")
		if code == 0 || !strings.Contains(stderr, "publish the rule expression") || !strings.Contains(stderr, "notice_period_not_met") {
			t.Fatalf("a less favourable rule: exit %d: %s", code, stderr)
		}
	})
	t.Run("text", func(t *testing.T) {
		code, stdout, stderr := runCLI("bench", "-url", base, "-token", benchTestToken, "-shape", "hot",
			"-clients", "2", "-warmup", "0s", "-duration", "300ms", "-max-requests", "20")
		if code != 0 {
			t.Fatalf("bench exit %d: %s", code, stderr)
		}
		for _, want := range []string{"earn/s", "p50", "p99", "errors   none"} {
			if !strings.Contains(stdout, want) {
				t.Errorf("output %q lacks %q", stdout, want)
			}
		}
	})
}

func TestBenchUsage(t *testing.T) {
	for _, args := range [][]string{
		{"bench", "-url", "http://10.1.2.3:8080", "-token", benchTestToken},
		{"bench", "-url", "http://example.com", "-token", benchTestToken},
		{"bench", "-token", benchTestToken, "-clients", "0"},
		{"bench", "-token", benchTestToken, "-clients", "100000"},
		{"bench", "-token", benchTestToken, "-duration", "2h"},
		{"bench", "-token", benchTestToken, "-shape", "round"},
		{"bench", "-token", benchTestToken, "extra"},
	} {
		t.Setenv("LIANMENG_OPERATOR_TOKEN", "")
		code, _, stderr := runCLI(args...)
		if code != 2 {
			t.Errorf("%v: exit %d, stderr %q; want 2", args, code, stderr)
			continue
		}
		usageOut(t, stderr, []string{"bench"}, "lianmeng bench: ")
	}
	t.Setenv("LIANMENG_OPERATOR_TOKEN", "")
	if code, _, stderr := runCLI("bench"); code != 2 || !strings.Contains(stderr, "token") {
		t.Errorf("no token: exit %d, %q", code, stderr)
	}
}

// TestBenchPOSShape runs `lianmeng bench -shape pos` for a second against
// the gateway binary with the builtin Shopify adapter: every merchant gets
// a POS connection, every sale is a signed Shopify webhook, and when the
// command returns the inbox has processed them all (each acknowledged
// webhook earned, counted in the database).
func TestBenchPOSShape(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the gateway binary")
	}
	bin := buildGatewayBinary(t)
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "lianmeng.yaml")
	if err := os.WriteFile(cfgPath, []byte("plugins:\n  - name: shopify\n    kind: pos_adapter\n    path: builtin:shopify\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	driver, dsn := storetest.NewDatabase(t, store.SQLite)
	g := startGatewayProc(t, bin, dir, append(gatewayEnv(driver, dsn), "LIANMENG_CONFIG="+cfgPath))
	code, stdout, stderr := runCLI("bench", "-url", g.base, "-token", crashToken, "-shape", "pos",
		"-merchants", "5", "-clients", "8", "-warmup", "200ms", "-duration", "1s", "-json")
	if code != 0 {
		t.Fatalf("bench exit %d: %s\n%s", code, stderr, g.logs())
	}
	var r loadgen.Result
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatalf("bench -json output %q: %v", stdout, err)
	}
	if r.Shape != "pos" || r.Merchants != 5 || r.OK <= 0 || r.AckPerS <= 0 || r.EarnPerS <= 0 || r.EarnPerS > r.AckPerS || len(r.Errors) != 0 || r.WarmupErrors != 0 {
		t.Fatalf("result: %+v", r)
	}
	db, err := store.Open(context.Background(), driver, dsn, store.Options{MaxOpenConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var earned, pending int
	if err := db.R.Get(&earned, `SELECT COUNT(*) FROM purchases WHERE kind = 'earn'`); err != nil {
		t.Fatal(err)
	}
	if err := db.R.Get(&pending, `SELECT COUNT(*) FROM inbox_events WHERE state <> 'done'`); err != nil {
		t.Fatal(err)
	}
	// Requests that finished after the window are acknowledged but not
	// counted in OK: at least OK + warm-up earned, nothing left.
	if pending != 0 || int64(earned) < r.OK+r.WarmupRequests {
		t.Fatalf("%d earned, %d not done, for %d acknowledged in the window and %d in the warm-up", earned, pending, r.OK, r.WarmupRequests)
	}
}
