package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lianmeng/lianmeng/gateway/points"
	"github.com/lianmeng/lianmeng/gateway/rules"
	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
)

// counterRow reads a member counter as stored.
func counterRow(t *testing.T, db *store.DB, memberID, scope, period string) points.Counter {
	t.Helper()
	var c points.Counter
	err := db.R.QueryRowContext(context.Background(), `SELECT purchases, points FROM member_counters WHERE member_id = ? AND scope = ? AND period = ?`,
		memberID, scope, period).Scan(&c.Purchases, &c.Points)
	if err != nil {
		t.Fatalf("counter %s %s %s: %v", memberID, scope, period, err)
	}
	return c
}

// earnAll submits earns of one member at once through PrepareEarn (so the
// commands declare the counters they read) and returns their results.
func earnAll(t *testing.T, w *store.Writer, svc *points.Service, m string, member points.Identity, orders []string, amount int64) []points.EarnResult {
	t.Helper()
	out := make([]points.EarnResult, len(orders))
	var wg sync.WaitGroup
	for i, o := range orders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd, err := svc.PrepareEarn(context.Background(), points.EarnRequest{MerchantID: m, OrderID: o, Member: member, AmountFen: amount})
			if err != nil {
				t.Error(err)
				return
			}
			if len(cmd.Reads.Counters) != 1 {
				t.Errorf("the earn does not declare the member's counters: %+v", cmd.Reads)
			}
			res := w.Submit(context.Background(), &store.Op{Command: cmd})
			if res.Err != nil {
				t.Errorf("earn %s: %v", o, res.Err)
				return
			}
			out[i] = res.Value.(points.EarnResult)
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	return out
}

// A version's per-member caps per day and per month hold at earn time,
// also for earns of one member that share a batch, and the counters kept
// are exact.
func TestMemberCapsInOneBatch(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newRulesFixture(t, db)
		reg := prometheus.NewRegistry()
		// A long batch wait puts concurrent earns into one batch.
		w := db.NewWriter(store.WriterOptions{BatchWait: 300 * time.Millisecond, Registry: reg, Concurrency: 1, Now: f.clock.Now})
		defer w.Close()
		svc := &points.Service{Policy: testPolicy(), Now: f.clock.Now, Earnings: points.EarningFunc(func(ctx context.Context, m string) (points.Earning, error) {
			return db.MerchantEarningAt(ctx, m, f.clock.Now())
		})}
		if _, err := run(w, func(tx points.Tx) (points.FundResult, error) {
			return svc.Fund(tx, points.FundRequest{MerchantID: f.m, AmountFen: 1_000_000, ExternalRef: "f1"})
		}); err != nil {
			t.Fatal(err)
		}
		d := base()
		d.RateBP, d.MemberDayCap, d.MemberMonthCap = 1000, 150, 400 // 10%: 100 points per 1000 fen
		p := f.mustPublish(t, d, time.Time{})
		if p.Version.Terms.MemberDayCap != 150 || p.Version.Terms.MemberMonthCap != 400 {
			t.Fatalf("caps not kept: %+v", p.Version.Terms)
		}
		member := points.Identity{Kind: points.IdentityPhone, Value: "13800000077"}
		before := batches(t, reg)
		rs := earnAll(t, w, svc, f.m, member, []string{"a", "b", "c"}, 1000)
		if n := batches(t, reg) - before; n != 1 {
			t.Fatalf("%d batches, want 1: the earns did not share a batch", n)
		}
		var total int64
		var capped int
		for _, r := range rs {
			total += r.Points
			if r.Breakdown != nil {
				capped++
				if c := r.Breakdown.Caps[len(r.Breakdown.Caps)-1]; c.Code != points.CapMemberDay || c.LimitPoints != 150 {
					t.Fatalf("breakdown of a capped earn: %+v", r.Breakdown)
				}
			}
		}
		// 100 + 50 + 0: the day cap, counted across the batch.
		if total != 150 || capped != 2 {
			t.Fatalf("the batch earned %d points with %d capped earns: %+v", total, capped, rs)
		}
		memberID := rs[0].MemberID
		now := f.clock.Now()
		if c := counterRow(t, db, memberID, f.m, points.DayPeriod(now)); c != (points.Counter{Purchases: 3, Points: 150}) {
			t.Fatalf("day counter %+v", c)
		}
		if c := counterRow(t, db, memberID, f.m, points.MonthPeriod(now)); c != (points.Counter{Purchases: 3, Points: 150}) {
			t.Fatalf("month counter %+v", c)
		}
		// The capped breakdown is kept with the purchase.
		for _, o := range []string{"a", "b", "c"} {
			if bd, err := db.PurchaseBreakdown(ctx, f.m, o); err != nil {
				t.Fatal(err)
			} else if bd != nil && (bd.Rule != points.BreakdownFlat || bd.TotalPoints > 50) {
				t.Fatalf("kept breakdown of %s: %+v", o, bd)
			}
		}
		// Another member is not held by the first one's cap.
		if r := earnAll(t, w, svc, f.m, points.Identity{Kind: points.IdentityPhone, Value: "13800000078"}, []string{"other"}, 1000); r[0].Points != 100 {
			t.Fatalf("another member: %+v", r[0])
		}
		// Next day (in the alliance's zone): the day cap is fresh, the
		// month cap (400) is not: 150 + 150 + 100, then nothing.
		f.clock.Advance(24 * time.Hour)
		if got := sum(earnAll(t, w, svc, f.m, member, []string{"d", "e"}, 1000)); got != 150 {
			t.Fatalf("second day earned %d", got)
		}
		f.clock.Advance(24 * time.Hour)
		if got := sum(earnAll(t, w, svc, f.m, member, []string{"f", "g"}, 1000)); got != 100 {
			t.Fatalf("third day earned %d (month cap 400)", got)
		}
		r := earnAll(t, w, svc, f.m, member, []string{"h"}, 1000)[0]
		if r.Points != 0 || r.Breakdown == nil || r.Breakdown.Caps[len(r.Breakdown.Caps)-1].Code != points.CapMemberMonth {
			t.Fatalf("over the month cap: %+v %+v", r, r.Breakdown)
		}
		if c := counterRow(t, db, memberID, f.m, points.MonthPeriod(f.clock.Now())); c != (points.Counter{Purchases: 8, Points: 400}) {
			t.Fatalf("month counter %+v", c)
		}
		assertClean(t, db)
	})
}

