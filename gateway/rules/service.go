package rules

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/lianmeng/lianmeng/gateway/points"
)

// Notice period bounds (rules.notice_period in the configuration).
const (
	DefaultNotice = 30 * 24 * time.Hour
	MinNotice     = 7 * 24 * time.Hour
)

// RecentPurchases is how many of the merchant's latest purchases join the
// synthetic corpus when a version is compared with the one it replaces.
const RecentPurchases = 200

// pastSlack forgives a requested effective time this far in the past
// (clock skew between the caller and the gateway); it then means "now".
const pastSlack = time.Minute

// Audit event kinds (sealed into the evidence log with their payload).
const (
	AuditPublished = "rules.version_published"
	AuditWithdrawn = "rules.version_withdrawn"
)

// Service manages rule sets.
type Service struct {
	Policy points.Policy
	// Notice is the alliance's notice period for less favourable versions.
	Notice time.Duration
	Store  Store
	Now    func() time.Time
	// Notices lists what else a merchant's public log announces (its exit,
	// the alliance's wind-down; gateway/lifecycle). Nil: nothing.
	Notices func(ctx context.Context, merchantID string) ([]Notice, error)
	// Plugins checks a draft's rule_plugin_config with its plugin (nil:
	// only its form is checked; the plugin refuses it at the first earn).
	Plugins PluginConfigChecker
	// Evaluator runs the comparison corpus through a rule plugin, so that
	// another configuration of the plugin in effect is judged by the points
	// it awards (nil: such a change counts as less favourable).
	Evaluator points.RuleEvaluator
}

// pluginJudgement is the corpus comparison of two configurations of one
// rule plugin, made before the publication's transaction (plugins are
// never called while it holds the rule set), valid only if the version in
// effect is still activeNumber when the check runs.
type pluginJudgement struct {
	activeNumber int64
	fewer        *Change // nil: no corpus purchase earns fewer points
}

// judgePluginConfig compares, when the draft keeps the plugin in effect
// with another configuration, what both configurations award on the
// corpus. nil when there is nothing to judge or the plugin cannot answer
// for every purchase (the change then stays less favourable).
func (s *Service) judgePluginConfig(ctx context.Context, merchantID string, active *Version, draft Terms, corpus []Purchase) *pluginJudgement {
	if s.Evaluator == nil || active == nil || draft.RulePlugin == "" || active.Terms.RulePlugin != draft.RulePlugin ||
		bytes.Equal(active.Terms.RulePluginConfig, draft.RulePluginConfig) {
		return nil
	}
	j := &pluginJudgement{activeNumber: active.Number}
	var worse int
	for _, pu := range corpus {
		in := points.RuleInput{MerchantID: merchantID, OrderID: "corpus", AmountFen: pu.AmountFen, Items: pu.Items, OccurredAt: corpusTime}
		in.PluginConfig = active.Terms.RulePluginConfig
		o, err := s.Evaluator.EvaluateEarning(ctx, draft.RulePlugin, in)
		if err != nil {
			return nil
		}
		in.PluginConfig = draft.RulePluginConfig
		n, err := s.Evaluator.EvaluateEarning(ctx, draft.RulePlugin, in)
		if err != nil {
			return nil
		}
		op, np := min(o.Points, capOf(active.Terms, s.Policy)), min(n.Points, capOf(draft, s.Policy))
		if np < op {
			worse++
			if j.fewer == nil {
				j.fewer = &Change{Term: "points", Old: fmt.Sprintf("%d points for %s", op, pu.Label), LessFavourable: true}
				j.fewer.New = np
			}
		}
	}
	if j.fewer != nil {
		j.fewer.New = fmt.Sprintf("%d points (fewer on %d of %d comparison purchases)", j.fewer.New, worse, len(corpus))
	}
	return j
}

// apply settles the rule_plugin_config change by the judgement.
func (j *pluginJudgement) apply(changes []Change, active *Version) []Change {
	if j == nil || active == nil || active.Number != j.activeNumber {
		return changes
	}
	for i := range changes {
		if changes[i].Term == "rule_plugin_config" {
			changes[i].LessFavourable = false
		}
	}
	if j.fewer != nil {
		changes = append(changes, *j.fewer)
	}
	return changes
}

// PluginConfigChecker asks a rule plugin whether it accepts a
// configuration; a refusal wraps ErrPluginConfig.
type PluginConfigChecker interface {
	CheckRuleConfig(ctx context.Context, plugin string, config []byte) error
}

// ErrPluginConfig marks a configuration its plugin refuses.
var ErrPluginConfig = errors.New("the rule plugin refuses this configuration")

