package plugintest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/lianmeng/lianmeng/sdk"
	"github.com/lianmeng/lianmeng/sdk/earning"
	"github.com/lianmeng/lianmeng/sdk/plugintest"
)

// The package example's in-process test, run for real.
func TestExampleInProcess(t *testing.T) { testInProcess(t) }

// recorder collects Errorf calls; the checks below must not call Fatal.
type recorder struct {
	testing.TB
	errs []string
}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

type closingRule struct {
	rule
	closed *int
}

func (r closingRule) Close() error { *r.closed++; return nil }

func TestCheckConfigCatchesLenientFactory(t *testing.T) {
	lenient := sdk.Plugins{EarningRule: &sdk.EarningRule{
		Info: sdk.Info{Name: "lenient", Version: "0.1.0"},
		New: func(_ context.Context, raw []byte) (earning.Rule, error) {
			var c config
			err := json.Unmarshal(raw, &c) // unknown fields silently ignored
			return rule{c}, err
		},
	}}
	r := &recorder{}
	plugintest.CheckConfig(r, lenient, nil)
	if len(r.errs) != 1 || !strings.Contains(r.errs[0], "unknown config field must fail with sdk.ErrInvalidConfig") {
		t.Fatalf("CheckConfig reported %q", r.errs)
	}
}

func TestCheckConfigClosesInstances(t *testing.T) {
	closed := 0
	p := sdk.Plugins{EarningRule: &sdk.EarningRule{
		Info: sdk.Info{Name: "closing", Version: "0.1.0"},
		New: func(_ context.Context, raw []byte) (earning.Rule, error) {
			var c config
			if err := sdk.DecodeConfig(raw, &c); err != nil {
				return nil, err
			}
			return closingRule{rule{c}, &closed}, nil
		},
	}}
	plugintest.CheckConfig(t, p, map[string]json.RawMessage{sdk.KindEarningRule: json.RawMessage(`{"points_per_yuan": 1}`)})
	if closed != 1 {
		t.Fatalf("the instance built from the valid configuration was closed %d times, want 1", closed)
	}
}
