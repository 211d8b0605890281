package inbox_test

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lianmeng/lianmeng/gateway/inbox"
	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
)

// The per-connection counters and the backlog gauges follow what happens
// to webhooks.
func TestMetrics(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) { testMetrics(t, db) })
}

func testMetrics(t *testing.T, db *store.DB) {
	f := setup(t, db)
	reg := prometheus.NewRegistry()
	f.in.Metrics = inbox.NewMetrics(reg, db)
	ev := testEvent{ID: "evt-m1", Type: "paid", Order: "o-m1", AmountFen: 100, Phone: "13800138000"}
	f.receive(t, request(ev, ""))
	f.receive(t, request(ev, ""))
	if _, err := f.in.Receive(context.Background(), f.conn, request(ev, sign("guess", nil))); err == nil {
		t.Fatal("bad signature accepted")
	}
	f.receive(t, request(testEvent{ID: "evt-m2", Type: "other"}, ""))
	if got := gaugeValue(t, reg, "lianmeng_inbox_pending"); got != 1 {
		t.Fatalf("pending gauge %v, want 1", got)
	}
	f.process(t)
	want := map[string]float64{"received": 4, "duplicate": 1, "rejected": 1, "ignored": 1, "processed": 1}
	for result, n := range want {
		if got := counter(t, reg, f.conn, result); got != n {
			t.Errorf("lianmeng_pos_webhooks_total{result=%q} = %v, want %v", result, got, n)
		}
	}
	if got := gaugeValue(t, reg, "lianmeng_inbox_pending"); got != 0 {
		t.Fatalf("pending gauge after processing %v, want 0", got)
	}
}

func counter(t *testing.T, reg *prometheus.Registry, conn, result string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "lianmeng_pos_webhooks_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["connection"] == conn && labels["result"] == result {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// gaugeValue reads a registered gauge without labels.
func gaugeValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no gauge %s", name)
	return 0
}
