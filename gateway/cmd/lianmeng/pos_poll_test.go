package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/adapters/pospal"
	"github.com/lianmeng/lianmeng/adapters/pospal/pospaltest"
	"github.com/lianmeng/lianmeng/gateway/internal/eventually"
	"github.com/lianmeng/lianmeng/gateway/loadgen"
	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
	"github.com/lianmeng/lianmeng/sdk/client"
)

// TestPospalPollAcrossRestart runs the gateway binary with the real
// builtin:pospal plugin process polling a fake Pospal API on 127.0.0.1
// (which checks Pospal's request signatures), kills the gateway with
// SIGKILL, lets sales happen while it is down, and restarts it: every
// ticket earns exactly once, nothing read before the kill is read into the
// inbox again, and nothing sold during the outage is skipped. Runs on
// SQLite and MariaDB.
func TestPospalPollAcrossRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the gateway binary")
	}
	bin := buildGatewayBinary(t)
	for _, dialect := range storetest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			driver, dsn := storetest.NewDatabase(t, dialect)
			pospalPollAcrossRestart(t, bin, driver, dsn)
		})
	}
}

func pospalPollAcrossRestart(t *testing.T, bin, driver, dsn string) {
	ctx := context.Background()
	fake := pospaltest.New("app-1", "key-1")
	defer fake.Close()
	fake.PageSize = 3
	start := time.Now().Add(-10 * time.Minute).Truncate(time.Second)
	uid := int64(1000)
	sell := func(at time.Time, n int) {
		for range n {
			uid++
			fake.Add(pospaltest.Ticket{UID: uid, SN: fmt.Sprintf("S%d", uid), At: at, Total: "18.80", Customer: uid%5 + 1})
		}
	}
	sell(start.Add(time.Minute), 7)

	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "lianmeng.yaml")
	if err := os.WriteFile(cfgPath, []byte("plugins:\n  - name: pospal\n    kind: pos_adapter\n    path: builtin:pospal\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := append(gatewayEnv(driver, dsn), "LIANMENG_CONFIG="+cfgPath)
	g := startGatewayProc(t, bin, dir, env)
	hc := loadgen.NewHTTPClient(4, 5*time.Second)
	defer hc.CloseIdleConnections()
	ms, err := loadgen.Setup(ctx, loadgen.Config{BaseURL: g.base, OperatorToken: crashToken}, 1, hc, loadgen.SetupOptions{})
	if err != nil {
		t.Fatalf("setup: %v\n%s", err, g.logs())
	}
	var tok struct {
		Token string `json:"token"`
	}
	if err := client.NewOperator(g.base, crashToken).Do(ctx, "POST", "/v1/operator/tokens",
		map[string]any{"label": "pospal poll test", "scopes": []string{"read", "merchants:write"}}, &tok); err != nil {
		t.Fatal(err)
	}
	op := client.NewOperator(g.base, tok.Token)
	var conn struct {
		ID                  string `json:"id"`
		PollIntervalSeconds int64  `json:"poll_interval_seconds"`
	}
	cfg := map[string]any{"api_base": fake.URL, "app_id": "app-1", "app_key": "key-1", "settle_seconds": 0,
		"start_at": start.In(pospal.CST).Format(pospal.TimeLayout)}
	if err := op.Do(ctx, "POST", "/v1/operator/merchants/"+ms[0].ID+"/pos/connections",
		map[string]any{"adapter": "pospal", "config": cfg, "poll_interval_seconds": 10}, &conn); err != nil || conn.PollIntervalSeconds != 10 {
		t.Fatalf("create connection: %+v %v\n%s", conn, err, g.logs())
	}
	db, err := store.Open(ctx, driver, dsn, store.Options{MaxOpenConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	earned := func(want int) error {
		var n, pending int
		if err := db.R.Get(&n, `SELECT COUNT(*) FROM purchases WHERE kind = 'earn' AND merchant_id = ?`, ms[0].ID); err != nil {
			return err
		}
		if err := db.R.Get(&pending, `SELECT COUNT(*) FROM inbox_events WHERE state <> 'done'`); err != nil {
			return err
		}
		if n != want || pending != 0 {
			return fmt.Errorf("%d earned (want %d), %d inbox events not done", n, want, pending)
		}
		return nil
	}
	if err := eventually.Within(30*time.Second, func() error { return earned(7) }); err != nil {
		t.Fatalf("before the kill: %v\n%s", err, g.logs())
	}
	if err := g.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-g.done
	callsBefore, _ := fake.Calls()
	sell(time.Now(), 4) // sold while the gateway is down

	g2 := startGatewayProc(t, bin, dir, env)
	if err := eventually.Within(30*time.Second, func() error { return earned(11) }); err != nil {
		t.Fatalf("after the restart: %v\n%s", err, g2.logs())
	}
	g2.cmd.Process.Signal(syscall.SIGTERM)
	<-g2.done

	byOrder := purchasesByOrder(t, db) // fails on an order earned twice
	for u := int64(1001); u <= uid; u++ {
		if _, ok := byOrder[fmt.Sprintf("S%d", u)]; !ok {
			t.Errorf("ticket S%d never earned", u)
		}
	}
	var n, keys int
	if err := db.R.QueryRow(`SELECT COUNT(*), COUNT(DISTINCT event_key) FROM inbox_events`).Scan(&n, &keys); err != nil || n != 11 || keys != 11 {
		t.Errorf("inbox holds %d rows for %d keys, want 11 (%v)", n, keys, err)
	}
	st, err := db.POSPollState(ctx, conn.ID)
	if err != nil || st.Failures != 0 || st.Records != 11 {
		t.Errorf("poll state: %+v %v", st, err)
	}
	calls, refused := fake.Calls()
	if refused != 0 || calls <= callsBefore {
		t.Errorf("fake Pospal: %d calls (%d before the kill), %d refused", calls, callsBefore, refused)
	}
	checkLedgerSQL(t, db)
}
