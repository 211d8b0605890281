// Package pluginhost runs the gateway's out-of-process plugins (earning
// rules, POS adapters, payment channels) and keeps them healthy.
//
// New launches every plugin of the configuration (config.Plugin): an
// executable path pinned by its SHA-256, or builtin:NAME, which re-executes
// the gateway binary as "lianmeng plugin serve NAME". sdk/host runs a pinned
// executable from a private copy of the bytes it hashed, never by its path,
// so a file renamed over the path after the check cannot run. A builtin
// needs no copy on Linux: it executes /proc/self/exe, the very image the
// gateway is running, which no rename can replace (and whoever can write
// that image controls the gateway anyway); elsewhere, or with
// Options.Executable set, it is pinned like an external plugin, to the
// checksum the binary had when New first read it. Launching goes through sdk/host:
// AutoMTLS, no host environment beyond sdk/host.BaseEnv and the plugin's Env
// allowlist, Pdeathsig, a 10 s handshake limit, explicit message limits.
// After the handshake the host checks Describe (kind, and name for
// builtins), sends Configure with the plugin's config and pings it.
//
// Then a supervisor per plugin pings it periodically; a plugin that exits,
// stops answering or loses its configuration is killed and started again
// with exponential backoff (go-plugin never restarts by itself), and a
// circuit breaker fails calls fast while a running plugin keeps failing.
//
// Calls go through typed handles, each with a deadline (config Timeout,
// default 2 s):
//
//	b, err := host.Evaluate(ctx, "restaurant", earning.Request{Purchase: p})
//	switch {
//	case errors.Is(err, pluginhost.ErrUnavailable):
//		d, _ := pluginhost.RetryAfter(err) // 503 rule_unavailable, Retry-After: d
//	case errors.Is(err, sdk.ErrInvalidInput):
//		// 422: the rule refuses this purchase
//	case errors.Is(err, pluginhost.ErrUnknownPlugin):
//		// configuration mistake
//	}
//
// Every failure of the plugin itself (down, crashed mid-call, deadline
// exceeded, panicked, an inconsistent breakdown, circuit open) matches
// ErrUnavailable and never yields a partial result. EarningRule, POSAdapter
// and PaymentChannel return the same handles as sdk interfaces. For payment
// calls, UnavailableError.Sent says whether the outcome is unknown (query
// before retrying) or the request certainly never left the gateway.
//
// Ready reports whether every required plugin is up (for /readyz); Status
// describes each plugin; Close kills them all. Metrics (calls, errors by
// reason, latency, restarts, up, circuit) are registered on
// Options.Registerer under lianmeng_plugin_*.
package pluginhost

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lianmeng/lianmeng/gateway/config"
	"github.com/lianmeng/lianmeng/sdk"
	"github.com/lianmeng/lianmeng/sdk/host"
)

// Options tune a Host. Zero values take the defaults in brackets.
type Options struct {
	// Registerer receives the plugin metrics [none].
	Registerer prometheus.Registerer
	// Logger receives host events and the plugins' own log lines [slog.Default()].
	Logger *slog.Logger
	// Executable is the binary that serves builtin:NAME plugins as
	// "EXECUTABLE plugin serve NAME" [os.Executable()]. Tests point it at a
	// test build.
	Executable string
	// DefaultTimeout is the per-call deadline when a plugin sets none [2s].
	DefaultTimeout time.Duration
	// HealthInterval is the time between health pings [5s].
	HealthInterval time.Duration
	// StartTimeout bounds the handshake, Describe and Configure [10s].
	StartTimeout time.Duration
	// MinBackoff and MaxBackoff bound the delay before a restart [200ms, 30s].
	MinBackoff, MaxBackoff time.Duration
	// BreakerThreshold consecutive failed calls open the circuit [5] for
	// BreakerCooldown [10s], after which one probe call is let through.
	BreakerThreshold int
	BreakerCooldown  time.Duration
	// LookupEnv resolves the plugins' Env allowlists [os.LookupEnv].
	LookupEnv func(string) (string, bool)
}

