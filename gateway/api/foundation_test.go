package api

// Foundation tests: shared helpers (prefixed fnd so other test files in this
// package can define their own), health, readiness, metrics, request ids and
// graceful shutdown.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/lianmeng/lianmeng/gateway/config"
	"github.com/lianmeng/lianmeng/gateway/internal/eventually"
	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
)

// fndOperatorToken is a named operator token holding every scope, which
// fndSeedOperatorToken stores in the database of every server the tests
// build; fndBootstrapToken is the configured bootstrap operator.token,
// which can only create named tokens.
const (
	fndOperatorToken   = "opt_00000000000000f0.fndTestOperatorTokenHoldingEveryScope012345"
	fndOperatorTokenID = "opt_00000000000000f0"
	fndBootstrapToken  = "op-bootstrap-0123456789abcdef"
)

func init() { testHookNewServer = fndSeedOperatorToken }

// fndSeedOperatorToken stores fndOperatorToken (directly, so no audit
// event or admin epoch changes) unless it is there already. A database
// that cannot take it (closed, not migrated) is left alone.
func fndSeedOperatorToken(s *Server) {
	sum := sha256.Sum256([]byte(fndOperatorToken))
	now := time.Now()
	_, _ = s.db.W.Exec(`INSERT INTO operator_tokens (id, label, scopes, secret_hash, created_by, created_at, expires_at, revoked_at, revoked_by)
		SELECT ?, 'tests', ?, ?, 'test', ?, ?, 0, '' WHERE NOT EXISTS (SELECT 1 FROM operator_tokens WHERE id = ?)`,
		fndOperatorTokenID, strings.Join(OperatorScopes, " "), hex.EncodeToString(sum[:]), store.Micros(now),
		store.Micros(now.Add(100*365*24*time.Hour)), fndOperatorTokenID)
}

// fndClock is a settable clock for Deps.Now.
type fndClock struct{ unix atomic.Int64 }

func newFndClock() *fndClock {
	c := &fndClock{}
	c.unix.Store(time.Now().Unix())
	return c
}
func (c *fndClock) Now() time.Time      { return time.Unix(c.unix.Load(), 0) }
func (c *fndClock) Set(t time.Time)     { c.unix.Store(t.Unix()) }
func (c *fndClock) Add(d time.Duration) { c.unix.Add(int64(d / time.Second)) }

func fndConfig() config.Config {
	cfg := config.Default()
	cfg.Listen = "127.0.0.1:0"
	cfg.Operator.Token = fndBootstrapToken
	return cfg
}

func fndLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// fndNewServer builds a server on db with cfg and clock (either may be zero).
func fndNewServer(db *store.DB, cfg config.Config, clock *fndClock) *Server {
	d := Deps{Config: cfg, DB: db, Log: fndLogger()}
	if clock != nil {
		d.Now = clock.Now
	}
	return New(d)
}

// fndServe serves s on 127.0.0.1:0 until the test ends (or stop is called)
// and returns its base URL.
func fndServe(t testing.TB, s *Server) (base string, stop func() error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	var once sync.Once
	var serveErr error
	stop = func() error {
		once.Do(func() {
			cancel()
			serveErr = <-done
		})
		return serveErr
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return "http://" + ln.Addr().String(), stop
}

// fndErrBody is the error model.
type fndErrBody struct {
	Error struct {
		Code      string `json:"code"`
		Message   string `json:"message"`
		RequestID string `json:"request_id"`
	} `json:"error"`
}

// fndResp is a response read to the end.
type fndResp struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r fndResp) String() string { return http.StatusText(r.Status) + " " + string(r.Body) }

// errBody decodes the error model and checks that it is complete.
func (r fndResp) errBody(t *testing.T) fndErrBody {
	t.Helper()
	var e fndErrBody
	if err := json.Unmarshal(r.Body, &e); err != nil {
		t.Fatalf("error body is not JSON (%v): %s", err, r.Body)
	}
	if e.Error.Code == "" || e.Error.Message == "" || e.Error.RequestID == "" {
		t.Fatalf("error body lacks code, message or request_id: %s", r.Body)
	}
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("error Content-Type = %q", r.Header.Get("Content-Type"))
	}
	return e
}

