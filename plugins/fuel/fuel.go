// Package fuel is the first-party earning rule for fuel stations: points
// per litre by fuel grade, capped per fill-up, plus optional points per
// yuan in the shop; lubricants (and any category configured) earn
// nothing.
//
// Configuration (JSON, strictly decoded; see Schema):
//
//	{
//	  "points_per_litre": {"fuel_92": 1, "fuel_95": 2, "fuel_diesel": 1},
//	  "max_points_per_fill_up": 200,
//	  "shop_points_per_yuan": 1,
//	  "excluded_categories": ["lubricant"]
//	}
//
// A fuel line's category is its grade and its quantity is in millilitres
// (POS adapters convert litres exactly, never through a float): it earns
// floor(quantity × points_per_litre / 1000). The fill-up cap bounds the
// fuel points of one purchase. Other lines earn shop_points_per_yuan per
// whole yuan of their total unless excluded. Amounts are integer fen.
package fuel

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/lianmeng/lianmeng/plugins"
	"github.com/lianmeng/lianmeng/sdk"
	"github.com/lianmeng/lianmeng/sdk/earning"
)

// Name and Version identify the rule.
const (
	Name    = "fuel"
	Version = "1.0.0"
)

func init() { plugins.Register(Name, Plugins) }

// Plugins is what "lianmeng plugin serve fuel" serves.
func Plugins() sdk.Plugins {
	return sdk.Plugins{EarningRule: &sdk.EarningRule{
		Info: sdk.Info{Name: Name, Version: Version, Summary: "Points per litre by fuel grade, capped per fill-up; shop points per yuan; no points on lubricants",
			ConfigSchema: json.RawMessage(Schema), Capabilities: []string{sdk.CapExplain}},
		New: New,
	}}
}

// Schema is the JSON Schema of the configuration.
const Schema = `{
  "type": "object",
  "additionalProperties": false,
  "required": ["points_per_litre"],
  "properties": {
    "points_per_litre": {"type": "object", "minProperties": 1, "additionalProperties": {"type": "integer", "minimum": 1, "maximum": 100},
      "description": "fuel grade category -> points per litre; a line's quantity is millilitres"},
    "max_points_per_fill_up": {"type": "integer", "minimum": 0, "description": "cap on the fuel points of one purchase; 0 = none"},
    "shop_points_per_yuan": {"type": "integer", "minimum": 0, "maximum": 100, "description": "points per whole yuan of other lines; 0 = none"},
    "excluded_categories": {"type": "array", "items": {"type": "string", "minLength": 1}, "default": ["lubricant"]}
  }
}`

// Config is the decoded configuration.
type Config struct {
	PointsPerLitre     map[string]int64 `json:"points_per_litre"`
	MaxPointsPerFillUp int64            `json:"max_points_per_fill_up"`
	ShopPointsPerYuan  int64            `json:"shop_points_per_yuan"`
	ExcludedCategories []string         `json:"excluded_categories"`
}

type rule struct {
	cfg      Config
	excluded map[string]bool
}

// New decodes and validates a configuration (errors wrap
// sdk.ErrInvalidConfig).
func New(_ context.Context, raw []byte) (earning.Rule, error) {
	cfg := Config{ExcludedCategories: []string{"lubricant"}}
	bad := func(format string, a ...any) (earning.Rule, error) {
		return nil, fmt.Errorf("%w: fuel: %s", sdk.ErrInvalidConfig, fmt.Sprintf(format, a...))
	}
	if err := sdk.DecodeConfig(raw, &cfg); err != nil {
		return bad("%s", strings.TrimPrefix(err.Error(), sdk.ErrInvalidConfig.Error()+": "))
	}
	if len(cfg.PointsPerLitre) == 0 {
		return bad("points_per_litre must name at least one fuel grade")
	}
	r := &rule{cfg: cfg, excluded: map[string]bool{}}
	for _, c := range cfg.ExcludedCategories {
		if strings.TrimSpace(c) == "" {
			return bad("excluded_categories has an empty entry")
		}
		r.excluded[c] = true
	}
	for g, p := range cfg.PointsPerLitre {
		if strings.TrimSpace(g) == "" || p < 1 || p > 100 {
			return bad("points_per_litre[%q] must be 1..100 for a named grade, got %d", g, p)
		}
		if r.excluded[g] {
			return bad("%q is both a fuel grade and excluded", g)
		}
	}
	if cfg.MaxPointsPerFillUp < 0 {
		return bad("max_points_per_fill_up must be >= 0 (0 = no cap), got %d", cfg.MaxPointsPerFillUp)
	}
	if cfg.ShopPointsPerYuan < 0 || cfg.ShopPointsPerYuan > 100 {
		return bad("shop_points_per_yuan must be 0..100, got %d", cfg.ShopPointsPerYuan)
	}
	return r, nil
}