func (o *Options) defaults() {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.DefaultTimeout, 2*time.Second)
	def(&o.HealthInterval, 5*time.Second)
	def(&o.StartTimeout, host.DefaultStartTimeout)
	def(&o.MinBackoff, 200*time.Millisecond)
	def(&o.MaxBackoff, 30*time.Second)
	def(&o.BreakerCooldown, 10*time.Second)
	if o.BreakerThreshold <= 0 {
		o.BreakerThreshold = 5
	}
	if o.LookupEnv == nil {
		o.LookupEnv = os.LookupEnv
	}
}

// Host owns the plugin processes.
type Host struct {
	opts    Options
	log     *slog.Logger
	metrics *metrics
	plugins map[string]*managed
	order   []string

	done      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// New starts every plugin and its supervisor. It fails only for a bad
// declaration or when a required plugin cannot ever start (checksum
// mismatch, incompatible protocol, configuration rejected); a plugin that
// merely fails to start now is retried in the background and reported by
// Ready and Status.
func New(plugins []config.Plugin, opts Options) (*Host, error) {
	opts.defaults()
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, fmt.Errorf("pluginhost: register metrics: %w", err)
	}
	h := &Host{opts: opts, log: opts.Logger, metrics: m, plugins: map[string]*managed{}, done: make(chan struct{})}

	var exeSum []byte
	for _, pc := range plugins {
		if _, ok := h.plugins[pc.Name]; ok || pc.Name == "" {
			return nil, fmt.Errorf("pluginhost: plugin name %q is empty or duplicate", pc.Name)
		}
		mp, err := h.newManaged(pc, &exeSum)
		if err != nil {
			return nil, fmt.Errorf("pluginhost: plugin %s: %w", pc.Name, err)
		}
		h.plugins[pc.Name] = mp
		h.order = append(h.order, pc.Name)
	}

	// First start of all plugins in parallel: start-up takes the slowest
	// handshake, not the sum.
	errs := make([]error, len(h.order))
	var wg sync.WaitGroup
	for i, name := range h.order {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = h.plugins[name].tryStart()
		}()
	}
	wg.Wait()
	var fatal []error
	for i, name := range h.order {
		mp := h.plugins[name]
		if errs[i] != nil && mp.cfg.Required && permanent(errs[i]) {
			fatal = append(fatal, fmt.Errorf("required plugin %s: %w", name, errs[i]))
		}
	}
	if len(fatal) > 0 {
		h.Close()
		return nil, errors.Join(fatal...)
	}
	for _, name := range h.order {
		h.wg.Add(1)
		go h.plugins[name].supervise()
	}
	return h, nil
}

func (h *Host) newManaged(pc config.Plugin, exeSum *[]byte) (*managed, error) {
	switch pc.Kind {
	case sdk.KindEarningRule, sdk.KindPOSAdapter, sdk.KindPaymentChannel, sdk.KindMessageSender:
	default:
		return nil, fmt.Errorf("unknown kind %q", pc.Kind)
	}
	cfgJSON := []byte("{}")
	if pc.Config != nil {
		b, err := json.Marshal(pc.Config)
		if err != nil {
			return nil, fmt.Errorf("config is not representable as JSON: %w", err)
		}
		cfgJSON = b
	}
	launch := host.Config{
		Logger:       host.SlogLogger(h.log, "plugin."+pc.Name),
		StartTimeout: h.opts.StartTimeout,
		Env:          h.env(pc.Env),
	}
	mp := &managed{h: h, cfg: pc, launch: launch, config: cfgJSON, wake: make(chan struct{}, 1),
		timeout: pc.Timeout.D(), state: "starting",
		br: &breaker{threshold: h.opts.BreakerThreshold, cooldown: h.opts.BreakerCooldown, now: time.Now}}
	if mp.timeout <= 0 {
		mp.timeout = h.opts.DefaultTimeout
	}
	if name, ok := strings.CutPrefix(pc.Path, "builtin:"); ok {
		if name == "" {
			return nil, errors.New("path builtin: needs a name, e.g. builtin:restaurant")
		}
		mp.builtin = name
		args := []string{"plugin", "serve", name}
		exe := h.opts.Executable
		if exe == "" {
			var err error
			if exe, err = os.Executable(); err != nil {
				return nil, fmt.Errorf("find the gateway executable: %w", err)
			}
			if self, ok := selfImage(); ok {
				// The running image itself: nothing to pin or copy.
				mp.launch.Path, mp.launch.Argv0, mp.launch.Args = self, exe, args
				return mp, nil
			}
		}
		// Pin the gateway binary as it is now, so a binary swapped on disk
		// after start-up is refused like any other checksum mismatch.
		if *exeSum == nil {
			sum, err := host.FileSHA256(exe)
			if err != nil {
				return nil, fmt.Errorf("checksum the gateway executable: %w", err)
			}
			*exeSum = sum
		}
		mp.launch.Path, mp.launch.Args, mp.launch.SHA256 = exe, args, *exeSum
		return mp, nil
	}
	sum, err := host.ParseSHA256(pc.SHA256)
	if err != nil {
		return nil, fmt.Errorf("external plugins must be pinned: %w", err)
	}
	mp.launch.Path, mp.launch.SHA256 = pc.Path, sum
	return mp, nil
}