// expectErr asserts status and code.
func (r fndResp) expectErr(t *testing.T, status int, code string) fndErrBody {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d %s: %s", r.Status, status, code, r.Body)
	}
	e := r.errBody(t)
	if e.Error.Code != code {
		t.Fatalf("code %q, want %q: %s", e.Error.Code, code, r.Body)
	}
	return e
}

func fndSend(t *testing.T, req *http.Request) fndResp {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return fndResp{resp.StatusCode, resp.Header, b}
}

// fndReq sends a request with optional body and headers (pairs).
func fndReq(t *testing.T, method, url string, body []byte, headers ...string) fndResp {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return fndSend(t, req)
}

// fndOp sends an operator request with the right token and a JSON body.
func fndOp(t *testing.T, method, url, body string) fndResp {
	t.Helper()
	h := []string{"Authorization", "Bearer " + fndOperatorToken}
	var b []byte
	if body != "" {
		b = []byte(body)
		h = append(h, "Content-Type", "application/json")
	}
	return fndReq(t, method, url, b, h...)
}

func fndCount(t *testing.T, db *store.DB, table string) int {
	t.Helper()
	var n int
	if err := db.W.Get(&n, "SELECT COUNT(*) FROM "+table); err != nil {
		t.Fatalf("count %s: %v", table, err)
	}
	return n
}

// fndServeMetrics serves the operations listener for reg on 127.0.0.1:0
// until the test ends and returns its base URL.
func fndServeMetrics(t *testing.T, reg *prometheus.Registry, withPprof bool) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ServeMetrics(ctx, ln, MetricsHandler(reg, withPprof)) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("ServeMetrics: %v", err)
		}
	})
	return "http://" + ln.Addr().String()
}

func TestFoundationHealthReadyMetrics(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		reg := prometheus.NewRegistry()
		s := New(Deps{Config: fndConfig(), DB: db, Log: fndLogger(), Registry: reg})
		base, _ := fndServe(t, s)
		ops := fndServeMetrics(t, reg, true)

		r := fndReq(t, "GET", base+"/healthz", nil)
		if r.Status != 200 || !strings.Contains(string(r.Body), `"ok"`) {
			t.Fatalf("/healthz: %s", r)
		}
		r = fndReq(t, "GET", base+"/readyz", nil)
		var ready readyResult
		if err := json.Unmarshal(r.Body, &ready); err != nil || r.Status != 200 || ready.Status != "ok" || ready.Checks["database"] != "ok" {
			t.Fatalf("/readyz: %s", r)
		}
		// A request to a parameterised route and an unmatched one, so the
		// labels can be checked.
		fndOp(t, "GET", base+"/v1/operator/merchants/mch_nosuchmerchant0000", "").expectErr(t, 404, "merchant_not_found")
		fndReq(t, "GET", base+"/no/such/route", nil).expectErr(t, 404, CodeNotFound)

		// The operations endpoints are not on the public API's port.
		fndReq(t, "GET", base+"/metrics", nil).expectErr(t, 404, CodeNotFound)
		fndReq(t, "GET", base+"/debug/pprof/", nil).expectErr(t, 404, CodeNotFound)

		r = fndReq(t, "GET", ops+"/metrics", nil)
		m := string(r.Body)
		if r.Status != 200 {
			t.Fatalf("/metrics: %s", r)
		}
		for _, want := range []string{
			`lianmeng_http_requests_total{method="GET",route="/healthz",status="200"} 1`,
			`lianmeng_http_requests_total{method="GET",route="/readyz",status="200"} 1`,
			`lianmeng_http_requests_total{method="GET",route="/v1/operator/merchants/:merchant",status="404"} 1`,
			`lianmeng_http_requests_total{method="GET",route="unmatched",status="404"} 3`,
			`lianmeng_http_request_duration_seconds_bucket{method="GET",route="/healthz",status="200",le=`,
			`go_goroutines`,
		} {
			if !strings.Contains(m, want) {
				t.Errorf("/metrics lacks %s", want)
			}
		}
		// Raw paths never become labels.
		if strings.Contains(m, "mch_nosuchmerchant0000") || strings.Contains(m, "/no/such/route") {
			t.Error("/metrics labels a raw path")
		}
		if r := fndReq(t, "GET", ops+"/debug/pprof/goroutine?debug=1", nil); r.Status != 200 || !strings.Contains(string(r.Body), "goroutine profile") {
			t.Fatalf("pprof on the operations listener: %s", r)
		}
		if r := fndReq(t, "GET", ops+"/v1/operator/merchants", nil); r.Status != 404 {
			t.Fatalf("the operations listener serves the API: %s", r)
		}
	})
}