// Evaluate computes the points. It is pure: no I/O, no clock.
func (r *rule) Evaluate(_ context.Context, req earning.Request) (earning.Breakdown, error) {
	p := req.Purchase
	if p.Currency != "CNY" {
		return earning.Breakdown{}, fmt.Errorf("%w: fuel: currency %q is not supported (CNY only)", sdk.ErrInvalidInput, p.Currency)
	}
	var b earning.Breakdown
	var fuelPts, shopFen int64
	var why []string
	for i, it := range p.Items {
		if it.Quantity < 0 || it.AmountFen < 0 {
			return earning.Breakdown{}, fmt.Errorf("%w: fuel: line %d has a negative quantity or amount", sdk.ErrInvalidInput, i)
		}
		switch ppl, fuel := r.cfg.PointsPerLitre[it.Category]; {
		case r.excluded[it.Category]:
			b.Exclusions = append(b.Exclusions, earning.Exclusion{LineIndex: i, Category: it.Category, AmountFen: it.AmountFen, Reason: it.Category + " earns no points"})
		case fuel:
			n := it.Quantity * ppl / 1000
			fuelPts += n
			b.EligibleAmountFen += it.AmountFen
			why = append(why, fmt.Sprintf("%s: %d.%03d L x %d = %d", it.Category, it.Quantity/1000, it.Quantity%1000, ppl, n))
		default:
			shopFen += it.AmountFen
		}
	}
	// The shop lines earn on what was paid for them, never more than paid.
	shopFen = min(shopFen, max(p.AmountFen-b.EligibleAmountFen, 0))
	var shopPts int64
	if r.cfg.ShopPointsPerYuan > 0 {
		b.EligibleAmountFen += shopFen
		shopPts = shopFen / 100 * r.cfg.ShopPointsPerYuan
		if shopPts > 0 {
			why = append(why, fmt.Sprintf("shop: %d per yuan of ¥%d.%02d = %d", r.cfg.ShopPointsPerYuan, shopFen/100, shopFen%100, shopPts))
		}
	} else if shopFen > 0 {
		b.Exclusions = append(b.Exclusions, earning.Exclusion{LineIndex: -1, Category: "shop", AmountFen: shopFen, Reason: "shop purchases earn no points here"})
	}
	b.BasePoints = fuelPts + shopPts
	if limit := r.cfg.MaxPointsPerFillUp; limit > 0 && fuelPts > limit {
		b.Caps = append(b.Caps, earning.Cap{Code: "fill_up_cap", LimitPoints: limit, RemovedPoints: fuelPts - limit,
			Description: fmt.Sprintf("at most %d fuel points per fill-up", limit)})
		why = append(why, fmt.Sprintf("fuel points capped at %d", limit))
		fuelPts = limit
	}
	b.TotalPoints = fuelPts + shopPts
	if len(why) == 0 {
		why = append(why, "nothing here earns points")
	}
	b.Explanation = strings.Join(why, "; ") + fmt.Sprintf(": %d points", b.TotalPoints)
	return b, nil
}
