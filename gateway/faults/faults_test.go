//go:build faults

package faults

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
	"github.com/lianmeng/lianmeng/plugins/wechatpay/wechatpaytest"
	"github.com/lianmeng/lianmeng/sdk/client"
	"github.com/lianmeng/lianmeng/sdk/host"
	"github.com/lianmeng/lianmeng/sdk/plugintest"
)

// scale is the size of a scenario: short for CI, long locally.
type scale struct {
	clients, merchants, members int
	kills                       int
	between                     time.Duration // load between two faults
	tail                        time.Duration // load after the last fault
}

func sizes() scale {
	if long() {
		return scale{clients: 24, merchants: 8, members: 24, kills: 10, between: 4 * time.Second, tail: 5 * time.Second}
	}
	return scale{clients: 12, merchants: 4, members: 8, kills: 3, between: 1500 * time.Millisecond, tail: 2 * time.Second}
}

func runID(name string) string {
	return fmt.Sprintf("%s%04x", name, mrand.IntN(1<<16))
}

// jitter is d ± 50%.
func jitter(d time.Duration) time.Duration {
	return d/2 + time.Duration(mrand.Int64N(int64(d)))
}

// TestKillGateway kills the gateway with SIGKILL at random moments under
// load, several times, and restarts it on the same database and port; the
// clients retry every request whose answer they did not get.
func TestKillGateway(t *testing.T) {
	for _, dialect := range storetest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			driver, dsn := storetest.NewDatabase(t, dialect)
			killGateway(t, dialect, driver, dsn, false)
		})
	}
}

// TestHostileRequests mixes malformed, oversized, replayed, mis-signed and
// key-reusing requests into the load (with one kill in the middle): each is
// refused with its code and none has an effect.
func TestHostileRequests(t *testing.T) {
	for _, dialect := range storetest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			driver, dsn := storetest.NewDatabase(t, dialect)
			killGateway(t, dialect, driver, dsn, true)
		})
	}
}

