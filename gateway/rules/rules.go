// Package rules owns merchants' earning rule sets (DESIGN §6): immutable
// versions that move draft → scheduled → active → superseded (or are
// withdrawn before they take effect), and the notice check that lets a
// version less favourable to members take effect only after the
// alliance's notice period. It decides; the store keeps (the Store port)
// and the points module applies the version in effect to each earn
// (points.Earning carries its terms).
package rules

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"time"

	"github.com/lianmeng/lianmeng/gateway/points"
)

// Statuses as stored. Scheduled, active and superseded are what a
// published version is at a given time (State).
const (
	StatusDraft     = "draft"
	StatusPublished = "published"
	StatusWithdrawn = "withdrawn"
)

// States of a version at a time.
const (
	StateDraft      = "draft"
	StateScheduled  = "scheduled"
	StateActive     = "active"
	StateSuperseded = "superseded"
	StateWithdrawn  = "withdrawn"
)

// Terms are what a version promises members. Durations are whole seconds;
// -1 means "the alliance policy's" (only version 1 migrated from a flat
// configuration has it, until the gateway pins it at start).
type Terms struct {
	RateBP              int64    `json:"rate_bp"`
	MaxPoints           int64    `json:"max_points"`
	RulePlugin          string   `json:"rule_plugin"`
	ReleaseDelaySeconds int64    `json:"release_delay_seconds"`
	ValiditySeconds     int64    `json:"validity_seconds"`
	ExcludedCategories  []string `json:"excluded_categories"`
	// Expression is a CEL expression computing the base points instead of
	// the flat rate (cel.go); empty for the flat rate.
	Expression string `json:"expression"`
	// MemberDayCap and MemberMonthCap bound the points one member earns at
	// the merchant per day and per month of the alliance's zone (0: none).
	MemberDayCap   int64 `json:"member_day_cap"`
	MemberMonthCap int64 `json:"member_month_cap"`
	// RulePluginConfig is the rule plugin's configuration for this version
	// (a JSON object, compacted; absent: the plugin's manifest
	// configuration). Immutable once published like every term.
	RulePluginConfig json.RawMessage `json:"rule_plugin_config,omitempty"`
	SummaryZH        string          `json:"summary_zh"`
	SummaryEN        string          `json:"summary_en"`
}

