package sdk_test

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/lianmeng/lianmeng/sdk"
	"github.com/lianmeng/lianmeng/sdk/earning"
)

// config is the plugin's configuration, as the gateway sends it (JSON).
type config struct {
	PointsPerYuan int64 `json:"points_per_yuan"`
}

// schema documents config for `PLUGIN describe` and for operators.
const schema = `{"type": "object", "additionalProperties": false, "required": ["points_per_yuan"],
  "properties": {"points_per_yuan": {"type": "integer", "minimum": 1, "maximum": 100}}}`

// newRule is the factory: the SDK calls it for each Configure.
func newRule(_ context.Context, raw []byte) (earning.Rule, error) {
	var c config
	if err := sdk.DecodeConfig(raw, &c); err != nil {
		return nil, err // wraps sdk.ErrInvalidConfig and names the field
	}
	if c.PointsPerYuan < 1 || c.PointsPerYuan > 100 {
		return nil, fmt.Errorf("%w: points_per_yuan must be 1..100, got %d", sdk.ErrInvalidConfig, c.PointsPerYuan)
	}
	return rule{c}, nil
}

type rule struct{ c config }

// Evaluate is pure: integers only, no I/O, same request, same answer.
func (r rule) Evaluate(_ context.Context, req earning.Request) (earning.Breakdown, error) {
	p := req.Purchase
	if p.Currency != "CNY" {
		return earning.Breakdown{}, fmt.Errorf("%w: currency %q", sdk.ErrInvalidInput, p.Currency)
	}
	base := p.AmountFen / 100 * r.c.PointsPerYuan
	return earning.Breakdown{EligibleAmountFen: p.AmountFen, BasePoints: base, TotalPoints: base}, nil
}

// A complete earning-rule plugin: this is the whole main.go of a plugin
// binary. Serve speaks the plugin protocol with the gateway, or prints the
// manifest when the binary is run as "PLUGIN describe".
func Example() {
	sdk.Serve(sdk.Plugins{
		EarningRule: &sdk.EarningRule{
			Info: sdk.Info{
				Name:         "peryuan",
				Version:      "0.1.0",
				Summary:      "Points per whole yuan",
				ConfigSchema: json.RawMessage(schema),
			},
			New: newRule,
		},
	})
}
