package pluginhost

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/lianmeng/lianmeng/gateway/config"
	"github.com/lianmeng/lianmeng/sdk"
	"github.com/lianmeng/lianmeng/sdk/host"
)

// stableAfter is how long a process must have lived for its death to count
// as a fresh failure (backoff back to the minimum) rather than a crash loop.
const stableAfter = time.Minute

// managed supervises one configured plugin.
type managed struct {
	h       *Host
	cfg     config.Plugin
	launch  host.Config
	builtin string // NAME of builtin:NAME
	config  []byte
	timeout time.Duration
	br      *breaker
	wake    chan struct{}

	startMu sync.Mutex // one start at a time

	mu        sync.Mutex
	cur       *host.Client // nil while down
	desc      host.Description
	state     string
	closed    bool
	lastErr   error
	startedAt time.Time
	nextStart time.Time
	backoff   time.Duration
	starts    int
	// instances are the configurations (rule versions' own) configured on
	// the process instClient, by instance name.
	instClient *host.Client
	instances  map[string]bool
}

// maxInstances bounds the configurations one plugin process serves; past
// it the set starts again (an instance configured again is replaced).
const maxInstances = 1024

// instanceFor returns the instance of the plugin that serves config on the
// process c, configuring it there first: the manifest's instance for no
// config, else one named after the configuration's hash, so each rule
// version's configuration is its own instance and none changes another.
func (m *managed) instanceFor(ctx context.Context, c *host.Client, config []byte) (string, error) {
	if len(config) == 0 {
		return m.cfg.Name, nil
	}
	sum := sha256.Sum256(config)
	name := m.cfg.Name + "@" + hex.EncodeToString(sum[:12])
	m.mu.Lock()
	if m.instClient != c || len(m.instances) >= maxInstances {
		m.instClient, m.instances = c, map[string]bool{}
	}
	done := m.instances[name]
	m.mu.Unlock()
	if done {
		return name, nil
	}
	if err := c.Configure(ctx, m.cfg.Kind, name, config); err != nil {
		return "", err
	}
	m.mu.Lock()
	if m.instClient == c {
		m.instances[name] = true
	}
	m.mu.Unlock()
	return name, nil
}

// tryStart launches, describes, configures and pings the plugin. On failure
// it schedules the next attempt.
func (m *managed) tryStart() error {
	m.startMu.Lock()
	defer m.startMu.Unlock()
	err := m.start()
	if err == nil {
		return nil
	}
	m.mu.Lock()
	m.lastErr = err
	if !m.closed {
		m.state = "down"
	}
	m.bumpBackoff(permanent(err))
	m.mu.Unlock()
	m.h.log.Error("plugin failed to start", "plugin", m.cfg.Name, "path", m.cfg.Path, "error", err, "retry_in", m.backoffNow())
	return err
}

func (m *managed) backoffNow() time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.backoff
}

// bumpBackoff sets the next start time; m.mu must be held.
func (m *managed) bumpBackoff(toMax bool) {
	o := m.h.opts
	switch {
	case toMax:
		m.backoff = o.MaxBackoff
	case m.backoff == 0:
		m.backoff = o.MinBackoff
	default:
		m.backoff = min(2*m.backoff, o.MaxBackoff)
	}
	m.nextStart = time.Now().Add(m.backoff)
}

func (m *managed) start() error {
	c, err := host.Start(m.launch)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), m.h.opts.StartTimeout)
	defer cancel()
	d, err := c.Describe(ctx, m.cfg.Kind)
	switch {
	case err != nil:
	case d.Kind != m.cfg.Kind:
		err = fmt.Errorf("%w: plugin says it is a %s, configured as %s", host.ErrIncompatible, d.Kind, m.cfg.Kind)
	case m.builtin != "" && d.Name != m.builtin:
		err = fmt.Errorf("%w: builtin %s answered as %q", host.ErrIncompatible, m.builtin, d.Name)
	}
	if err == nil {
		err = c.Configure(ctx, m.cfg.Kind, m.cfg.Name, m.config)
	}
	if err == nil {
		err = c.Ping(ctx)
	}
	if err != nil {
		c.Kill()
		return err
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		c.Kill()
		return &UnavailableError{Plugin: m.cfg.Name, Reason: "closed", RetryAfter: time.Second}
	}
	m.cur, m.desc, m.state, m.lastErr = c, d, "up", nil
	m.startedAt = time.Now()
	m.starts++
	restarted := m.starts > 1
	m.mu.Unlock()
	m.h.metrics.up.WithLabelValues(m.cfg.Name).Set(1)
	if restarted {
		m.h.metrics.restarts.WithLabelValues(m.cfg.Name).Inc()
	}
	m.h.log.Info("plugin started", "plugin", m.cfg.Name, "name", d.Name, "version", d.Version, "pid", c.Pid(), "protocol", c.ProtocolVersion())
	return nil
}