func killGateway(t *testing.T, dialect, driver, dsn string, hostile bool) {
	sz := sizes()
	name, kills := "kill-gateway", sz.kills
	if hostile {
		name, kills = "hostile", 1
	}
	// The kill scenario also carries POS webhooks and channel
	// notifications (feeds_test.go), through the builtin Shopify adapter
	// and WeChat Pay channel, the channel against its fake: on SQLite in
	// the short form, on both databases in the long one. (Checking them
	// waits for the inbox events the killed process had claimed: their
	// 30 s lease must lapse first.)
	var env []string
	var wx *wechatpaytest.Server
	if !hostile && (long() || dialect == store.SQLite) {
		var err error
		if wx, err = wechatpaytest.New(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(wx.Close)
		env = append(env, feedsEnv(wx))
	}
	g := newGateway(t, "gateway", t.TempDir(), gatewayEnv(driver, dsn, env...))
	g.start()
	l := newLoad(t, runID("k"), []string{g.base()}, sz.merchants, sz.members, g.signinCode)
	l.hostile = hostile
	if wx != nil {
		l.feeds = newFeeds(t, l, g.base(), wx)
	}
	l.start(sz.clients)
	var recover []time.Duration
	for i := 0; i < kills; i++ {
		time.Sleep(jitter(sz.between))
		g.kill()
		at := time.Now() // from here on, only the restarted process can answer
		g.start()
		d, ok := l.waitAck(at, 60*time.Second)
		if !ok {
			t.Fatalf("no write acknowledged within 60 s of restart %d\n%s", i+1, g.logs())
		}
		recover = append(recover, d)
	}
	time.Sleep(sz.tail)
	l.halt()
	if l.feeds != nil {
		l.feeds.check(t, driver, dsn)
		l.feeds.checkCanFail(t, driver, dsn)
		t.Logf("FEEDS %s/%s: %s", name, dialect, l.feeds.summary())
	}
	l.check(t, driver, dsn, g)
	l.report(name, dialect, kills, recover).emit(t)
	g.stop()
}

// TestMariaDBRestart kills a private MariaDB server (SIGKILL, by its pid)
// under load and starts it again on the same data directory: while it is
// down the gateway answers 503 with Retry-After and /readyz says so; it
// recovers by itself.
func TestMariaDBRestart(t *testing.T) {
	sz := sizes()
	m := startMariaDB(t)
	dsn := privateDatabase(t, m, "faults")
	g := newGateway(t, "gateway", t.TempDir(), gatewayEnv(store.MySQL, dsn))
	g.start()
	l := newLoad(t, runID("m"), []string{g.base()}, sz.merchants, sz.members, g.signinCode)
	l.start(sz.clients)
	var recover []time.Duration
	outages := max(1, sz.kills/2)
	for i := 0; i < outages; i++ {
		time.Sleep(jitter(sz.between))
		m.kill()
		down := time.Now()
		// While the database is down: /readyz is 503, writes are 503 with
		// Retry-After (the clients count them).
		readyDown := false
		for time.Since(down) < 3*time.Second {
			if status, _ := readyz(g.base()); status == 503 {
				readyDown = true
			}
			time.Sleep(100 * time.Millisecond)
		}
		if !readyDown {
			t.Errorf("outage %d: /readyz never answered 503 while MariaDB was down", i+1)
		}
		m.start()
		up := time.Now()
		d, ok := l.waitAck(up, 90*time.Second)
		if !ok {
			t.Fatalf("no write acknowledged within 90 s of MariaDB's restart\n%s", g.logs())
		}
		recover = append(recover, d)
		if err := g.waitReady(60 * time.Second); err != nil {
			t.Errorf("after MariaDB came back: %v", err)
		}
	}
	time.Sleep(sz.tail)
	l.halt()
	l.mu.Lock()
	saw503 := false
	for k, n := range l.transient {
		if strings.HasPrefix(k, "503 ") {
			saw503 = true
		}
		if strings.Contains(k, "no Retry-After") {
			t.Errorf("%d answers %s", n, k)
		}
	}
	l.mu.Unlock()
	if !saw503 {
		t.Errorf("no write was answered 503 while MariaDB was down (retried answers: %v)", l.transient)
	}
	l.check(t, store.MySQL, dsn, g)
	l.report("mariadb-restart", "mariadb-private", outages, recover).emit(t)
	g.stop()
}

// TestMariaDBLockWaitAndConnections holds the hot merchants' budget rows
// in a second session past innodb_lock_wait_timeout (so the writer's
// batches hit lock waits and retry), and takes every free connection of
// the server for a while (so new connections are refused); no write is
// lost or doubled.
func TestMariaDBLockWaitAndConnections(t *testing.T) {
	sz := sizes()
	m := startMariaDB(t, "--innodb-lock-wait-timeout=1", "--max-connections=60")
	dsn := privateDatabase(t, m, "faults")
	g := newGateway(t, "gateway", t.TempDir(), gatewayEnv(store.MySQL, dsn))
	g.start()
	l := newLoad(t, runID("w"), []string{g.base()}, sz.merchants, sz.members, g.signinCode)
	l.start(sz.clients)
	admin := openMySQL(t, dsn)

	var recover []time.Duration
	// Lock waits: a transaction holding every merchant budget row.
	time.Sleep(jitter(sz.between))
	ctx := context.Background()
	var tx *sql.Tx
	for attempt := 0; ; attempt++ {
		// In name order, as the writer locks; a deadlock or lock wait
		// with a batch is simply tried again.
		var err error
		if tx, err = admin.BeginTx(ctx, nil); err != nil {
			t.Fatal(err)
		}
		_, err = tx.ExecContext(ctx, "SELECT name FROM accounts WHERE name LIKE 'merchant:%:budget' ORDER BY name FOR UPDATE")
		if err == nil {
			break
		}
		tx.Rollback()
		if !store.IsRetryable(err) || attempt == 50 {
			t.Fatalf("lock the budgets: %v", err)
		}
	}
	time.Sleep(3 * time.Second)
	at := time.Now()
	tx.Rollback()
	if d, ok := l.waitAck(at, 60*time.Second); ok {
		recover = append(recover, d)
	} else {
		t.Fatalf("no write acknowledged within 60 s of the lock's release")
	}

	// Connection exhaustion: take every connection the server has left.
	time.Sleep(jitter(sz.between))
	hogDB := openMySQL(t, dsn)
	var hogs []*sql.Conn
	fill := func() {
		for len(hogs) < 100 {
			c, err := hogDB.Conn(ctx)
			if err == nil {
				err = c.PingContext(ctx)
			}
			if err != nil {
				return
			}
			hogs = append(hogs, c)
		}
	}
	fill()
	if len(hogs) == 0 {
		t.Fatal("could not open a single connection to take")
	}
	// Then break the gateway's own pool: it must reconnect, and cannot
	// (it may win a freed slot between a kill and the next fill: again).
	mine := map[int64]bool{}
	known := 0
	var victims []int64
	for round := 0; round < 20; round++ {
		for _, c := range hogs[known:] {
			var id int64
			if err := c.QueryRowContext(ctx, "SELECT CONNECTION_ID()").Scan(&id); err != nil {
				t.Fatal(err)
			}
			mine[id] = true
		}
		known = len(hogs)
		rows, err := hogs[0].QueryContext(ctx, "SELECT id FROM information_schema.processlist WHERE command <> 'Daemon'")
		if err != nil {
			t.Fatal(err)
		}
		var these []int64
		for rows.Next() {
			var id int64
			rows.Scan(&id)
			if !mine[id] {
				these = append(these, id)
			}
		}
		rows.Close()
		if len(these) == 0 {
			break
		}
		for _, id := range these {
			hogs[0].ExecContext(ctx, fmt.Sprintf("KILL CONNECTION %d", id))
		}
		victims = append(victims, these...)
		fill() // take the slots the gateway's connections left
	}
	before := l.transientCount("503 ")
	time.Sleep(3 * time.Second)
	if l.transientCount("503 ") == before {
		t.Errorf("no write was answered 503 while the server had no connection left")
	}
	at = time.Now()
	for _, c := range hogs {
		c.Close()
	}
	hogDB.Close() // closes the pooled connections for real
	if d, ok := l.waitAck(at, 60*time.Second); ok {
		recover = append(recover, d)
	} else {
		t.Fatalf("no write acknowledged within 60 s of the connections' release")
	}
	time.Sleep(sz.tail)
	l.halt()
	admin.Close()
	l.check(t, store.MySQL, dsn, g)
	rep := l.report("lock-wait+connections", "mariadb-private", 2, recover)
	rep.emit(t)
	t.Logf("held %d connections of the server's 60 and killed the gateway's %d", len(hogs), len(victims))
	g.stop()
}

// TestMariaDBSmallPool runs the gateway with a pool of one connection
// (database.max_open_conns: 1; it used to hang at start, in the
// migrations) and a 3 s HTTP write timeout, and under load holds the hot
// merchants' budget rows in a second session for 5 s, so that a writer
// batch sits in lock waits holding the only connection: nothing may
// deadlock, requests are answered 503 unavailable with Retry-After within
// the request deadline (the write timeout less 1 s) instead of hanging,
// and once the lock is gone the gateway recovers by itself; nothing
// acknowledged is lost or doubled (a write answered 503 whose batch
// commits later is replayed to the client's retry).
func TestMariaDBSmallPool(t *testing.T) {
	sz := sizes()
	driver, dsn := storetest.NewDatabase(t, store.MySQL)
	g := newGateway(t, "gateway", t.TempDir(), gatewayEnv(driver, dsn, "LIANMENG_DATABASE_MAX_OPEN_CONNS=1", "LIANMENG_HTTP_WRITE_TIMEOUT=3s"))
	g.start()
	l := newLoad(t, runID("s"), []string{g.base()}, sz.merchants, sz.members, g.signinCode)
	l.deadline = 60 * time.Second // a request not answered within a minute counts as lost
	l.start(sz.clients)
	time.Sleep(jitter(sz.between))

	admin := openMySQL(t, dsn)
	ctx := context.Background()
	var tx *sql.Tx
	for attempt := 0; ; attempt++ {
		var err error
		if tx, err = admin.BeginTx(ctx, nil); err != nil {
			t.Fatal(err)
		}
		_, err = tx.ExecContext(ctx, "SELECT name FROM accounts WHERE name LIKE 'merchant:%:budget' ORDER BY name FOR UPDATE")
		if err == nil {
			break
		}
		tx.Rollback()
		if !store.IsRetryable(err) || attempt == 50 {
			t.Fatalf("lock the budgets: %v", err)
		}
	}
	locked := time.Now()
	before := l.transientCount("503 unavailable")
	// Probe while the pool is held: a write answered within the request
	// deadline (2 s), plus slack for a loaded machine.
	var slowest time.Duration
	var probes []*request
	for time.Since(locked) < 5*time.Second {
		r := l.earn(0, 0, l.members[0])
		start := time.Now()
		err := l.merchantAt(0, 0).Client.Do(ctx, "POST", paths[kindEarn], r.body, nil, client.IdempotencyKey(r.key))
		slowest = max(slowest, time.Since(start))
		probes = append(probes, r)
		var ae *client.APIError
		if err != nil && !(errors.As(err, &ae) && ae.Status == 503 && ae.Code == "unavailable" && ae.RetryAfter > 0) {
			t.Errorf("a write while the pool was held: %v, want 201 or 503 unavailable with Retry-After", err)
		}
	}
	if slowest > 4*time.Second {
		t.Errorf("the slowest of %d writes while the pool was held took %s (request deadline 2 s)", len(probes), slowest)
	}
	at := time.Now()
	tx.Rollback()
	for _, r := range probes {
		l.do(ctx, 0, r) // recorded like any other, retried until answered
	}
	if l.transientCount("503 unavailable") == before {
		t.Errorf("no write was answered 503 unavailable while the pool was held (retried answers: %v)", l.transientSnapshot())
	}
	d, ok := l.waitAck(at, 60*time.Second)
	if !ok {
		t.Fatalf("no write acknowledged within 60 s of the lock's release\n%s", tail(g.logs(), 4000))
	}
	time.Sleep(sz.tail)
	l.halt()
	admin.Close()
	if n := l.transientCount("503 unavailable no Retry-After"); n > 0 {
		t.Errorf("%d unavailable answers had no Retry-After", n)
	}
	t.Logf("pool of 1 held for %s; slowest of %d probe writes meanwhile %s", at.Sub(locked).Round(time.Millisecond), len(probes), slowest.Round(time.Millisecond))
	l.check(t, driver, dsn, g)
	l.report("small-pool", "mariadb", 1, []time.Duration{d}).emit(t)
	g.stop()
}

func readyz(base string) (int, error) {
	hc := &http.Client{Timeout: 2 * time.Second}
	resp, err := hc.Get(base + "/readyz")
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// privateDatabase creates database name on the private server.
func privateDatabase(t *testing.T, m *mariadb, name string) string {
	t.Helper()
	admin := openMySQL(t, m.dsn(""))
	if _, err := admin.Exec("CREATE DATABASE " + name + " CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"); err != nil {
		t.Fatal(err)
	}
	return m.dsn(name)
}

func openMySQL(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	cfg, err := store.MySQLConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(conn)
	db.SetMaxIdleConns(100)
	t.Cleanup(func() { db.Close() })
	return db
}

// TestPluginFaults runs half the merchants through an out-of-process
// earning-rule plugin, kills the plugin process (SIGKILL) several times
// under load and mixes in earns the plugin overruns its deadline on (it
// sleeps past it): those answer 503 rule_unavailable with Retry-After and
// write nothing; the earns the clients retry once the host has restarted
// the plugin have one effect each, with the plugin's amount.
func TestPluginFaults(t *testing.T) {
	sz := sizes()
	bin := filepath.Join(t.TempDir(), "testrule")
	if err := plugintest.BuildTo("../pluginhost/testdata/testrule", bin); err != nil {
		t.Fatal(err)
	}
	sum, err := host.FileSHA256(bin)
	if err != nil {
		t.Fatal(err)
	}
	plugins := fmt.Sprintf(`[{"name":"rule","kind":"earning_rule","path":%q,"sha256":%q,"timeout":"500ms","required":true}]`, bin, hex.EncodeToString(sum))
	driver, dsn := storetest.NewDatabase(t, store.SQLite)
	g := newGateway(t, "gateway", t.TempDir(), gatewayEnv(driver, dsn, "LIANMENG_PLUGINS="+plugins))
	g.start()
	l := newLoad(t, runID("p"), []string{g.base()}, sz.merchants, sz.members, g.signinCode, "rule")
	l.hang = true
	l.start(sz.clients)
	var recover []time.Duration
	for i := 0; i < sz.kills; i++ {
		time.Sleep(jitter(sz.between))
		kids := childPids(g.pid())
		if len(kids) == 0 {
			t.Fatalf("kill %d: the gateway has no plugin process", i+1)
		}
		for _, pid := range kids {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		at := time.Now()
		// Recovered when a plugin merchant's earn is acknowledged again.
		d, ok := l.waitAckWhere(at, 60*time.Second, func(r *request) bool { return r.kind == kindEarn && l.ruleMerchants[r.merchant] })
		if !ok {
			t.Fatalf("no earn through the plugin acknowledged within 60 s of kill %d\n%s", i+1, g.logs())
		}
		recover = append(recover, d)
	}
	time.Sleep(sz.tail)
	l.halt()
	if l.transientCount("503 rule_unavailable") == 0 {
		t.Errorf("no earn was answered 503 rule_unavailable while the plugin was down")
	}
	l.check(t, driver, dsn, g)
	l.report("plugin-kill+hang", dialectName(driver), sz.kills, recover).emit(t)
	g.stop()
}

// childPids lists the direct children of pid (the gateway's plugins).
func childPids(pid int) []int {
	var out []int
	tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	for _, task := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/children", pid, task.Name()))
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(f); err == nil {
				out = append(out, n)
			}
		}
	}
	return out
}

func dialectName(driver string) string {
	if driver == store.MySQL {
		return "mariadb"
	}
	return driver
}

// TestSQLiteDiskFull puts the SQLite database on a small tmpfs and, under
// load, fills the filesystem and keeps it full (a runaway file takes every
// byte that appears, as a log filling a disk would). While it is full,
// writes are refused with 503 storage_full and Retry-After and /readyz
// answers 503; once the space is freed the running gateway takes writes
// again by itself and /readyz is 200. Then the disk is filled again and
// the gateway killed: restarted on the full disk it either comes up
// refusing writes or exits naming the full filesystem, and once space is
// freed it starts and takes writes. Nothing acknowledged is lost or
// doubled. Skipped (with a message) where the test cannot mount a tmpfs
// (not root, or no mount permission).
func TestSQLiteDiskFull(t *testing.T) {
	sz := sizes()
	dir := t.TempDir()
	mnt := filepath.Join(dir, "small")
	if err := os.Mkdir(mnt, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=96m,mode=0700", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a small tmpfs for the disk-full scenario (needs root and mount permission): %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", mnt).Run() })
	dsn := filepath.Join(mnt, "lianmeng.db")
	g := newGateway(t, "gateway", mnt, gatewayEnv(store.SQLite, dsn))
	g.start()
	l := newLoad(t, runID("d"), []string{g.base()}, sz.merchants, sz.members, g.signinCode)
	l.start(sz.clients)

	// whileFull checks, for d, that writes are refused with storage_full
	// (with Retry-After) and that /readyz answers 503 at least once.
	whileFull := func(when string, d time.Duration) {
		before := l.transientCount("503 storage_full")
		readyDown := false
		for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
			if status, _ := readyz(g.base()); status == 503 {
				readyDown = true
			}
		}
		if l.transientCount("503 storage_full") == before {
			t.Errorf("%s: no write was answered 503 storage_full (retried answers: %v)", when, l.transientSnapshot())
		}
		if !readyDown {
			t.Errorf("%s: /readyz never answered 503", when)
		}
	}

	// 1. Full under load, then 8 MiB freed (less than the clients' retried
	// writes would take before a checkpoint could use it): the running
	// gateway recovers by itself.
	time.Sleep(jitter(sz.between))
	fill := startFiller(t, filepath.Join(mnt, "filler"))
	full := time.Now()
	whileFull("while the filesystem was full", 3*time.Second)
	freed := fill.giveBack(8 << 20)
	var recover []time.Duration
	d, ok := l.waitAck(freed, 60*time.Second)
	if !ok {
		du, _ := exec.Command("sh", "-c", "ls -la "+mnt+"; df -k "+mnt).CombinedOutput()
		t.Fatalf("no write acknowledged within 60 s of freeing the space (full for %s)\n%s\n%s", freed.Sub(full), du, tail(g.logs(), 4000))
	}
	recover = append(recover, d)
	if err := g.waitReady(30 * time.Second); err != nil {
		t.Errorf("after the space was freed: %v", err)
	}

	// 2. Full again, and a crash: restarted on the full disk, serve comes
	// up refusing writes, or exits and names the full filesystem (SQLite
	// cannot rebuild a crashed WAL's index without a little space); it
	// needs no new key file either way. Freed, it starts and recovers.
	time.Sleep(jitter(sz.between))
	fill1 := fill
	fill = startFiller(t, filepath.Join(mnt, "filler2"))
	time.Sleep(time.Second)
	g.kill()
	if g.tryStart(30 * time.Second) {
		whileFull("after a restart on the full disk", 3*time.Second)
		g.kill()
	} else if logs := g.logs(); !strings.Contains(logs, "the filesystem holding it is full") {
		t.Errorf("serve exited on the full disk without saying the filesystem is full:\n%s", tail(logs, 2000))
	}
	fill1.giveBack(-1)
	freed = fill.giveBack(-1)
	g.start()
	if d, ok = l.waitAck(freed, 60*time.Second); !ok {
		t.Fatalf("no write acknowledged within 60 s of freeing the space and restarting\n%s", tail(g.logs(), 4000))
	}
	recover = append(recover, d)
	time.Sleep(sz.tail)
	l.halt()
	if n := l.transientCount("503 storage_full no Retry-After"); n > 0 {
		t.Errorf("%d storage_full answers had no Retry-After", n)
	}
	l.check(t, store.SQLite, dsn, g)
	l.report("sqlite-disk-full", "sqlite-tmpfs", 2, recover).emit(t)
	g.stop()
}

