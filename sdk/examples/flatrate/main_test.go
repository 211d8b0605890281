package main

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/sdk"
	"github.com/lianmeng/lianmeng/sdk/earning"
	"github.com/lianmeng/lianmeng/sdk/plugintest"
	"github.com/lianmeng/lianmeng/sdk/purchase"
)

// order is the SDK's valid purchase fixture with another amount.
func order(amountFen int64) purchase.Purchase {
	p := plugintest.ValidPurchase()
	p.AmountFen = amountFen
	return p
}

// In-process: fast checks of the rule's logic and configuration strictness.
func TestRuleInProcess(t *testing.T) {
	plugintest.CheckConfig(t, sdk.Plugins{EarningRule: &sdk.EarningRule{
		Info: sdk.Info{Name: "flatrate", Version: "0.1.0", ConfigSchema: json.RawMessage(schema)}, New: newRule,
	}}, map[string]json.RawMessage{sdk.KindEarningRule: json.RawMessage(`{"points_per_yuan": 2}`)})

	r, err := newRule(context.Background(), []byte(`{"points_per_yuan": 2, "tier_bonus_permille": {"gold": 500}}`))
	if err != nil {
		t.Fatal(err)
	}
	b := plugintest.Check(t, r, earning.Request{Purchase: order(12345), MemberTier: "gold"})
	if b.BasePoints != 246 || b.TotalPoints != 369 {
		t.Fatalf("got base %d total %d, want 246 and 369", b.BasePoints, b.TotalPoints)
	}
}

// Out of process: the binary, launched exactly as the gateway launches it.
func TestPluginOutOfProcess(t *testing.T) {
	bin := plugintest.Build(t, ".")
	p := plugintest.Start(t, bin)
	rule := p.EarningRule(t, map[string]any{"points_per_yuan": 3})

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	b, err := rule.Evaluate(ctx, earning.Request{Purchase: order(1999)})
	if err != nil {
		t.Fatal(err)
	}
	if b.TotalPoints != 57 {
		t.Fatalf("total %d, want 57 (19 yuan x 3)", b.TotalPoints)
	}

	bad := order(100)
	bad.Currency = "USD"
	if _, err := rule.Evaluate(ctx, earning.Request{Purchase: bad}); !errors.Is(err, sdk.ErrInvalidInput) {
		t.Fatalf("want sdk.ErrInvalidInput for USD, got %v", err)
	}
	if err := p.Configure(ctx, sdk.KindEarningRule, "typo", []byte(`{"points_per_yuna": 1}`)); !errors.Is(err, sdk.ErrInvalidConfig) {
		t.Fatalf("want sdk.ErrInvalidConfig for a typo, got %v", err)
	}
}
