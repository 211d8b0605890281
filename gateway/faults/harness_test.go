//go:build faults

package faults

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// binary is the lianmeng binary TestMain builds once for every scenario.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "lianmeng-faults-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "lianmeng")
	build := exec.Command("go", "build", "-o", binary, "../cmd/lianmeng")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "faults: go build:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// long reports whether the long form runs (FAULTS_LONG=1): more kills,
// longer load.
func long() bool { return os.Getenv("FAULTS_LONG") == "1" }

const operatorToken = "faults-operator-token"

// freePort returns a loopback port free at the time of the call, so a
// restarted process can listen where its clients already point.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// gateway is one `lianmeng serve` child process, restartable on the same
// directory, database and port.
type gateway struct {
	t    testing.TB
	name string
	dir  string
	env  []string
	port int

	mu    sync.Mutex
	cmd   *exec.Cmd
	done  chan struct{}
	log   []string // the current process's log lines (bounded)
	codes map[string]signinCode
}

// signinCode is a sign-in code the dev sender logged, and when this
// harness read the line.
type signinCode struct {
	code string
	at   time.Time
}

// gatewayEnv is the environment of every gateway: the database, the
// bootstrap operator token, no rate limits (the load would trip them),
// points spendable at once (the release job runs every second) and
// redemption codes valid long enough to outlive a restart.
func gatewayEnv(driver, dsn string, extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "LIANMENG_") {
			env = append(env, kv)
		}
	}
	env = append(env, "LIANMENG_DATABASE_DRIVER="+driver, "LIANMENG_DATABASE_DSN="+dsn,
		"LIANMENG_OPERATOR_TOKEN="+operatorToken, "LIANMENG_METRICS_LISTEN=", "LIANMENG_LOG_LEVEL=info",
		"LIANMENG_POINTS_RELEASE_DELAY=0s", "LIANMENG_POINTS_SCHEDULER_INTERVAL=1s",
		"LIANMENG_EVIDENCE_SEAL_INTERVAL=1s", "LIANMENG_MEMBERS_CODE_TTL=10m")
	for _, l := range []string{"CREDENTIAL", "LOOKUP", "MEMBER", "PUBLIC", "SIGNIN", "OPERATOR"} {
		env = append(env, "LIANMENG_RATE_LIMITS_"+l+"_REQUESTS=0")
	}
	return append(env, extra...)
}

func newGateway(t testing.TB, name, dir string, env []string) *gateway {
	g := &gateway{t: t, name: name, dir: dir, env: env, port: freePort(t), codes: map[string]signinCode{}}
	t.Cleanup(func() { g.kill() })
	return g
}

func (g *gateway) base() string { return "http://127.0.0.1:" + strconv.Itoa(g.port) }

// start runs serve and waits until /readyz answers 200.
func (g *gateway) start() {
	g.t.Helper()
	g.run()
	if err := g.waitReady(90 * time.Second); err != nil {
		g.t.Fatalf("%s: %v\n%s", g.name, err, g.logs())
	}
}

// tryStart runs serve and reports whether it answers /healthz within d
// (false if it exited first: its log says why).
func (g *gateway) tryStart(within time.Duration) bool {
	g.t.Helper()
	g.run()
	return g.waitPath("/healthz", within) == nil
}

func (g *gateway) run() {
	g.t.Helper()
	cmd := exec.Command(binary, "serve")
	cmd.Dir = g.dir
	cmd.Env = append(append([]string(nil), g.env...), "LIANMENG_LISTEN=127.0.0.1:"+strconv.Itoa(g.port))
	cmd.Stdout = io.Discard
	stderr, err := cmd.StderrPipe()
	if err != nil {
		g.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		g.t.Fatal(err)
	}
	done := make(chan struct{})
	g.mu.Lock()
	g.cmd, g.done, g.log = cmd, done, nil
	g.mu.Unlock()
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			g.record(sc.Text())
		}
		cmd.Wait()
		close(done)
	}()
}

// record keeps the last log lines and the sign-in codes the dev sender
// logged (by phone).
func (g *gateway) record(line string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.log) >= 400 {
		g.log = g.log[200:]
	}
	g.log = append(g.log, line)
	if dir := os.Getenv("FAULTS_LOG_DIR"); dir != "" {
		if f, err := os.OpenFile(filepath.Join(dir, g.name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); err == nil {
			fmt.Fprintln(f, line)
			f.Close()
		}
	}
	if strings.Contains(line, "purpose=member_signin") {
		var to, code string
		for _, f := range strings.Fields(line) {
			if v, ok := strings.CutPrefix(f, "to="); ok {
				to = strings.Trim(v, `"`)
			}
			if v, ok := strings.CutPrefix(f, "code="); ok {
				code = strings.Trim(v, `"`)
			}
		}
		g.codes[to] = signinCode{code: code, at: time.Now()}
	}
}

// signinCode is the newest code logged for phone after the time given
// (read after it), or "": an older code is the one already used, and
// verifying it again would be refused.
func (g *gateway) signinCode(phone string, after time.Time) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	if c := g.codes[phone]; c.at.After(after) {
		return c.code
	}
	return ""
}

// signinCodes looks a code up in the logs of all of gs (a sign-in goes to
// whichever gateway the client uses), the newest one first.
func signinCodes(gs ...*gateway) func(phone string, after time.Time) string {
	return func(phone string, after time.Time) string {
		var best signinCode
		for _, g := range gs {
			g.mu.Lock()
			if c := g.codes[phone]; c.at.After(after) && c.at.After(best.at) {
				best = c
			}
			g.mu.Unlock()
		}
		return best.code
	}
}

