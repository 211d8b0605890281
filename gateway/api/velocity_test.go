package api

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// rlCounter reads a counter from reg: the series of name whose labels
// include every pair of labels (name=value pairs), 0 if none.
func rlCounter(t *testing.T, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, lp := range m.GetLabel() {
				have[lp.GetName()] = lp.GetValue()
			}
			for i := 0; i+1 < len(labels); i += 2 {
				if have[labels[i]] != labels[i+1] {
					continue metrics
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

func TestVelocityAlertsOncePerHourOverThreshold(t *testing.T) {
	reg := prometheus.NewRegistry()
	v := newVelocityDetector(3, reg, fndLogger())
	t0 := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	for i := 0; i < 3; i++ {
		if v.observe("mch_a", true, t0.Add(time.Duration(i)*time.Minute)) {
			t.Fatalf("alert at %d first-contact redemptions, threshold 3", i+1)
		}
	}
	// Redemptions of members the merchant served before never count.
	for i := 0; i < 10; i++ {
		if v.observe("mch_a", false, t0.Add(5*time.Minute)) {
			t.Fatal("alert for a known member")
		}
	}
	// Another merchant has its own count.
	if v.observe("mch_b", true, t0.Add(5*time.Minute)) {
		t.Fatal("alert for mch_b's first")
	}
	if !v.observe("mch_a", true, t0.Add(10*time.Minute)) {
		t.Fatal("no alert at the 4th first-contact redemption within the hour")
	}
	if v.observe("mch_a", true, t0.Add(11*time.Minute)) {
		t.Fatal("a second alert within the hour")
	}
	if got := rlCounter(t, reg, "lianmeng_redeem_velocity_alerts_total"); got != 1 {
		t.Fatalf("lianmeng_redeem_velocity_alerts_total = %v, want 1", got)
	}

	// The window slides: 2 hours later the old redemptions no longer count,
	// and once over the threshold again it alerts again.
	t1 := t0.Add(2 * time.Hour)
	for i := 0; i < 3; i++ {
		if v.observe("mch_a", true, t1.Add(time.Duration(i)*20*time.Minute)) {
			t.Fatalf("alert at %d in the new hour", i+1)
		}
	}
	// t1+0 and t1+20m and t1+40m are in the hour ending t1+59m: the 4th alerts.
	if !v.observe("mch_a", true, t1.Add(59*time.Minute)) {
		t.Fatal("no alert for 4 within one sliding hour")
	}
	// At t1+61m the one at t1+0 has left the hour: 4 remain (20m, 40m,
	// 59m, 61m), over the threshold, but the last alert is under an hour old.
	if v.observe("mch_a", true, t1.Add(61*time.Minute)) {
		t.Fatal("alert within an hour of the last")
	}
}

func TestVelocityOffAndBounded(t *testing.T) {
	off := newVelocityDetector(0, prometheus.NewRegistry(), fndLogger())
	now := time.Now()
	for i := 0; i < 100; i++ {
		if off.observe("mch_a", true, now) {
			t.Fatal("threshold 0 alerted")
		}
	}
	var nilDetector *velocityDetector
	if nilDetector.observe("mch_a", true, now) {
		t.Fatal("nil detector alerted")
	}

	// Merchants whose hour is empty are forgotten.
	v := newVelocityDetector(5, prometheus.NewRegistry(), fndLogger())
	for i := 0; i < 100; i++ {
		v.observe("mch_old_"+string(rune('a'+i%26))+string(rune('a'+i/26)), true, now)
	}
	later := now.Add(3 * time.Hour)
	for i := 0; i < 2048; i++ {
		v.observe("mch_new", true, later)
	}
	if len(v.merchants) != 1 {
		t.Fatalf("%d merchants kept, want only the active one", len(v.merchants))
	}
}
