package main

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/gateway/config"
	"github.com/lianmeng/lianmeng/gateway/internal/eventually"
	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
)

func TestCLIMigrateTwice(t *testing.T) {
	for _, dialect := range storetest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			driver, dsn := storetest.NewDatabase(t, dialect)
			f := filepath.Join(t.TempDir(), "c.yaml")
			if err := os.WriteFile(f, []byte("database:\n  driver: "+driver+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			// The DSN comes from the environment, as in production.
			t.Setenv("LIANMENG_DATABASE_DSN", dsn)

			code, stdout, stderr := runCLI("migrate", "-config", f, "status")
			if code != 0 || !strings.Contains(stdout, "pending") || strings.Contains(stdout, "applied") {
				t.Fatalf("status before: exit %d %q %q", code, stdout, stderr)
			}
			code, stdout, stderr = runCLI("migrate", "-config", f, "up")
			if code != 0 || !strings.Contains(stdout, "applied 00001") {
				t.Fatalf("first up: exit %d %q %q", code, stdout, stderr)
			}
			code, stdout, stderr = runCLI("migrate", "-config", f, "up")
			if code != 0 || stdout != "database is up to date\n" {
				t.Fatalf("second up: exit %d %q %q", code, stdout, stderr)
			}
			code, stdout, _ = runCLI("migrate", "-config", f, "status")
			if code != 0 || strings.Contains(stdout, "pending") || !strings.Contains(stdout, "00001  applied") {
				t.Fatalf("status after: exit %d %q", code, stdout)
			}
		})
	}
}

func testConfig(t *testing.T) config.Config {
	cfg := config.Default()
	cfg.Listen = "127.0.0.1:0"
	cfg.Database.DSN = config.Secret(filepath.Join(t.TempDir(), "data", "lianmeng.db"))
	cfg.HTTP.ShutdownTimeout = config.Duration(30 * time.Second)
	cfg.Metrics.Listen = "127.0.0.1:0"
	return cfg
}

// syncBuffer is a log destination written from several goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// logAddr finds addr=... on the log line with msg.
func logAddr(t *testing.T, logs, msg string) string {
	t.Helper()
	for _, line := range strings.Split(logs, "\n") {
		if !strings.Contains(line, "msg=\""+msg+"\"") {
			continue
		}
		for _, f := range strings.Fields(line) {
			if a, ok := strings.CutPrefix(f, "addr="); ok {
				return a
			}
		}
	}
	t.Fatalf("no %q line with addr= in the log:\n%s", msg, logs)
	return ""
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// startServe runs the real serve with cfg until cancel; it returns the API
// address once serve listens, the log, and serve's result channel.
func startServe(t *testing.T, cfg config.Config) (addr string, logs *syncBuffer, cancel context.CancelFunc, done chan error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done = make(chan error, 1)
	logs = &syncBuffer{}
	go func() { done <- serve(ctx, cfg, slog.New(slog.NewTextHandler(logs, nil)), ready) }()
	select {
	case addr = <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("serve: %v", err)
	}
	return addr, logs, cancel, done
}

// TestServeLifecycle runs the real serve on a temporary SQLite file: it
// migrates, answers the operations endpoints, drains an in-flight request
// when its context ends, then refuses connections and returns nil.
func TestServeLifecycle(t *testing.T) {
	addr, logs, cancel, done := startServe(t, testConfig(t))
	defer cancel()
	base := "http://" + addr
	ops := "http://" + logAddr(t, logs.String(), "metrics listening")

	if code, body := get(t, base+"/healthz"); code != 200 || !strings.Contains(body, "ok") {
		t.Fatalf("/healthz: %d %s", code, body)
	}
	if code, body := get(t, base+"/readyz"); code != 200 || !strings.Contains(body, `"database":"ok"`) {
		t.Fatalf("/readyz: %d %s", code, body)
	}
	// /metrics and pprof are on the operations listener, not the API's.
	if code, body := get(t, ops+"/metrics"); code != 200 ||
		!strings.Contains(body, `lianmeng_http_requests_total{method="GET",route="/healthz",status="200"}`) ||
		!strings.Contains(body, "lianmeng_writer_") {
		t.Fatalf("/metrics: %d %s", code, body)
	}
	if code, _ := get(t, ops+"/debug/pprof/cmdline"); code != 200 {
		t.Fatalf("/debug/pprof/cmdline on the operations listener: %d", code)
	}
	for _, path := range []string{"/metrics", "/debug/pprof/"} {
		if code, _ := get(t, base+path); code != 404 {
			t.Fatalf("%s on the API listener: %d", path, code)
		}
	}

	// An in-flight request: headers and half the body are sent, so the
	// server is reading it when shutdown starts.
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nab"); err != nil {
		t.Fatal(err)
	}
	cancel()
	// New connections are refused once the listener has closed.
	eventually.True(t, 30*time.Second, "listener closed", func() bool {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return true
		}
		c.Close()
		return false
	})
	if _, err := io.WriteString(conn, "cd"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufioReader(conn), nil)
	if err != nil {
		t.Fatalf("in-flight request: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("in-flight request: status %d", resp.StatusCode)
	}
	if err := <-done; err != nil {
		t.Fatalf("serve returned %v", err)
	}
	for _, a := range []string{addr, strings.TrimPrefix(ops, "http://")} {
		if c, err := net.Dial("tcp", a); err == nil {
			c.Close()
			t.Fatalf("connection to %s accepted after serve returned", a)
		}
	}
}

