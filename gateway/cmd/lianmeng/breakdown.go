package main

import (
	"unicode/utf8"

	"github.com/lianmeng/lianmeng/gateway/points"
	"github.com/lianmeng/lianmeng/sdk/earning"
)

// breakdownOf turns a rule plugin's explanation into the one kept with the
// purchase: its lines bounded (points.MaxBreakdownLines), its explanation
// cut to points.MaxExplanation bytes on a character boundary, exclusions
// summed into the excluded amount.
func breakdownOf(b earning.Breakdown) *points.Breakdown {
	out := &points.Breakdown{Rule: points.BreakdownPlugin, EligibleFen: b.EligibleAmountFen, BasePoints: b.BasePoints,
		Caps: []points.BreakdownCap{}, TotalPoints: b.TotalPoints}
	for _, e := range b.Exclusions {
		out.ExcludedFen += e.AmountFen
	}
	for i, m := range b.Multipliers {
		if i == points.MaxBreakdownLines {
			break
		}
		out.Multipliers = append(out.Multipliers, points.BreakdownMultiplier{Code: cut(m.Code, 64), FactorPermille: m.FactorPermille, Points: m.Points})
	}
	for i, c := range b.Caps {
		if i == points.MaxBreakdownLines {
			break
		}
		out.Caps = append(out.Caps, points.BreakdownCap{Code: cut(c.Code, 64), LimitPoints: c.LimitPoints, RemovedPoints: c.RemovedPoints})
	}
	out.Explanation = cut(b.Explanation, points.MaxExplanation)
	return out
}

// cut shortens s to at most n bytes without splitting a character.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}
