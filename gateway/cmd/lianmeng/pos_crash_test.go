package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/adapters/shopify"
	"github.com/lianmeng/lianmeng/gateway/internal/eventually"
	"github.com/lianmeng/lianmeng/gateway/loadgen"
	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
	"github.com/lianmeng/lianmeng/sdk/client"
)

// TestPOSCrashRecovery kills the gateway with SIGKILL in the middle of a
// burst of Shopify webhooks (served by the real builtin:shopify plugin
// process), restarts it on the same database, and redelivers what the POS
// never saw answered, as Shopify would. Every acknowledged webhook must then
// have earned exactly once: the ones stored but not yet processed when the
// process died are processed after the restart, and the ones processed but
// not yet marked done are not earned again. Runs on SQLite and MariaDB.
func TestPOSCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the gateway binary")
	}
	bin := buildGatewayBinary(t)
	for _, dialect := range storetest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			driver, dsn := storetest.NewDatabase(t, dialect)
			posCrashAndRecover(t, bin, driver, dsn)
		})
	}
}

const posCrashSecret = "shpss_crash_test"

func posCrashAndRecover(t *testing.T, bin, driver, dsn string) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "lianmeng.yaml")
	if err := os.WriteFile(cfgPath, []byte("plugins:\n  - name: shopify\n    kind: pos_adapter\n    path: builtin:shopify\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := append(gatewayEnv(driver, dsn), "LIANMENG_CONFIG="+cfgPath)
	g := startGatewayProc(t, bin, dir, env)
	ctx := context.Background()
	hc := loadgen.NewHTTPClient(16, 5*time.Second)
	defer hc.CloseIdleConnections()
	ms, err := loadgen.Setup(ctx, loadgen.Config{BaseURL: g.base, OperatorToken: crashToken}, 1, hc, loadgen.SetupOptions{})
	if err != nil {
		t.Fatalf("setup: %v\n%s", err, g.logs())
	}
	var tok struct {
		Token string `json:"token"`
	}
	if err := client.NewOperator(g.base, crashToken).Do(ctx, "POST", "/v1/operator/tokens",
		map[string]any{"label": "pos crash test", "scopes": []string{"read", "merchants:write"}}, &tok); err != nil {
		t.Fatal(err)
	}
	var conn struct {
		WebhookPath string `json:"webhook_path"`
	}
	if err := client.NewOperator(g.base, tok.Token).Do(ctx, "POST", "/v1/operator/merchants/"+ms[0].ID+"/pos/connections",
		map[string]any{"adapter": "shopify", "config": map[string]string{"client_secret": posCrashSecret}}, &conn); err != nil {
		t.Fatalf("create connection: %v\n%s", err, g.logs())
	}

	type delivery struct {
		order string
		body  []byte
		acked atomic.Bool
	}
	deliver := func(base string, d *delivery) (int, error) {
		req, _ := http.NewRequest("POST", base+conn.WebhookPath, bytes.NewReader(d.body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(shopify.HeaderHMAC, shopify.Sign(posCrashSecret, d.body))
		req.Header.Set(shopify.HeaderTopic, "orders/paid")
		req.Header.Set(shopify.HeaderEventID, "evt-"+d.order)
		resp, err := hc.Do(req)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	var (
		mu     sync.Mutex
		all    []*delivery
		killed atomic.Bool
		acked  atomic.Int64
		wg     sync.WaitGroup
	)
	for c := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 5000 && !killed.Load(); i++ {
				order := fmt.Sprintf("%d%06d", c+1, i)
				d := &delivery{order: order, body: []byte(fmt.Sprintf(`{"id": %s, "currency": "CNY", "total_price": "%d.%02d", "created_at": "2026-11-30T12:00:00Z", "phone": "+86139%08d", "line_items": []}`,
					order, 1+i%300, i%100, c*1000+i%50))}
				mu.Lock()
				all = append(all, d)
				mu.Unlock()
				if status, err := deliver(g.base, d); err == nil && status == 200 && !killed.Load() {
					d.acked.Store(true)
					acked.Add(1)
				}
			}
		}()
	}
	start := time.Now()
	for (acked.Load() < 100 || time.Since(start) < time.Second) && time.Since(start) < 10*time.Second {
		time.Sleep(10 * time.Millisecond)
	}
	if err := g.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed.Store(true)
	<-g.done
	wg.Wait()
	if acked.Load() == 0 {
		t.Fatalf("no webhook was acknowledged before the kill\n%s", g.logs())
	}

	// What the dead process left: every acknowledged webhook is stored.
	pre, err := store.Open(ctx, driver, dsn, store.Options{MaxOpenConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	stored := inboxKeys(t, pre)
	var pending int
	if err := pre.R.Get(&pending, `SELECT COUNT(*) FROM inbox_events WHERE state = 'pending'`); err != nil {
		t.Fatal(err)
	}
	pre.Close()
	for _, d := range all {
		if d.acked.Load() && !stored["orders/paid:evt-"+d.order] {
			t.Errorf("acknowledged webhook for order %s is not in the inbox", d.order)
		}
	}
	t.Logf("before the restart: %d deliveries, %d acknowledged, %d stored, %d still pending", len(all), acked.Load(), len(stored), pending)

	// Restart; the POS redelivers everything it saw no 200 for.
	g2 := startGatewayProc(t, bin, dir, env)
	for _, d := range all {
		if d.acked.Load() {
			continue
		}
		err := eventually.Within(30*time.Second, func() error {
			status, err := deliver(g2.base, d)
			if err == nil && status != 200 {
				err = fmt.Errorf("status %d", status)
			}
			return err
		})
		if err != nil {
			t.Fatalf("redelivery of order %s: %v\n%s", d.order, err, g2.logs())
		}
	}
	db, err := store.Open(ctx, driver, dsn, store.Options{MaxOpenConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = eventually.Within(60*time.Second, func() error {
		var n int
		if err := db.R.Get(&n, `SELECT COUNT(*) FROM inbox_events WHERE state <> 'done'`); err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("%d inbox events not done", n)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("%v\n%s", err, g2.logs())
	}
	g2.cmd.Process.Signal(syscall.SIGTERM)
	<-g2.done

	// Every delivery earned exactly once (purchasesByOrder fails on an
	// order earned twice), and nothing else did.
	byOrder := purchasesByOrder(t, db)
	for _, d := range all {
		if _, ok := byOrder[d.order]; !ok {
			t.Errorf("order %s never earned", d.order)
		}
		delete(byOrder, d.order)
	}
	for o := range byOrder {
		t.Errorf("purchase for order %s that no webhook carried", o)
	}
	var n, keys int
	if err := db.R.QueryRow(`SELECT COUNT(*), COUNT(DISTINCT event_key) FROM inbox_events`).Scan(&n, &keys); err != nil || n != keys || n != len(all) {
		t.Errorf("inbox holds %d rows for %d keys, %d deliveries (%v)", n, keys, len(all), err)
	}
	checkLedgerSQL(t, db)
}

func inboxKeys(t *testing.T, db *store.DB) map[string]bool {
	t.Helper()
	var keys []string
	if err := db.R.Select(&keys, `SELECT event_key FROM inbox_events`); err != nil {
		t.Fatal(err)
	}
	m := make(map[string]bool, len(keys))
	for _, k := range keys {
		m[k] = true
	}
	return m
}
