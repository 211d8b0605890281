package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/gateway/internal/eventually"
	"github.com/lianmeng/lianmeng/gateway/loadgen"
	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
	"github.com/lianmeng/lianmeng/sdk/client"
)

// TestCrashRecovery kills the gateway with SIGKILL in the middle of a burst
// of concurrent signed earns, restarts it on the same database and retries
// every request whose answer the client never saw (same Idempotency-Key,
// same body). Every acknowledged earn must then exist exactly once with the
// purchase id the client was given, no order may have earned twice, and
// `lianmeng verify` must find the ledger consistent. Runs on SQLite and
// MariaDB/MySQL.
func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the gateway binary")
	}
	bin := buildGatewayBinary(t)
	for _, dialect := range storetest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			driver, dsn := storetest.NewDatabase(t, dialect)
			crashAndRecover(t, bin, driver, dsn)
		})
	}
}

func buildGatewayBinary(t *testing.T) string {
	t.Helper()
	goTool := "go"
	if p := filepath.Join(os.Getenv("GOROOT"), "bin", "go"); os.Getenv("GOROOT") != "" {
		if _, err := os.Stat(p); err == nil {
			goTool = p
		}
	}
	bin := filepath.Join(t.TempDir(), "lianmeng")
	cmd := exec.Command(goTool, "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

const crashToken = "crash-test-operator-token"

// gatewayProc is a `lianmeng serve` child process.
type gatewayProc struct {
	cmd  *exec.Cmd
	base string
	mu   sync.Mutex
	log  bytes.Buffer
	done chan error
}

func (g *gatewayProc) logs() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.log.String()
}

func gatewayEnv(driver, dsn string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "LIANMENG_") {
			env = append(env, kv)
		}
	}
	return append(env, "LIANMENG_DATABASE_DRIVER="+driver, "LIANMENG_DATABASE_DSN="+dsn,
		"LIANMENG_OPERATOR_TOKEN="+crashToken, "LIANMENG_LISTEN=127.0.0.1:0",
		"LIANMENG_METRICS_LISTEN=127.0.0.1:0", "LIANMENG_LOG_LEVEL=info")
}

