package store_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/gateway/ledger"
	"github.com/lianmeng/lianmeng/gateway/merchant"
	"github.com/lianmeng/lianmeng/gateway/points"
	"github.com/lianmeng/lianmeng/gateway/rules"
	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
)

const day = 24 * time.Hour

type rulesFixture struct {
	db    *store.DB
	clock *fakeClock
	svc   *rules.Service
	m     string
}

func newRulesFixture(t *testing.T, db *store.DB) *rulesFixture {
	clock := &fakeClock{}
	clock.us.Store(time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC).UnixMicro())
	m, err := merchant.NewMerchant("Rules Diner", "restaurant", clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Merchants().CreateMerchant(context.Background(), m, "test"); err != nil {
		t.Fatal(err)
	}
	return &rulesFixture{db: db, clock: clock, m: m.ID,
		svc: &rules.Service{Policy: testPolicy(), Notice: rules.DefaultNotice, Store: db, Now: clock.Now}}
}

func i64(v int64) *int64 { return &v }

// publish creates a draft and publishes it at effective (zero: at once).
func (f *rulesFixture) publish(t *testing.T, d rules.Draft, effective time.Time) (rules.Publication, error) {
	t.Helper()
	v, err := f.svc.CreateDraft(context.Background(), f.m, d, "operator:test")
	if err != nil {
		t.Fatal(err)
	}
	return f.svc.Publish(context.Background(), f.m, "restaurant", v.ID, effective, "operator:test")
}

func (f *rulesFixture) mustPublish(t *testing.T, d rules.Draft, effective time.Time) rules.Publication {
	t.Helper()
	p, err := f.publish(t, d, effective)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func base() rules.Draft {
	return rules.Draft{RateBP: 500, MaxPoints: 1000, ReleaseDelaySeconds: i64(int64(day / time.Second)),
		ValiditySeconds: i64(int64(365 * day / time.Second)), ExcludedCategories: []string{"alcohol"}}
}

func asRulesErr(t *testing.T, err error, code string) *rules.Error {
	t.Helper()
	var re *rules.Error
	if !errors.As(err, &re) || re.Code != code {
		t.Fatalf("got %v, want %s", err, code)
	}
	return re
}

// Each term that makes members worse off needs the notice period; the
// refusal names the earliest allowed time and publishes nothing.
func TestRuleNoticePerTerm(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newRulesFixture(t, db)
		if p := f.mustPublish(t, base(), time.Time{}); p.Version.Number != 1 || p.Version.State != rules.StateActive {
			t.Fatalf("first version: %+v", p.Version)
		}
		worse := map[string]func(d *rules.Draft){
			"release_delay_seconds": func(d *rules.Draft) { d.ReleaseDelaySeconds = i64(2 * int64(day/time.Second)) },
			"validity_seconds":      func(d *rules.Draft) { d.ValiditySeconds = i64(180 * int64(day/time.Second)) },
			"max_points":            func(d *rules.Draft) { d.MaxPoints = 999 },
			"excluded_categories":   func(d *rules.Draft) { d.ExcludedCategories = []string{"alcohol", "packaging"} },
			"rate_bp":               func(d *rules.Draft) { d.RateBP = 499 },
			"rule_plugin":           func(d *rules.Draft) { d.RulePlugin = "restaurant" },
		}
		for term, change := range worse {
			d := base()
			change(&d)
			before := auditCount(t, db)
			_, err := f.publish(t, d, f.clock.Now().Add(rules.DefaultNotice-time.Second))
			re := asRulesErr(t, err, rules.CodeNoticePeriodNotMet)
			if want := f.clock.Now().Add(rules.DefaultNotice); !re.Earliest.Equal(want) {
				t.Errorf("%s: earliest %s, want %s", term, re.Earliest, want)
			}
			if !strings.Contains(re.Message, term) {
				t.Errorf("%s: message does not name the term: %s", term, re.Message)
			}
			if auditCount(t, db) != before {
				t.Errorf("%s: a refused publication wrote an audit event", term)
			}
		}
		// The rate and the exclusion also show as fewer points on the corpus.
		d := base()
		d.RateBP = 400
		changes := rules.Diff(&rules.Terms{RateBP: 500, MaxPoints: 1000, ReleaseDelaySeconds: 86400, ValiditySeconds: 86400},
			rules.Terms{RateBP: 400, MaxPoints: 1000, ReleaseDelaySeconds: 86400, ValiditySeconds: 86400}, testPolicy(), mustCorpus(t, "restaurant"))
		if !hasTerm(changes, "points") {
			t.Errorf("a lower rate shows no fewer points on the corpus: %+v", changes)
		}
		vs, err := f.svc.Versions(context.Background(), f.m)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range vs {
			if v.Status != rules.StatusDraft && v.Number != 1 {
				t.Errorf("a refused version was published: %+v", v)
			}
		}
	})
}

