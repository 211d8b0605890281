package restaurant

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/sdk"
	"github.com/lianmeng/lianmeng/sdk/earning"
	"github.com/lianmeng/lianmeng/sdk/plugintest"
	"github.com/lianmeng/lianmeng/sdk/purchase"
)

var shanghai, _ = time.LoadLocation("Asia/Shanghai")

const offPeakConfig = `{
  "points_per_yuan": 2,
  "off_peak": {"windows": [{"start": "14:00", "end": "17:00"}, {"start": "22:00", "end": "02:00"}],
               "weekdays": [1, 2, 3, 4, 5], "multiplier_permille": 1500, "max_bonus_points": 100}
}`

func mustRule(t *testing.T, cfg string) earning.Rule {
	t.Helper()
	r, err := New(context.Background(), []byte(cfg))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// dinner is a receipt with food, a service charge and a tip, paid in full.
func dinner(at time.Time) purchase.Purchase {
	return purchase.Purchase{
		MerchantID: "m1", ExternalOrderID: "o1", Currency: "CNY", OccurredAt: at, AmountFen: 25800,
		Items: []purchase.LineItem{
			{SKU: "duck", Category: "food", Quantity: 1, AmountFen: 20000},
			{SKU: "tea", Category: "drink", Quantity: 2, AmountFen: 1800},
			{Category: "service_charge", Quantity: 1, AmountFen: 2000},
			{Category: "tip", Quantity: 1, AmountFen: 2000},
		},
	}
}

func TestConformance(t *testing.T) {
	plugintest.CheckConfig(t, Plugins(), map[string]json.RawMessage{sdk.KindEarningRule: json.RawMessage(offPeakConfig)})
}

func TestEvaluate(t *testing.T) {
	r := mustRule(t, offPeakConfig)
	tuesday := func(h, m int) time.Time { return time.Date(2025, 3, 4, h, m, 0, 0, shanghai) }
	cases := []struct {
		name              string
		p                 purchase.Purchase
		eligible, base    int64
		bonus, capRemoved int64
		total             int64
		exclusions        int
	}{
		// 218.00 eligible → 218 yuan x2 = 436; peak hour: no bonus.
		{name: "peak", p: dinner(tuesday(12, 0)), eligible: 21800, base: 436, total: 436, exclusions: 2},
		// off-peak x1.5 adds 218, capped at 100.
		{name: "off-peak capped", p: dinner(tuesday(15, 30)), eligible: 21800, base: 436, bonus: 218, capRemoved: 118, total: 536, exclusions: 2},
		// window end is exclusive
		{name: "window end", p: dinner(tuesday(17, 0)), eligible: 21800, base: 436, total: 436, exclusions: 2},
		// Saturday is not an off-peak day.
		{name: "weekend", p: dinner(time.Date(2025, 3, 8, 15, 0, 0, 0, shanghai)), eligible: 21800, base: 436, total: 436, exclusions: 2},
		// 01:00 Saturday belongs to Friday's 22:00–02:00 window.
		{name: "after midnight", p: dinner(time.Date(2025, 3, 8, 1, 0, 0, 0, shanghai)), eligible: 21800, base: 436, bonus: 218, capRemoved: 118, total: 536, exclusions: 2},
		// 01:00 Monday belongs to Sunday's window: not off-peak.
		{name: "after midnight sunday", p: dinner(time.Date(2025, 3, 3, 1, 0, 0, 0, shanghai)), eligible: 21800, base: 436, total: 436, exclusions: 2},
		// UTC instant 07:30 is 15:30 in Shanghai.
		{name: "utc input", p: dinner(time.Date(2025, 3, 4, 7, 30, 0, 0, time.UTC)), eligible: 21800, base: 436, bonus: 218, capRemoved: 118, total: 536, exclusions: 2},
		// small off-peak bill: bonus under the cap; 9.99 yuan counts as 9.
		{name: "small", p: purchase.Purchase{MerchantID: "m", ExternalOrderID: "o", Currency: "CNY", AmountFen: 999, OccurredAt: tuesday(15, 0)},
			eligible: 999, base: 18, bonus: 9, total: 27},
		// a discount makes the bill smaller than the eligible lines.
		{name: "discount", p: func() purchase.Purchase { p := dinner(tuesday(12, 0)); p.AmountFen = 20000; return p }(),
			eligible: 20000, base: 400, total: 400, exclusions: 3},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := plugintest.Check(t, r, earning.Request{Purchase: c.p})
			var bonus, removed int64
			for _, m := range b.Multipliers {
				bonus += m.Points
			}
			for _, cp := range b.Caps {
				removed += cp.RemovedPoints
			}
			if b.EligibleAmountFen != c.eligible || b.BasePoints != c.base || bonus != c.bonus || removed != c.capRemoved || b.TotalPoints != c.total || len(b.Exclusions) != c.exclusions {
				t.Fatalf("got eligible %d base %d bonus %d removed %d total %d exclusions %d; want %d %d %d %d %d %d\n%+v",
					b.EligibleAmountFen, b.BasePoints, bonus, removed, b.TotalPoints, len(b.Exclusions),
					c.eligible, c.base, c.bonus, c.capRemoved, c.total, c.exclusions, b)
			}
			if !strings.HasSuffix(b.Explanation, ": "+itoa(c.total)+" points") {
				t.Fatalf("explanation %q does not end with the total", b.Explanation)
			}
		})
	}
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