func TestFoundationMetricsWithoutPprof(t *testing.T) {
	ops := fndServeMetrics(t, prometheus.NewRegistry(), false)
	if r := fndReq(t, "GET", ops+"/metrics", nil); r.Status != 200 || !strings.Contains(string(r.Body), "go_goroutines") {
		t.Fatalf("/metrics: %s", r)
	}
	if r := fndReq(t, "GET", ops+"/debug/pprof/", nil); r.Status != 404 {
		t.Fatalf("pprof served with metrics.pprof off: %s", r)
	}
}

// TestFoundationReadyzStates: each check reports ok, degraded or failing;
// why it fails goes to the log, never into the public answer.
func TestFoundationReadyzStates(t *testing.T) {
	db := storetest.Open(t, store.SQLite)
	var logs fndLogBuffer
	extraErr := errors.New("plugin pos_x is not running: dial unix /run/secret-socket-path")
	degraded := fmt.Errorf("optional plugin loyalty_x restarting: %w", ErrDegraded)
	var failing atomic.Bool
	s := New(Deps{Config: fndConfig(), DB: db, Log: slog.New(slog.NewTextHandler(&logs, nil)), Ready: []ReadyCheck{
		{Name: "plugin:pos_x", Check: func(context.Context) error {
			if failing.Load() {
				return extraErr
			}
			return nil
		}},
		{Name: "plugin:loyalty_x", Check: func(context.Context) error { return degraded }},
	}})
	base, _ := fndServe(t, s)
	read := func(wantStatus int) readyResult {
		t.Helper()
		r := fndReq(t, "GET", base+"/readyz", nil)
		var ready readyResult
		if err := json.Unmarshal(r.Body, &ready); err != nil || r.Status != wantStatus {
			t.Fatalf("/readyz: want %d: %s", wantStatus, r)
		}
		for _, secret := range []string{"secret-socket-path", "restarting", "database is closed", "sql:"} {
			if strings.Contains(string(r.Body), secret) {
				t.Fatalf("/readyz answers error text %q: %s", secret, r.Body)
			}
		}
		return ready
	}

	ready := read(200)
	if ready.Status != "degraded" || ready.Checks["database"] != ReadyOK || ready.Checks["plugin:pos_x"] != ReadyOK ||
		ready.Checks["plugin:loyalty_x"] != ReadyDegraded {
		t.Fatalf("/readyz degraded: %+v", ready)
	}
	failing.Store(true)
	ready = read(503)
	if ready.Status != "unavailable" || ready.Checks["plugin:pos_x"] != ReadyFailing || ready.Checks["database"] != ReadyOK {
		t.Fatalf("/readyz with a failing plugin: %+v", ready)
	}
	if !strings.Contains(logs.String(), "secret-socket-path") || !strings.Contains(logs.String(), "check=plugin:pos_x") {
		t.Fatalf("the failing check's error is not logged:\n%s", logs.String())
	}
	db.Close()
	ready = read(503)
	if ready.Status != "unavailable" || ready.Checks["database"] != ReadyFailing {
		t.Fatalf("/readyz with the database closed: %+v", ready)
	}
	// Liveness does not depend on the database.
	if r := fndReq(t, "GET", base+"/healthz", nil); r.Status != 200 {
		t.Fatalf("/healthz with the database closed: %s", r)
	}
}