func hasTerm(cs []rules.Change, term string) bool {
	for _, c := range cs {
		if c.Term == term && c.LessFavourable {
			return true
		}
	}
	return false
}

func mustCorpus(t *testing.T, industry string) []rules.Purchase {
	t.Helper()
	c, err := rules.SyntheticCorpus(industry)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func auditCount(t *testing.T, db *store.DB) int {
	t.Helper()
	evs, err := db.AuditEvents(context.Background(), 0, 10000)
	if err != nil {
		t.Fatal(err)
	}
	return len(evs)
}

// A favourable change takes effect at once; a less favourable one at the
// end of the notice period, moving scheduled → active and superseding the
// old; one scheduled version at a time; withdrawal before it takes effect.
func TestRulePublicationLifecycle(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newRulesFixture(t, db)
		f.mustPublish(t, base(), time.Time{})
		better := base()
		better.RateBP, better.ExcludedCategories = 800, []string{}
		p := f.mustPublish(t, better, time.Time{})
		if p.Version.Number != 2 || p.Version.State != rules.StateActive || p.Version.EffectiveAt == nil || !p.Version.EffectiveAt.Equal(f.clock.Now()) {
			t.Fatalf("favourable version not active at once: %+v", p.Version)
		}
		e, err := db.MerchantEarningAt(ctx, f.m, f.clock.Now())
		if err != nil || e.Version != 2 || e.RateBP != 800 {
			t.Fatalf("earning in effect: %+v %v", e, err)
		}

		worse := better
		worse.RateBP = 300
		at := f.clock.Now().Add(rules.DefaultNotice)
		p3 := f.mustPublish(t, worse, at)
		if p3.Version.State != rules.StateScheduled || !hasTerm(p3.Changes, "rate_bp") {
			t.Fatalf("scheduled: %+v", p3)
		}
		// Another publication waits for the scheduled one to go.
		_, err = f.publish(t, better, time.Time{})
		asRulesErr(t, err, rules.CodeChangePending)
		// Publishing a published version again, or into the past.
		_, err = f.svc.Publish(ctx, f.m, "restaurant", p3.Version.ID, time.Time{}, "x")
		asRulesErr(t, err, rules.CodeNotDraft)
		d, _ := f.svc.CreateDraft(ctx, f.m, better, "x")
		_, err = f.svc.Publish(ctx, f.m, "restaurant", d.ID, f.clock.Now().Add(-time.Hour), "x")
		asRulesErr(t, err, rules.CodeEffectiveInPast)
		// Another merchant's draft is not found.
		_, err = f.svc.Publish(ctx, "mch_other", "restaurant", d.ID, time.Time{}, "x")
		asRulesErr(t, err, rules.CodeVersionNotFound)

		f.clock.Advance(rules.DefaultNotice - time.Second)
		if e, _ := db.MerchantEarningAt(ctx, f.m, f.clock.Now()); e.Version != 2 {
			t.Fatalf("version %d in effect before its time", e.Version)
		}
		f.clock.Advance(time.Second)
		if e, _ := db.MerchantEarningAt(ctx, f.m, f.clock.Now()); e.Version != 3 || e.RateBP != 300 {
			t.Fatalf("scheduled version not in effect at its time: %+v", e)
		}
		vs, _ := f.svc.Versions(ctx, f.m)
		states := map[int64]string{}
		for _, v := range vs {
			states[v.Number] = v.State
		}
		if states[1] != rules.StateSuperseded || states[2] != rules.StateSuperseded || states[3] != rules.StateActive {
			t.Fatalf("states: %v", states)
		}
		// The active version cannot be withdrawn.
		_, err = f.svc.Withdraw(ctx, f.m, 3, "x")
		asRulesErr(t, err, rules.CodeNotScheduled)

		// Withdrawal: a scheduled version never takes effect.
		worse.RateBP = 200
		p4 := f.mustPublish(t, worse, f.clock.Now().Add(rules.DefaultNotice+day))
		w, err := f.svc.Withdraw(ctx, f.m, p4.Version.Number, "operator:test")
		if err != nil || w.State != rules.StateWithdrawn {
			t.Fatalf("withdraw: %+v %v", w, err)
		}
		f.clock.Advance(rules.DefaultNotice + 2*day)
		if e, _ := db.MerchantEarningAt(ctx, f.m, f.clock.Now()); e.Version != 3 {
			t.Fatalf("withdrawn version took effect: %+v", e)
		}
		log, err := f.svc.PublicLog(ctx, f.m, "restaurant")
		if err != nil || log.Active == nil || log.Active.Number != 3 || log.Scheduled != nil || len(log.History) != 4 {
			t.Fatalf("public log: %+v %v", log, err)
		}

		// Publications and the withdrawal are audit (so evidence) events.
		evs, _ := db.AuditEvents(ctx, 0, 1000)
		kinds := map[string]int{}
		for _, e := range evs {
			if e.Subject == f.m {
				kinds[e.Kind]++
			}
		}
		if kinds[rules.AuditPublished] != 4 || kinds[rules.AuditWithdrawn] != 1 {
			t.Fatalf("audit events: %v", kinds)
		}
	})
}