// Version is one version of a merchant's rule set.
type Version struct {
	ID         int64  `json:"id"`
	MerchantID string `json:"merchant_id"`
	// Number is 1, 2, ... in publication order; 0 for a draft.
	Number    int64     `json:"version"`
	Status    string    `json:"status"`
	State     string    `json:"state"`
	Terms     Terms     `json:"terms"`
	CreatedBy string    `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
	// PublishedAt and EffectiveAt are set once published; WithdrawnAt
	// once withdrawn.
	PublishedAt *time.Time `json:"published_at,omitempty"`
	EffectiveAt *time.Time `json:"effective_at,omitempty"`
	WithdrawnAt *time.Time `json:"withdrawn_at,omitempty"`
}

// effective is the version's effective time (zero for a draft).
func (v Version) effective() time.Time {
	if v.EffectiveAt == nil {
		return time.Time{}
	}
	return *v.EffectiveAt
}

// Earning is the runtime form of a version's terms for the points module.
func (t Terms) Earning(number int64) points.Earning {
	e := points.Earning{RateBP: t.RateBP, MaxPoints: t.MaxPoints, RulePlugin: t.RulePlugin, Version: number,
		ReleaseDelay: seconds(t.ReleaseDelaySeconds), Validity: seconds(t.ValiditySeconds), Excluded: t.ExcludedCategories,
		MemberDayCap: t.MemberDayCap, MemberMonthCap: t.MemberMonthCap}
	if len(t.RulePluginConfig) > 0 {
		e.PluginConfig = []byte(t.RulePluginConfig)
	}
	if t.Expression != "" {
		if x, err := Compiled(t.Expression); err == nil {
			e.Expr = x
		} else {
			// Published expressions compiled when drafted; one that no
			// longer does (a CEL upgrade) must fail the earn, never fall
			// back to the flat rate.
			e.Expr = brokenExpression{err}
		}
	}
	return e
}

type brokenExpression struct{ err error }

func (b brokenExpression) Points(points.RuleInput, int64, []points.Item) (int64, error) {
	return 0, b.err
}

func seconds(n int64) time.Duration {
	if n < 0 {
		return -1
	}
	return time.Duration(n) * time.Second
}

// Limits on terms.
const (
	MaxReleaseDelay = 365 * 24 * time.Hour
	MaxValidity     = 10 * 365 * 24 * time.Hour
	MaxExcluded     = 50
	MaxSummary      = 1000
	MaxMemberCap    = 1_000_000_000_000
	MaxPluginConfig = 16 << 10
)

// CompactConfig returns a plugin configuration in its compact form (what a
// version stores and compares), or nil for none; malformed JSON is left as
// it is for Validate to refuse.
func CompactConfig(raw json.RawMessage) json.RawMessage {
	if len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null" {
		return nil
	}
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return raw
	}
	return b.Bytes()
}

// Validate checks terms against the policy (a draft must be publishable).
func (t Terms) Validate(p points.Policy) error {
	if err := (points.Earning{RateBP: t.RateBP, MaxPoints: t.MaxPoints, RulePlugin: t.RulePlugin}).Validate(p); err != nil {
		return err
	}
	if t.ReleaseDelaySeconds < 0 || seconds(t.ReleaseDelaySeconds) > MaxReleaseDelay {
		return invalid("release_delay_seconds must be between 0 and %d", int64(MaxReleaseDelay/time.Second))
	}
	if t.ValiditySeconds <= 0 || seconds(t.ValiditySeconds) > MaxValidity {
		return invalid("validity_seconds must be between 1 and %d", int64(MaxValidity/time.Second))
	}
	if len(t.ExcludedCategories) > MaxExcluded {
		return invalid("at most %d excluded_categories", MaxExcluded)
	}
	for _, c := range t.ExcludedCategories {
		if c == "" || len(c) > 64 {
			return invalid("an excluded category is 1 to 64 bytes")
		}
	}
	if t.MemberDayCap < 0 || t.MemberDayCap > MaxMemberCap || t.MemberMonthCap < 0 || t.MemberMonthCap > MaxMemberCap {
		return invalid("member_day_cap and member_month_cap are between 0 (none) and %d points", MaxMemberCap)
	}
	if len(t.RulePluginConfig) > 0 {
		if t.RulePlugin == "" {
			return invalid("rule_plugin_config needs a rule_plugin")
		}
		if len(t.RulePluginConfig) > MaxPluginConfig {
			return invalid("rule_plugin_config is at most %d bytes", MaxPluginConfig)
		}
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(t.RulePluginConfig, &obj); err != nil || obj == nil {
			return invalid("rule_plugin_config must be a JSON object")
		}
	}
	if len(t.SummaryZH) > MaxSummary || len(t.SummaryEN) > MaxSummary {
		return invalid("summary_zh and summary_en are at most %d bytes", MaxSummary)
	}
	if t.Expression != "" {
		if t.RulePlugin != "" {
			return invalid("a version has an expression or a rule_plugin, not both")
		}
		return checkExpression(t.Expression)
	}
	return nil
}

// Error codes.
const (
	CodeNoticePeriodNotMet = "notice_period_not_met"
	CodeChangePending      = "rule_change_pending"
	CodeVersionNotFound    = "rule_version_not_found"
	CodeNotDraft           = "rule_version_not_draft"
	CodeNotScheduled       = "rule_version_not_scheduled"
	CodeEffectiveInPast    = "effective_at_in_past"
)

// Error is a refusal with a stable code; Earliest is set for
// notice_period_not_met.
type Error struct {
	Status   int // HTTP-like class: 400, 404, 409
	Code     string
	Message  string
	Earliest time.Time
	// Problems are an expression's compile errors with their positions.
	Problems []Problem
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

func invalid(format string, args ...any) error {
	return &Error{Status: 400, Code: points.CodeValidation, Message: fmt.Sprintf(format, args...)}
}

// ErrNotFound is returned by Store methods for a missing version.
var ErrNotFound = errors.New("rule version not found")

// States fills in each version's state at now. versions are one
// merchant's; the active one is the published version with the highest
// number whose effective time has come.
func States(versions []Version, now time.Time) {
	var active int64
	for _, v := range versions {
		if v.Status == StatusPublished && !v.effective().After(now) && v.Number > active {
			active = v.Number
		}
	}
	for i := range versions {
		v := &versions[i]
		switch {
		case v.Status == StatusDraft:
			v.State = StateDraft
		case v.Status == StatusWithdrawn:
			v.State = StateWithdrawn
		case v.effective().After(now):
			v.State = StateScheduled
		case v.Number == active:
			v.State = StateActive
		default:
			v.State = StateSuperseded
		}
	}
}

// Change is one term that differs between two versions.
type Change struct {
	Term string `json:"term"`
	Old  any    `json:"old"`
	New  any    `json:"new"`
	// LessFavourable: members are worse off on this term.
	LessFavourable bool `json:"less_favourable"`
}

// Diff compares new against old term by term, in a fixed order, and with
// corpus purchases the points each version awards. old nil (no version in
// effect) is no term at all: nothing is less favourable than that.
func Diff(old *Terms, nw Terms, p points.Policy, corpus []Purchase) []Change {
	var out []Change
	if old == nil {
		return nil
	}
	o, n := old.resolved(p), nw.resolved(p)
	if o.ReleaseDelaySeconds != n.ReleaseDelaySeconds {
		out = append(out, Change{"release_delay_seconds", o.ReleaseDelaySeconds, n.ReleaseDelaySeconds, n.ReleaseDelaySeconds > o.ReleaseDelaySeconds})
	}
	if o.ValiditySeconds != n.ValiditySeconds {
		out = append(out, Change{"validity_seconds", o.ValiditySeconds, n.ValiditySeconds, n.ValiditySeconds < o.ValiditySeconds})
	}
	if capOf(o, p) != capOf(n, p) {
		out = append(out, Change{"max_points", o.MaxPoints, n.MaxPoints, capOf(n, p) < capOf(o, p)})
	}
	if o.Expression != n.Expression {
		// Judged by the points it awards on the corpus (below).
		out = append(out, Change{"expression", o.Expression, n.Expression, false})
	}
	if o.RateBP != n.RateBP {
		// With an expression on either side the rate is not what awards the
		// points: the corpus comparison below judges the change.
		flat := o.Expression == "" && n.Expression == ""
		out = append(out, Change{"rate_bp", o.RateBP, n.RateBP, flat && n.RateBP < o.RateBP})
	}
	if o.RulePlugin != n.RulePlugin {
		// A different plugin cannot be compared purchase by purchase here:
		// it counts as less favourable, so it waits for the notice period.
		out = append(out, Change{"rule_plugin", o.RulePlugin, n.RulePlugin, true})
	} else if !bytes.Equal(o.RulePluginConfig, n.RulePluginConfig) {
		// The same plugin with another configuration: judged on the corpus
		// by the plugin itself when the comparison can ask it (DiffWith),
		// otherwise less favourable, like a new plugin.
		out = append(out, Change{"rule_plugin_config", o.RulePluginConfig, n.RulePluginConfig, true})
	}
	for _, c := range []struct {
		term     string
		old, new int64
	}{{"member_day_cap", o.MemberDayCap, n.MemberDayCap}, {"member_month_cap", o.MemberMonthCap, n.MemberMonthCap}} {
		if c.old != c.new {
			// 0 is no cap: any cap is lower than none.
			out = append(out, Change{c.term, c.old, c.new, c.new > 0 && (c.old == 0 || c.new < c.old)})
		}
	}
	var added, removed []string
	for _, c := range n.ExcludedCategories {
		if !slices.Contains(o.ExcludedCategories, c) {
			added = append(added, c)
		}
	}
	for _, c := range o.ExcludedCategories {
		if !slices.Contains(n.ExcludedCategories, c) {
			removed = append(removed, c)
		}
	}
	if len(added) > 0 || len(removed) > 0 {
		out = append(out, Change{"excluded_categories", o.ExcludedCategories, n.ExcludedCategories, len(added) > 0})
	}
	if o.SummaryZH != n.SummaryZH || o.SummaryEN != n.SummaryEN {
		out = append(out, Change{"summary", [2]string{o.SummaryZH, o.SummaryEN}, [2]string{n.SummaryZH, n.SummaryEN}, false})
	}
	if o.RulePlugin == "" && n.RulePlugin == "" {
		if f := fewerPoints(o, n, p, corpus); f != nil {
			out = append(out, *f)
		}
	}
	return out
}

// resolved replaces inherited (-1) terms with the policy's.
func (t Terms) resolved(p points.Policy) Terms {
	if t.ReleaseDelaySeconds < 0 {
		t.ReleaseDelaySeconds = int64(p.ReleaseDelay / time.Second)
	}
	if t.ValiditySeconds < 0 {
		t.ValiditySeconds = int64(p.Validity / time.Second)
	}
	return t
}

func capOf(t Terms, p points.Policy) int64 {
	if t.MaxPoints > 0 && t.MaxPoints < p.MaxPointsPerEarn {
		return t.MaxPoints
	}
	return p.MaxPointsPerEarn
}

// Points is what the terms award for a purchase by a member who earned
// nothing at the merchant yet today or this month (the same arithmetic as
// the earn: the eligible amount at the rate or the expression, floored,
// capped, never worth more than the purchase).
func (t Terms) Points(pu Purchase, p points.Policy) int64 {
	return t.pointsAt(pu, p, points.MemberCounters{})
}

// pointsAt is Points for a member with counters c.
func (t Terms) pointsAt(pu Purchase, p points.Policy, c points.MemberCounters) int64 {
	e := t.Earning(1)
	var n int64
	if e.Expr != nil {
		in := points.RuleInput{AmountFen: pu.AmountFen, Items: pu.Items, OccurredAt: corpusTime, Counters: c}
		x, err := e.Expr.Points(in, e.EligibleFen(pu.AmountFen, pu.Items), e.EligibleItems(pu.Items))
		if err != nil {
			return 0 // an expression that fails awards nothing: as bad as it gets
		}
		n = min(x, capOf(t, p), pu.AmountFen/p.FaceValueFen)
	} else {
		v := new(big.Int).Mul(big.NewInt(e.EligibleFen(pu.AmountFen, pu.Items)), big.NewInt(t.RateBP))
		v.Quo(v, big.NewInt(10000*p.FaceValueFen))
		n = capOf(t, p)
		if v.IsInt64() {
			n = min(v.Int64(), n, pu.AmountFen/p.FaceValueFen)
		}
	}
	for _, lim := range [][2]int64{{t.MemberDayCap, c.Today.Points}, {t.MemberMonthCap, c.ThisMonth.Points}} {
		if lim[0] > 0 {
			n = min(n, max(lim[0]-lim[1], 0))
		}
	}
	return n
}

// counterStates are the members a comparison imagines when either version
// reads the counters: from a first purchase to a regular's thirtieth of
// the month, so that raising a threshold on purchases this month is seen
// as the loss it is.
var counterStates = []points.MemberCounters{
	{},
	{Today: points.Counter{Purchases: 1, Points: 100}, ThisMonth: points.Counter{Purchases: 1, Points: 100}},
	{Today: points.Counter{Purchases: 1, Points: 500}, ThisMonth: points.Counter{Purchases: 3, Points: 1500}},
	{Today: points.Counter{Purchases: 2, Points: 1000}, ThisMonth: points.Counter{Purchases: 5, Points: 3000}},
	{Today: points.Counter{Purchases: 3, Points: 3000}, ThisMonth: points.Counter{Purchases: 10, Points: 10000}},
	{Today: points.Counter{Purchases: 5, Points: 10000}, ThisMonth: points.Counter{Purchases: 20, Points: 50000}},
	{Today: points.Counter{Purchases: 10, Points: 50000}, ThisMonth: points.Counter{Purchases: 30, Points: 200000}},
}

// readsCounters reports whether the terms' expression uses the counters.
func (t Terms) readsCounters() bool {
	if t.Expression == "" {
		return false
	}
	x, err := Compiled(t.Expression)
	return err == nil && x.UsesCounters()
}

// fewerPoints reports the first corpus purchase new awards fewer points
// for than old (for each imagined member when either reads the counters).
func fewerPoints(o, n Terms, p points.Policy, corpus []Purchase) *Change {
	states := counterStates[:1]
	if o.readsCounters() || n.readsCounters() {
		states = counterStates
	}
	var worse, compared int
	var first string
	var firstOld, firstNew int64
	for _, c := range states {
		for i := range corpus {
			compared++
			op, np := o.pointsAt(corpus[i], p, c), n.pointsAt(corpus[i], p, c)
			if np < op {
				worse++
				if first == "" {
					first, firstOld, firstNew = corpus[i].Label, op, np
					if c.ThisMonth.Purchases > 0 {
						first += fmt.Sprintf(" (a member's purchase number %d this month, %d today)", c.ThisMonth.Purchases+1, c.Today.Purchases+1)
					}
				}
			}
		}
	}
	if worse == 0 {
		return nil
	}
	return &Change{Term: "points", Old: fmt.Sprintf("%d points for %s", firstOld, first),
		New: fmt.Sprintf("%d points (fewer on %d of %d comparison purchases)", firstNew, worse, compared), LessFavourable: true}
}

// LessFavourable reports whether any change makes members worse off.
func LessFavourable(changes []Change) bool {
	return slices.ContainsFunc(changes, func(c Change) bool { return c.LessFavourable })
}

// NoticeCheck decides whether a version whose changes are given may take
// effect at effectiveAt: a less favourable one needs effectiveAt ≥ now +
// notice; a favourable one may take effect at once.
func NoticeCheck(changes []Change, effectiveAt, now time.Time, notice time.Duration) error {
	if !LessFavourable(changes) {
		return nil
	}
	earliest := now.Add(notice)
	if effectiveAt.Before(earliest) {
		var terms []string
		for _, c := range changes {
			if c.LessFavourable {
				terms = append(terms, c.Term)
			}
		}
		return &Error{Status: 409, Code: CodeNoticePeriodNotMet, Earliest: earliest,
			Message: fmt.Sprintf("the version is less favourable to members (%v): it can take effect at %s at the earliest (notice period %s)",
				terms, earliest.UTC().Format(time.RFC3339), notice)}
	}
	return nil
}

// Store keeps rule sets (the store implements it).
type Store interface {
	// RuleVersions lists a merchant's versions, drafts included, by id.
	RuleVersions(ctx context.Context, merchantID string) ([]Version, error)
	// CreateRuleDraft stores a draft and returns it with its id.
	CreateRuleDraft(ctx context.Context, v Version) (Version, error)
	// PublishRuleVersion numbers and publishes draft id of merchantID with
	// effectiveAt, in one transaction that first calls check with the
	// merchant's versions as they are then (so two publications cannot
	// race past the notice check), and writes the audit event kind with
	// payload. ErrNotFound for a missing draft.
	PublishRuleVersion(ctx context.Context, merchantID string, id int64, effectiveAt, at time.Time, actor string,
		check func(current []Version) (payload any, err error)) (Version, error)
	// PublishRuleTerms stores v (status draft on entry) as a published
	// version at once, like PublishRuleVersion, without a draft existing
	// before: nothing is written when check refuses.
	PublishRuleTerms(ctx context.Context, v Version, effectiveAt, at time.Time, actor string,
		check func(current []Version) (payload any, err error)) (Version, error)
	// WithdrawRuleVersion withdraws version number of merchantID, after
	// check, auditing it likewise.
	WithdrawRuleVersion(ctx context.Context, merchantID string, number int64, at time.Time, actor string,
		check func(current []Version) (payload any, err error)) (Version, error)
	// RecentEarnPurchases returns up to n of the merchant's latest earning
	// purchases, for the comparison corpus.
	RecentEarnPurchases(ctx context.Context, merchantID string, n int) ([]Purchase, error)
}