// startGatewayProc starts serve and waits until it listens and /readyz is ok.
func startGatewayProc(t *testing.T, bin, dir string, env []string) *gatewayProc {
	t.Helper()
	g := &gatewayProc{done: make(chan error, 1)}
	g.cmd = exec.Command(bin, "serve")
	g.cmd.Dir = dir
	g.cmd.Env = env
	stderr, err := g.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	g.cmd.Stdout = io.Discard
	if err := g.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			g.mu.Lock()
			g.log.WriteString(line + "\n")
			g.mu.Unlock()
			if strings.Contains(line, "gateway listening") {
				for _, f := range strings.Fields(line) {
					if a, ok := strings.CutPrefix(f, "addr="); ok {
						select {
						case addr <- a:
						default:
						}
					}
				}
			}
		}
		g.done <- g.cmd.Wait()
	}()
	t.Cleanup(func() {
		if g.cmd.ProcessState == nil {
			g.cmd.Process.Kill()
			<-g.done
		}
	})
	select {
	case a := <-addr:
		g.base = "http://" + a
	case err := <-g.done:
		t.Fatalf("gateway exited before listening: %v\n%s", err, g.logs())
	case <-time.After(60 * time.Second):
		t.Fatalf("gateway did not listen within 60 s\n%s", g.logs())
	}
	err = eventually.Within(30*time.Second, func() error {
		resp, err := http.Get(g.base + "/readyz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("/readyz answers %d", resp.StatusCode)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("gateway not ready: %v\n%s", err, g.logs())
	}
	return g
}

// crashReq is one earn the client sent.
type crashReq struct {
	merchant int
	order    string
	body     []byte
	state    int32 // crashPending, crashAcked, crashUnknown, crashRejected
	purchase int64
	err      string
}

const (
	crashPending = iota
	crashAcked
	crashUnknown
	crashRejected
)

func crashAndRecover(t *testing.T, bin, driver, dsn string) {
	dir := t.TempDir()
	env := gatewayEnv(driver, dsn)
	g := startGatewayProc(t, bin, dir, env)

	const clients = 16
	hc := loadgen.NewHTTPClient(clients+8, 5*time.Second)
	defer hc.CloseIdleConnections()
	ctx := context.Background()
	ms, err := loadgen.Setup(ctx, loadgen.Config{BaseURL: g.base, OperatorToken: crashToken}, 4, hc, loadgen.SetupOptions{})
	if err != nil {
		t.Fatalf("setup: %v\n%s", err, g.logs())
	}

	// The burst: each client sends unique orders until the gateway dies.
	var (
		mu     sync.Mutex
		reqs   []*crashReq
		killed atomic.Bool
		acked  atomic.Int64
		wg     sync.WaitGroup
	)
	const maxPerClient = 5000
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			for i := 0; i < maxPerClient && !killed.Load(); i++ {
				r := &crashReq{merchant: (c + i) % len(ms), order: fmt.Sprintf("crash-%02d-%05d", c, i)}
				r.body, _ = json.Marshal(loadgen.EarnBody{OrderID: r.order, Member: loadgen.PhoneMember(c*1000 + i%50),
					AmountFen: int64(100 + i%5000)})
				mu.Lock()
				reqs = append(reqs, r)
				mu.Unlock()
				res, err := loadgen.Earn(ctx, &ms[r.merchant], "idem-"+r.order, r.body)
				switch {
				case err == nil:
					r.state, r.purchase = crashAcked, res.PurchaseID
					acked.Add(1)
				case isAPIError(err) && !killed.Load():
					r.state, r.err = crashRejected, err.Error()
				default:
					// No answer (or an answer from a dying process): the
					// outcome is unknown to the client.
					r.state, r.err = crashUnknown, err.Error()
				}
			}
		}(c)
	}
	// Let the load run for a while (and at least until some earns were
	// acknowledged), then SIGKILL mid-burst.
	start := time.Now()
	for (acked.Load() < 100 || time.Since(start) < 1500*time.Millisecond) && time.Since(start) < 10*time.Second {
		time.Sleep(20 * time.Millisecond)
	}
	if err := g.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed.Store(true)
	<-g.done
	wg.Wait()

	var nAcked, nUnknown int
	for _, r := range reqs {
		switch r.state {
		case crashAcked:
			nAcked++
		case crashUnknown:
			nUnknown++
		case crashRejected:
			t.Errorf("order %s refused before the crash: %s", r.order, r.err)
		}
	}
	t.Logf("before the crash: %d requests, %d acknowledged, %d unanswered", len(reqs), nAcked, nUnknown)
	if nAcked == 0 {
		t.Fatalf("no earn was acknowledged before the kill\n%s", g.logs())
	}

	// Acknowledged means durable: before any retry, every acknowledged
	// earn is already in the database the killed process left behind.
	pre, err := store.Open(ctx, driver, dsn, store.Options{MaxOpenConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	committed := purchasesByOrder(t, pre)
	pre.Close()
	unackedCommitted := 0
	for _, r := range reqs {
		_, ok := committed[r.order]
		switch {
		case r.state == crashAcked && !ok:
			t.Errorf("acknowledged order %s (purchase %d) was lost by the crash", r.order, r.purchase)
		case r.state == crashUnknown && ok:
			unackedCommitted++
		}
	}
	t.Logf("after the crash: %d purchases in the database, %d of them committed without the client seeing the answer", len(committed), unackedCommitted)

	// Restart on the same database and retry what the client did not see.
	g2 := startGatewayProc(t, bin, dir, env)
	for i := range ms {
		ms[i] = ms[i].At(g2.base, hc)
	}
	replayed := 0
	for _, r := range reqs {
		switch r.state {
		case crashUnknown:
			res, err := earnWithRetry(ctx, &ms[r.merchant], "idem-"+r.order, r.body)
			if err != nil {
				t.Errorf("retry of order %s after restart: %v", r.order, err)
				continue
			}
			r.state, r.purchase = crashAcked, res.PurchaseID
		case crashAcked:
			// A sample of acknowledged requests must replay the same answer.
			if replayed < 100 {
				replayed++
				res, err := earnWithRetry(ctx, &ms[r.merchant], "idem-"+r.order, r.body)
				if err != nil {
					t.Errorf("replay of acknowledged order %s: %v", r.order, err)
				} else if res.PurchaseID != r.purchase {
					t.Errorf("replay of order %s answered purchase %d, first answer was %d", r.order, res.PurchaseID, r.purchase)
				}
			}
		}
	}
	g2.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-g2.done:
	case <-time.After(30 * time.Second):
		t.Error("gateway did not stop on SIGTERM")
	}

	// Every request the client sent now has an answer: it exists exactly
	// once, under the purchase id the client holds.
	db, err := store.Open(ctx, driver, dsn, store.Options{MaxOpenConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	byOrder := purchasesByOrder(t, db)
	for _, r := range reqs {
		got, ok := byOrder[r.order]
		switch {
		case r.state != crashAcked:
			if ok {
				t.Errorf("order %s (never acknowledged) is in the ledger", r.order)
			}
		case !ok:
			t.Errorf("acknowledged order %s (purchase %d) is missing after the crash", r.order, r.purchase)
		case got.ID != r.purchase:
			t.Errorf("order %s: ledger has purchase %d, client was told %d", r.order, got.ID, r.purchase)
		}
		delete(byOrder, r.order)
	}
	for o := range byOrder {
		t.Errorf("purchase for order %s that no client sent", o)
	}
	checkLedgerSQL(t, db)

	// The gateway's own checker: ledger invariants and evidence chain.
	cmd := exec.Command(bin, "verify", "-q")
	cmd.Dir, cmd.Env = dir, env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("lianmeng verify after the crash: %v\n%s", err, out)
	}
}

type purchaseRow struct {
	OrderID string `db:"order_id"`
	N       int64  `db:"n"`
	ID      int64  `db:"id"`
}

// purchasesByOrder returns the earn purchases per order id; an order
// earned more than once is an error.
func purchasesByOrder(t *testing.T, db *store.DB) map[string]purchaseRow {
	t.Helper()
	var rows []purchaseRow
	if err := db.R.SelectContext(context.Background(), &rows,
		"SELECT order_id, COUNT(*) AS n, MIN(id) AS id FROM purchases WHERE kind = 'earn' GROUP BY order_id"); err != nil {
		t.Fatal(err)
	}
	byOrder := map[string]purchaseRow{}
	for _, r := range rows {
		if r.N != 1 {
			t.Errorf("order %s earned %d times", r.OrderID, r.N)
		}
		byOrder[r.OrderID] = r
	}
	return byOrder
}

func isAPIError(err error) bool {
	var ae *client.APIError
	return errors.As(err, &ae)
}

// earnWithRetry retries transient failures (503, transport) a few times.
func earnWithRetry(ctx context.Context, m *loadgen.Merchant, key string, body []byte) (loadgen.EarnResponse, error) {
	var err error
	for attempt := 0; attempt < 20; attempt++ {
		var res loadgen.EarnResponse
		res, err = loadgen.Earn(ctx, m, key, body)
		if err == nil {
			return res, nil
		}
		var ae *client.APIError
		if errors.As(err, &ae) && ae.Status != 503 {
			return res, err
		}
		time.Sleep(100 * time.Millisecond)
	}
	return loadgen.EarnResponse{}, err
}

// checkLedgerSQL checks the double-entry invariants directly, independent
// of `lianmeng verify`: every transaction balances per asset, every account
// balance is the sum of its postings, and no member or budget is negative.
func checkLedgerSQL(t *testing.T, db *store.DB) {
	t.Helper()
	ctx := context.Background()
	var unbalanced []struct {
		TxID  int64  `db:"tx_id"`
		Asset string `db:"asset"`
		Sum   int64  `db:"s"`
	}
	if err := db.R.SelectContext(ctx, &unbalanced, "SELECT tx_id, asset, SUM(amount) AS s FROM postings GROUP BY tx_id, asset HAVING SUM(amount) <> 0"); err != nil {
		t.Fatal(err)
	}
	for _, u := range unbalanced {
		t.Errorf("transaction %d does not balance in %s: %d", u.TxID, u.Asset, u.Sum)
	}
	var drift []struct {
		Name    string `db:"name"`
		Balance int64  `db:"balance"`
		Sum     int64  `db:"s"`
	}
	if err := db.R.SelectContext(ctx, &drift, `SELECT a.name, a.balance, COALESCE(p.s, 0) AS s FROM accounts a
		LEFT JOIN (SELECT account, SUM(amount) AS s FROM postings GROUP BY account) p ON p.account = a.name
		WHERE a.balance <> COALESCE(p.s, 0)`); err != nil {
		t.Fatal(err)
	}
	for _, d := range drift {
		t.Errorf("account %s balance %d, postings sum %d", d.Name, d.Balance, d.Sum)
	}
	var negative []struct {
		Name    string `db:"name"`
		Balance int64  `db:"balance"`
	}
	if err := db.R.SelectContext(ctx, &negative, "SELECT name, balance FROM accounts WHERE balance < 0 AND (name LIKE 'member:%' OR name LIKE 'merchant:%:budget')"); err != nil {
		t.Fatal(err)
	}
	for _, n := range negative {
		t.Errorf("account %s is negative: %d", n.Name, n.Balance)
	}
	var earns int64
	if err := db.R.GetContext(ctx, &earns, "SELECT COUNT(*) FROM ledger_transactions WHERE kind = 'earn'"); err != nil {
		t.Fatal(err)
	}
	var purchases int64
	if err := db.R.GetContext(ctx, &purchases, "SELECT COUNT(*) FROM purchases WHERE kind = 'earn'"); err != nil {
		t.Fatal(err)
	}
	if earns != purchases {
		t.Errorf("%d earn transactions for %d earn purchases", earns, purchases)
	}
}
