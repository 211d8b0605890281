package web_test

// The browser tests' harness: a real gateway (api.Server with the pages,
// the batching writer, the evidence log and a capturing message sender) on
// 127.0.0.1, over SQLite and MariaDB, and headless Debian Chromium driven
// by chromedp.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/lianmeng/lianmeng/gateway/api"
	"github.com/lianmeng/lianmeng/gateway/config"
	"github.com/lianmeng/lianmeng/gateway/consent"
	"github.com/lianmeng/lianmeng/gateway/evidence"
	"github.com/lianmeng/lianmeng/gateway/messaging"
	"github.com/lianmeng/lianmeng/gateway/points"
	"github.com/lianmeng/lianmeng/gateway/settlement"
	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/web"
	"github.com/lianmeng/lianmeng/plugins/sandbox"
	"github.com/lianmeng/lianmeng/sdk/client"
	"github.com/lianmeng/lianmeng/sdk/payment"
	"github.com/lianmeng/lianmeng/sdk/signature"
)

const bootstrapToken = "web-test-bootstrap-0123456789abcdef"

type gateway struct {
	base   string
	clock  *clock
	writer *store.Writer
	svc    *points.Service
	db     *store.DB
	sealer *evidence.Sealer
	sender *captureSender
	op     *client.Client
	opTok  string
	// sandbox is the payment channel "sandbox" (plugins/sandbox): its
	// page pays a funding and notifies the gateway as a real channel would.
	sandbox *sandbox.Channel
}

// sandboxOnly is the gateway's payment channels: the sandbox.
type sandboxOnly struct{ ch *sandbox.Channel }

func (s sandboxOnly) PaymentChannel(name string) (payment.Channel, error) {
	if name != "sandbox" {
		return nil, fmt.Errorf("%w: %q", settlement.ErrUnknownChannel, name)
	}
	return s.ch, nil
}

func startGateway(t testing.TB, db *store.DB, opts ...func(*config.Config)) *gateway {
	t.Helper()
	g := &gateway{db: db, sender: &captureSender{}, clock: &clock{}}
	g.clock.us.Store(time.Now().UnixMicro())
	cfg := config.Default()
	cfg.Listen = "127.0.0.1:0"
	cfg.Operator.Token = bootstrapToken
	// A test reloads a page many times a second, each load several public
	// reads from one address: faster than any reader, so the per-address
	// limit (tested in gateway/api) never refuses one here.
	cfg.RateLimits.Public = config.Limit{Requests: 1000, Per: config.Duration(time.Second), Burst: 10_000}
	for _, o := range opts {
		o(&cfg)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	w := db.NewWriter(store.WriterOptions{BatchSize: 64, BatchWait: 200 * time.Microsecond, Now: g.clock.Now})
	t.Cleanup(w.Close)
	g.writer = w
	g.svc = &points.Service{Policy: cfg.Points.Policy(), Now: g.clock.Now}

	key, err := evidence.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	signer, err := evidence.NewSigner(key)
	if err != nil {
		t.Fatal(err)
	}
	g.sealer, err = evidence.NewSealer(db.Evidence(), signer, evidence.SealerOptions{Origin: "web.test/lianmeng", Settle: evidence.NoSettle, CheckpointInterval: time.Nanosecond, Now: g.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	pubPEM, err := signer.PublicKeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g.base = "http://" + ln.Addr().String()
	sbCfg, _ := json.Marshal(map[string]string{"notify_url": g.base + "/v1/channels/sandbox/notify", "secret": "web-test-sandbox-secret"})
	if g.sandbox, err = sandbox.New(context.Background(), sbCfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.sandbox.Close() })
	funding := &settlement.Funding{DB: db, Writer: w, Points: g.svc, Channels: sandboxOnly{g.sandbox}, Log: log, Now: g.clock.Now}
	srv := api.New(api.Deps{Config: cfg, DB: db, Log: log, Writer: w, Now: g.clock.Now, Points: g.svc, KeyUseFlush: 20 * time.Millisecond,
		Evidence: evidence.NewProofs(db.Evidence(), pubPEM, signer.KeyID()),
		Consent:  &consent.Service{Store: db, Sender: g.sender, Now: g.clock.Now}, Funding: funding})
	web.Register(srv.App())
	web.RegisterHistory(srv.App(), &web.History{DB: db, Now: g.clock.Now})
	web.RegisterConsole(srv.App(), &web.Console{DB: db, Merchants: db.Merchants(), Points: g.svc, Rules: srv.Rules(), Log: log, Now: g.clock.Now,
		Funding: funding, FundingChannels: []string{"sandbox"}})

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})

	// A named operator token with every scope, made with the bootstrap one
	// as an operator would.
	var tok struct{ Token string }
	boot := client.NewOperator(g.base, bootstrapToken, client.WithClock(g.clock.Now))
	if err := boot.Do(context.Background(), "POST", "/v1/operator/tokens",
		map[string]any{"label": "web tests", "scopes": api.OperatorScopes}, &tok); err != nil {
		t.Fatal(err)
	}
	g.opTok = tok.Token
	g.op = client.NewOperator(g.base, tok.Token, client.WithClock(g.clock.Now))
	return g
}