// Grandfathering: a lot keeps the release and expiry of the version it
// was earned under after a later version with other terms takes effect.
func TestRuleGrandfathering(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newRulesFixture(t, db)
		w := db.NewWriter(store.WriterOptions{BatchSize: 8, BatchWait: 100 * time.Microsecond, Now: f.clock.Now})
		defer w.Close()
		svc := &points.Service{Policy: testPolicy()}
		if _, err := run(w, func(tx points.Tx) (points.FundResult, error) {
			return svc.Fund(tx, points.FundRequest{MerchantID: f.m, AmountFen: 1_000_000, ExternalRef: "f1"})
		}); err != nil {
			t.Fatal(err)
		}
		v1 := base() // release 1 day, valid 365 days
		f.mustPublish(t, v1, time.Time{})
		member := points.Identity{Kind: points.IdentityPhone, Value: "13800000001"}
		earn := func(order string) points.EarnResult {
			t.Helper()
			r, err := run(w, func(tx points.Tx) (points.EarnResult, error) {
				return svc.Earn(tx, points.EarnRequest{MerchantID: f.m, OrderID: order, Member: member, AmountFen: 10000})
			})
			if err != nil {
				t.Fatal(err)
			}
			return r
		}
		t1 := f.clock.Now()
		r1 := earn("o1")
		if r1.RuleVersion != "v1" || r1.Points != 500 || !r1.ReleaseAt.Equal(t1.Add(day)) || !r1.ExpiresAt.Equal(t1.Add(366*day)) {
			t.Fatalf("earn under v1: %+v", r1)
		}
		v2 := base()
		v2.ReleaseDelaySeconds, v2.ValiditySeconds = i64(int64(14*day/time.Second)), i64(int64(30*day/time.Second))
		// Hold o1's lot pending past v2's effective time: no release before.
		f.mustPublish(t, v2, f.clock.Now().Add(rules.DefaultNotice))
		f.clock.Advance(rules.DefaultNotice)
		t2 := f.clock.Now()
		r2 := earn("o2")
		if r2.RuleVersion != "v2" || !r2.ReleaseAt.Equal(t2.Add(14*day)) || !r2.ExpiresAt.Equal(t2.Add(44*day)) {
			t.Fatalf("earn under v2: %+v", r2)
		}
		// The v1 lot: still its own dates, and released on them.
		lots := memberLots(t, db, r1.MemberID)
		if l := lots[r1.LotID]; l.RuleVersion != "v1" || !l.ReleaseAt.Equal(t1.Add(day)) || !l.ExpiresAt.Equal(t1.Add(366*day)) {
			t.Fatalf("v1 lot after v2: %+v", l)
		}
		if _, err := run(w, func(tx points.Tx) (int, error) { return svc.Release(tx, 100) }); err != nil {
			t.Fatal(err)
		}
		lots = memberLots(t, db, r1.MemberID)
		if lots[r1.LotID].State != ledger.LotAvailable || lots[r2.LotID].State != ledger.LotPending {
			t.Fatalf("release: v1 lot %s, v2 lot %s", lots[r1.LotID].State, lots[r2.LotID].State)
		}
		// v2's lot expires 30 days after its release; v1's a year after.
		f.clock.Advance(45 * day)
		if _, err := run(w, func(tx points.Tx) (int, error) { return svc.Release(tx, 100) }); err != nil {
			t.Fatal(err)
		}
		if _, err := run(w, func(tx points.Tx) (int, error) { return svc.Expire(tx, 100) }); err != nil {
			t.Fatal(err)
		}
		lots = memberLots(t, db, r1.MemberID)
		if lots[r1.LotID].Remaining != 500 || lots[r2.LotID].Remaining != 0 {
			t.Fatalf("expiry: v1 lot %+v, v2 lot %+v", lots[r1.LotID], lots[r2.LotID])
		}
		assertClean(t, db)
	})
}