// markDead drops c (if it is still current), kills it and schedules a
// restart.
func (m *managed) markDead(c *host.Client, cause error) {
	m.mu.Lock()
	if m.cur != c {
		m.mu.Unlock()
		return
	}
	if time.Since(m.startedAt) >= stableAfter {
		m.backoff = 0
	}
	m.cur, m.state, m.lastErr = nil, "down", cause
	m.bumpBackoff(false)
	// Kill may wait for a graceful shutdown; the caller should not. The
	// Add happens under m.mu, and Close marks every plugin closed under
	// m.mu before it waits, so Add never races with Wait.
	m.h.wg.Add(1)
	m.mu.Unlock()
	go func() { defer m.h.wg.Done(); c.Kill() }()
	m.h.metrics.up.WithLabelValues(m.cfg.Name).Set(0)
	m.h.log.Warn("plugin down; restarting", "plugin", m.cfg.Name, "error", cause, "retry_in", m.backoffNow())
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// supervise pings a running plugin and restarts a dead one.
func (m *managed) supervise() {
	defer m.h.wg.Done()
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-m.h.done:
			return
		case <-m.wake:
		case <-t.C:
		}
		t.Reset(m.tick())
	}
}

// tick does one round of supervision and says when to come back.
func (m *managed) tick() time.Duration {
	m.mu.Lock()
	c, next, shut := m.cur, m.nextStart, m.closed
	m.mu.Unlock()
	if shut {
		return time.Hour
	}
	if c != nil {
		if c.Exited() {
			m.markDead(c, errors.New("plugin process exited"))
			return m.h.opts.MinBackoff
		}
		ctx, cancel := context.WithTimeout(context.Background(), max(m.timeout, time.Second))
		err := c.Ping(ctx)
		cancel()
		if err != nil {
			m.markDead(c, err)
			return m.h.opts.MinBackoff
		}
		return m.h.opts.HealthInterval
	}
	if wait := time.Until(next); wait > 0 {
		return wait
	}
	if err := m.tryStart(); err != nil {
		return m.backoffNow()
	}
	return m.h.opts.HealthInterval
}

func (m *managed) status() Status {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := Status{Name: m.cfg.Name, Kind: m.cfg.Kind, Path: m.cfg.Path, Required: m.cfg.Required, State: m.state,
		Plugin: m.desc, Restarts: max(m.starts-1, 0), Circuit: m.br.current().String()}
	if m.cur != nil {
		s.Pid = m.cur.Pid()
	}
	if m.lastErr != nil {
		s.LastError = m.lastErr.Error()
	}
	return s
}

// errBadResult marks an answer that failed the host's own checks.
var errBadResult = errors.New("plugin returned an inconsistent result")

// call runs fn against the current process with the plugin's deadline,
// turning every failure of the plugin into an *UnavailableError.
func (m *managed) call(ctx context.Context, method string, fn func(context.Context, *host.Client) error) error {
	name := m.cfg.Name
	mt := m.h.metrics
	mt.calls.WithLabelValues(name, method).Inc()
	fail := func(reason string, wait time.Duration, sent bool, err error) error {
		mt.errors.WithLabelValues(name, method, reason).Inc()
		return &UnavailableError{Plugin: name, Reason: reason, RetryAfter: retryHint(wait), Sent: sent, Err: err}
	}

	if ok, wait := m.br.allow(); !ok {
		mt.circuit.WithLabelValues(name).Set(1)
		return fail("circuit_open", wait, false, nil)
	}
	m.mu.Lock()
	c, next, shut, last := m.cur, m.nextStart, m.closed, m.lastErr
	m.mu.Unlock()
	if c == nil {
		m.br.release()
		if shut {
			return fail("closed", time.Second, false, nil)
		}
		return fail("down", time.Until(next)+time.Second, false, last)
	}

	cctx, cancel := context.WithTimeout(ctx, m.timeout)
	defer cancel()
	start := time.Now()
	err := fn(cctx, c)
	mt.latency.WithLabelValues(name, method).Observe(time.Since(start).Seconds())
	if err == nil || errors.Is(err, sdk.ErrInvalidInput) || errors.Is(err, sdk.ErrUnimplemented) || errors.Is(err, sdk.ErrInvalidConfig) {
		// A refusal (of the input or of a rule version's configuration) or a
		// call the plugin lacks is an answer, not an outage.
		m.br.done(true)
		mt.circuit.WithLabelValues(name).Set(0)
		switch {
		case errors.Is(err, sdk.ErrInvalidInput):
			mt.errors.WithLabelValues(name, method, "invalid_input").Inc()
		case errors.Is(err, sdk.ErrInvalidConfig):
			mt.errors.WithLabelValues(name, method, "invalid_config").Inc()
		case err != nil:
			mt.errors.WithLabelValues(name, method, "unimplemented").Inc()
		}
		return err
	}
	if ctx.Err() != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		// The caller gave up; that says nothing about the plugin.
		m.br.release()
		return fail("canceled", time.Second, true, ctx.Err())
	}
	m.br.done(false)
	if m.br.current() != closed {
		mt.circuit.WithLabelValues(name).Set(1)
	}
	reason := "failed"
	switch code := status.Code(err); {
	case errors.Is(err, errBadResult):
		reason = "bad_result"
	case code == codes.DeadlineExceeded || errors.Is(err, context.DeadlineExceeded):
		reason = "deadline"
	case c.Exited() || code == codes.Unavailable || code == codes.Canceled:
		// The connection is gone: the process crashed or is unreachable.
		reason = "crashed"
		m.markDead(c, err)
	case errors.Is(err, sdk.ErrNotConfigured):
		reason = "not_configured"
		m.markDead(c, err)
	case code == codes.Internal:
		reason = "panicked"
	}
	return fail(reason, time.Second, true, fmt.Errorf("%s: %w", method, err))
}
