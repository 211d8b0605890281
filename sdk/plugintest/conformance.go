package plugintest

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/lianmeng/lianmeng/sdk"
	"github.com/lianmeng/lianmeng/sdk/earning"
)

// CheckConfig runs in-process checks every plugin of p must pass: the
// registration is valid, each configuration schema is a JSON object, each
// factory accepts good (the kind's valid configuration, if given) and
// rejects an unknown field with sdk.ErrInvalidConfig.
func CheckConfig(t testing.TB, p sdk.Plugins, good map[string]json.RawMessage) {
	t.Helper()
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	try := func(kind string, info sdk.Info, factory func([]byte) error) {
		t.Helper()
		if len(info.ConfigSchema) > 0 {
			var schema map[string]any
			if err := json.Unmarshal(info.ConfigSchema, &schema); err != nil {
				t.Errorf("%s %s: config schema is not a JSON object: %v", kind, info.Name, err)
			}
		}
		if cfg, ok := good[kind]; ok {
			if err := factory(cfg); err != nil {
				t.Errorf("%s %s: valid config rejected: %v", kind, info.Name, err)
			}
		}
		if err := factory([]byte(`{"plugintest_unknown_field": true}`)); !errors.Is(err, sdk.ErrInvalidConfig) {
			t.Errorf("%s %s: an unknown config field must fail with sdk.ErrInvalidConfig, got %v", kind, info.Name, err)
		}
	}
	if e := p.EarningRule; e != nil {
		try(sdk.KindEarningRule, e.Info, func(b []byte) error { _, err := e.New(ctx, b); return err })
	}
	if e := p.POSAdapter; e != nil {
		try(sdk.KindPOSAdapter, e.Info, func(b []byte) error { _, err := e.New(ctx, b); return err })
	}
	if e := p.PaymentChannel; e != nil {
		try(sdk.KindPaymentChannel, e.Info, func(b []byte) error { _, err := e.New(ctx, b); return err })
	}
}

// Check evaluates req twice and checks the result is consistent
// (Breakdown.Check) and deterministic. It returns the breakdown.
func Check(t testing.TB, rule earning.Rule, req earning.Request) earning.Breakdown {
	t.Helper()
	ctx := context.Background()
	b1, err := rule.Evaluate(ctx, req)
	if err != nil {
		t.Fatalf("evaluate: %v", err)
	}
	if err := b1.Check(); err != nil {
		t.Fatalf("inconsistent breakdown %+v: %v", b1, err)
	}
	b2, err := rule.Evaluate(ctx, req)
	if err != nil {
		t.Fatalf("evaluate again: %v", err)
	}
	if !reflect.DeepEqual(b1, b2) {
		t.Fatalf("rule is not deterministic:\n%+v\n%+v", b1, b2)
	}
	return b1
}
