package points

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Earning is a merchant's earning configuration: a flat rate, or a rule
// plugin that computes the award.
type Earning struct {
	// RateBP is the flat earning rate in basis points of the purchase
	// amount, paid in points of face value (100 = 1% back).
	RateBP int64 `json:"rate_bp"`
	// MaxPoints bounds one earn at this merchant (0 = policy maximum).
	MaxPoints int64 `json:"max_points"`
	// RulePlugin names an earning-rule plugin that computes points
	// instead of the flat rate.
	RulePlugin string `json:"rule_plugin"`
	// The terms below come from the merchant's rule version in effect
	// (gateway/rules); they are not part of the operator's flat body.
	//
	// Version is the rule set version in effect (0: the merchant has none).
	Version int64 `json:"-"`
	// ReleaseDelay and Validity are the version's terms for a lot earned
	// under it (without a version, or negative: the alliance policy's).
	ReleaseDelay time.Duration `json:"-"`
	Validity     time.Duration `json:"-"`
	// Excluded lists item categories that earn nothing (at the flat rate,
	// and hidden from an expression).
	Excluded []string `json:"-"`
	// Expr, when set, computes the base points instead of the flat rate
	// (a rule version's compiled expression).
	Expr Expression `json:"-"`
	// MemberDayCap and MemberMonthCap bound the points one member earns at
	// the merchant per day and per month of the alliance's zone (0: none).
	MemberDayCap   int64 `json:"-"`
	MemberMonthCap int64 `json:"-"`
	// PluginConfig is the version's configuration of its rule plugin (JSON;
	// nil: the plugin's manifest configuration).
	PluginConfig []byte `json:"-"`
}

// Breakdown explains an award: what was eligible, the base points the
// rule gave, each cap that removed points, and the total. A rule
// expression's earn answers it and stores it with the purchase.
type Breakdown struct {
	// Rule is what decided the base points: expression or plugin.
	Rule        string `json:"rule"`
	EligibleFen int64  `json:"eligible_fen"`
	// ExcludedFen is the amount of items in excluded categories.
	ExcludedFen int64 `json:"excluded_fen"`
	BasePoints  int64 `json:"base_points"`
	// Multipliers are a plugin's bonuses on top of the base.
	Multipliers []BreakdownMultiplier `json:"multipliers,omitempty"`
	Caps        []BreakdownCap        `json:"caps"`
	TotalPoints int64                 `json:"total_points"`
	// Explanation is a plugin's own words (at most MaxExplanation bytes).
	Explanation string `json:"explanation,omitempty"`
}

// BreakdownMultiplier is a bonus a rule added: its code, its factor in
// permille (1500 = x1.5) and the points it added.
type BreakdownMultiplier struct {
	Code           string `json:"code"`
	FactorPermille int64  `json:"factor_permille"`
	Points         int64  `json:"points"`
}

// Limits on a plugin's breakdown kept with a purchase.
const (
	MaxExplanation    = 500
	MaxBreakdownLines = 20
)

// BreakdownCap is a limit that removed points: max_points (the version's
// or the policy's cap per purchase), purchase_value (a purchase never
// earns more than its own value in points), or a plugin's own cap.
type BreakdownCap struct {
	Code          string `json:"code"`
	LimitPoints   int64  `json:"limit_points"`
	RemovedPoints int64  `json:"removed_points"`
}

// Expression computes a rule version's base points for a purchase, given
// the eligible amount and the items that are not excluded. It is pure and
// bounded in cost and time, so the batch may call it.
type Expression interface {
	Points(in RuleInput, eligibleFen int64, items []Item) (int64, error)
}

// EligibleItems are the items not in an excluded category.
func (e Earning) EligibleItems(items []Item) []Item {
	if len(e.Excluded) == 0 {
		return items
	}
	out := make([]Item, 0, len(items))
	for _, it := range items {
		excluded := false
		for _, c := range e.Excluded {
			if it.Category == c {
				excluded = true
				break
			}
		}
		if !excluded {
			out = append(out, it)
		}
	}
	return out
}

