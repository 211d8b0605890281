package main

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lianmeng/lianmeng/gateway/api"
	"github.com/lianmeng/lianmeng/gateway/inbox"
	"github.com/lianmeng/lianmeng/gateway/points"
	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/sdk/pos"
)

// inboxLagDegraded is how long the oldest pending POS webhook may wait
// before /readyz reports the inbox degraded.
const inboxLagDegraded = 10 * time.Minute

// noAdapters answers while no plugin host runs (no plugins configured):
// every POS webhook is refused with 503, nothing is stored.
type noAdapters struct{}

func (noAdapters) POSAdapter(name string) (pos.Adapter, error) {
	return nil, fmt.Errorf("no plugin %q: the gateway runs without plugins", name)
}

// newInbox builds the POS inbox; startPlugins sets its adapters.
func newInbox(db *store.DB, w *store.Writer, svc *points.Service, log *slog.Logger, reg prometheus.Registerer) *inbox.Inbox {
	return &inbox.Inbox{DB: db, Writer: w, Points: svc, Adapters: noAdapters{}, Log: log, Metrics: inbox.NewMetrics(reg, db),
		Rejections: &inbox.Rejections{DB: db, Log: log}}
}

// inboxReady reports a backlog (dead letters, or lag) as degraded: the
// gateway still takes and processes webhooks.
func inboxReady(in *inbox.Inbox) api.ReadyCheck {
	return api.ReadyCheck{Name: "pos_inbox", Check: func(ctx context.Context) error {
		if err := in.Health(ctx, inboxLagDegraded); err != nil {
			return fmt.Errorf("%w: %w", api.ErrDegraded, err)
		}
		return nil
	}}
}

// startInbox runs the inbox worker, the poller of pull-only POS and the
// log of refused webhooks until
// ctx ends; the returned function waits for them.
func startInbox(ctx context.Context, in *inbox.Inbox) func() {
	var wg sync.WaitGroup
	wg.Add(3)
	go func() {
		defer wg.Done()
		in.Run(ctx, time.Second)
	}()
	go func() {
		defer wg.Done()
		in.RunPolls(ctx, time.Second) // pull-only POS connections
	}()
	go func() {
		defer wg.Done()
		in.Rejections.Run(ctx, time.Second)
	}()
	return wg.Wait
}
