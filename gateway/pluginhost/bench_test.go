package pluginhost

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/gateway/config"
	"github.com/lianmeng/lianmeng/sdk"
	"github.com/lianmeng/lianmeng/sdk/earning"
	"github.com/lianmeng/lianmeng/sdk/host"
	"github.com/lianmeng/lianmeng/sdk/purchase"
)

// BenchmarkEarningRuleCall measures one Evaluate of the restaurant rule
// through the real host: supervised handle, breaker, deadline, metrics,
// AutoMTLS gRPC over a Unix socket to a separate process, and back.
func BenchmarkEarningRuleCall(b *testing.B) {
	rule, req := benchRule(b)
	benchCalls(b, rule, req)
}

// BenchmarkEarningRuleCallDirect is the floor: the same call over the bare
// sdk/host client, without supervision, breaker, deadline or metrics.
func BenchmarkEarningRuleCallDirect(b *testing.B) {
	_, req := benchRule(b)
	sum, err := host.FileSHA256(gatewayBin)
	if err != nil {
		b.Fatal(err)
	}
	c, err := host.Start(host.Config{Path: gatewayBin, Args: []string{"plugin", "serve", "restaurant"}, SHA256: sum})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Kill()
	if err := c.Configure(context.Background(), sdk.KindEarningRule, "direct", []byte(`{"points_per_yuan": 1}`)); err != nil {
		b.Fatal(err)
	}
	benchCalls(b, c.EarningRule("direct"), req)
}

func benchRule(b *testing.B) (earning.Rule, earning.Request) {
	h := newHost(b, Options{HealthInterval: time.Hour}, config.Plugin{
		Name: "restaurant", Kind: sdk.KindEarningRule, Path: "builtin:restaurant", Required: true,
		Config: map[string]any{"points_per_yuan": 1, "off_peak": map[string]any{
			"windows": []any{map[string]any{"start": "14:00", "end": "17:00"}}, "multiplier_permille": 2000, "max_bonus_points": 100}},
	})
	rule, err := h.EarningRule("restaurant")
	if err != nil {
		b.Fatal(err)
	}
	req := order(25800)
	req.Purchase.Members = []purchase.Identity{{Type: purchase.IdentityPhone, Value: "13800000000"}}
	req.Purchase.Items = []purchase.LineItem{
		{SKU: "duck", Name: "Peking duck", Category: "food", Quantity: 1, AmountFen: 19800},
		{SKU: "tea", Name: "Longjing", Category: "drink", Quantity: 2, AmountFen: 4000},
		{Category: "service_charge", Quantity: 1, AmountFen: 2000},
	}
	return rule, req
}

func benchCalls(b *testing.B, rule earning.Rule, req earning.Request) {
	ctx := context.Background()
	for range 100 { // warm up connections and caches
		if _, err := rule.Evaluate(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
	lat := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		if _, err := rule.Evaluate(ctx, req); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
	b.ReportMetric(us(lat[len(lat)/2]), "median-µs")
	b.ReportMetric(us(lat[len(lat)*99/100]), "p99-µs")
}