// Migration 00038 makes each merchant's flat configuration its version 1,
// and PinInheritedTerms fixes the policy terms it inherited.
func TestRuleVersionOneMigrated(t *testing.T) {
	for _, dialect := range storetest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			ctx := context.Background()
			db := openBefore(t, dialect, "_rule_versions.sql")
			now := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
			m, _ := merchant.NewMerchant("Old", "restaurant", now)
			if _, err := db.W.ExecContext(ctx, `INSERT INTO merchants (id, name, industry, status, created_at) VALUES (?, ?, ?, ?, ?)`,
				m.ID, m.Name, m.Industry, m.Status, store.Micros(now)); err != nil {
				t.Fatal(err)
			}
			if _, err := db.W.ExecContext(ctx, `INSERT INTO merchant_earning (merchant_id, rate_bp, max_points, rule_plugin, updated_at) VALUES (?, 250, 77, '', ?)`,
				m.ID, store.Micros(now)); err != nil {
				t.Fatal(err)
			}
			if _, err := db.Migrate(ctx, nil); err != nil {
				t.Fatal(err)
			}
			e, err := db.MerchantEarningAt(ctx, m.ID, now)
			if err != nil || e.Version != 1 || e.RateBP != 250 || e.MaxPoints != 77 || e.ReleaseDelay >= 0 || e.Validity >= 0 {
				t.Fatalf("version 1: %+v %v", e, err)
			}
			pol := testPolicy()
			if err := db.PinInheritedTerms(ctx, pol); err != nil {
				t.Fatal(err)
			}
			e, _ = db.MerchantEarningAt(ctx, m.ID, now)
			if e.ReleaseDelay != pol.ReleaseDelay || e.Validity != pol.Validity {
				t.Fatalf("pinned terms: %+v", e)
			}
			vs, _ := db.RuleVersions(ctx, m.ID)
			if len(vs) != 1 || vs[0].Status != rules.StatusPublished || vs[0].EffectiveAt == nil || !vs[0].EffectiveAt.Equal(now) {
				t.Fatalf("versions: %+v", vs)
			}
		})
	}
}

func memberLots(t *testing.T, db *store.DB, memberID string) map[int64]ledger.Lot {
	t.Helper()
	ls, err := db.MemberLots(context.Background(), memberID, true, 100)
	if err != nil {
		t.Fatal(err)
	}
	out := map[int64]ledger.Lot{}
	for _, l := range ls {
		out[l.ID] = l
	}
	return out
}

