package hotel

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

const cfg = `{"points_per_night": {"room_standard": 50, "room_suite": 200}, "other_points_per_yuan": 1}`

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

func TestHotelPoints(t *testing.T) {
	line := func(c string, q, fen int64) purchase.LineItem {
		return purchase.LineItem{Category: c, Quantity: q, AmountFen: fen}
	}
	// 3 suite nights = 600, minibar ¥68 = 68; tax and deposit nothing.
	b := eval(t, cfg, line("room_suite", 3, 216000), line("minibar", 1, 6800), line("tax", 1, 22800), line("deposit", 1, 50000))
	if b.TotalPoints != 668 || len(b.Exclusions) != 2 {
		t.Fatalf("breakdown: %+v", b)
	}
	// Without other points, only nights earn; an unknown room type is "other".
	b = eval(t, `{"points_per_night": {"room_standard": 50}, "max_points_per_stay": 120}`, line("room_standard", 3, 108000), line("room_deluxe", 1, 39800))
	if b.BasePoints != 150 || b.TotalPoints != 120 || len(b.Caps) != 1 || len(b.Exclusions) != 1 {
		t.Fatalf("stay cap: %+v", b)
	}
}

func TestBadConfig(t *testing.T) {
	for _, c := range []string{`{}`, `{"points_per_night": {}}`, `{"points_per_night": {"tax": 10}}`, `{"points_per_night": {"room": 0}}`,
		`{"points_per_night": {"room": 1}, "other_points_per_yuan": -1}`, `{"points_per_night": {"room": 1}, "max_points_per_stay": -5}`} {
		if _, err := New(context.Background(), []byte(c)); !errors.Is(err, sdk.ErrInvalidConfig) {
			t.Errorf("%s: %v", c, err)
		}
	}
}
