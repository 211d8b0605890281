// Package hotel is the first-party earning rule for hotels: points per
// night by room type, optional points per yuan on other charges (minibar,
// restaurant), and never any points on taxes or deposits.
//
// Configuration (JSON, strictly decoded; see Schema):
//
//	{
//	  "points_per_night": {"room_standard": 50, "room_deluxe": 100, "room_suite": 200},
//	  "other_points_per_yuan": 1,
//	  "max_points_per_stay": 0
//	}
//
// A room line's category is its room type and its quantity the number of
// nights: it earns quantity × points_per_night. Lines in the categories
// tax and deposit earn nothing (always); other lines earn
// other_points_per_yuan per whole yuan (0 = nothing).
package hotel

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
	Name    = "hotel"
	Version = "1.0.0"
)

// AlwaysExcluded earn no points under any configuration.
var AlwaysExcluded = map[string]bool{"tax": true, "deposit": true}

func init() { plugins.Register(Name, Plugins) }

// Plugins is what "lianmeng plugin serve hotel" serves.
func Plugins() sdk.Plugins {
	return sdk.Plugins{EarningRule: &sdk.EarningRule{
		Info: sdk.Info{Name: Name, Version: Version, Summary: "Points per night by room type; none on taxes and deposits",
			ConfigSchema: json.RawMessage(Schema), Capabilities: []string{sdk.CapExplain}},
		New: New,
	}}
}

// Schema is the JSON Schema of the configuration.
const Schema = `{
  "type": "object",
  "additionalProperties": false,
  "required": ["points_per_night"],
  "properties": {
    "points_per_night": {"type": "object", "minProperties": 1, "additionalProperties": {"type": "integer", "minimum": 1, "maximum": 100000},
      "description": "room type category -> points per night; a room line's quantity is nights"},
    "other_points_per_yuan": {"type": "integer", "minimum": 0, "maximum": 100, "description": "points per whole yuan of other charges; 0 = none"},
    "max_points_per_stay": {"type": "integer", "minimum": 0, "description": "0 = no limit"}
  }
}`

// Config is the decoded configuration.
type Config struct {
	PointsPerNight     map[string]int64 `json:"points_per_night"`
	OtherPointsPerYuan int64            `json:"other_points_per_yuan"`
	MaxPointsPerStay   int64            `json:"max_points_per_stay"`
}

type rule struct{ cfg Config }

// New decodes and validates a configuration (errors wrap
// sdk.ErrInvalidConfig).
func New(_ context.Context, raw []byte) (earning.Rule, error) {
	var cfg Config
	bad := func(format string, a ...any) (earning.Rule, error) {
		return nil, fmt.Errorf("%w: hotel: %s", sdk.ErrInvalidConfig, fmt.Sprintf(format, a...))
	}
	if err := sdk.DecodeConfig(raw, &cfg); err != nil {
		return bad("%s", strings.TrimPrefix(err.Error(), sdk.ErrInvalidConfig.Error()+": "))
	}
	if len(cfg.PointsPerNight) == 0 {
		return bad("points_per_night must name at least one room type")
	}
	for room, n := range cfg.PointsPerNight {
		if strings.TrimSpace(room) == "" || AlwaysExcluded[room] || n < 1 || n > 100000 {
			return bad("points_per_night[%q] must be 1..100000 for a room type (not tax or deposit), got %d", room, n)
		}
	}
	if cfg.OtherPointsPerYuan < 0 || cfg.OtherPointsPerYuan > 100 {
		return bad("other_points_per_yuan must be 0..100, got %d", cfg.OtherPointsPerYuan)
	}
	if cfg.MaxPointsPerStay < 0 {
		return bad("max_points_per_stay must be >= 0 (0 = no limit), got %d", cfg.MaxPointsPerStay)
	}
	return &rule{cfg: cfg}, nil
}

// Evaluate computes the points. It is pure: no I/O, no clock.
func (r *rule) Evaluate(_ context.Context, req earning.Request) (earning.Breakdown, error) {
	p := req.Purchase
	if p.Currency != "CNY" {
		return earning.Breakdown{}, fmt.Errorf("%w: hotel: currency %q is not supported (CNY only)", sdk.ErrInvalidInput, p.Currency)
	}
	var b earning.Breakdown
	var why []string
	for i, it := range p.Items {
		if it.Quantity < 0 || it.AmountFen < 0 {
			return earning.Breakdown{}, fmt.Errorf("%w: hotel: line %d has a negative quantity or amount", sdk.ErrInvalidInput, i)
		}
		per, room := r.cfg.PointsPerNight[it.Category]
		switch {
		case AlwaysExcluded[it.Category]:
			b.Exclusions = append(b.Exclusions, earning.Exclusion{LineIndex: i, Category: it.Category, AmountFen: it.AmountFen, Reason: it.Category + " never earns points"})
		case room:
			n := it.Quantity * per
			b.BasePoints += n
			b.EligibleAmountFen += it.AmountFen
			why = append(why, fmt.Sprintf("%s: %d night(s) x %d = %d", it.Category, it.Quantity, per, n))
		case r.cfg.OtherPointsPerYuan > 0:
			n := it.AmountFen / 100 * r.cfg.OtherPointsPerYuan
			b.BasePoints += n
			b.EligibleAmountFen += it.AmountFen
			why = append(why, fmt.Sprintf("%s: %d", it.Category, n))
		default:
			b.Exclusions = append(b.Exclusions, earning.Exclusion{LineIndex: i, Category: it.Category, AmountFen: it.AmountFen, Reason: "only room nights earn points here"})
		}
	}
	b.TotalPoints = b.BasePoints
	if limit := r.cfg.MaxPointsPerStay; limit > 0 && b.TotalPoints > limit {
		b.Caps = append(b.Caps, earning.Cap{Code: "stay_cap", LimitPoints: limit, RemovedPoints: b.TotalPoints - limit,
			Description: fmt.Sprintf("at most %d points per stay", limit)})
		b.TotalPoints = limit
		why = append(why, fmt.Sprintf("limited to %d per stay", limit))
	}
	if len(why) == 0 {
		why = append(why, "no room nights")
	}
	b.Explanation = strings.Join(why, "; ") + fmt.Sprintf(": %d points", b.TotalPoints)
	return b, nil
}