// fndLogBuffer collects log output written from several goroutines.
type fndLogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *fndLogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *fndLogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestFoundationRequestID(t *testing.T) {
	db := storetest.Open(t, store.SQLite)
	base, _ := fndServe(t, fndNewServer(db, fndConfig(), nil))
	r := fndReq(t, "GET", base+"/healthz", nil, "X-Request-Id", "client-req-12345")
	if r.Header.Get("X-Request-Id") != "client-req-12345" {
		t.Fatalf("client request id not echoed: %q", r.Header.Get("X-Request-Id"))
	}
	// An unusable id is replaced, and the error body carries the same id as
	// the header.
	r = fndReq(t, "GET", base+"/nope", nil, "X-Request-Id", "bad id with spaces")
	e := r.expectErr(t, 404, CodeNotFound)
	if got := r.Header.Get("X-Request-Id"); got == "bad id with spaces" || got != e.Error.RequestID {
		t.Fatalf("request id header %q, body %q", got, e.Error.RequestID)
	}
}

// TestFoundationGracefulShutdown starts a request that blocks in its
// handler, cancels the server's context, and checks that the listener
// closes, the in-flight request still completes with 200 and Serve returns
// cleanly.
func TestFoundationGracefulShutdown(t *testing.T) {
	db := storetest.Open(t, store.SQLite)
	s := fndNewServer(db, fndConfig(), nil)
	entered, release := make(chan struct{}), make(chan struct{})
	s.App().Get("/test/block", func(c *fiber.Ctx) error {
		close(entered)
		<-release
		return c.SendString("done")
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, ln) }()

	got := make(chan fndResp, 1)
	go func() {
		resp, err := http.Get("http://" + addr + "/test/block")
		if err != nil {
			got <- fndResp{Status: -1, Body: []byte(err.Error())}
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got <- fndResp{Status: resp.StatusCode, Body: b}
	}()
	<-entered
	cancel()
	// Wait until the listener is closed: new connections are refused.
	eventually.True(t, 30*time.Second, "listener closed", func() bool {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return true
		}
		c.Close()
		select {
		case r := <-got:
			t.Fatalf("in-flight request finished before release: %s", r)
		case err := <-served:
			t.Fatalf("Serve returned with a request in flight: %v", err)
		default:
		}
		return false
	})
	close(release)
	if r := <-got; r.Status != 200 || string(r.Body) != "done" {
		t.Fatalf("in-flight request: %s", r)
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Fatal("connection accepted after shutdown")
	}
}

// TestFoundationServeCancelledEarly checks that Serve returns when its
// context ends before (or while) the listener starts.
func TestFoundationServeCancelledEarly(t *testing.T) {
	db := storetest.Open(t, store.SQLite)
	for range 20 {
		s := fndNewServer(db, fndConfig(), nil)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		done := make(chan error, 1)
		go func() { done <- s.Serve(ctx, ln) }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("Serve: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("Serve did not return after its context was cancelled")
		}
		if c, err := net.Dial("tcp", ln.Addr().String()); err == nil {
			c.Close()
			t.Fatal("listener still open after Serve returned")
		}
	}
}

func ioNopCloser(b []byte) io.ReadCloser { return io.NopCloser(bytes.NewReader(b)) }

// expectOK asserts a 2xx status.
func (r fndResp) expectOK(t *testing.T) fndResp {
	t.Helper()
	if r.Status < 200 || r.Status > 299 {
		t.Fatalf("status %d: %s", r.Status, r.Body)
	}
	return r
}
