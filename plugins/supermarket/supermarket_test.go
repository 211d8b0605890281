package supermarket

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

const cfg = `{"points_per_yuan": 1, "category_multipliers_permille": {"fresh": 2000}, "excluded_categories": ["alcohol"]}`

func TestConformance(t *testing.T) {
	plugintest.CheckConfig(t, Plugins(), map[string]json.RawMessage{sdk.KindEarningRule: json.RawMessage(cfg)})
}

func eval(t *testing.T, c string, paid int64, items ...purchase.LineItem) earning.Breakdown {
	t.Helper()
	r, err := New(context.Background(), []byte(c))
	if err != nil {
		t.Fatal(err)
	}
	b, err := r.Evaluate(context.Background(), earning.Request{Purchase: purchase.Purchase{Currency: "CNY", AmountFen: paid, OccurredAt: time.Now(), Items: items}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSupermarketPoints(t *testing.T) {
	line := func(c string, fen int64) purchase.LineItem {
		return purchase.LineItem{Category: c, Quantity: 1, AmountFen: fen}
	}
	// fresh ¥48.50 -> 48 x2 = 96; grocery ¥69 -> 69; tobacco, lottery, gift card, deposit and alcohol: nothing.
	b := eval(t, cfg, 4850+6900+2500+2000+50000+500+18000,
		line("fresh", 4850), line("grocery", 6900), line("tobacco", 2500), line("lottery", 2000), line("gift_card", 50000), line("deposit", 500), line("alcohol", 18000))
	if b.BasePoints != 117 || b.TotalPoints != 165 || len(b.Exclusions) != 5 || len(b.Multipliers) != 1 || b.Multipliers[0].Points != 48 {
		t.Fatalf("breakdown: %+v", b)
	}
	// A gift card alone earns nothing, whatever the configuration.
	if b := eval(t, `{"points_per_yuan": 5}`, 50000, line("gift_card", 50000)); b.TotalPoints != 0 {
		t.Fatalf("gift card: %+v", b)
	}
	// A receipt discount of half: the lines earn on what was paid.
	if b := eval(t, cfg, 5000, line("grocery", 10000)); b.TotalPoints != 50 || b.EligibleAmountFen != 5000 {
		t.Fatalf("discount: %+v", b)
	}
	// Cap per purchase.
	if b := eval(t, `{"points_per_yuan": 1, "max_points_per_purchase": 30}`, 10000, line("grocery", 10000)); b.TotalPoints != 30 || len(b.Caps) != 1 {
		t.Fatalf("cap: %+v", b)
	}
}

func TestBadConfig(t *testing.T) {
	for _, c := range []string{`{}`, `{"points_per_yuan": 0}`, `{"points_per_yuan": 1, "category_multipliers_permille": {"tobacco": 2000}}`,
		`{"points_per_yuan": 1, "category_multipliers_permille": {"fresh": 0}}`, `{"points_per_yuan": 1, "excluded_categories": [""]}`,
		`{"points_per_yuan": 1, "max_points_per_purchase": -1}`} {
		if _, err := New(context.Background(), []byte(c)); !errors.Is(err, sdk.ErrInvalidConfig) {
			t.Errorf("%s: %v", c, err)
		}
	}
}