func sum(rs []points.EarnResult) int64 {
	var n int64
	for _, r := range rs {
		n += r.Points
	}
	return n
}

// An expression sees the member's counters (earlier earns at the merchant
// this month), counted through the batch like the caps.
func TestExpressionCounters(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newRulesFixture(t, db)
		reg := prometheus.NewRegistry()
		w := db.NewWriter(store.WriterOptions{BatchWait: 300 * time.Millisecond, Registry: reg, Concurrency: 1, Now: f.clock.Now})
		defer w.Close()
		svc := &points.Service{Policy: testPolicy(), Now: f.clock.Now, Earnings: points.EarningFunc(func(ctx context.Context, m string) (points.Earning, error) {
			return db.MerchantEarningAt(ctx, m, f.clock.Now())
		})}
		if _, err := run(w, func(tx points.Tx) (points.FundResult, error) {
			return svc.Fund(tx, points.FundRequest{MerchantID: f.m, AmountFen: 1_000_000, ExternalRef: "f1"})
		}); err != nil {
			t.Fatal(err)
		}
		d := base()
		// From the third purchase of the month: double points.
		d.Expression = `purchases_month >= 2 ? eligible_fen / 50 : eligible_fen / 100`
		f.mustPublish(t, d, time.Time{})
		member := points.Identity{Kind: points.IdentityCustomer, Value: "regular"}
		first := earnAll(t, w, svc, f.m, member, []string{"a"}, 1000)[0]
		// Two in one batch: the second sees the first.
		two := earnAll(t, w, svc, f.m, member, []string{"b", "c"}, 1000)
		if first.Points != 10 || sum(two) != 30 {
			t.Fatalf("earned %d then %+v, want 10 then 10 + 20", first.Points, two)
		}
		if got := earnAll(t, w, svc, f.m, member, []string{"d"}, 1000)[0].Points; got != 20 {
			t.Fatalf("fourth purchase: %d", got)
		}
		if c := counterRow(t, db, first.MemberID, f.m, points.MonthPeriod(f.clock.Now())); c != (points.Counter{Purchases: 4, Points: 60}) {
			t.Fatalf("month counter %+v", c)
		}
		// Raising the threshold gives regulars fewer points: less favourable.
		d.Expression = `purchases_month >= 5 ? eligible_fen / 50 : eligible_fen / 100`
		_, err := f.publish(t, d, time.Time{})
		re := asRulesErr(t, err, rules.CodeNoticePeriodNotMet)
		if re.Earliest.IsZero() {
			t.Fatal("no earliest time")
		}
		assertClean(t, db)
	})
}

// A member counter is one row per member, scope and period, whatever the
// number of earns: the table stays small.
func Example_counterPeriods() {
	at := time.Date(2026, 3, 31, 17, 0, 0, 0, time.UTC) // 01:00 on 1 April in China
	fmt.Println(points.DayPeriod(at), points.MonthPeriod(at))
	// Output: d2026-04-01 m2026-04
}

// captureRule records the configuration each evaluation was given.
type captureRule struct {
	mu  sync.Mutex
	got []string
}

func (c *captureRule) EvaluateEarning(_ context.Context, _ string, in points.RuleInput) (points.Award, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.got = append(c.got, string(in.PluginConfig))
	return points.Award{Points: 7, RuleVersion: "plugin:fuel@1.0.0"}, nil
}

