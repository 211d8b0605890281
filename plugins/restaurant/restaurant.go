// Package restaurant is the first-party earning rule for restaurants: points
// per whole yuan of the eligible amount, where service charges and tips earn
// nothing, plus an off-peak multiplier whose bonus is capped, so a quiet
// afternoon can be rewarded without a single banquet draining the budget.
//
// Configuration (JSON, strictly decoded; see Schema):
//
//	{
//	  "points_per_yuan": 1,
//	  "excluded_categories": ["service_charge", "tip"],
//	  "timezone": "Asia/Shanghai",
//	  "off_peak": {
//	    "windows": [{"start": "14:00", "end": "17:00"}, {"start": "21:30", "end": "02:00"}],
//	    "weekdays": [1, 2, 3, 4, 5],
//	    "multiplier_permille": 2000,
//	    "max_bonus_points": 500
//	  },
//	  "max_points_per_purchase": 0
//	}
//
// Eligible amount: with line items, the sum of lines whose category is not
// excluded, but never more than the amount actually paid (a receipt-level
// discount lowers it); without line items, the amount paid.
//
// README.md in this directory documents the configuration, the complete
// earning formula and worked examples for operators.
package restaurant

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	_ "time/tzdata" // time zones must resolve even on minimal hosts

	"github.com/lianmeng/lianmeng/plugins"
	"github.com/lianmeng/lianmeng/sdk"
	"github.com/lianmeng/lianmeng/sdk/earning"
)

// Name and Version identify the rule.
const (
	Name    = "restaurant"
	Version = "1.0.0"
)

func init() { plugins.Register(Name, Plugins) }