// clock is the gateway's clock; tests move it forward (release windows).
type clock struct{ us atomic.Int64 }

func (c *clock) Now() time.Time          { return time.UnixMicro(c.us.Load()) }
func (c *clock) Advance(d time.Duration) { c.us.Add(d.Microseconds()) }

// release moves the clock past the return window and releases every due
// lot, as the scheduler's job would.
func (g *gateway) release(t *testing.T) {
	t.Helper()
	g.clock.Advance(g.svc.Policy.ReleaseDelay + time.Minute)
	res := g.writer.Submit(context.Background(), &store.Op{Command: g.svc.ReleaseCommand(1000)})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
}

// seal seals everything written so far and signs a checkpoint (a moment
// later than the last one: the clock only moves when a test moves it).
func (g *gateway) seal(t *testing.T) {
	t.Helper()
	g.clock.Advance(time.Millisecond)
	if _, err := g.sealer.SealOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
}

type testMerchant struct {
	ID, Store string
	C         *client.Client
}

var seq atomic.Int64

func key(p string) string { return fmt.Sprintf("%s-%d-%d", p, time.Now().UnixNano(), seq.Add(1)) }

// merchant creates a merchant with a store, an HMAC credential, a flat
// rate and funding, through the operator API.
func (g *gateway) merchant(t *testing.T, name, industry string, rateBP, maxPoints, fundFen int64) testMerchant {
	t.Helper()
	ctx := context.Background()
	var m struct{ ID string }
	if err := g.op.Do(ctx, "POST", "/v1/operator/merchants", map[string]string{"name": name, "industry": industry}, &m); err != nil {
		t.Fatal(err)
	}
	var st struct{ ID string }
	if err := g.op.Do(ctx, "POST", "/v1/operator/merchants/"+m.ID+"/stores", map[string]string{"name": name + " 1"}, &st); err != nil {
		t.Fatal(err)
	}
	var cred struct{ ID, Secret string }
	if err := g.op.Do(ctx, "POST", "/v1/operator/merchants/"+m.ID+"/credentials",
		map[string]any{"algorithm": "hmac-sha256", "scopes": []string{"earn", "refund", "redeem", "read"}}, &cred); err != nil {
		t.Fatal(err)
	}
	if err := g.op.Do(ctx, "PUT", "/v1/operator/merchants/"+m.ID+"/earning", map[string]any{"rate_bp": rateBP, "max_points": maxPoints}, nil); err != nil {
		t.Fatal(err)
	}
	if fundFen > 0 {
		if err := g.op.Do(ctx, "POST", "/v1/operator/merchants/"+m.ID+"/fund", map[string]any{"amount_fen": fundFen, "external_ref": key("pay")},
			nil, client.IdempotencyKey(key("fund"))); err != nil {
			t.Fatal(err)
		}
	}
	s, err := signature.NewHMACSigner(cred.ID, cred.Secret)
	if err != nil {
		t.Fatal(err)
	}
	return testMerchant{ID: m.ID, Store: st.ID, C: client.NewMerchant(g.base, m.ID, s, client.WithClock(g.clock.Now))}
}