// CodePluginConfigInvalid refuses a draft whose plugin configuration the
// plugin does not accept.
const CodePluginConfigInvalid = "rule_plugin_config_invalid"

// checkPluginConfig asks the plugin about a draft's configuration.
func (s *Service) checkPluginConfig(ctx context.Context, t Terms) error {
	if s.Plugins == nil || len(t.RulePluginConfig) == 0 {
		return nil
	}
	err := s.Plugins.CheckRuleConfig(ctx, t.RulePlugin, t.RulePluginConfig)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrPluginConfig):
		return &Error{Status: 400, Code: CodePluginConfigInvalid, Message: err.Error()}
	}
	return &Error{Status: 503, Code: points.CodeRuleUnavailable, Message: "the rule plugin cannot check the configuration now: " + err.Error()}
}

// Notice kinds.
const (
	NoticeMerchantExit = "merchant_exit"
	NoticeWindDown     = "alliance_wind_down"
)

// Notice is an announcement on a merchant's public log that is not a rule
// version: the merchant leaving the alliance, or the alliance winding down,
// each with its date and the notice period it was given.
type Notice struct {
	Kind        string    `json:"kind"`
	State       string    `json:"state"`
	Summary     string    `json:"summary"`
	AnnouncedAt time.Time `json:"announced_at"`
	EffectiveAt time.Time `json:"effective_at"`
	NoticeDays  int64     `json:"notice_days"`
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC().Truncate(time.Microsecond)
	}
	return time.Now().UTC().Truncate(time.Microsecond)
}

// Draft is a request for a new draft. Release delay and validity left out
// are the version in effect's (or the policy's without one).
type Draft struct {
	RateBP              int64    `json:"rate_bp"`
	MaxPoints           int64    `json:"max_points"`
	RulePlugin          string   `json:"rule_plugin"`
	ReleaseDelaySeconds *int64   `json:"release_delay_seconds"`
	ValiditySeconds     *int64   `json:"validity_seconds"`
	ExcludedCategories  []string `json:"excluded_categories"`
	Expression          string   `json:"expression"`
	MemberDayCap        int64    `json:"member_day_cap"`
	MemberMonthCap      int64    `json:"member_month_cap"`
	// RulePluginConfig configures rule_plugin for this version (a JSON
	// object).
	RulePluginConfig json.RawMessage `json:"rule_plugin_config"`
	SummaryZH        string          `json:"summary_zh"`
	SummaryEN        string          `json:"summary_en"`
}

// terms are the draft's terms before defaults.
func (d Draft) terms() Terms {
	return Terms{RateBP: d.RateBP, MaxPoints: d.MaxPoints, RulePlugin: d.RulePlugin, ExcludedCategories: d.ExcludedCategories, Expression: d.Expression,
		MemberDayCap: d.MemberDayCap, MemberMonthCap: d.MemberMonthCap, RulePluginConfig: CompactConfig(d.RulePluginConfig),
		SummaryZH: d.SummaryZH, SummaryEN: d.SummaryEN}
}

// Versions lists a merchant's versions with their states now.
func (s *Service) Versions(ctx context.Context, merchantID string) ([]Version, error) {
	vs, err := s.Store.RuleVersions(ctx, merchantID)
	if err != nil {
		return nil, fmt.Errorf("rule versions of %s: %w", merchantID, err)
	}
	States(vs, s.now())
	return vs, nil
}

// Active returns the version in effect among vs (states filled), or nil.
func Active(vs []Version) *Version {
	for i := range vs {
		if vs[i].State == StateActive {
			return &vs[i]
		}
	}
	return nil
}

// Scheduled returns the published version not yet in effect, or nil (there
// is at most one).
func Scheduled(vs []Version) *Version {
	for i := range vs {
		if vs[i].State == StateScheduled {
			return &vs[i]
		}
	}
	return nil
}

// CreateDraft validates and stores a draft for a merchant.
func (s *Service) CreateDraft(ctx context.Context, merchantID string, d Draft, actor string) (Version, error) {
	t, err := s.draftTerms(ctx, merchantID, d)
	if err != nil {
		return Version{}, err
	}
	v, err := s.Store.CreateRuleDraft(ctx, Version{MerchantID: merchantID, Status: StatusDraft, Terms: t, CreatedBy: actor, CreatedAt: s.now()})
	if err != nil {
		return Version{}, fmt.Errorf("create rule draft: %w", err)
	}
	v.State = StateDraft
	return v, nil
}