func (g *gateway) logs() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return strings.Join(g.log, "\n")
}

func (g *gateway) waitReady(within time.Duration) error {
	return g.waitPath("/readyz", within)
}

// waitPath waits until path answers 200.
func (g *gateway) waitPath(path string, within time.Duration) error {
	deadline := time.Now().Add(within)
	hc := &http.Client{Timeout: 2 * time.Second}
	for {
		g.mu.Lock()
		done := g.done
		g.mu.Unlock()
		select {
		case <-done:
			return fmt.Errorf("serve exited before it was ready")
		default:
		}
		resp, err := hc.Get(g.base() + path)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not 200 within %s (last: %v)", path, within, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// signal sends sig and, for SIGKILL and SIGTERM, waits for the exit.
func (g *gateway) signal(sig syscall.Signal) {
	g.mu.Lock()
	cmd, done := g.cmd, g.done
	g.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Signal(sig)
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		g.t.Errorf("%s did not exit on %v", g.name, sig)
		cmd.Process.Kill()
		<-done
	}
	g.mu.Lock()
	g.cmd = nil
	g.mu.Unlock()
}

func (g *gateway) kill() { g.signal(syscall.SIGKILL) }
func (g *gateway) stop() { g.signal(syscall.SIGTERM) }

// pid is the serve process's id (0 when it is not running).
func (g *gateway) pid() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.cmd == nil {
		return 0
	}
	return g.cmd.Process.Pid
}

// verify runs `lianmeng verify -q` on the gateway's database.
func (g *gateway) verify() error {
	cmd := exec.Command(binary, "verify", "-q")
	cmd.Dir, cmd.Env = g.dir, g.env
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("lianmeng verify: %v\n%s", err, out)
	}
	return nil
}

// mariadb is a private MariaDB server: its own data directory made by
// mariadb-install-db, its own port, stopped and started by its pid. The
// machine's shared server is never touched.
type mariadb struct {
	t       testing.TB
	dir     string
	port    int
	args    []string
	cmd     *exec.Cmd
	done    chan struct{}
	logPath string
}

// startMariaDB installs and starts a private server, or skips the test
// when the binaries are missing.
func startMariaDB(t testing.TB, extra ...string) *mariadb {
	t.Helper()
	for _, b := range []string{"mariadb-install-db", "mariadbd"} {
		if _, err := lookPath(b); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("the MariaDB scenarios need %s (apt-get install mariadb-server), and CI must not skip them: %v", b, err)
			}
			t.Skipf("the MariaDB scenarios need %s (apt-get install mariadb-server): %v", b, err)
		}
	}
	m := &mariadb{t: t, dir: t.TempDir(), port: freePort(t)}
	m.logPath = filepath.Join(m.dir, "mariadbd.log")
	install := exec.Command("mariadb-install-db", "--no-defaults", "--user="+currentUser(), "--datadir="+filepath.Join(m.dir, "data"),
		"--auth-root-authentication-method=normal", "--skip-test-db")
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("mariadb-install-db: %v\n%s", err, out)
	}
	m.args = append([]string{"--no-defaults", "--user=" + currentUser(), "--datadir=" + filepath.Join(m.dir, "data"),
		"--port=" + strconv.Itoa(m.port), "--bind-address=127.0.0.1", "--socket=" + filepath.Join(m.dir, "sock"),
		"--skip-grant-tables", "--skip-log-bin", "--innodb-buffer-pool-size=128M", "--max-connections=200"}, extra...)
	m.start()
	t.Cleanup(func() { m.kill() })
	return m
}

func (m *mariadb) dsn(db string) string {
	return fmt.Sprintf("root@tcp(127.0.0.1:%d)/%s", m.port, db)
}

// start runs mariadbd and waits until it accepts connections.
func (m *mariadb) start() {
	m.t.Helper()
	logf, err := os.OpenFile(m.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		m.t.Fatal(err)
	}
	m.cmd = exec.Command("/usr/sbin/mariadbd", m.args...)
	if p, err := lookPath("mariadbd"); err == nil {
		m.cmd.Path = p
	}
	m.cmd.Stdout, m.cmd.Stderr = logf, logf
	if err := m.cmd.Start(); err != nil {
		m.t.Fatal(err)
	}
	m.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { cmd.Wait(); logf.Close(); close(done) }(m.cmd, m.done)
	deadline := time.Now().Add(60 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(m.port), time.Second)
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-m.done:
			log, _ := os.ReadFile(m.logPath)
			m.t.Fatalf("mariadbd exited at start:\n%s", log)
		default:
		}
		if time.Now().After(deadline) {
			m.t.Fatalf("mariadbd not listening within 60 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// kill stops the server with SIGKILL (crash recovery on the next start).
func (m *mariadb) kill() {
	if m.cmd == nil {
		return
	}
	m.cmd.Process.Kill()
	<-m.done
	m.cmd = nil
}

func lookPath(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, d := range []string{"/usr/sbin", "/usr/bin", "/usr/local/sbin"} {
		p := filepath.Join(d, name)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found", name)
}

func currentUser() string {
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	if os.Getuid() == 0 {
		return "root"
	}
	return strconv.Itoa(os.Getuid())
}

// withTimeout is a context bounded by d.
func withTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}