// earn has the merchant award points for a purchase by phone.
func (g *gateway) earn(t *testing.T, m testMerchant, phone string, amountFen int64) {
	t.Helper()
	body := map[string]any{"store_id": m.Store, "order_id": key("order"), "amount_fen": amountFen,
		"member": map[string]string{"kind": "phone", "value": phone}}
	if err := m.C.Do(context.Background(), "POST", "/v1/merchant/earn", body, nil, client.IdempotencyKey(key("earn"))); err != nil {
		t.Fatal(err)
	}
}

// captureSender keeps the codes the gateway "sends" for tests to read.
type captureSender struct {
	mu   sync.Mutex
	msgs []messaging.Message
}

func (c *captureSender) Send(_ context.Context, m messaging.Message) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.msgs = append(c.msgs, m)
	return nil
}

func (c *captureSender) last(phone, purpose string) (messaging.Message, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := len(c.msgs) - 1; i >= 0; i-- {
		if c.msgs[i].To == phone && c.msgs[i].Purpose == purpose {
			return c.msgs[i], true
		}
	}
	return messaging.Message{}, false
}

// chromiumPath is Debian's chromium; LIANMENG_CHROMIUM overrides it.
func chromiumPath() string {
	if p := os.Getenv("LIANMENG_CHROMIUM"); p != "" {
		return p
	}
	for _, p := range []string{"/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	return ""
}

// browser starts headless Chromium with a fresh profile and returns a tab.
// Without Chromium the test is skipped, except in CI (CI=true or
// LIANMENG_TEST_BROWSER=require), where it fails: scripts/test.sh installs
// it.
func browser(t *testing.T) context.Context {
	t.Helper()
	path := chromiumPath()
	if path == "" {
		msg := "chromium not found (apt-get install -y chromium, or set LIANMENG_CHROMIUM)"
		if os.Getenv("CI") == "true" || os.Getenv("LIANMENG_TEST_BROWSER") == "require" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1200, 900),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx, chromedp.WithErrorf(t.Logf))
	ctx, cancelT := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(func() { cancelT(); cancelC(); cancelA() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium %s: %v", path, err)
	}
	return ctx
}

// do runs browser steps or fails the test.
func do(t *testing.T, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatal(err)
	}
}

// text is the visible text of the first element matching a CSS selector.
func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("text of %s: %v", sel, err)
	}
	return v
}

// attr is an attribute of the first element matching a CSS selector ("" if
// it has none), read live in the page once the element exists.
// chromedp.AttributeValue reads chromedp's own copy of the node, which DOM
// events update asynchronously: it could still show an old src after a
// WaitReady on the new one had matched (seen once as a flaky chart URL).
func attr(t *testing.T, ctx context.Context, sel, name string) string {
	t.Helper()
	do(t, ctx, chromedp.WaitReady(chromedp.CSS(sel)))
	qs, _ := json.Marshal(sel)
	qn, _ := json.Marshal(name)
	return eval[string](t, ctx, fmt.Sprintf(`document.querySelector(%s).getAttribute(%s) ?? ""`, qs, qn))
}

// eval evaluates JavaScript in the page, awaiting a promise.
func eval[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}

// screenshot saves a full-page PNG under LIANMENG_SCREENSHOTS (when set):
// the artifacts of a run, and the README's pictures.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	dir := os.Getenv("LIANMENG_SCREENSHOTS")
	if dir == "" {
		return
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

func clientKey() client.RequestOption { return client.IdempotencyKey(key("idem")) }

// accessible runs axe-core's WCAG 2 A and AA rules on the page as it is
// now (labels, accessible names, contrast, language...) and fails the test
// on any violation.
func accessible(t *testing.T, ctx context.Context, what string) {
	t.Helper()
	axeOnce.Do(func() { axeSource, axeErr = os.ReadFile("testdata/axe.min.js") })
	if axeErr != nil {
		t.Fatal(axeErr)
	}
	eval[bool](t, ctx, string(axeSource)+";\ntrue")
	report := eval[string](t, ctx, `axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}}).then(r =>
		r.violations.map(v => v.id + ' (' + v.impact + '): ' + v.help + ' at ' + v.nodes.map(n => n.target.join(' ')).join(', ')).join('\n'))`)
	if report != "" {
		t.Errorf("accessibility of %s:\n%s", what, report)
	}
}

var (
	axeOnce   sync.Once
	axeSource []byte
	axeErr    error
)