// draftTerms validates a draft's terms, filling what it leaves out.
func (s *Service) draftTerms(ctx context.Context, merchantID string, d Draft) (Terms, error) {
	vs, err := s.Versions(ctx, merchantID)
	if err != nil {
		return Terms{}, err
	}
	t := d.terms()
	base := Terms{ReleaseDelaySeconds: -1, ValiditySeconds: -1}
	if a := Active(vs); a != nil {
		base = a.Terms
	}
	base = base.resolved(s.Policy)
	t.ReleaseDelaySeconds, t.ValiditySeconds = base.ReleaseDelaySeconds, base.ValiditySeconds
	if d.ReleaseDelaySeconds != nil {
		t.ReleaseDelaySeconds = *d.ReleaseDelaySeconds
	}
	if d.ValiditySeconds != nil {
		t.ValiditySeconds = *d.ValiditySeconds
	}
	if t.ExcludedCategories == nil {
		t.ExcludedCategories = []string{}
	}
	if err := t.Validate(s.Policy); err != nil {
		return Terms{}, err
	}
	if err := s.checkPluginConfig(ctx, t); err != nil {
		return Terms{}, err
	}
	return t, nil
}

// Publication is what publishing answers: the version and its changes
// against the version it replaces.
type Publication struct {
	Version Version  `json:"version"`
	Changes []Change `json:"changes"`
}

// Corpus is the comparison corpus of a merchant: the synthetic purchases
// of its industry and its own recent ones.
func (s *Service) Corpus(ctx context.Context, merchantID, industry string) ([]Purchase, error) {
	c, err := SyntheticCorpus(industry)
	if err != nil {
		return nil, err
	}
	recent, err := s.Store.RecentEarnPurchases(ctx, merchantID, RecentPurchases)
	if err != nil {
		return nil, fmt.Errorf("recent purchases of %s: %w", merchantID, err)
	}
	return append(c, recent...), nil
}

// Publish publishes draft id of a merchant to take effect at effectiveAt
// (zero: at once). A version less favourable than the one in effect on any
// term needs effectiveAt at least the notice period ahead; only one
// version may be scheduled at a time (withdraw it first).
func (s *Service) Publish(ctx context.Context, merchantID, industry string, id int64, effectiveAt time.Time, actor string) (Publication, error) {
	now := s.now()
	if effectiveAt.IsZero() {
		effectiveAt = now
	}
	effectiveAt = effectiveAt.UTC().Truncate(time.Microsecond)
	if effectiveAt.Before(now.Add(-pastSlack)) {
		return Publication{}, &Error{Status: 400, Code: CodeEffectiveInPast, Message: "effective_at is in the past; omit it to take effect at once"}
	}
	if effectiveAt.Before(now) {
		effectiveAt = now
	}
	corpus, err := s.Corpus(ctx, merchantID, industry)
	if err != nil {
		return Publication{}, err
	}
	var judge *pluginJudgement
	if vs, err := s.Versions(ctx, merchantID); err == nil {
		for _, v := range vs {
			if v.ID == id && v.Status == StatusDraft {
				judge = s.judgePluginConfig(ctx, merchantID, Active(vs), v.Terms, corpus)
			}
		}
	}
	return s.publish(merchantID, id, effectiveAt, now, corpus, judge, func(check func([]Version) (any, error)) (Version, error) {
		return s.Store.PublishRuleVersion(ctx, merchantID, id, effectiveAt, now, actor, check)
	}, nil)
}

// PublishNow publishes terms as a new version at once, with no draft
// stored before (the flat-rate PUT): refused, it writes nothing.
func (s *Service) PublishNow(ctx context.Context, merchantID, industry string, d Draft, actor string) (Publication, error) {
	t, err := s.draftTerms(ctx, merchantID, d)
	if err != nil {
		return Publication{}, err
	}
	now := s.now()
	corpus, err := s.Corpus(ctx, merchantID, industry)
	if err != nil {
		return Publication{}, err
	}
	v := Version{MerchantID: merchantID, Status: StatusDraft, Terms: t, CreatedBy: actor, CreatedAt: now}
	var judge *pluginJudgement
	if vs, err := s.Versions(ctx, merchantID); err == nil {
		judge = s.judgePluginConfig(ctx, merchantID, Active(vs), t, corpus)
	}
	return s.publish(merchantID, 0, now, now, corpus, judge, func(check func([]Version) (any, error)) (Version, error) {
		return s.Store.PublishRuleTerms(ctx, v, now, now, actor, check)
	}, &v)
}