func TestPurchaseCap(t *testing.T) {
	r := mustRule(t, `{"points_per_yuan": 10, "max_points_per_purchase": 1000, "excluded_categories": []}`)
	b := plugintest.Check(t, r, earning.Request{Purchase: dinner(time.Date(2025, 3, 4, 12, 0, 0, 0, shanghai))})
	if b.BasePoints != 2580 || b.TotalPoints != 1000 || len(b.Caps) != 1 || b.Caps[0].Code != "purchase_cap" {
		t.Fatalf("got %+v", b)
	}
}

func TestRejectsNonCNY(t *testing.T) {
	r := mustRule(t, `{"points_per_yuan": 1}`)
	p := dinner(time.Now())
	p.Currency = "USD"
	if _, err := r.Evaluate(context.Background(), earning.Request{Purchase: p}); !errors.Is(err, sdk.ErrInvalidInput) {
		t.Fatalf("want ErrInvalidInput, got %v", err)
	}
}

func TestConfigValidation(t *testing.T) {
	bad := map[string]string{
		"empty":             `{}`,
		"zero rate":         `{"points_per_yuan": 0}`,
		"huge rate":         `{"points_per_yuan": 1000}`,
		"float rate":        `{"points_per_yuan": 1.5}`,
		"unknown field":     `{"points_per_yuan": 1, "pionts": 2}`,
		"nested unknown":    `{"points_per_yuan": 1, "off_peak": {"windows": [{"start": "14:00", "end": "15:00"}], "multiplier_permille": 2000, "max_bonus_points": 1, "cap": 3}}`,
		"bad timezone":      `{"points_per_yuan": 1, "timezone": "Mars/Olympus"}`,
		"no windows":        `{"points_per_yuan": 1, "off_peak": {"windows": [], "multiplier_permille": 2000, "max_bonus_points": 10}}`,
		"bad clock":         `{"points_per_yuan": 1, "off_peak": {"windows": [{"start": "25:00", "end": "15:00"}], "multiplier_permille": 2000, "max_bonus_points": 10}}`,
		"empty window":      `{"points_per_yuan": 1, "off_peak": {"windows": [{"start": "15:00", "end": "15:00"}], "multiplier_permille": 2000, "max_bonus_points": 10}}`,
		"no multiplier":     `{"points_per_yuan": 1, "off_peak": {"windows": [{"start": "14:00", "end": "15:00"}], "multiplier_permille": 1000, "max_bonus_points": 10}}`,
		"uncapped":          `{"points_per_yuan": 1, "off_peak": {"windows": [{"start": "14:00", "end": "15:00"}], "multiplier_permille": 2000}}`,
		"bad weekday":       `{"points_per_yuan": 1, "off_peak": {"windows": [{"start": "14:00", "end": "15:00"}], "weekdays": [7], "multiplier_permille": 2000, "max_bonus_points": 10}}`,
		"duplicate weekday": `{"points_per_yuan": 1, "off_peak": {"windows": [{"start": "14:00", "end": "15:00"}], "weekdays": [1, 1], "multiplier_permille": 2000, "max_bonus_points": 10}}`,
		"negative cap":      `{"points_per_yuan": 1, "max_points_per_purchase": -1}`,
		"empty category":    `{"points_per_yuan": 1, "excluded_categories": [""]}`,
		"trailing":          `{"points_per_yuan": 1} {}`,
		"not json":          `points_per_yuan: 1`,
	}
	for name, cfg := range bad {
		if _, err := New(context.Background(), []byte(cfg)); !errors.Is(err, sdk.ErrInvalidConfig) {
			t.Errorf("%s: want ErrInvalidConfig, got %v", name, err)
		}
	}
}

// The SDK's fixture, with the defaults: the service charge earns nothing.
func TestValidPurchase(t *testing.T) {
	r := mustRule(t, `{"points_per_yuan": 1}`)
	b := plugintest.Check(t, r, earning.Request{Purchase: plugintest.ValidPurchase()})
	if b.EligibleAmountFen != 10800 || b.TotalPoints != 108 || len(b.Exclusions) != 1 || b.Exclusions[0].Category != "service_charge" {
		t.Fatalf("got %+v", b)
	}
	if want := "1 point(s) per whole yuan of ¥108.00 eligible; ¥20.00 excluded (service charge, tips, discounts): 108 points"; b.Explanation != want {
		t.Fatalf("explanation %q, want %q", b.Explanation, want)
	}
}

func TestConfigErrorsNameTheField(t *testing.T) {
	for cfg, want := range map[string]string{
		`{"points_per_yuan": 1, "off_peak": {"windows": [{"start": "14:00", "end": "15:00"}], "multiplier_permille": 2000, "max_bonus_points": 1, "cap": 3}}`: `invalid configuration: restaurant: unknown field "off_peak.cap"`,
		`{"points_per_yuan": 1.5}`: `invalid configuration: restaurant: field "points_per_yuan": got number 1.5`,
		`{"points_per_yuan": 0}`:   `invalid configuration: restaurant: points_per_yuan must be 1..100, got 0`,
	} {
		_, err := New(context.Background(), []byte(cfg))
		if err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%s: got %v, want %q", cfg, err, want)
		}
	}
}

// The explanation quoted in README.md.
func TestExplanationExample(t *testing.T) {
	r := mustRule(t, offPeakConfig)
	b := plugintest.Check(t, r, earning.Request{Purchase: dinner(time.Date(2025, 3, 4, 15, 30, 0, 0, shanghai))})
	want := "2 point(s) per whole yuan of ¥218.00 eligible; ¥40.00 excluded (service charge, tips, discounts); off-peak x1.5 adds 218; bonus capped at 100: 536 points"
	if b.Explanation != want {
		t.Fatalf("explanation\n%q\nwant (README.md)\n%q", b.Explanation, want)
	}
}
