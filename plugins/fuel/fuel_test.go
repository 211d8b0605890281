package fuel

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

const cfg = `{"points_per_litre": {"fuel_92": 1, "fuel_95": 2}, "max_points_per_fill_up": 80, "shop_points_per_yuan": 1}`

func TestConformance(t *testing.T) {
	plugintest.CheckConfig(t, Plugins(), map[string]json.RawMessage{sdk.KindEarningRule: json.RawMessage(cfg)})
}

func eval(t *testing.T, c string, items ...purchase.LineItem) earning.Breakdown {
	t.Helper()
	r, err := New(context.Background(), []byte(c))
	if err != nil {
		t.Fatal(err)
	}
	var amount int64
	for _, it := range items {
		amount += it.AmountFen
	}
	b, err := r.Evaluate(context.Background(), earning.Request{Purchase: purchase.Purchase{Currency: "CNY", AmountFen: amount, OccurredAt: time.Now(), Items: items}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestFuelPoints(t *testing.T) {
	// 45.5 L of 95 at 2 per litre: 91, capped at 80; shop ¥12.50 -> 12; the oil earns nothing.
	b := eval(t, cfg, purchase.LineItem{Category: "fuel_95", Quantity: 45_500, AmountFen: 36_400},
		purchase.LineItem{Category: "shop", Quantity: 1, AmountFen: 1250}, purchase.LineItem{Category: "lubricant", Quantity: 1, AmountFen: 4000})
	if b.BasePoints != 103 || b.TotalPoints != 92 || len(b.Caps) != 1 || b.Caps[0].RemovedPoints != 11 || len(b.Exclusions) != 1 || b.Exclusions[0].Category != "lubricant" {
		t.Fatalf("breakdown: %+v", b)
	}
	// 30.999 L of 92 at 1 per litre: 30 (floored), under the cap.
	if b := eval(t, cfg, purchase.LineItem{Category: "fuel_92", Quantity: 30_999, AmountFen: 24_000}); b.TotalPoints != 30 {
		t.Fatalf("92: %+v", b)
	}
	// An unconfigured grade is a shop line; with no shop points it is excluded.
	b = eval(t, `{"points_per_litre": {"fuel_92": 1}}`, purchase.LineItem{Category: "fuel_diesel", Quantity: 100_000, AmountFen: 80_000})
	if b.TotalPoints != 0 || len(b.Exclusions) != 1 {
		t.Fatalf("diesel unconfigured: %+v", b)
	}
	// Excluded categories as configured.
	b = eval(t, `{"points_per_litre": {"fuel_92": 1}, "shop_points_per_yuan": 2, "excluded_categories": ["lubricant", "car_wash"]}`,
		purchase.LineItem{Category: "car_wash", Quantity: 1, AmountFen: 3000}, purchase.LineItem{Category: "snacks", Quantity: 1, AmountFen: 1000})
	if b.TotalPoints != 20 {
		t.Fatalf("car wash excluded: %+v", b)
	}
}

func TestBadConfig(t *testing.T) {
	for _, c := range []string{`{}`, `{"points_per_litre": {}}`, `{"points_per_litre": {"fuel_92": 0}}`, `{"points_per_litre": {"fuel_92": 1.5}}`,
		`{"points_per_litre": {"fuel_92": 1}, "max_points_per_fill_up": -1}`, `{"points_per_litre": {"lubricant": 1}}`,
		`{"points_per_litre": {"fuel_92": 1}, "extra": 1}`} {
		if _, err := New(context.Background(), []byte(c)); !errors.Is(err, sdk.ErrInvalidConfig) {
			t.Errorf("%s: %v", c, err)
		}
	}
}
