// Package earning is the EarningRule plugin kind: turn a normalized purchase
// into points, with a breakdown a member can read.
//
// A rule must be pure: the same request gives the same breakdown, and
// evaluating has no side effects (the gateway may evaluate twice, or to
// preview). Points are int64; multipliers are in thousandths, never floats.
package earning

import (
	"context"
	"fmt"

	"github.com/lianmeng/lianmeng/sdk/purchase"
)

// Rule evaluates purchases for one configuration. A Rule that holds
// resources may also implement io.Closer: the SDK closes it when it is
// replaced or the plugin stops.
type Rule interface {
	Evaluate(ctx context.Context, req Request) (Breakdown, error)
}

// Factory builds a Rule from its configuration (a JSON object). It should
// decode strictly and reject anything it does not understand, wrapping
// sdk.ErrInvalidConfig (sdk.DecodeConfig does both).
type Factory func(ctx context.Context, config []byte) (Rule, error)

// Request is one evaluation.
type Request struct {
	Purchase   purchase.Purchase
	MemberTier string // empty when unknown
}

// Breakdown explains how TotalPoints came about:
//
//	TotalPoints = BasePoints + Σ Multipliers[i].Points − Σ Caps[i].RemovedPoints
type Breakdown struct {
	EligibleAmountFen int64        `json:"eligible_amount_fen"`
	BasePoints        int64        `json:"base_points"`
	Multipliers       []Multiplier `json:"multipliers,omitempty"`
	Caps              []Cap        `json:"caps,omitempty"`
	Exclusions        []Exclusion  `json:"exclusions,omitempty"`
	TotalPoints       int64        `json:"total_points"`
	Explanation       string       `json:"explanation,omitempty"`
}

// Multiplier records points added by a multiplier or bonus.
type Multiplier struct {
	Code           string `json:"code"`
	Description    string `json:"description,omitempty"`
	FactorPermille int64  `json:"factor_permille"` // 1500 = x1.5
	Points         int64  `json:"points"`          // points it added
}

// Cap records points removed by a limit.
type Cap struct {
	Code          string `json:"code"`
	Description   string `json:"description,omitempty"`
	LimitPoints   int64  `json:"limit_points"`
	RemovedPoints int64  `json:"removed_points"`
}

// Exclusion records an amount that earned nothing.
type Exclusion struct {
	LineIndex int    `json:"line_index"` // -1: not a single line
	Category  string `json:"category,omitempty"`
	AmountFen int64  `json:"amount_fen"`
	Reason    string `json:"reason"`
}

// Check verifies the breakdown's arithmetic. The host runs it on every
// result, so a buggy rule fails loudly instead of issuing a wrong amount.
func (b Breakdown) Check() error {
	sum := b.BasePoints
	for _, m := range b.Multipliers {
		sum += m.Points
	}
	for _, c := range b.Caps {
		if c.RemovedPoints < 0 {
			return fmt.Errorf("breakdown: cap %q removes a negative amount %d", c.Code, c.RemovedPoints)
		}
		sum -= c.RemovedPoints
	}
	switch {
	case b.TotalPoints < 0:
		return fmt.Errorf("breakdown: total_points %d is negative", b.TotalPoints)
	case b.BasePoints < 0 || b.EligibleAmountFen < 0:
		return fmt.Errorf("breakdown: negative base_points or eligible_amount_fen")
	case sum != b.TotalPoints:
		return fmt.Errorf("breakdown: base %d + multipliers − caps = %d, but total_points is %d", b.BasePoints, sum, b.TotalPoints)
	}
	return nil
}
