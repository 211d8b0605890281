// Command flatrate is an example Lianmeng earning-rule plugin: a fixed
// number of points per whole yuan spent, with an optional bonus for member
// tiers. Copy this directory to start your own plugin; see README.md.
package main

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/lianmeng/lianmeng/sdk"
	"github.com/lianmeng/lianmeng/sdk/earning"
)

// config is the plugin's configuration, sent by the gateway as JSON.
type config struct {
	PointsPerYuan int64 `json:"points_per_yuan"`
	// TierBonusPermille maps a member tier to an extra multiplier in
	// thousandths: {"gold": 500} gives gold members x1.5.
	TierBonusPermille map[string]int64 `json:"tier_bonus_permille"`
}

// schema documents config for `describe` and for the operator.
const schema = `{
  "type": "object",
  "additionalProperties": false,
  "required": ["points_per_yuan"],
  "properties": {
    "points_per_yuan": {"type": "integer", "minimum": 1, "maximum": 1000},
    "tier_bonus_permille": {"type": "object", "additionalProperties": {"type": "integer", "minimum": 0, "maximum": 10000}}
  }
}`

// newRule is the factory: the gateway calls it once per configuration.
func newRule(_ context.Context, raw []byte) (earning.Rule, error) {
	var c config
	// Strict: a typo in the config must not pass silently. The error wraps
	// sdk.ErrInvalidConfig and names the field.
	if err := sdk.DecodeConfig(raw, &c); err != nil {
		return nil, err
	}
	if c.PointsPerYuan < 1 || c.PointsPerYuan > 1000 {
		return nil, fmt.Errorf("%w: points_per_yuan must be 1..1000, got %d", sdk.ErrInvalidConfig, c.PointsPerYuan)
	}
	for tier, p := range c.TierBonusPermille {
		if p < 0 || p > 10000 {
			return nil, fmt.Errorf("%w: tier_bonus_permille[%q] must be 0..10000", sdk.ErrInvalidConfig, tier)
		}
	}
	return &rule{c}, nil
}

type rule struct{ c config }

// Evaluate is pure: no I/O, same input, same answer.
func (r *rule) Evaluate(_ context.Context, req earning.Request) (earning.Breakdown, error) {
	p := req.Purchase
	if p.Currency != "CNY" {
		return earning.Breakdown{}, fmt.Errorf("%w: currency %q is not supported", sdk.ErrInvalidInput, p.Currency)
	}
	b := earning.Breakdown{EligibleAmountFen: p.AmountFen}
	b.BasePoints = p.AmountFen / 100 * r.c.PointsPerYuan // whole yuan only
	b.TotalPoints = b.BasePoints
	if bonus := r.c.TierBonusPermille[req.MemberTier]; bonus > 0 && b.BasePoints > 0 {
		extra := b.BasePoints * bonus / 1000
		b.Multipliers = append(b.Multipliers, earning.Multiplier{
			Code: "tier_" + req.MemberTier, Description: req.MemberTier + " member bonus",
			FactorPermille: 1000 + bonus, Points: extra,
		})
		b.TotalPoints += extra
	}
	b.Explanation = fmt.Sprintf("%d points per yuan on %d.%02d yuan", r.c.PointsPerYuan, p.AmountFen/100, p.AmountFen%100)
	return b, nil
}

func main() {
	sdk.Serve(sdk.Plugins{
		EarningRule: &sdk.EarningRule{
			Info: sdk.Info{
				Name:         "flatrate",
				Version:      "0.1.0",
				Summary:      "Fixed points per yuan, with member tier bonuses",
				ConfigSchema: json.RawMessage(schema),
				Capabilities: []string{sdk.CapExplain},
			},
			New: newRule,
		},
	})
}
