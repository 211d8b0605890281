package api

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

type httpMetrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	// series holds each label set's counter and histogram once looked up
	// (metricLabels -> metricSeries): a request then costs one map read
	// instead of two label hashes and lookups in the vectors. It holds the
	// label sets the vectors hold, no more.
	series sync.Map
}

type metricLabels struct {
	route, method string
	status        int
}

type metricSeries struct {
	requests prometheus.Counter
	latency  prometheus.Observer
}

func newHTTPMetrics(reg prometheus.Registerer) *httpMetrics {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lianmeng_http_requests_total",
			Help: "HTTP requests by route pattern, method and status.",
		}, []string{"route", "method", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "lianmeng_http_request_duration_seconds",
			Help:    "HTTP request latency by route pattern, method and status.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"route", "method", "status"}),
	}
	reg.MustRegister(m.requests, m.latency)
	return m
}

func (m *httpMetrics) observe(route, method string, status int, d time.Duration) {
	k := metricLabels{route, method, status}
	v, ok := m.series.Load(k)
	if !ok {
		st := strconv.Itoa(status)
		v, _ = m.series.LoadOrStore(k, metricSeries{m.requests.WithLabelValues(route, method, st), m.latency.WithLabelValues(route, method, st)})
	}
	s := v.(metricSeries)
	s.requests.Inc()
	s.latency.Observe(d.Seconds())
}

// MetricsHandler serves the operations endpoints, which never share the
// public API's port (metrics.listen): GET /metrics, the Prometheus text
// of reg with Go runtime and process metrics added, and, with withPprof,
// net/http/pprof under /debug/pprof/. Neither is authenticated.
func MetricsHandler(reg *prometheus.Registry, withPprof bool) http.Handler {
	// Ignore "already registered" when the caller registered them.
	_ = reg.Register(collectors.NewGoCollector())
	_ = reg.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	if withPprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return mux
}

// ServeMetrics serves h on ln until ctx ends, then closes the listener and
// returns (a scrape or profile in progress gets a few seconds to finish).
func ServeMetrics(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 60 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("metrics server: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("metrics server: %w", err)
	}
	return nil
}
