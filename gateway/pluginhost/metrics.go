package pluginhost

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	calls    *prometheus.CounterVec
	errors   *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	restarts *prometheus.CounterVec
	up       *prometheus.GaugeVec
	circuit  *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lianmeng_plugin_calls_total", Help: "Calls to plugins, including those refused without reaching the plugin.",
		}, []string{"plugin", "method"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lianmeng_plugin_errors_total", Help: "Failed plugin calls by reason (invalid_input is the plugin refusing a request).",
		}, []string{"plugin", "method", "reason"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "lianmeng_plugin_call_duration_seconds", Help: "Latency of plugin calls that reached the plugin.",
			Buckets: []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"plugin", "method"}),
		restarts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lianmeng_plugin_restarts_total", Help: "Plugin process (re)starts after the first.",
		}, []string{"plugin"}),
		up: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "lianmeng_plugin_up", Help: "1 when the plugin process is running and configured.",
		}, []string{"plugin"}),
		circuit: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "lianmeng_plugin_circuit_open", Help: "1 while the plugin's circuit breaker is open or half-open.",
		}, []string{"plugin"}),
	}
	if reg == nil {
		return m, nil
	}
	// A second Host on the same registry (tests, a reload) shares the
	// collectors already registered instead of failing.
	var err error
	m.calls, err = register(reg, m.calls)
	if err == nil {
		m.errors, err = register(reg, m.errors)
	}
	if err == nil {
		m.latency, err = register(reg, m.latency)
	}
	if err == nil {
		m.restarts, err = register(reg, m.restarts)
	}
	if err == nil {
		m.up, err = register(reg, m.up)
	}
	if err == nil {
		m.circuit, err = register(reg, m.circuit)
	}
	return m, err
}

func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing, nil
			}
		}
		return c, err
	}
	return c, nil
}