// Plugins is what "lianmeng plugin serve restaurant" serves.
func Plugins() sdk.Plugins {
	return sdk.Plugins{EarningRule: &sdk.EarningRule{
		Info: sdk.Info{
			Name:         Name,
			Version:      Version,
			Summary:      "Points per yuan excluding service charge and tips, with a capped off-peak multiplier",
			ConfigSchema: json.RawMessage(Schema),
			Capabilities: []string{sdk.CapExplain},
		},
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
    "excluded_categories": {"type": "array", "items": {"type": "string", "minLength": 1}, "default": ["service_charge", "tip"]},
    "timezone": {"type": "string", "default": "Asia/Shanghai"},
    "off_peak": {
      "type": "object",
      "additionalProperties": false,
      "required": ["windows", "multiplier_permille", "max_bonus_points"],
      "properties": {
        "windows": {"type": "array", "minItems": 1, "items": {
          "type": "object", "additionalProperties": false, "required": ["start", "end"],
          "properties": {"start": {"type": "string", "pattern": "^[0-2][0-9]:[0-5][0-9]$"}, "end": {"type": "string", "pattern": "^[0-2][0-9]:[0-5][0-9]$"}}
        }},
        "weekdays": {"type": "array", "items": {"type": "integer", "minimum": 0, "maximum": 6}, "description": "0 = Sunday; empty = every day"},
        "multiplier_permille": {"type": "integer", "minimum": 1001, "maximum": 10000},
        "max_bonus_points": {"type": "integer", "minimum": 1}
      }
    },
    "max_points_per_purchase": {"type": "integer", "minimum": 0, "description": "0 = no limit"}
  }
}`

// Config is the decoded configuration.
type Config struct {
	PointsPerYuan        int64    `json:"points_per_yuan"`
	ExcludedCategories   []string `json:"excluded_categories"`
	Timezone             string   `json:"timezone"`
	OffPeak              *OffPeak `json:"off_peak"`
	MaxPointsPerPurchase int64    `json:"max_points_per_purchase"`
}

// OffPeak configures the off-peak multiplier.
type OffPeak struct {
	Windows            []Window `json:"windows"`
	Weekdays           []int    `json:"weekdays"`
	MultiplierPermille int64    `json:"multiplier_permille"`
	MaxBonusPoints     int64    `json:"max_bonus_points"`
}

// Window is a local time range [Start, End); End before Start wraps past
// midnight.
type Window struct {
	Start string `json:"start"`
	End   string `json:"end"`
}

type rule struct {
	cfg      Config
	loc      *time.Location
	excluded map[string]bool
	windows  [][2]int // minutes since midnight
	weekdays map[time.Weekday]bool
}

// New decodes and validates a configuration. Every mistake is reported
// wrapped in sdk.ErrInvalidConfig.
func New(_ context.Context, raw []byte) (earning.Rule, error) {
	r, err := parse(raw)
	if err != nil {
		// One prefix, whether sdk.DecodeConfig or the checks below refused it.
		msg := strings.TrimPrefix(err.Error(), sdk.ErrInvalidConfig.Error()+": ")
		return nil, fmt.Errorf("%w: restaurant: %s", sdk.ErrInvalidConfig, msg)
	}
	return r, nil
}

func parse(raw []byte) (*rule, error) {
	cfg := Config{ExcludedCategories: []string{"service_charge", "tip"}, Timezone: "Asia/Shanghai"}
	if err := sdk.DecodeConfig(raw, &cfg); err != nil {
		return nil, err
	}
	if cfg.PointsPerYuan < 1 || cfg.PointsPerYuan > 100 {
		return nil, fmt.Errorf("points_per_yuan must be 1..100, got %d", cfg.PointsPerYuan)
	}
	if cfg.MaxPointsPerPurchase < 0 {
		return nil, fmt.Errorf("max_points_per_purchase must be >= 0 (0 = no limit), got %d", cfg.MaxPointsPerPurchase)
	}
	loc, err := time.LoadLocation(cfg.Timezone)
	if err != nil || cfg.Timezone == "" {
		return nil, fmt.Errorf("timezone %q is not a known IANA time zone", cfg.Timezone)
	}
	r := &rule{cfg: cfg, loc: loc, excluded: map[string]bool{}}
	for _, c := range cfg.ExcludedCategories {
		if strings.TrimSpace(c) == "" {
			return nil, errors.New("excluded_categories has an empty entry")
		}
		r.excluded[c] = true
	}
	if op := cfg.OffPeak; op != nil {
		if len(op.Windows) == 0 {
			return nil, errors.New("off_peak.windows must list at least one window")
		}
		if op.MultiplierPermille <= 1000 || op.MultiplierPermille > 10000 {
			return nil, fmt.Errorf("off_peak.multiplier_permille must be 1001..10000 (x1.001..x10), got %d", op.MultiplierPermille)
		}
		if op.MaxBonusPoints < 1 {
			return nil, fmt.Errorf("off_peak.max_bonus_points must be >= 1 (the off-peak bonus is always capped), got %d", op.MaxBonusPoints)
		}
		for i, w := range op.Windows {
			s, err1 := clock(w.Start)
			e, err2 := clock(w.End)
			if err := errors.Join(err1, err2); err != nil {
				return nil, fmt.Errorf("off_peak.windows[%d]: %v", i, err)
			}
			if s == e {
				return nil, fmt.Errorf("off_peak.windows[%d]: start and end are both %s", i, w.Start)
			}
			r.windows = append(r.windows, [2]int{s, e})
		}
		if len(op.Weekdays) > 0 {
			r.weekdays = map[time.Weekday]bool{}
			for _, d := range op.Weekdays {
				if d < 0 || d > 6 {
					return nil, fmt.Errorf("off_peak.weekdays: %d is not 0 (Sunday)..6", d)
				}
				if r.weekdays[time.Weekday(d)] {
					return nil, fmt.Errorf("off_peak.weekdays: %d is listed twice", d)
				}
				r.weekdays[time.Weekday(d)] = true
			}
		}
	}
	return r, nil
}

// clock parses "HH:MM" into minutes since midnight.
func clock(s string) (int, error) {
	var h, m int
	if len(s) != 5 || s[2] != ':' {
		return 0, fmt.Errorf("%q is not HH:MM", s)
	}
	if _, err := fmt.Sscanf(s, "%02d:%02d", &h, &m); err != nil || h > 23 || m > 59 {
		return 0, fmt.Errorf("%q is not a time of day HH:MM", s)
	}
	return h*60 + m, nil
}

func (r *rule) offPeak(t time.Time) bool {
	if r.cfg.OffPeak == nil {
		return false
	}
	lt := t.In(r.loc)
	mins := lt.Hour()*60 + lt.Minute()
	for _, w := range r.windows {
		in := false
		day := lt.Weekday()
		if w[0] < w[1] {
			in = mins >= w[0] && mins < w[1]
		} else if mins >= w[0] {
			in = true
		} else if mins < w[1] {
			// After midnight in a window that started the previous evening:
			// the weekday filter applies to the day the window opened.
			in, day = true, (lt.Weekday()+6)%7
		}
		if in && (r.weekdays == nil || r.weekdays[day]) {
			return true
		}
	}
	return false
}

// Evaluate computes the points. It is pure: no I/O, no clock.
func (r *rule) Evaluate(_ context.Context, req earning.Request) (earning.Breakdown, error) {
	p := req.Purchase
	if p.Currency != "CNY" {
		return earning.Breakdown{}, fmt.Errorf("%w: restaurant: currency %q is not supported (CNY only)", sdk.ErrInvalidInput, p.Currency)
	}
	var b earning.Breakdown
	eligible := p.AmountFen
	if len(p.Items) > 0 {
		var lines int64
		for i, it := range p.Items {
			if r.excluded[it.Category] {
				b.Exclusions = append(b.Exclusions, earning.Exclusion{LineIndex: i, Category: it.Category, AmountFen: it.AmountFen,
					Reason: it.Category + " earns no points"})
				continue
			}
			lines += it.AmountFen
		}
		eligible = min(lines, p.AmountFen)
		if lines > p.AmountFen {
			b.Exclusions = append(b.Exclusions, earning.Exclusion{LineIndex: -1, AmountFen: lines - p.AmountFen,
				Reason: "discount: amount paid is less than the eligible lines"})
		}
	}
	b.EligibleAmountFen = eligible
	b.BasePoints = eligible / 100 * r.cfg.PointsPerYuan
	b.TotalPoints = b.BasePoints
	why := []string{fmt.Sprintf("%d point(s) per whole yuan of %s eligible", r.cfg.PointsPerYuan, yuan(eligible))}
	if len(b.Exclusions) > 0 {
		var ex int64
		for _, e := range b.Exclusions {
			ex += e.AmountFen
		}
		why = append(why, fmt.Sprintf("%s excluded (service charge, tips, discounts)", yuan(ex)))
	}

	if op := r.cfg.OffPeak; op != nil && b.BasePoints > 0 && r.offPeak(p.OccurredAt) {
		extra := b.BasePoints * (op.MultiplierPermille - 1000) / 1000
		b.Multipliers = append(b.Multipliers, earning.Multiplier{Code: "off_peak", FactorPermille: op.MultiplierPermille, Points: extra,
			Description: fmt.Sprintf("off-peak x%s", permille(op.MultiplierPermille))})
		b.TotalPoints += extra
		why = append(why, fmt.Sprintf("off-peak x%s adds %d", permille(op.MultiplierPermille), extra))
		if extra > op.MaxBonusPoints {
			removed := extra - op.MaxBonusPoints
			b.Caps = append(b.Caps, earning.Cap{Code: "off_peak_cap", LimitPoints: op.MaxBonusPoints, RemovedPoints: removed,
				Description: fmt.Sprintf("off-peak bonus is capped at %d points", op.MaxBonusPoints)})
			b.TotalPoints -= removed
			why = append(why, fmt.Sprintf("bonus capped at %d", op.MaxBonusPoints))
		}
	}
	if limit := r.cfg.MaxPointsPerPurchase; limit > 0 && b.TotalPoints > limit {
		removed := b.TotalPoints - limit
		b.Caps = append(b.Caps, earning.Cap{Code: "purchase_cap", LimitPoints: limit, RemovedPoints: removed,
			Description: fmt.Sprintf("at most %d points per purchase", limit)})
		b.TotalPoints = limit
		why = append(why, fmt.Sprintf("limited to %d per purchase", limit))
	}
	b.Explanation = strings.Join(why, "; ") + fmt.Sprintf(": %d points", b.TotalPoints)
	return b, nil
}

func yuan(fen int64) string { return fmt.Sprintf("¥%d.%02d", fen/100, fen%100) }

func permille(p int64) string {
	s := fmt.Sprintf("%d.%03d", p/1000, p%1000)
	s = strings.TrimRight(s, "0")
	return strings.TrimSuffix(s, ".")
}
