package main

import (
	"context"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/lianmeng/lianmeng/gateway/points"
	"github.com/lianmeng/lianmeng/plugins/restaurant"
	"github.com/lianmeng/lianmeng/sdk/earning"
	"github.com/lianmeng/lianmeng/sdk/purchase"
)

// The restaurant rule's explanation becomes the breakdown kept with the
// purchase: base, the off-peak multiplier, its cap, the excluded service
// charge and tip, the total and the words.
func TestBreakdownOfRestaurant(t *testing.T) {
	r, err := restaurant.New(context.Background(), []byte(`{"points_per_yuan": 2, "off_peak": {"windows": [{"start": "14:00", "end": "17:00"}],
		"multiplier_permille": 1500, "max_bonus_points": 100}}`))
	if err != nil {
		t.Fatal(err)
	}
	cst := time.FixedZone("CST", 8*3600)
	b, err := r.Evaluate(context.Background(), earning.Request{Purchase: purchase.Purchase{Currency: "CNY", AmountFen: 25800,
		OccurredAt: time.Date(2025, 3, 4, 15, 30, 0, 0, cst), Items: []purchase.LineItem{
			{Category: "food", Quantity: 1, AmountFen: 21800}, {Category: "service_charge", Quantity: 1, AmountFen: 2000}, {Category: "tip", Quantity: 1, AmountFen: 2000}}}})
	if err != nil {
		t.Fatal(err)
	}
	got := breakdownOf(b)
	if got.Rule != points.BreakdownPlugin || got.EligibleFen != 21800 || got.ExcludedFen != 4000 || got.BasePoints != 436 || got.TotalPoints != 536 ||
		len(got.Multipliers) != 1 || got.Multipliers[0] != (points.BreakdownMultiplier{Code: "off_peak", FactorPermille: 1500, Points: 218}) ||
		len(got.Caps) != 1 || got.Caps[0] != (points.BreakdownCap{Code: "off_peak_cap", LimitPoints: 100, RemovedPoints: 118}) || got.Explanation == "" {
		t.Fatalf("breakdown: %+v", got)
	}
	// A long explanation is cut on a character boundary; lines are bounded.
	long := earning.Breakdown{Explanation: strings.Repeat("积分", 300)}
	for range points.MaxBreakdownLines + 5 {
		long.Multipliers = append(long.Multipliers, earning.Multiplier{Code: "m"})
		long.Caps = append(long.Caps, earning.Cap{Code: "c"})
	}
	got = breakdownOf(long)
	if len(got.Explanation) > points.MaxExplanation || !utf8.ValidString(got.Explanation) || len(got.Multipliers) != points.MaxBreakdownLines || len(got.Caps) != points.MaxBreakdownLines {
		t.Fatalf("bounds: %d bytes, %d multipliers, %d caps", len(got.Explanation), len(got.Multipliers), len(got.Caps))
	}
}