// publish runs a publication through store with the checks: the draft
// (id, or terms when given) exists and is a draft, nothing else is
// scheduled, and the notice period holds for a less favourable version.
func (s *Service) publish(merchantID string, id int64, effectiveAt, now time.Time, corpus []Purchase, judge *pluginJudgement,
	store func(check func([]Version) (any, error)) (Version, error), terms *Version) (Publication, error) {
	var changes []Change
	v, err := store(func(current []Version) (any, error) {
		States(current, now)
		draft := terms
		for i := range current {
			if terms == nil && current[i].ID == id {
				draft = &current[i]
			}
		}
		if draft == nil {
			return nil, &Error{Status: 404, Code: CodeVersionNotFound, Message: fmt.Sprintf("no draft %d for this merchant", id)}
		}
		if draft.Status != StatusDraft {
			return nil, &Error{Status: 409, Code: CodeNotDraft, Message: fmt.Sprintf("rule version %d is already %s; published versions never change", id, draft.State)}
		}
		if sch := Scheduled(current); sch != nil {
			return nil, &Error{Status: 409, Code: CodeChangePending, Message: fmt.Sprintf("version %d is scheduled for %s: withdraw it before publishing another",
				sch.Number, sch.effective().Format(time.RFC3339))}
		}
		var old *Terms
		active := Active(current)
		if active != nil {
			old = &active.Terms
		}
		changes = judge.apply(Diff(old, draft.Terms, s.Policy, corpus), active)
		if err := NoticeCheck(changes, effectiveAt, now, s.Notice); err != nil {
			return nil, err
		}
		return map[string]any{"draft_id": id, "terms": draft.Terms, "effective_at": effectiveAt, "changes": changes}, nil
	})
	if err != nil {
		var re *Error
		if errors.As(err, &re) {
			return Publication{}, re
		}
		if errors.Is(err, ErrNotFound) {
			return Publication{}, &Error{Status: 404, Code: CodeVersionNotFound, Message: fmt.Sprintf("no draft %d for this merchant", id)}
		}
		return Publication{}, fmt.Errorf("publish rule version: %w", err)
	}
	vs := []Version{v}
	States(vs, now)
	if changes == nil {
		changes = []Change{}
	}
	return Publication{Version: vs[0], Changes: changes}, nil
}

// Withdraw withdraws a scheduled version before it takes effect.
func (s *Service) Withdraw(ctx context.Context, merchantID string, number int64, actor string) (Version, error) {
	now := s.now()
	v, err := s.Store.WithdrawRuleVersion(ctx, merchantID, number, now, actor, func(current []Version) (any, error) {
		States(current, now)
		for _, v := range current {
			if v.Number == number && v.Status != StatusDraft {
				if v.State != StateScheduled {
					return nil, &Error{Status: 409, Code: CodeNotScheduled, Message: fmt.Sprintf("version %d is %s: only a scheduled version can be withdrawn", number, v.State)}
				}
				return map[string]any{"version": number, "effective_at": v.effective()}, nil
			}
		}
		return nil, &Error{Status: 404, Code: CodeVersionNotFound, Message: fmt.Sprintf("no version %d for this merchant", number)}
	})
	if err != nil {
		var re *Error
		if errors.As(err, &re) {
			return Version{}, re
		}
		if errors.Is(err, ErrNotFound) {
			return Version{}, &Error{Status: 404, Code: CodeVersionNotFound, Message: fmt.Sprintf("no version %d for this merchant", number)}
		}
		return Version{}, fmt.Errorf("withdraw rule version: %w", err)
	}
	v.State = StateWithdrawn
	return v, nil
}

// Log is a merchant's public rule log: the version in effect, the
// scheduled change with its diff, and the full published history.
type Log struct {
	MerchantID string    `json:"merchant_id"`
	Active     *Version  `json:"active"`
	Scheduled  *Version  `json:"scheduled"`
	Changes    []Change  `json:"changes"`
	History    []Version `json:"history"`
	Notices    []Notice  `json:"notices"`
}

// PublicLog builds a merchant's public rule log (drafts are never shown).
func (s *Service) PublicLog(ctx context.Context, merchantID, industry string) (Log, error) {
	vs, err := s.Versions(ctx, merchantID)
	if err != nil {
		return Log{}, err
	}
	l := Log{MerchantID: merchantID, History: []Version{}, Changes: []Change{}, Notices: []Notice{}}
	if s.Notices != nil {
		ns, err := s.Notices(ctx, merchantID)
		if err != nil {
			return Log{}, err
		}
		l.Notices = append(l.Notices, ns...)
	}
	for _, v := range vs {
		if v.Status != StatusDraft {
			l.History = append(l.History, v)
		}
	}
	l.Active, l.Scheduled = Active(l.History), Scheduled(l.History)
	if l.Scheduled != nil && l.Active != nil {
		corpus, err := SyntheticCorpus(industry)
		if err != nil {
			return Log{}, err
		}
		if c := Diff(&l.Active.Terms, l.Scheduled.Terms, s.Policy, corpus); c != nil {
			l.Changes = c
		}
	}
	return l, nil
}