// A version with a CEL expression is stored, read back and applied by the
// batch to each earn, on both databases.
func TestRuleExpressionEarn(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newRulesFixture(t, db)
		w := db.NewWriter(store.WriterOptions{BatchSize: 8, BatchWait: 100 * time.Microsecond, Now: f.clock.Now})
		defer w.Close()
		svc := &points.Service{Policy: testPolicy()}
		if _, err := run(w, func(tx points.Tx) (points.FundResult, error) {
			return svc.Fund(tx, points.FundRequest{MerchantID: f.m, AmountFen: 1_000_000, ExternalRef: "f1"})
		}); err != nil {
			t.Fatal(err)
		}
		d := base()
		d.Expression = `eligible_fen / 100 + sum(items.filter(i, i.category == "drinks").map(i, i.amount_fen)) / 50`
		p := f.mustPublish(t, d, time.Time{})
		if p.Version.Terms.Expression != d.Expression {
			t.Fatalf("expression not kept: %+v", p.Version.Terms)
		}
		e, err := db.MerchantEarningAt(ctx, f.m, f.clock.Now())
		if err != nil || e.Expr == nil {
			t.Fatalf("earning in effect has no expression: %+v %v", e, err)
		}
		r, err := run(w, func(tx points.Tx) (points.EarnResult, error) {
			return svc.Earn(tx, points.EarnRequest{MerchantID: f.m, OrderID: "o1", Member: points.Identity{Kind: points.IdentityPhone, Value: "13800000001"},
				AmountFen: 10000, Items: []points.Item{{Category: "food", Quantity: 1, AmountFen: 5000}, {Category: "drinks", Quantity: 1, AmountFen: 1000},
					{Category: "alcohol", Quantity: 1, AmountFen: 4000}}})
		})
		// eligible 6000 (alcohol excluded) -> 60, drinks 1000 / 50 -> 20.
		if err != nil || r.Points != 80 || r.RuleVersion != "v1" {
			t.Fatalf("earn: %+v %v", r, err)
		}
		// The breakdown is answered and kept with the purchase.
		want := points.Breakdown{Rule: points.BreakdownExpression, EligibleFen: 6000, ExcludedFen: 4000, BasePoints: 80, Caps: []points.BreakdownCap{}, TotalPoints: 80}
		if r.Breakdown == nil || fmt.Sprint(*r.Breakdown) != fmt.Sprint(want) {
			t.Fatalf("breakdown answered: %+v", r.Breakdown)
		}
		if got, err := db.PurchaseBreakdown(ctx, f.m, "o1"); err != nil || got == nil || fmt.Sprint(*got) != fmt.Sprint(want) {
			t.Fatalf("breakdown kept: %+v %v", got, err)
		}
		// Capped by the version's max_points.
		r, err = run(w, func(tx points.Tx) (points.EarnResult, error) {
			return svc.Earn(tx, points.EarnRequest{MerchantID: f.m, OrderID: "o2", Member: points.Identity{Kind: points.IdentityPhone, Value: "13800000001"},
				AmountFen: 100_000, Items: []points.Item{{Category: "drinks", Quantity: 1, AmountFen: 100_000}}})
		})
		// 1000 + 2000 = 3000, capped at the version's 1000.
		if err != nil || r.Points != 1000 || r.Breakdown == nil || r.Breakdown.BasePoints != 3000 || len(r.Breakdown.Caps) != 1 ||
			r.Breakdown.Caps[0] != (points.BreakdownCap{Code: "max_points", LimitPoints: 1000, RemovedPoints: 2000}) {
			t.Fatalf("value cap: %+v %+v %v", r, r.Breakdown, err)
		}
		if got, _ := db.PurchaseBreakdown(ctx, f.m, "no-such-order"); got != nil {
			t.Fatalf("breakdown of no purchase: %+v", got)
		}
		// A draft that does not compile is refused with its position.
		bad := base()
		bad.Expression = "eligible_fen /\n 100 + nope"
		_, err = f.svc.CreateDraft(ctx, f.m, bad, "x")
		if re := asRulesErr(t, err, rules.CodeExpressionInvalid); !strings.Contains(re.Message, "line 2, column 8") {
			t.Fatalf("compile error: %s", re.Message)
		}
		assertClean(t, db)
	})
}

