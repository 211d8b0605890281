package inbox

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lianmeng/lianmeng/gateway/store"
)

// Metrics are the inbox's per-connection counters and its backlog.
type Metrics struct {
	events *prometheus.CounterVec
	lag    *prometheus.HistogramVec
}

// NewMetrics registers the inbox metrics on reg. The backlog gauges read
// db on scrape.
func NewMetrics(reg prometheus.Registerer, db *store.DB) *Metrics {
	m := &Metrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lianmeng_pos_webhooks_total",
			Help: "POS webhooks by connection and what became of them: received, rejected (signature), ignored, duplicate, processed, retried, dead_lettered; poll_failed for a polled connection's failed poll."},
			[]string{"connection", "result"}),
		lag: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "lianmeng_pos_webhook_lag_seconds",
			Help:    "From receipt to the event's effect being committed.",
			Buckets: []float64{.005, .01, .05, .1, .5, 1, 5, 30, 60, 300, 3600}}, []string{"connection"}),
	}
	reg.MustRegister(m.events, m.lag)
	depth := func(pick func(store.InboxDepth) float64) func() float64 {
		return func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			d, err := db.InboxDepth(ctx)
			if err != nil {
				return -1
			}
			return pick(d)
		}
	}
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "lianmeng_inbox_pending", Help: "Inbox events waiting to be processed."},
			depth(func(d store.InboxDepth) float64 { return float64(d.Pending) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "lianmeng_inbox_dead", Help: "Dead-lettered inbox events (replay them once the cause is fixed)."},
			depth(func(d store.InboxDepth) float64 { return float64(d.Dead) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "lianmeng_inbox_oldest_pending_seconds", Help: "Age of the oldest pending inbox event (0: none)."},
			depth(func(d store.InboxDepth) float64 {
				if d.OldestPending.IsZero() {
					return 0
				}
				return time.Since(d.OldestPending).Seconds()
			})),
	)
	return m
}

// connMetrics counts for one connection; the zero value counts nothing.
type connMetrics struct {
	m    *Metrics
	conn string
}

func (m *Metrics) forConn(id string) connMetrics { return connMetrics{m, id} }

func (c connMetrics) inc(result string) {
	if c.m != nil {
		c.m.events.WithLabelValues(c.conn, result).Inc()
	}
}
func (c connMetrics) received()  { c.inc("received") }
func (c connMetrics) rejected()  { c.inc("rejected") }
func (c connMetrics) ignored()   { c.inc("ignored") }
func (c connMetrics) duplicate() { c.inc("duplicate") }
func (c connMetrics) retried()   { c.inc("retried") }
func (c connMetrics) dead()      { c.inc("dead_lettered") }

// pollFailed counts a poll of a pull-only POS that failed (a provider
// error or an unavailable plugin): the connection backs off.
func (c connMetrics) pollFailed() { c.inc("poll_failed") }
func (c connMetrics) processed(lag time.Duration) {
	c.inc("processed")
	if c.m != nil {
		c.m.lag.WithLabelValues(c.conn).Observe(lag.Seconds())
	}
}

// ErrBacklog marks a Health error: the inbox works, but events are
// dead-lettered or processing lags (readyz reports it as degraded).
var ErrBacklog = errors.New("inbox backlog")

// Health reports the backlog: nil when nothing is dead and nothing has
// waited longer than maxLag, an error wrapping ErrBacklog otherwise, and
// any other error when the backlog cannot be read.
func (in *Inbox) Health(ctx context.Context, maxLag time.Duration) error {
	d, err := in.DB.InboxDepth(ctx)
	if err != nil {
		return err
	}
	switch {
	case d.Dead > 0:
		return fmt.Errorf("%w: %d dead-lettered events, %d pending", ErrBacklog, d.Dead, d.Pending)
	case !d.OldestPending.IsZero() && in.now().Sub(d.OldestPending) > maxLag:
		return fmt.Errorf("%w: the oldest of %d pending events waits since %s", ErrBacklog, d.Pending, d.OldestPending.Format(time.RFC3339))
	}
	return nil
}
