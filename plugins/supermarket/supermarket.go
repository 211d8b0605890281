// Package supermarket is the first-party earning rule for supermarkets and
// retail: points per whole yuan with multipliers by category, and never
// any points on tobacco, lottery, gift cards or deposits (those are
// excluded whatever the configuration says; more can be added).
//
// Configuration (JSON, strictly decoded; see Schema):
//
//	{
//	  "points_per_yuan": 1,
//	  "category_multipliers_permille": {"fresh": 2000, "own_brand": 1500},
//	  "excluded_categories": ["alcohol"],
//	  "max_points_per_purchase": 0
//	}
//
// Each eligible line earns floor(line amount / 100) × points_per_yuan,
// times its category's multiplier in permille (1000 = ×1) when one is set.
// Without line items the whole amount earns the base rate. A receipt-level
// discount (amount paid below the lines' sum) lowers the base pro rata.
package supermarket

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/lianmeng/lianmeng/plugins"
	"github.com/lianmeng/lianmeng/sdk"
	"github.com/lianmeng/lianmeng/sdk/earning"
)

// Name and Version identify the rule.
const (
	Name    = "supermarket"
	Version = "1.0.0"
)

// AlwaysExcluded earn no points under any configuration.
var AlwaysExcluded = []string{"tobacco", "lottery", "gift_card", "deposit"}

func init() { plugins.Register(Name, Plugins) }

// Plugins is what "lianmeng plugin serve supermarket" serves.
func Plugins() sdk.Plugins {
	return sdk.Plugins{EarningRule: &sdk.EarningRule{
		Info: sdk.Info{Name: Name, Version: Version, Summary: "Points per yuan with category multipliers; never on tobacco, lottery, gift cards or deposits",
			ConfigSchema: json.RawMessage(Schema), Capabilities: []string{sdk.CapExplain}},
		New: New,
	}}
}

// Schema is the JSON Schema of the configuration.
const Schema = `{
  "type": "object",
  "additionalProperties": false,
  "required": ["points_per_yuan"],
  "properties": {
    "points_per_yuan": {"type": "integer", "minimum": 1, "maximum": 100},
    "category_multipliers_permille": {"type": "object", "additionalProperties": {"type": "integer", "minimum": 1, "maximum": 10000},
      "description": "category -> multiplier in permille (1000 = x1); tobacco, lottery, gift_card and deposit cannot be given one"},
    "excluded_categories": {"type": "array", "items": {"type": "string", "minLength": 1}, "description": "in addition to tobacco, lottery, gift_card, deposit"},
    "max_points_per_purchase": {"type": "integer", "minimum": 0, "description": "0 = no limit"}
  }
}`

// Config is the decoded configuration.
type Config struct {
	PointsPerYuan        int64            `json:"points_per_yuan"`
	CategoryMultipliers  map[string]int64 `json:"category_multipliers_permille"`
	ExcludedCategories   []string         `json:"excluded_categories"`
	MaxPointsPerPurchase int64            `json:"max_points_per_purchase"`
}

type rule struct {
	cfg      Config
	excluded map[string]bool
}

// New decodes and validates a configuration (errors wrap
// sdk.ErrInvalidConfig).
func New(_ context.Context, raw []byte) (earning.Rule, error) {
	var cfg Config
	bad := func(format string, a ...any) (earning.Rule, error) {
		return nil, fmt.Errorf("%w: supermarket: %s", sdk.ErrInvalidConfig, fmt.Sprintf(format, a...))
	}
	if err := sdk.DecodeConfig(raw, &cfg); err != nil {
		return bad("%s", strings.TrimPrefix(err.Error(), sdk.ErrInvalidConfig.Error()+": "))
	}
	if cfg.PointsPerYuan < 1 || cfg.PointsPerYuan > 100 {
		return bad("points_per_yuan must be 1..100, got %d", cfg.PointsPerYuan)
	}
	if cfg.MaxPointsPerPurchase < 0 {
		return bad("max_points_per_purchase must be >= 0 (0 = no limit), got %d", cfg.MaxPointsPerPurchase)
	}
	r := &rule{cfg: cfg, excluded: map[string]bool{}}
	for _, c := range append(slices.Clone(AlwaysExcluded), cfg.ExcludedCategories...) {
		if strings.TrimSpace(c) == "" {
			return bad("excluded_categories has an empty entry")
		}
		r.excluded[c] = true
	}
	for c, m := range cfg.CategoryMultipliers {
		if slices.Contains(AlwaysExcluded, c) {
			return bad("%s never earns points: it cannot have a multiplier", c)
		}
		if m < 1 || m > 10000 {
			return bad("category_multipliers_permille[%q] must be 1..10000, got %d", c, m)
		}
	}
	return r, nil
}

