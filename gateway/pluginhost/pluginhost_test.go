package pluginhost

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lianmeng/lianmeng/gateway/config"
	"github.com/lianmeng/lianmeng/gateway/internal/eventually"
	"github.com/lianmeng/lianmeng/plugins"
	_ "github.com/lianmeng/lianmeng/plugins/all"
	"github.com/lianmeng/lianmeng/sdk"
	"github.com/lianmeng/lianmeng/sdk/earning"
	"github.com/lianmeng/lianmeng/sdk/host"
	"github.com/lianmeng/lianmeng/sdk/payment"
	"github.com/lianmeng/lianmeng/sdk/plugintest"
	"github.com/lianmeng/lianmeng/sdk/purchase"
)

// Binaries shared by all tests, built once in TestMain.
var (
	gatewayBin  string // serves builtins like "lianmeng plugin serve NAME"
	testruleBin string // misbehaves on request
	testruleSum string
)

func TestMain(m *testing.M) {
	if len(os.Args) == 4 && os.Args[1] == "plugin" && os.Args[2] == "serve" {
		// Started as a builtin through /proc/self/exe (TestBuiltinRunsTheRunningImage):
		// serve like "lianmeng plugin serve NAME".
		if err := plugins.Serve(os.Args[3]); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	dir, err := os.MkdirTemp("", "pluginhost-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	gatewayBin, testruleBin = filepath.Join(dir, "gateway"), filepath.Join(dir, "testrule")
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, b := range []struct{ pkg, out string }{{"./testdata/gateway", gatewayBin}, {"./testdata/testrule", testruleBin}} {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = plugintest.BuildTo(b.pkg, b.out) }()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	sum, err := host.FileSHA256(testruleBin)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	testruleSum = hex.EncodeToString(sum)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func newHost(t testing.TB, opts Options, plugins ...config.Plugin) *Host {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = testLogger(t)
	}
	if opts.Executable == "" {
		opts.Executable = gatewayBin
	}
	if opts.Registerer == nil {
		opts.Registerer = prometheus.NewRegistry()
	}
	h, err := New(plugins, opts)
	if err != nil {
		t.Fatalf("pluginhost.New: %v", err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func testrule(name string, timeout time.Duration, env ...string) config.Plugin {
	return config.Plugin{Name: name, Kind: sdk.KindEarningRule, Path: testruleBin, SHA256: testruleSum,
		Timeout: config.Duration(timeout), Required: true, Env: env}
}

func order(amountFen int64, attrs ...string) earning.Request {
	p := purchase.Purchase{MerchantID: "m1", StoreID: "s1", ExternalOrderID: "o1", AmountFen: amountFen, Currency: "CNY",
		OccurredAt: time.Date(2025, 3, 4, 15, 30, 0, 0, time.UTC), Attributes: map[string]string{}}
	for i := 0; i+1 < len(attrs); i += 2 {
		p.Attributes[attrs[i]] = attrs[i+1]
	}
	return earning.Request{Purchase: p}
}

func unavailable(t *testing.T, err error, reason string) *UnavailableError {
	t.Helper()
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("want ErrUnavailable (%s), got %v", reason, err)
	}
	var ue *UnavailableError
	errors.As(err, &ue)
	if reason != "" && ue.Reason != reason {
		t.Fatalf("want reason %s, got %v", reason, err)
	}
	if d, ok := RetryAfter(err); !ok || d < time.Second {
		t.Fatalf("want a retry-after hint of at least 1s, got %v", d)
	}
	return ue
}

func TestBuiltinRestaurant(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := newHost(t, Options{Registerer: reg}, config.Plugin{
		Name: "restaurant", Kind: sdk.KindEarningRule, Path: "builtin:restaurant", Required: true,
		Config: map[string]any{
			"points_per_yuan": 2,
			"off_peak": map[string]any{"windows": []any{map[string]any{"start": "14:00", "end": "17:00"}},
				"multiplier_permille": 1500, "max_bonus_points": 50},
		},
	})
	if err := h.Ready(); err != nil {
		t.Fatal(err)
	}
	req := order(25800)
	req.Purchase.Items = []purchase.LineItem{
		{SKU: "duck", Category: "food", Quantity: 1, AmountFen: 23800},
		{Category: "service_charge", Quantity: 1, AmountFen: 2000},
	}
	b, err := h.Evaluate(context.Background(), "restaurant", req)
	if err != nil {
		t.Fatal(err)
	}
	// 238 yuan x2 = 476; 15:30 UTC is 23:30 in Shanghai: not off-peak.
	if b.BasePoints != 476 || b.TotalPoints != 476 || len(b.Exclusions) != 1 {
		t.Fatalf("breakdown %+v", b)
	}
	req.Purchase.OccurredAt = time.Date(2025, 3, 4, 7, 0, 0, 0, time.UTC) // 15:00 Shanghai
	if b, err = h.Evaluate(context.Background(), "restaurant", req); err != nil || b.TotalPoints != 526 {
		t.Fatalf("off-peak: %+v, %v", b, err)
	}

	st := h.Status()[0]
	if st.State != "up" || st.Pid == 0 || st.Plugin.Name != "restaurant" || st.Plugin.ProtocolVersion != sdk.ProtocolVersion {
		t.Fatalf("status %+v", st)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, mf := range mfs {
		have[mf.GetName()] = true
	}
	for _, n := range []string{"lianmeng_plugin_calls_total", "lianmeng_plugin_call_duration_seconds", "lianmeng_plugin_up"} {
		if !have[n] {
			t.Errorf("metric %s not registered (have %v)", n, have)
		}
	}

	// Invalid configuration of a required plugin refuses to start.
	_, err = New([]config.Plugin{{Name: "r", Kind: sdk.KindEarningRule, Path: "builtin:restaurant", Required: true,
		Config: map[string]any{"points_per_yuan": 0}}}, Options{Executable: gatewayBin, Logger: testLogger(t)})
	if !errors.Is(err, sdk.ErrInvalidConfig) {
		t.Fatalf("want ErrInvalidConfig, got %v", err)
	}
}

// Without Options.Executable a builtin executes /proc/self/exe: the image
// the gateway (here the test binary, which serves builtins from TestMain)
// is running, not whatever file is at its path now.
func TestBuiltinRunsTheRunningImage(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("/proc/self/exe is Linux's")
	}
	h, err := New([]config.Plugin{{Name: "r", Kind: sdk.KindEarningRule, Path: "builtin:restaurant", Required: true,
		Config: map[string]any{"points_per_yuan": 2}}}, Options{Logger: testLogger(t), Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	st := h.Status()[0]
	if st.State != "up" || st.Plugin.Name != "restaurant" {
		t.Fatalf("status %+v", st)
	}
	child, err := os.Stat(fmt.Sprintf("/proc/%d/exe", st.Pid))
	if err != nil {
		t.Fatal(err)
	}
	self, err := os.Stat("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(child, self) {
		t.Fatalf("builtin pid %d runs another image than the gateway", st.Pid)
	}
	b, err := h.Evaluate(context.Background(), "r", order(10000))
	if err != nil || b.TotalPoints != 200 {
		t.Fatalf("evaluate: %+v, %v", b, err)
	}
}

func TestEnvAllowlist(t *testing.T) {
	t.Setenv("LIANMENG_DATABASE_DSN", "root:secret@tcp(db)/prod")
	t.Setenv("PLUGIN_ALLOWED", "yes")
	h := newHost(t, Options{}, testrule("rule", 0, "PLUGIN_ALLOWED", "PLUGIN_LITERAL=lit", "PLUGIN_NOT_SET"))
	for name, want := range map[string]string{
		"PLUGIN_ALLOWED": "yes", "PLUGIN_LITERAL": "lit", "LIANMENG_DATABASE_DSN": "<unset>", "PLUGIN_NOT_SET": "<unset>",
	} {
		b, err := h.Evaluate(context.Background(), "rule", order(100, "env", name))
		if err != nil || b.Explanation != want {
			t.Errorf("%s: got %q, %v; want %q", name, b.Explanation, err, want)
		}
	}
}

func TestChecksumMismatch(t *testing.T) {
	p := testrule("rule", 0)
	p.SHA256 = strings.Repeat("ab", 32)
	_, err := New([]config.Plugin{p}, Options{Logger: testLogger(t)})
	if !errors.Is(err, ErrChecksum) || !strings.Contains(err.Error(), "refusing") {
		t.Fatalf("want a checksum refusal, got %v", err)
	}

	// Not required: the gateway starts, the plugin stays down.
	p.Required = false
	h := newHost(t, Options{}, p)
	_, err = h.Evaluate(context.Background(), "rule", order(100))
	ue := unavailable(t, err, "down")
	if ue.Sent || !errors.Is(err, ErrChecksum) {
		t.Fatalf("want an unsent call carrying the checksum error, got %+v", ue)
	}
	if st := h.Status()[0]; st.State != "down" || !strings.Contains(st.LastError, "checksum") {
		t.Fatalf("status %+v", st)
	}
}

func TestKilledDuringCall(t *testing.T) {
	h := newHost(t, Options{MinBackoff: 10 * time.Millisecond}, testrule("rule", time.Minute))
	marker := filepath.Join(t.TempDir(), "in-call")
	errc := make(chan error, 1)
	go func() {
		_, err := h.Evaluate(context.Background(), "rule", order(100, "marker", marker, "sleep", "1h"))
		errc <- err
	}()
	var pid int
	eventually.NoError(t, 30*time.Second, "call reaches the plugin", func() error {
		b, err := os.ReadFile(marker)
		if err == nil {
			pid, err = strconv.Atoi(string(b))
		}
		return err
	})
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	unavailable(t, <-errc, "crashed")

	eventually.NoError(t, 30*time.Second, "restarted plugin answers", func() error {
		b, err := h.Evaluate(context.Background(), "rule", order(500))
		if err == nil && b.TotalPoints != 5 {
			return fmt.Errorf("total %d", b.TotalPoints)
		}
		return err
	})
	st := h.Status()[0]
	if st.Restarts < 1 || st.Pid == pid || st.State != "up" {
		t.Fatalf("status after restart %+v (killed pid %d)", st, pid)
	}
}

func TestPluginExitsBetweenCalls(t *testing.T) {
	h := newHost(t, Options{MinBackoff: 10 * time.Millisecond}, testrule("rule", 0))
	_, err := h.Evaluate(context.Background(), "rule", order(100, "exit", "1"))
	unavailable(t, err, "crashed")
	eventually.NoError(t, 30*time.Second, "restarted plugin answers", func() error {
		_, err := h.Evaluate(context.Background(), "rule", order(100))
		return err
	})
}

func TestDeadline(t *testing.T) {
	h := newHost(t, Options{}, testrule("rule", 200*time.Millisecond))
	_, err := h.Evaluate(context.Background(), "rule", order(100, "sleep", "3s"))
	if ue := unavailable(t, err, "deadline"); !ue.Sent {
		t.Fatal("a timed-out call was sent")
	}
	// The plugin is still alive (busy in the overrunning call) and answers.
	if _, err := h.Evaluate(context.Background(), "rule", order(100)); err != nil {
		t.Fatal(err)
	}

	// The caller's own, shorter deadline is propagated to the plugin too.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err = h.Evaluate(ctx, "rule", order(100, "sleep", "3s"))
	unavailable(t, err, "deadline")
}

func TestPanicKeepsHostWorking(t *testing.T) {
	h := newHost(t, Options{}, testrule("rule", 0))
	b, err := h.Evaluate(context.Background(), "rule", order(100))
	if err != nil {
		t.Fatal(err)
	}
	pid := b.Explanation
	_, err = h.Evaluate(context.Background(), "rule", order(100, "panic", "boom"))
	unavailable(t, err, "panicked")
	b, err = h.Evaluate(context.Background(), "rule", order(300))
	if err != nil || b.TotalPoints != 3 || b.Explanation != pid {
		t.Fatalf("after a panic: %+v, %v (want the same process %s)", b, err, pid)
	}
}

func TestRefusalsAndBadResults(t *testing.T) {
	h := newHost(t, Options{}, testrule("rule", 0))
	ctx := context.Background()
	_, err := h.Evaluate(ctx, "rule", order(100, "invalid", "no"))
	if !errors.Is(err, sdk.ErrInvalidInput) || errors.Is(err, ErrUnavailable) {
		t.Fatalf("want ErrInvalidInput only, got %v", err)
	}
	bad := order(100)
	bad.Purchase.Currency = ""
	if _, err := h.Evaluate(ctx, "rule", bad); !errors.Is(err, sdk.ErrInvalidInput) {
		t.Fatalf("want ErrInvalidInput for an invalid purchase, got %v", err)
	}
	_, err = h.Evaluate(ctx, "rule", order(100, "badsum", "1"))
	unavailable(t, err, "bad_result")
	_, err = h.Evaluate(ctx, "rule", order(100, "fail", "oops"))
	unavailable(t, err, "failed")

	if _, err := h.Evaluate(ctx, "nope", order(100)); !errors.Is(err, ErrUnknownPlugin) {
		t.Fatalf("want ErrUnknownPlugin, got %v", err)
	}
	if _, err := h.PaymentChannel("rule"); !errors.Is(err, ErrUnknownPlugin) {
		t.Fatalf("want ErrUnknownPlugin for the wrong kind, got %v", err)
	}
}

func TestIncompatiblePlugins(t *testing.T) {
	for mode, want := range map[string]string{
		"v2only":      "protocol",
		"wrongcookie": "magic cookie",
		"stdout":      "stdout",
		"badconfig":   "never good enough",
	} {
		t.Run(mode, func(t *testing.T) {
			_, err := New([]config.Plugin{testrule("rule", 0, "LIANMENG_TEST_MODE="+mode)}, Options{Logger: testLogger(t)})
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("want an error mentioning %q, got %v", want, err)
			}
			if mode != "badconfig" && !errors.Is(err, ErrIncompatible) {
				t.Fatalf("want ErrIncompatible, got %v", err)
			}
			t.Log(err)
		})
	}
}

func TestCircuitBreaker(t *testing.T) {
	h := newHost(t, Options{BreakerThreshold: 2, BreakerCooldown: 200 * time.Millisecond}, testrule("rule", 0))
	ctx := context.Background()
	for range 2 {
		_, err := h.Evaluate(ctx, "rule", order(100, "fail", "x"))
		unavailable(t, err, "failed")
	}
	// Open: even a good call fails fast without reaching the plugin.
	_, err := h.Evaluate(ctx, "rule", order(100))
	if ue := unavailable(t, err, "circuit_open"); ue.Sent {
		t.Fatal("a call was sent through an open circuit")
	}
	if st := h.Status()[0]; st.Circuit != "open" {
		t.Fatalf("circuit %s, want open", st.Circuit)
	}

	// Half-open after the cooldown: one failing probe opens it again.
	eventually.NoError(t, 30*time.Second, "half-open probe", func() error {
		_, err := h.Evaluate(ctx, "rule", order(100, "fail", "x"))
		if errors.As(err, new(*UnavailableError)) && err.(*UnavailableError).Reason == "failed" {
			return nil
		}
		return fmt.Errorf("probe not let through yet: %v", err)
	})
	_, err = h.Evaluate(ctx, "rule", order(100))
	unavailable(t, err, "circuit_open")

	// A successful probe closes it.
	eventually.NoError(t, 30*time.Second, "circuit closes", func() error {
		_, err := h.Evaluate(ctx, "rule", order(100))
		return err
	})
	if st := h.Status()[0]; st.Circuit != "closed" {
		t.Fatalf("circuit %s, want closed", st.Circuit)
	}
}

func TestCloseFailsCalls(t *testing.T) {
	h := newHost(t, Options{}, testrule("rule", 0))
	pid := h.Status()[0].Pid
	h.Close()
	_, err := h.Evaluate(context.Background(), "rule", order(100))
	unavailable(t, err, "closed")
	eventually.NoError(t, 30*time.Second, "plugin process gone", func() error {
		if syscall.Kill(pid, 0) == nil {
			return fmt.Errorf("pid %d still alive", pid)
		}
		return nil
	})
}

func testchannel(name string, optional bool) config.Plugin {
	return config.Plugin{Name: name, Kind: sdk.KindPaymentChannel, Path: testruleBin, SHA256: testruleSum,
		Required: true, Config: map[string]any{"optional": optional}}
}

// The optional PaymentChannel calls across the boundary: a plugin without
// them answers sdk.ErrUnimplemented, which is no outage (the circuit
// stays closed even with a threshold of one); a plugin with them is called
// through, and an answer about another payment or an identity without a
// kind or an id is a bad result, never passed on.
func TestOptionalChannelCalls(t *testing.T) {
	h := newHost(t, Options{BreakerThreshold: 1}, testchannel("old", false), testchannel("new", true))
	if err := h.Ready(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	old, err := h.PaymentChannel("old")
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		_, err := old.(payment.Querier).QueryPayment(ctx, payment.QueryPaymentRequest{TransactionID: "fnd_1"})
		if !errors.Is(err, sdk.ErrUnimplemented) || errors.Is(err, ErrUnavailable) {
			t.Fatalf("query on a plugin without it: want sdk.ErrUnimplemented only, got %v", err)
		}
		_, err = old.(payment.LoginExchanger).ExchangeLoginCode(ctx, payment.LoginRequest{Code: "c"})
		if !errors.Is(err, sdk.ErrUnimplemented) || errors.Is(err, ErrUnavailable) {
			t.Fatalf("login on a plugin without it: want sdk.ErrUnimplemented only, got %v", err)
		}
	}
	if _, err := old.(payment.Querier).QueryPayment(ctx, payment.QueryPaymentRequest{TransactionID: "fnd_1"}); errors.Is(err, ErrUnavailable) {
		t.Fatalf("the circuit opened on unimplemented calls: %v", err)
	}

	ch, err := h.PaymentChannel("new")
	if err != nil {
		t.Fatal(err)
	}
	q := ch.(payment.Querier)
	res, err := q.QueryPayment(ctx, payment.QueryPaymentRequest{TransactionID: "fnd_2"})
	if err != nil || res.Status != payment.StatusSucceeded || res.TransactionID != "fnd_2" || res.ChannelReference != "ref-fnd_2" || res.AmountFen != 100 {
		t.Fatalf("query: %+v %v", res, err)
	}
	x := ch.(payment.LoginExchanger)
	id, err := x.ExchangeLoginCode(ctx, payment.LoginRequest{Code: "abc"})
	if err != nil || id.Kind != payment.IdentityWeChatOpenID || id.UserID != "o-abc" {
		t.Fatalf("login: %+v %v", id, err)
	}
	if _, err := x.ExchangeLoginCode(ctx, payment.LoginRequest{Code: "used"}); !errors.Is(err, sdk.ErrInvalidInput) || errors.Is(err, ErrUnavailable) {
		t.Fatalf("a refused code: want sdk.ErrInvalidInput only, got %v", err)
	}
	h2 := newHost(t, Options{}, testchannel("new", true))
	ch2, err := h2.PaymentChannel("new")
	if err != nil {
		t.Fatal(err)
	}
	_, err = ch2.(payment.Querier).QueryPayment(ctx, payment.QueryPaymentRequest{TransactionID: "other"})
	unavailable(t, err, "bad_result")
	for _, code := range []string{"nokind", "noid"} {
		_, err = ch2.(payment.LoginExchanger).ExchangeLoginCode(ctx, payment.LoginRequest{Code: code})
		unavailable(t, err, "bad_result")
	}
	_, err = ch2.(payment.Querier).QueryPayment(ctx, payment.QueryPaymentRequest{TransactionID: "fail"})
	unavailable(t, err, "failed")
}
