package main

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/lianmeng/lianmeng/gateway/config"
	"github.com/lianmeng/lianmeng/gateway/outbox"
	"github.com/lianmeng/lianmeng/gateway/store"
)

// startWebhooks runs the delivery of merchants' webhooks (gateway/outbox)
// until ctx ends. Every instance may run it: a delivery is claimed in the
// database before it is sent, and only an endpoint's oldest pending one.
func startWebhooks(ctx context.Context, cfg config.Config, db *store.DB, log *slog.Logger) func() {
	d := &outbox.Deliverer{DB: db, Log: log, Targets: outbox.Targets{Development: cfg.Environment != config.EnvProduction}}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		d.Run(ctx, time.Second)
	}()
	return wg.Wait
}