// Evaluate computes the points. It is pure: no I/O, no clock.
func (r *rule) Evaluate(_ context.Context, req earning.Request) (earning.Breakdown, error) {
	p := req.Purchase
	if p.Currency != "CNY" {
		return earning.Breakdown{}, fmt.Errorf("%w: supermarket: currency %q is not supported (CNY only)", sdk.ErrInvalidInput, p.Currency)
	}
	var b earning.Breakdown
	ppy := r.cfg.PointsPerYuan
	if len(p.Items) == 0 {
		b.EligibleAmountFen = p.AmountFen
		b.BasePoints = p.AmountFen / 100 * ppy
		b.TotalPoints = b.BasePoints
	} else {
		var lines int64
		for i, it := range p.Items {
			if it.AmountFen < 0 {
				return earning.Breakdown{}, fmt.Errorf("%w: supermarket: line %d has a negative amount", sdk.ErrInvalidInput, i)
			}
			if r.excluded[it.Category] {
				b.Exclusions = append(b.Exclusions, earning.Exclusion{LineIndex: i, Category: it.Category, AmountFen: it.AmountFen, Reason: it.Category + " never earns points"})
				continue
			}
			lines += it.AmountFen
		}
		var excluded int64
		for _, e := range b.Exclusions {
			excluded += e.AmountFen
		}
		// What was paid for the eligible lines: a receipt discount lowers it.
		paid := min(lines, max(p.AmountFen-excluded, 0))
		b.EligibleAmountFen = paid
		if paid < lines {
			b.Exclusions = append(b.Exclusions, earning.Exclusion{LineIndex: -1, AmountFen: lines - paid, Reason: "discount: amount paid is less than the eligible lines"})
		}
		for _, it := range p.Items {
			if r.excluded[it.Category] || lines == 0 {
				continue
			}
			// The line's share of what was paid, in whole yuan.
			share := it.AmountFen * paid / lines
			base := share / 100 * ppy
			b.BasePoints += base
			b.TotalPoints += base
			if m, ok := r.cfg.CategoryMultipliers[it.Category]; ok && m != 1000 && base > 0 {
				extra := base*m/1000 - base
				b.Multipliers = append(b.Multipliers, earning.Multiplier{Code: "category:" + it.Category, FactorPermille: m, Points: extra,
					Description: fmt.Sprintf("%s x%d.%03d", it.Category, m/1000, m%1000)})
				b.TotalPoints += extra
			}
		}
	}
	if limit := r.cfg.MaxPointsPerPurchase; limit > 0 && b.TotalPoints > limit {
		b.Caps = append(b.Caps, earning.Cap{Code: "purchase_cap", LimitPoints: limit, RemovedPoints: b.TotalPoints - limit,
			Description: fmt.Sprintf("at most %d points per purchase", limit)})
		b.TotalPoints = limit
	}
	b.Explanation = fmt.Sprintf("%d point(s) per whole yuan of ¥%d.%02d eligible, %d multiplier(s), %d exclusion(s): %d points",
		ppy, b.EligibleAmountFen/100, b.EligibleAmountFen%100, len(b.Multipliers), len(b.Exclusions), b.TotalPoints)
	return b, nil
}