// TestServeMetricsListener: an empty metrics.listen serves no operations
// endpoints; a busy one stops serve with a message naming the key.
func TestServeMetricsListener(t *testing.T) {
	t.Run("disabled", func(t *testing.T) {
		cfg := testConfig(t)
		cfg.Metrics.Listen = ""
		ctx, cancel := context.WithCancel(context.Background())
		ready := make(chan string, 1)
		done := make(chan error, 1)
		var logs syncBuffer
		go func() { done <- serve(ctx, cfg, slog.New(slog.NewTextHandler(&logs, nil)), ready) }()
		select {
		case addr := <-ready:
			if code, _ := get(t, "http://"+addr+"/metrics"); code != 404 {
				t.Fatalf("/metrics on the API: %d", code)
			}
		case err := <-done:
			t.Fatalf("serve: %v", err)
		}
		if !strings.Contains(logs.String(), "metrics listener disabled") || strings.Contains(logs.String(), "metrics listening") {
			t.Fatalf("log:\n%s", logs.String())
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
	t.Run("busy", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		cfg := testConfig(t)
		cfg.Metrics.Listen = ln.Addr().String()
		err = serve(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
		if err == nil || !strings.Contains(err.Error(), "metrics.listen") || !strings.Contains(err.Error(), cfg.Metrics.Listen) {
			t.Fatalf("serve with a busy metrics port: %v", err)
		}
	})
}

func TestServeRefusesPendingMigrations(t *testing.T) {
	cfg := testConfig(t)
	cfg.Database.MigrateOnStart = false
	err := serve(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if err == nil || !strings.Contains(err.Error(), "migrate up") {
		t.Fatalf("serve with pending migrations: %v", err)
	}
	// Once migrated, it starts.
	db, err := store.Open(context.Background(), cfg.Database.Driver, cfg.Database.DSN.Reveal(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Migrate(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	db.Close()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), ready) }()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("serve after migrating: %v", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestServeListenError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cfg := testConfig(t)
	cfg.Listen = ln.Addr().String()
	err = serve(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if err == nil || !strings.Contains(err.Error(), "listen on "+cfg.Listen) {
		t.Fatalf("serve on a busy port: %v", err)
	}
}

func bufioReader(r io.Reader) *bufio.Reader { return bufio.NewReader(r) }