// A version that uses a rule plugin holds the plugin's configuration: kept
// with the version, given to the plugin for each earn under it, and a
// change of it waits for the notice period like any less favourable term.
func TestRulePluginConfigInVersion(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newRulesFixture(t, db)
		w := db.NewWriter(store.WriterOptions{BatchSize: 8, BatchWait: 100 * time.Microsecond, Now: f.clock.Now})
		defer w.Close()
		rule := &captureRule{}
		svc := &points.Service{Policy: testPolicy(), Now: f.clock.Now, Rules: rule,
			Earnings: points.EarningFunc(func(ctx context.Context, m string) (points.Earning, error) {
				return db.MerchantEarningAt(ctx, m, f.clock.Now())
			})}
		if _, err := run(w, func(tx points.Tx) (points.FundResult, error) {
			return svc.Fund(tx, points.FundRequest{MerchantID: f.m, AmountFen: 1_000_000, ExternalRef: "f1"})
		}); err != nil {
			t.Fatal(err)
		}
		d := base()
		d.RulePlugin = "fuel"
		d.RulePluginConfig = []byte(`{ "points_per_litre": {"fuel_92": 1} }`)
		p := f.mustPublish(t, d, time.Time{})
		if string(p.Version.Terms.RulePluginConfig) != `{"points_per_litre":{"fuel_92":1}}` {
			t.Fatalf("config kept as %s", p.Version.Terms.RulePluginConfig)
		}
		vs, err := f.svc.Versions(ctx, f.m)
		if err != nil || string(vs[len(vs)-1].Terms.RulePluginConfig) != `{"points_per_litre":{"fuel_92":1}}` {
			t.Fatalf("config read back: %+v %v", vs, err)
		}
		cmd, err := svc.PrepareEarn(ctx, points.EarnRequest{MerchantID: f.m, OrderID: "fill", Member: points.Identity{Kind: "customer", Value: "c"}, AmountFen: 30000})
		if err != nil {
			t.Fatal(err)
		}
		if res := w.Submit(ctx, &store.Op{Command: cmd}); res.Err != nil || res.Value.(points.EarnResult).Points != 7 {
			t.Fatalf("earn: %+v %v", res.Value, res.Err)
		}
		if len(rule.got) != 1 || rule.got[0] != `{"points_per_litre":{"fuel_92":1}}` {
			t.Fatalf("the plugin was given %q", rule.got)
		}
		// Another configuration of the same plugin: less favourable unless
		// shown otherwise, so it needs the notice period.
		d.RulePluginConfig = []byte(`{"points_per_litre":{"fuel_92":2}}`)
		_, err = f.publish(t, d, time.Time{})
		asRulesErr(t, err, rules.CodeNoticePeriodNotMet)
		// With the plugin at hand, the corpus shows it: more points per
		// litre is favourable (at once), fewer is not.
		f.svc.Evaluator = perLitre{}
		fuel := func(d rules.Draft) (rules.Publication, error) { // judged on the fuel corpus
			v, err := f.svc.CreateDraft(ctx, f.m, d, "operator:test")
			if err != nil {
				t.Fatal(err)
			}
			return f.svc.Publish(ctx, f.m, "fuel", v.ID, time.Time{}, "operator:test")
		}
		if p, err := fuel(d); err != nil || p.Version.State != rules.StateActive || rules.LessFavourable(p.Changes) {
			t.Fatalf("more points per litre: %+v %v", p, err)
		}
		d.RulePluginConfig = []byte(`{"points_per_litre":{"fuel_92":1}}`)
		_, err = fuel(d)
		if re := asRulesErr(t, err, rules.CodeNoticePeriodNotMet); !strings.Contains(re.Message, "points") {
			t.Fatalf("fewer points per litre: %v", re)
		}
		// A configuration without a plugin, or not an object, is refused.
		bad := base()
		bad.RulePluginConfig = []byte(`{"x":1}`)
		if _, err := f.svc.CreateDraft(ctx, f.m, bad, "x"); err == nil {
			t.Fatal("a configuration without a plugin was accepted")
		}
		bad.RulePlugin, bad.RulePluginConfig = "fuel", []byte(`[1]`)
		if _, err := f.svc.CreateDraft(ctx, f.m, bad, "x"); err == nil {
			t.Fatal("a configuration that is not an object was accepted")
		}
	})
}

// perLitre is a fuel rule plugin in miniature: points per litre of the
// fuel_92 lines, at the configuration's rate.
type perLitre struct{}

func (perLitre) EvaluateEarning(_ context.Context, _ string, in points.RuleInput) (points.Award, error) {
	var cfg struct {
		PointsPerLitre map[string]int64 `json:"points_per_litre"`
	}
	if err := json.Unmarshal(in.PluginConfig, &cfg); err != nil {
		return points.Award{}, err
	}
	var n int64
	for _, it := range in.Items {
		n += it.Quantity * cfg.PointsPerLitre[it.Category] / 1000
	}
	return points.Award{Points: n, RuleVersion: "plugin:fuel"}, nil
}