// Terms returns the release delay and validity a lot earned under e gets:
// the version's own, or the policy's where the version inherits it.
func (e Earning) Terms(p Policy) (release, validity time.Duration) {
	release, validity = e.ReleaseDelay, e.Validity
	if e.Version == 0 || release < 0 {
		release = p.ReleaseDelay
	}
	if e.Version == 0 || validity < 0 {
		validity = p.Validity
	}
	return release, validity
}

// EligibleFen is the part of a purchase that earns at the flat rate: the
// amount less the items in excluded categories (never below zero).
func (e Earning) EligibleFen(amountFen int64, items []Item) int64 {
	if len(e.Excluded) == 0 {
		return amountFen
	}
	out := amountFen
	for _, it := range items {
		for _, c := range e.Excluded {
			if it.Category == c {
				out -= it.AmountFen
				break
			}
		}
	}
	return max(out, 0)
}

// VersionLabel is the rule version recorded on a purchase and its lot.
func (e Earning) VersionLabel() string {
	if e.Version > 0 {
		return fmt.Sprintf("v%d", e.Version)
	}
	return fmt.Sprintf("flat:%d", e.RateBP)
}

// Validate checks an earning configuration against the policy.
func (e Earning) Validate(p Policy) error {
	if e.RateBP < 0 || e.RateBP > 10000 {
		return errf(Invalid, CodeValidation, "rate_bp must be between 0 and 10000 (basis points of the purchase amount)")
	}
	if e.MaxPoints < 0 || e.MaxPoints > p.MaxPointsPerEarn {
		return errf(Invalid, CodeValidation, "max_points must be between 0 (policy maximum) and %d", p.MaxPointsPerEarn)
	}
	if len(e.RulePlugin) > 32 || checkText("rule_plugin", e.RulePlugin, 32) != nil {
		return errf(Invalid, CodeValidation, "rule_plugin is at most 32 printable characters")
	}
	return nil
}

// Item is one line of a purchase.
type Item struct {
	SKU       string `json:"sku"`
	Name      string `json:"name"`
	Category  string `json:"category"`
	Quantity  int64  `json:"quantity"`
	AmountFen int64  `json:"amount_fen"`
}

// Limits on what a purchase may carry for rules.
const (
	MaxItems      = 500
	MaxAttributes = 20
)

// RuleInput is what an earning rule sees of a purchase.
type RuleInput struct {
	MerchantID string
	StoreID    string
	OrderID    string
	AmountFen  int64
	Items      []Item
	OccurredAt time.Time
	Attributes map[string]string
	// Counters are the member's earlier earns at the merchant today and
	// this month (read in the batch for a version that uses them; zero
	// otherwise, and for a rule plugin, which is asked before the batch).
	Counters MemberCounters
	// PluginConfig is the rule version's configuration for its plugin.
	PluginConfig []byte
}

// Award is what an earning rule decided: the points and the rule version
// that produced them (recorded on the purchase and its lot, so the terms a
// member earned under are never lost).
type Award struct {
	Points      int64
	RuleVersion string
	// Breakdown is the rule plugin's explanation (nil if it gave none).
	Breakdown *Breakdown
}

// RuleEvaluator computes points with an earning-rule plugin. It returns an
// error wrapping ErrRuleUnavailable (optionally implementing RetryAfterer)
// when the plugin cannot answer: the earn is then refused with
// rule_unavailable, never given a guessed amount.
type RuleEvaluator interface {
	EvaluateEarning(ctx context.Context, plugin string, in RuleInput) (Award, error)
}

// CodeRuleFailed refuses an earn whose rule expression failed for the
// purchase (a runtime error, its cost limit, a negative result): 422, the
// same request would fail again.
const CodeRuleFailed = "rule_failed"

