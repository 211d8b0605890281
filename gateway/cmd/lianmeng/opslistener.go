package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lianmeng/lianmeng/gateway/api"
	"github.com/lianmeng/lianmeng/gateway/config"
)

// startMetrics opens the operations listener (metrics.listen: /metrics and,
// with metrics.pprof, /debug/pprof/), apart from the public API, and
// serves it until ctx ends; wait returns once it has stopped. An empty
// metrics.listen serves nothing.
func startMetrics(ctx context.Context, cfg config.Metrics, reg *prometheus.Registry, log *slog.Logger) (wait func(), err error) {
	if cfg.Listen == "" {
		log.Info("metrics listener disabled (metrics.listen is empty)")
		return func() {}, nil
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("metrics listener on %s: %w (set metrics.listen to another address, or empty to disable it)", cfg.Listen, err)
	}
	if ip := ln.Addr().(*net.TCPAddr).IP; !ip.IsLoopback() {
		log.Warn("metrics listener is not on loopback: /metrics and /debug/pprof/ are unauthenticated, restrict who can reach them",
			"addr", ln.Addr().String(), "pprof", cfg.Pprof)
	}
	log.Info("metrics listening", "addr", ln.Addr().String(), "pprof", cfg.Pprof)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := api.ServeMetrics(ctx, ln, api.MetricsHandler(reg, cfg.Pprof)); err != nil {
			log.Error("metrics listener stopped", "err", err)
		}
	}()
	return func() { <-done }, nil
}
