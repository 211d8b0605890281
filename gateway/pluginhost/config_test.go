package pluginhost

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/gateway/internal/eventually"

	"github.com/lianmeng/lianmeng/gateway/config"
	"github.com/lianmeng/lianmeng/sdk"
	"github.com/lianmeng/lianmeng/sdk/purchase"
)

// A rule version's own configuration of a plugin is what evaluates its
// earns: each configuration is an instance of its own beside the
// manifest's, a refused configuration is an answer (not an outage), and a
// restarted plugin gets the configurations again.
func TestRuleVersionConfig(t *testing.T) {
	h := newHost(t, Options{}, config.Plugin{Name: "fuel", Kind: sdk.KindEarningRule, Path: "builtin:fuel", Required: true,
		Config: map[string]any{"points_per_litre": map[string]any{"fuel_92": 1}}})
	if err := h.Ready(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	req := order(30000)
	req.Purchase.Items = []purchase.LineItem{{Category: "fuel_92", Quantity: 40_000, AmountFen: 30000}} // 40 litres
	points := func(cfg string) int64 {
		t.Helper()
		var c []byte
		if cfg != "" {
			c = []byte(cfg)
		}
		b, err := h.EvaluateWith(ctx, "fuel", c, req)
		if err != nil {
			t.Fatalf("config %s: %v", cfg, err)
		}
		return b.TotalPoints
	}
	if got := points(""); got != 40 {
		t.Fatalf("manifest configuration: %d points", got)
	}
	v2, v3 := `{"points_per_litre":{"fuel_92":3}}`, `{"points_per_litre":{"fuel_92":2},"max_points_per_fill_up":50}`
	if got := points(v2); got != 120 {
		t.Fatalf("version configuration: %d points", got)
	}
	if got := points(v3); got != 50 {
		t.Fatalf("another version's configuration: %d points", got)
	}
	// Neither replaced the other nor the manifest's.
	if points(v2) != 120 || points("") != 40 {
		t.Fatal("configurations interfere")
	}
	if err := h.CheckRuleConfig(ctx, "fuel", []byte(v2)); err != nil {
		t.Fatal(err)
	}
	for range 10 { // more than the breaker's threshold
		if err := h.CheckRuleConfig(ctx, "fuel", []byte(`{"points_per_litre":{}}`)); !errors.Is(err, sdk.ErrInvalidConfig) {
			t.Fatalf("bad configuration: %v", err)
		}
	}
	if got := points(v2); got != 120 {
		t.Fatalf("after refusals: %d points (the breaker opened?)", got)
	}
	// Kill the plugin: the restarted process is configured again on use.
	pid := h.Status()[0].Pid
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	eventually.NoError(t, 30*time.Second, "the restarted plugin answers under a version's configuration", func() error {
		b, err := h.EvaluateWith(ctx, "fuel", []byte(v3), req)
		if err == nil && b.TotalPoints != 50 {
			return fmt.Errorf("%d points", b.TotalPoints)
		}
		return err
	})
	if st := h.Status()[0]; st.Pid == pid {
		t.Fatal("not restarted")
	}
}
