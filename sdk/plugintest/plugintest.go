// Package plugintest lets a plugin author test a plugin the way the gateway
// runs it: Build compiles the plugin's main package, Start launches it out
// of process through sdk/host (the gateway's own launch code: handshake,
// AutoMTLS, checksum, clean environment), and the typed accessors return
// configured instances to call from a Go test.
//
//	func TestPlugin(t *testing.T) {
//		bin := plugintest.Build(t, ".")
//		p := plugintest.Start(t, bin)
//		rule := p.EarningRule(t, map[string]any{"points_per_yuan": 2})
//		b, err := rule.Evaluate(ctx, earning.Request{Purchase: plugintest.ValidPurchase()})
//	}
//
// Check, CheckSender and CheckConfig are in-process conformance helpers
// that need no build at all; ValidPurchase and ValidSendRequest are
// complete valid requests to start test cases from.
package plugintest

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/lianmeng/lianmeng/sdk"
	"github.com/lianmeng/lianmeng/sdk/earning"
	"github.com/lianmeng/lianmeng/sdk/host"
	"github.com/lianmeng/lianmeng/sdk/messaging"
	"github.com/lianmeng/lianmeng/sdk/payment"
	"github.com/lianmeng/lianmeng/sdk/pos"
)

// Build compiles the main package pkg (a path like "." or an import path)
// into a temporary directory and returns the binary's path.
func Build(t testing.TB, pkg string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "plugin")
	if runtime.GOOS == "windows" {
		out += ".exe"
	}
	if err := BuildTo(pkg, out); err != nil {
		t.Fatal(err)
	}
	return out
}

// BuildTo compiles pkg to out; for TestMain, where there is no testing.TB.
func BuildTo(pkg, out string) error {
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(gobin); err != nil {
		gobin = "go"
	}
	cmd := exec.Command(gobin, "build", "-o", out, pkg)
	if b, err := cmd.CombinedOutput(); err != nil {
		return &buildError{pkg: pkg, out: string(b), err: err}
	}
	return nil
}

type buildError struct {
	pkg, out string
	err      error
}

func (e *buildError) Error() string { return "go build " + e.pkg + ": " + e.err.Error() + "\n" + e.out }

// Option adjusts how Start launches the plugin.
type Option func(*host.Config)

// WithEnv passes KEY=VALUE entries to the plugin.
func WithEnv(env ...string) Option { return func(c *host.Config) { c.Env = append(c.Env, env...) } }

// WithArgs passes command-line arguments to the plugin.
func WithArgs(args ...string) Option {
	return func(c *host.Config) { c.Args = append(c.Args, args...) }
}

// WithChecksum pins the binary's SHA-256, as the gateway does.
func WithChecksum(sum []byte) Option { return func(c *host.Config) { c.SHA256 = sum } }

// Plugin is a running plugin process, killed when the test ends.
type Plugin struct {
	*host.Client
}

// Start launches the plugin binary at path and fails the test if the
// handshake fails. Plugin log lines go to the test log.
func Start(t testing.TB, path string, opts ...Option) *Plugin {
	t.Helper()
	cfg := host.Config{Path: path, Logger: testLogger(t)}
	for _, o := range opts {
		o(&cfg)
	}
	c, err := host.Start(cfg)
	if err != nil {
		t.Fatalf("start plugin: %v", err)
	}
	t.Cleanup(c.Kill)
	return &Plugin{Client: c}
}

func (p *Plugin) configure(t testing.TB, kind string, config any) string {
	t.Helper()
	var raw []byte
	switch c := config.(type) {
	case nil:
		raw = []byte("{}")
	case []byte:
		raw = c
	case json.RawMessage:
		raw = c
	default:
		var err error
		if raw, err = json.Marshal(config); err != nil {
			t.Fatalf("encode config: %v", err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := p.Describe(ctx, kind); err != nil {
		t.Fatalf("describe: %v", err)
	}
	if err := p.Configure(ctx, kind, t.Name(), raw); err != nil {
		t.Fatalf("configure: %v", err)
	}
	return t.Name()
}

// EarningRule configures an earning rule instance (config is marshalled to
// JSON; a []byte or json.RawMessage is sent as is) and returns it.
func (p *Plugin) EarningRule(t testing.TB, config any) earning.Rule {
	t.Helper()
	return p.Client.EarningRule(p.configure(t, sdk.KindEarningRule, config))
}

// POSAdapter configures a POS adapter instance and returns it.
func (p *Plugin) POSAdapter(t testing.TB, config any) pos.Adapter {
	t.Helper()
	return p.Client.POSAdapter(p.configure(t, sdk.KindPOSAdapter, config))
}

// PaymentChannel configures a payment channel instance and returns it.
func (p *Plugin) PaymentChannel(t testing.TB, config any) payment.Channel {
	t.Helper()
	return p.Client.PaymentChannel(p.configure(t, sdk.KindPaymentChannel, config))
}

// MessageSender configures a message sender instance and returns it.
func (p *Plugin) MessageSender(t testing.TB, config any) messaging.Sender {
	t.Helper()
	return p.Client.MessageSender(p.configure(t, sdk.KindMessageSender, config))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(string(b))
	return len(b), nil
}

func testLogger(t testing.TB) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{Name: "plugin", Level: hclog.Info, Output: testWriter{t}})
}