// ErrRuleTimeout marks a rule expression stopped by its evaluation
// timeout: unlike its cost limit, that may be a busy machine, so the earn is
// refused as unavailable (retry), not as a rule that fails.
var ErrRuleTimeout = errors.New("rule expression evaluation timed out")

// ErrRuleUnavailable marks a rule plugin that is down, slow or crashing.
var ErrRuleUnavailable = errors.New("earning rule unavailable")

// RetryAfterer is implemented by errors carrying a retry hint.
type RetryAfterer interface{ RetryAfter() time.Duration }

// EarningSource reads a merchant's earning configuration before a write.
// A cached view is fine: the earn re-checks the configuration it was
// prepared with against the merchant's current row inside the batch.
type EarningSource interface {
	MerchantEarning(ctx context.Context, merchantID string) (Earning, error)
}

// EarningStore keeps merchants' earning configurations: the committed
// source of truth (uncached). Changes go through gateway/rules, whose
// publications pass the notice check.
type EarningStore interface {
	EarningSource
}

// Earning reads a merchant's committed earning configuration.
func (s *Service) Earning(ctx context.Context, merchantID string) (Earning, error) {
	return s.EarningStore.MerchantEarning(ctx, merchantID)
}

// EarningFunc adapts a function to EarningSource.
type EarningFunc func(ctx context.Context, merchantID string) (Earning, error)

// MerchantEarning calls f.
func (f EarningFunc) MerchantEarning(ctx context.Context, merchantID string) (Earning, error) {
	return f(ctx, merchantID)
}

// PrepareEarn validates an earn and decides its award outside the batch
// (rule plugins are never called while a batch holds the ledger): an
// explicit award, the merchant's rule plugin, or — decided inside the
// batch — the flat rate. It returns the Command to submit.
func (s *Service) PrepareEarn(ctx context.Context, r EarnRequest) (Command, error) {
	if err := s.ValidateEarn(&r); err != nil {
		return Command{}, err
	}
	if err := s.IssuanceOpen(ctx); err != nil {
		return Command{}, err
	}
	if r.Points != nil {
		return s.earnCommand(r), nil
	}
	if s.Earnings == nil {
		return Command{}, errors.New("points: no earning source configured")
	}
	e, err := s.Earnings.MerchantEarning(ctx, r.MerchantID)
	if err != nil {
		return Command{}, err
	}
	r.counted = e.NeedsCounters()
	if e.RulePlugin == "" {
		return s.earnCommand(r), nil
	}
	if s.Rules == nil {
		return Command{}, &Error{Class: Unavailable, Code: CodeRuleUnavailable, RetryAfter: 30 * time.Second,
			Message: "earning rule plugin " + e.RulePlugin + " is not loaded"}
	}
	at := r.OccurredAt
	if at.IsZero() {
		at = s.now()
	}
	a, err := s.Rules.EvaluateEarning(ctx, e.RulePlugin, RuleInput{MerchantID: r.MerchantID, StoreID: r.StoreID, OrderID: r.OrderID,
		AmountFen: r.AmountFen, Items: r.Items, OccurredAt: at.UTC(), Attributes: r.Attributes, PluginConfig: e.PluginConfig})
	if err != nil {
		var pe *Error
		if errors.As(err, &pe) {
			return Command{}, err
		}
		retry := 5 * time.Second
		var ra RetryAfterer
		if errors.As(err, &ra) && ra.RetryAfter() > 0 {
			retry = ra.RetryAfter()
		}
		msg := "the earning rule failed; retry with the same Idempotency-Key"
		if errors.Is(err, ErrRuleUnavailable) {
			msg = "the earning rule is unavailable; retry with the same Idempotency-Key"
		}
		return Command{}, &Error{Class: Unavailable, Code: CodeRuleUnavailable, Message: msg, RetryAfter: retry, cause: err}
	}
	r.award, r.awardedBy, r.awardVersion = &a, e.RulePlugin, e.Version
	if err := s.ValidateEarn(&r); err != nil {
		return Command{}, err
	}
	return s.earnCommand(r), nil
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}