// env resolves an allowlist: NAME passes the host's value if set; an entry
// NAME=VALUE passes that literal value.
func (h *Host) env(allow []string) []string {
	var env []string
	for _, e := range allow {
		if strings.Contains(e, "=") {
			env = append(env, e)
			continue
		}
		if v, ok := h.opts.LookupEnv(e); ok {
			env = append(env, e+"="+v)
		}
	}
	return env
}

// permanent errors will not go away by retrying soon.
func permanent(err error) bool {
	return errors.Is(err, host.ErrChecksum) || errors.Is(err, host.ErrIncompatible) || errors.Is(err, sdk.ErrInvalidConfig)
}

func (h *Host) lookup(name, kind string) (*managed, error) {
	m, ok := h.plugins[name]
	if !ok {
		return nil, fmt.Errorf("%w: no plugin named %q is configured", ErrUnknownPlugin, name)
	}
	if m.cfg.Kind != kind {
		return nil, fmt.Errorf("%w: plugin %q is a %s, not a %s", ErrUnknownPlugin, name, m.cfg.Kind, kind)
	}
	return m, nil
}

// Ready returns nil when every required plugin is up, else why not.
func (h *Host) Ready() error {
	var errs []error
	for _, name := range h.order {
		m := h.plugins[name]
		if !m.cfg.Required {
			continue
		}
		m.mu.Lock()
		up, last := m.cur != nil, m.lastErr
		m.mu.Unlock()
		if !up {
			errs = append(errs, fmt.Errorf("required plugin %s is down: %v", name, last))
		}
	}
	return errors.Join(errs...)
}

// Status describes one plugin.
type Status struct {
	Name      string           `json:"name"`
	Kind      string           `json:"kind"`
	Path      string           `json:"path"`
	Required  bool             `json:"required"`
	State     string           `json:"state"` // starting, up, down, closed
	Pid       int              `json:"pid,omitempty"`
	Plugin    host.Description `json:"plugin"`
	Restarts  int              `json:"restarts"`
	Circuit   string           `json:"circuit"` // closed, open, half_open
	LastError string           `json:"last_error,omitempty"`
}

// Status describes every plugin, in configuration order.
func (h *Host) Status() []Status {
	out := make([]Status, 0, len(h.order))
	for _, name := range h.order {
		out = append(out, h.plugins[name].status())
	}
	return out
}

// Close stops the supervisors and kills every plugin. It is safe to call
// more than once; calls afterwards fail with ErrUnavailable.
func (h *Host) Close() error {
	h.closeOnce.Do(func() {
		close(h.done)
		var wg sync.WaitGroup
		for _, m := range h.plugins {
			m.mu.Lock()
			c := m.cur
			m.cur, m.state, m.closed = nil, "closed", true
			m.mu.Unlock()
			if c != nil {
				wg.Add(1)
				go func() { defer wg.Done(); c.Kill() }()
			}
			h.metrics.up.WithLabelValues(m.cfg.Name).Set(0)
		}
		wg.Wait()
	})
	h.wg.Wait()
	return nil
}