// filler keeps a filesystem full: it writes to its file until the disk
// refuses, and takes again whatever space appears until giveBack.
type filler struct {
	path string
	stop chan struct{}
	done chan struct{}
	f    *os.File
}

func startFiller(t *testing.T, path string) *filler {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	fl := &filler{path: path, stop: make(chan struct{}), done: make(chan struct{}), f: f}
	buf := make([]byte, 1<<20)
	fillUp := func() {
		for _, n := range []int{1 << 20, 64 << 10, 4 << 10, 512} {
			for {
				if _, err := f.Write(buf[:n]); err != nil {
					break
				}
			}
		}
	}
	fillUp()
	go func() {
		defer close(fl.done)
		for {
			select {
			case <-fl.stop:
				return
			case <-time.After(5 * time.Millisecond):
				fillUp()
			}
		}
	}()
	t.Cleanup(func() { fl.giveBack(-1) })
	return fl
}

// giveBack stops the filler and frees n bytes of its file (all of it, and
// the file, if n < 0); it returns when.
func (fl *filler) giveBack(n int64) time.Time {
	select {
	case <-fl.stop:
	default:
		close(fl.stop)
	}
	<-fl.done
	if fi, err := fl.f.Stat(); err == nil && n >= 0 && n < fi.Size() {
		fl.f.Truncate(fi.Size() - n)
	} else {
		fl.f.Close()
		os.Remove(fl.path)
	}
	return time.Now()
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// TestInstances runs three gateways on one MariaDB (a private server)
// with the same hot merchants on all of them: clients are spread over the
// instances and a retry goes to the next one, as behind a load balancer.
// One instance is killed mid-load and comes back later. Nothing is lost or
// doubled; the release job and the sealer ran once per lot and leaf across
// instances (no ledger transaction twice, verify clean). It also measures
// acknowledged writes per second with one instance and with two.
func TestInstances(t *testing.T) {
	sz := sizes()
	m := startMariaDB(t)
	dsn := privateDatabase(t, m, "faults")
	dir := t.TempDir() // shared: the instances use the same keys
	env := gatewayEnv(store.MySQL, dsn)
	var gs []*gateway
	for i := 0; i < 3; i++ {
		g := newGateway(t, fmt.Sprintf("gateway-%d", i+1), dir, env)
		g.start()
		gs = append(gs, g)
	}
	measure := func(n int) float64 {
		var bases []string
		for _, g := range gs[:n] {
			bases = append(bases, g.base())
		}
		l := newLoad(t, runID(fmt.Sprintf("t%d", n)), bases, sz.merchants, sz.members, signinCodes(gs...))
		l.start(sz.clients)
		time.Sleep(time.Second) // warm-up
		a0, t0 := l.acked.Load(), time.Now()
		time.Sleep(3 * sz.between)
		rate := float64(l.acked.Load()-a0) / time.Since(t0).Seconds()
		l.halt()
		l.check(t, store.MySQL, dsn, nil)
		return rate
	}
	one, two := measure(1), measure(2)
	t.Logf("THROUGHPUT acknowledged writes/s (mixed earn/redeem/refund, %d clients, %d hot merchants, one 2-core machine running everything): 1 instance %.0f, 2 instances %.0f (x%.2f)",
		sz.clients, sz.merchants, one, two, two/one)

	bases := []string{gs[0].base(), gs[1].base(), gs[2].base()}
	l := newLoad(t, runID("i"), bases, sz.merchants, sz.members, signinCodes(gs...))
	l.start(sz.clients)
	var recover []time.Duration
	for i := 0; i < max(1, sz.kills/2); i++ {
		time.Sleep(jitter(sz.between))
		victim := gs[1+i%2]
		victim.kill()
		at := time.Now()
		d, ok := l.waitAck(at, 60*time.Second)
		if !ok {
			t.Fatalf("no write acknowledged within 60 s of killing %s", victim.name)
		}
		recover = append(recover, d)
		time.Sleep(jitter(sz.between))
		victim.start()
	}
	time.Sleep(sz.tail)
	l.halt()
	l.check(t, store.MySQL, dsn, gs[0], gs[1], gs[2])
	var leases []struct {
		Name   string `db:"name"`
		Holder string `db:"holder"`
	}
	db, err := store.Open(context.Background(), store.MySQL, dsn, store.Options{MaxOpenConns: 1})
	if err == nil {
		db.R.Select(&leases, "SELECT name, holder FROM job_leases ORDER BY name")
		db.Close()
	}
	t.Logf("leases after the run: %v", leases)
	rep := l.report("3-instances", "mariadb-private", len(recover), recover)
	rep.emit(t)
	if p := os.Getenv("FAULTS_REPORT"); p != "" {
		f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err == nil {
			fmt.Fprintf(f, "{\"throughput\":{\"one\":%.0f,\"two\":%.0f,\"clients\":%d,\"merchants\":%d}}\n", one, two, sz.clients, sz.merchants)
			f.Close()
		}
	}
	for _, g := range gs {
		g.stop()
	}
}
