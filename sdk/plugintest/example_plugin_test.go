package plugintest_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/sdk"
	"github.com/lianmeng/lianmeng/sdk/earning"
	"github.com/lianmeng/lianmeng/sdk/plugintest"
)

// The plugin under test (normally in main.go of the same package).
type config struct {
	PointsPerYuan int64 `json:"points_per_yuan"`
}

type rule struct{ c config }

func (r rule) Evaluate(_ context.Context, req earning.Request) (earning.Breakdown, error) {
	base := req.Purchase.AmountFen / 100 * r.c.PointsPerYuan
	return earning.Breakdown{EligibleAmountFen: req.Purchase.AmountFen, BasePoints: base, TotalPoints: base}, nil
}

func plugins() sdk.Plugins {
	return sdk.Plugins{EarningRule: &sdk.EarningRule{
		Info: sdk.Info{Name: "peryuan", Version: "0.1.0"},
		New: func(_ context.Context, raw []byte) (earning.Rule, error) {
			var c config
			if err := sdk.DecodeConfig(raw, &c); err != nil {
				return nil, err
			}
			return rule{c}, nil
		},
	}}
}

// In main_test.go, name these TestInProcess and TestOutOfProcess.

// In process: no build, fast.
func testInProcess(t *testing.T) {
	// Registration, schema, strict configuration, and ValidPurchase
	// evaluated with the valid configuration.
	plugintest.CheckConfig(t, plugins(), map[string]json.RawMessage{
		sdk.KindEarningRule: json.RawMessage(`{"points_per_yuan": 2}`),
	})

	r, err := plugins().EarningRule.New(context.Background(), []byte(`{"points_per_yuan": 2}`))
	if err != nil {
		t.Fatal(err)
	}
	b := plugintest.Check(t, r, earning.Request{Purchase: plugintest.ValidPurchase()})
	if b.TotalPoints != 256 { // 128 yuan x 2
		t.Fatalf("total %d, want 256", b.TotalPoints)
	}
}

// Out of process: the binary, launched exactly as the gateway launches it.
func testOutOfProcess(t *testing.T) {
	bin := plugintest.Build(t, ".") // go build of this package's main
	p := plugintest.Start(t, bin)   // handshake, AutoMTLS, clean environment
	r := p.EarningRule(t, map[string]any{"points_per_yuan": 3})

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	b, err := r.Evaluate(ctx, earning.Request{Purchase: plugintest.ValidPurchase()})
	if err != nil || b.TotalPoints != 384 {
		t.Fatalf("got %+v, %v; want 384 points", b, err)
	}
	// A typo in the configuration is refused by the plugin.
	if err := p.Configure(ctx, sdk.KindEarningRule, "typo", []byte(`{"points_per_yaun": 1}`)); !errors.Is(err, sdk.ErrInvalidConfig) {
		t.Fatalf("want sdk.ErrInvalidConfig, got %v", err)
	}
}

// Testing a plugin in process and out of process.
func Example() {
	_, _ = testInProcess, testOutOfProcess
}