// A rule plugin's breakdown is answered with the earn and kept with the
// purchase, under the rule version in effect.
func TestRulePluginBreakdownKept(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newRulesFixture(t, db)
		w := db.NewWriter(store.WriterOptions{BatchSize: 8, BatchWait: 100 * time.Microsecond, Now: f.clock.Now})
		defer w.Close()
		svc := &points.Service{Policy: testPolicy(), Now: f.clock.Now}
		if _, err := run(w, func(tx points.Tx) (points.FundResult, error) {
			return svc.Fund(tx, points.FundRequest{MerchantID: f.m, AmountFen: 1_000_000, ExternalRef: "f1"})
		}); err != nil {
			t.Fatal(err)
		}
		d := base()
		d.RulePlugin = "restaurant"
		f.mustPublish(t, d, time.Time{}) // the first with a plugin: nothing to compare with
		bd := &points.Breakdown{EligibleFen: 21800, ExcludedFen: 4000, BasePoints: 436,
			Multipliers: []points.BreakdownMultiplier{{Code: "off_peak", FactorPermille: 1500, Points: 218}},
			Caps:        []points.BreakdownCap{{Code: "off_peak_cap", LimitPoints: 100, RemovedPoints: 118}}, TotalPoints: 536, Explanation: "¥218.00 eligible"}
		svc.Earnings = points.EarningFunc(func(ctx context.Context, m string) (points.Earning, error) {
			return db.MerchantEarningAt(ctx, m, f.clock.Now())
		})
		svc.Rules = fixedRule{points.Award{Points: 536, RuleVersion: "plugin:restaurant@1.0.0", Breakdown: bd}}
		cmd, err := svc.PrepareEarn(ctx, points.EarnRequest{MerchantID: f.m, OrderID: "dinner", Member: points.Identity{Kind: "customer", Value: "c"}, AmountFen: 25800})
		if err != nil {
			t.Fatal(err)
		}
		res := w.Submit(ctx, &store.Op{Command: cmd})
		r, ok := res.Value.(points.EarnResult)
		if res.Err != nil || !ok || r.Points != 536 || r.RuleVersion != "v1:plugin:restaurant@1.0.0" || r.Breakdown == nil || r.Breakdown.Rule != points.BreakdownPlugin {
			t.Fatalf("earn: %+v %v", res.Value, res.Err)
		}
		got, err := db.PurchaseBreakdown(ctx, f.m, "dinner")
		want := *bd
		want.Rule = points.BreakdownPlugin
		if err != nil || got == nil || fmt.Sprint(*got) != fmt.Sprint(want) {
			t.Fatalf("kept: %+v %v, want %+v", got, err, want)
		}
	})
}

// TestSetRuleTemplateAgain: setting a template with exactly the terms and
// time it has is not a new row (MySQL's UPDATE counts it as 0 rows
// changed, which once sent it to a duplicate INSERT); a change replaces it.
func TestSetRuleTemplateAgain(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		at := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
		tpl := rules.Template{Industry: "fuel", Terms: rules.Terms{SummaryEN: "1 point per yuan"}, UpdatedBy: "operator:test", UpdatedAt: at}
		for i := 0; i < 2; i++ {
			if err := db.SetRuleTemplate(ctx, tpl); err != nil {
				t.Fatalf("set %d: %v", i, err)
			}
		}
		tpl.Terms.SummaryEN = "2 points per yuan"
		if err := db.SetRuleTemplate(ctx, tpl); err != nil {
			t.Fatal(err)
		}
		got, err := db.RuleTemplates(ctx)
		if err != nil || len(got) != 1 || got[0].Terms.SummaryEN != "2 points per yuan" {
			t.Fatalf("templates %+v %v", got, err)
		}
	})
}