// Simulation limits.
const (
	MaxSimulated     = 1000
	CodeNotSimulable = "rule_simulation_unsupported"
)

// SimulationRequest runs a draft on sample purchases, or on the merchant's
// last Recent purchases (default RecentPurchases) when none are given.
type SimulationRequest struct {
	Purchases []Purchase `json:"purchases"`
	Recent    int        `json:"recent"`
}

// Simulated is one purchase's points under the version in effect and
// under the draft.
type Simulated struct {
	Label     string `json:"label"`
	AmountFen int64  `json:"amount_fen"`
	OldPoints int64  `json:"old_points"`
	NewPoints int64  `json:"new_points"`
}

// Simulation is a draft's outcome on a set of purchases, with the term
// changes a publication would have to respect.
type Simulation struct {
	Purchases []Simulated `json:"purchases"`
	OldTotal  int64       `json:"old_total"`
	NewTotal  int64       `json:"new_total"`
	Changes   []Change    `json:"changes"`
}

// Simulate runs draft id (a draft or any version of the merchant) against
// purchases and compares it with the version in effect (none: 0 points).
// A rule plugin's points are not simulated here (the plugin decides them).
func (s *Service) Simulate(ctx context.Context, merchantID string, id int64, req SimulationRequest) (Simulation, error) {
	vs, err := s.Versions(ctx, merchantID)
	if err != nil {
		return Simulation{}, err
	}
	var draft *Version
	for i := range vs {
		if vs[i].ID == id {
			draft = &vs[i]
		}
	}
	if draft == nil {
		return Simulation{}, &Error{Status: 404, Code: CodeVersionNotFound, Message: fmt.Sprintf("no draft %d for this merchant", id)}
	}
	var old *Terms
	if a := Active(vs); a != nil {
		old = &a.Terms
	}
	if draft.Terms.RulePlugin != "" || old != nil && old.RulePlugin != "" {
		return Simulation{}, &Error{Status: 409, Code: CodeNotSimulable, Message: "a rule plugin's points cannot be simulated here: simulate flat rates and expressions"}
	}
	ps := req.Purchases
	if len(ps) > MaxSimulated {
		return Simulation{}, invalid("at most %d purchases", MaxSimulated)
	}
	for _, p := range ps {
		if p.AmountFen <= 0 || p.AmountFen > s.Policy.MaxAmountFen || len(p.Items) > points.MaxItems || len(p.Label) > 200 {
			return Simulation{}, invalid("each purchase has amount_fen between 1 and %d, at most %d items and a label of at most 200 bytes", s.Policy.MaxAmountFen, points.MaxItems)
		}
		for _, it := range p.Items {
			if it.AmountFen < 0 || it.Quantity < 0 || it.AmountFen > s.Policy.MaxAmountFen {
				return Simulation{}, invalid("item amounts and quantities are between 0 and %d", s.Policy.MaxAmountFen)
			}
		}
	}
	if len(ps) == 0 {
		n := req.Recent
		if n < 0 || n > MaxSimulated {
			return Simulation{}, invalid("recent is between 1 and %d", MaxSimulated)
		}
		if n == 0 {
			n = RecentPurchases
		}
		if ps, err = s.Store.RecentEarnPurchases(ctx, merchantID, n); err != nil {
			return Simulation{}, fmt.Errorf("recent purchases of %s: %w", merchantID, err)
		}
	}
	out := Simulation{Purchases: make([]Simulated, 0, len(ps)), Changes: []Change{}}
	for _, p := range ps {
		sp := Simulated{Label: p.Label, AmountFen: p.AmountFen, NewPoints: draft.Terms.Points(p, s.Policy)}
		if old != nil {
			sp.OldPoints = old.Points(p, s.Policy)
		}
		out.OldTotal += sp.OldPoints
		out.NewTotal += sp.NewPoints
		out.Purchases = append(out.Purchases, sp)
	}
	if c := Diff(old, draft.Terms, s.Policy, ps); c != nil {
		out.Changes = c
	}
	return out, nil
}
