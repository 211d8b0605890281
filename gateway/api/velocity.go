package api

import (
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// velocityDetector watches redemptions of members a merchant never served
// before (no earn at that merchant): a merchant redeeming many strangers'
// points is what a stolen key or a merchant draining the alliance looks
// like. When one merchant's first-contact redemptions in the last hour
// exceed the threshold (rate_limits.redeem_velocity_alert), it logs a
// warning and counts lianmeng_redeem_velocity_alerts_total, at most once
// per merchant per hour. It refuses nothing.
//
// Counts are per instance, in one-minute buckets over a sliding hour: a
// few hundred bytes per merchant, dropped once a merchant's hour is empty.
type velocityDetector struct {
	threshold int // 0: off
	alerts    prometheus.Counter
	log       *slog.Logger

	mu        sync.Mutex
	merchants map[string]*velocityWindow
	observed  int // since the last sweep
}

const velocityBuckets = 60 // minutes in the window

type velocityWindow struct {
	minute    [velocityBuckets]int64 // the Unix minute each bucket counts
	count     [velocityBuckets]int
	lastAlert time.Time
}

func newVelocityDetector(threshold int, reg prometheus.Registerer, log *slog.Logger) *velocityDetector {
	v := &velocityDetector{threshold: threshold, log: log, merchants: map[string]*velocityWindow{},
		alerts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "lianmeng_redeem_velocity_alerts_total",
			Help: "Alerts raised because a merchant redeemed points of more members it never served than rate_limits.redeem_velocity_alert within an hour.",
		})}
	reg.MustRegister(v.alerts)
	return v
}

// observe records one successful redemption at merchantID at now;
// firstContact says the member never earned there. It reports whether this
// redemption raised an alert (logged and counted here).
func (v *velocityDetector) observe(merchantID string, firstContact bool, now time.Time) (alert bool) {
	if v == nil || v.threshold <= 0 || !firstContact {
		return false
	}
	minute := now.Unix() / 60
	v.mu.Lock()
	defer v.mu.Unlock()
	v.sweep(minute)
	w := v.merchants[merchantID]
	if w == nil {
		w = &velocityWindow{}
		v.merchants[merchantID] = w
	}
	i := minute % velocityBuckets
	if w.minute[i] != minute {
		w.minute[i], w.count[i] = minute, 0
	}
	w.count[i]++
	n := w.total(minute)
	if n <= v.threshold || !w.lastAlert.IsZero() && now.Sub(w.lastAlert) < time.Hour {
		return false
	}
	w.lastAlert = now
	v.alerts.Inc()
	if v.log != nil {
		v.log.Warn("redeem velocity: a merchant is redeeming points of many members it never served",
			"merchant", merchantID, "first_contact_redemptions_last_hour", n, "threshold", v.threshold)
	}
	return true
}

// total counts the buckets of the hour ending at minute.
func (w *velocityWindow) total(minute int64) int {
	n := 0
	for i, m := range w.minute {
		if m > minute-velocityBuckets {
			n += w.count[i]
		}
	}
	return n
}

// sweep drops, every 1024 observations, merchants whose hour is empty and
// whose last alert is over an hour old.
func (v *velocityDetector) sweep(minute int64) {
	v.observed++
	if v.observed < 1024 {
		return
	}
	v.observed = 0
	for id, w := range v.merchants {
		if w.total(minute) == 0 && (w.lastAlert.IsZero() || minute-w.lastAlert.Unix()/60 >= velocityBuckets) {
			delete(v.merchants, id)
		}
	}
}
