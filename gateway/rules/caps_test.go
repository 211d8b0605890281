package rules_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/gateway/points"
	"github.com/lianmeng/lianmeng/gateway/points/pointstest"
	"github.com/lianmeng/lianmeng/gateway/rules"
)

// Per-member caps are terms: a new or lower cap is less favourable, a
// higher one or none is not.
func TestMemberCapNotice(t *testing.T) {
	corpus, _ := rules.SyntheticCorpus("general")
	for _, c := range []struct {
		name       string
		old, new   [2]int64 // day, month
		term       string
		lessFavour bool
	}{
		{"new day cap", [2]int64{0, 0}, [2]int64{500, 0}, "member_day_cap", true},
		{"new month cap", [2]int64{0, 0}, [2]int64{0, 5000}, "member_month_cap", true},
		{"lower day cap", [2]int64{500, 0}, [2]int64{400, 0}, "member_day_cap", true},
		{"higher month cap", [2]int64{0, 5000}, [2]int64{0, 6000}, "member_month_cap", false},
		{"day cap removed", [2]int64{500, 0}, [2]int64{0, 0}, "member_day_cap", false},
	} {
		old, nw := terms(), terms()
		old.MemberDayCap, old.MemberMonthCap = c.old[0], c.old[1]
		nw.MemberDayCap, nw.MemberMonthCap = c.new[0], c.new[1]
		cs := rules.Diff(&old, nw, policy(), corpus)
		found := false
		for _, ch := range cs {
			if ch.Term == c.term {
				found = true
				if ch.LessFavourable != c.lessFavour {
					t.Errorf("%s: less favourable %v, want %v", c.name, ch.LessFavourable, c.lessFavour)
				}
			}
		}
		if !found {
			t.Errorf("%s: no %s change in %+v", c.name, c.term, cs)
		}
	}
	bad := terms()
	bad.MemberDayCap = -1
	if err := bad.Validate(policy()); err == nil {
		t.Fatal("a negative cap was accepted")
	}
}

// An expression's counters are part of the comparison: raising a threshold
// on purchases this month is less favourable though a first purchase earns
// the same; lowering it is not.
func TestCounterThresholdNotice(t *testing.T) {
	corpus, _ := rules.SyntheticCorpus("general")
	old, raised, lowered := terms(), terms(), terms()
	old.Expression = `purchases_month >= 3 ? eligible_fen / 50 : eligible_fen / 100`
	raised.Expression = `purchases_month >= 10 ? eligible_fen / 50 : eligible_fen / 100`
	lowered.Expression = `purchases_month >= 1 ? eligible_fen / 50 : eligible_fen / 100`
	if cs := rules.Diff(&old, raised, policy(), corpus); !rules.LessFavourable(cs) {
		t.Fatalf("raised threshold not less favourable: %+v", cs)
	}
	if cs := rules.Diff(&old, lowered, policy(), corpus); rules.LessFavourable(cs) {
		t.Fatalf("lowered threshold less favourable: %+v", cs)
	}
	// Compile: an unknown counter is refused with its position.
	if _, err := rules.Compile("purchases_year + 1"); err == nil {
		t.Fatal("unknown variable compiled")
	}
	x, err := rules.Compile(old.Expression)
	if err != nil || !x.UsesCounters() {
		t.Fatalf("uses counters: %v %v", x, err)
	}
	if x, _ := rules.Compile("eligible_fen / 100"); x.UsesCounters() {
		t.Fatal("an expression without counters counts")
	}
}

// In the domain: the caps bound every award (flat, expression, explicit),
// the counters see every earlier earn of the member at the merchant, and a
// refused earn counts nothing.
func TestMemberCapsInTheDomain(t *testing.T) {
	tr := terms()
	tr.RateBP, tr.MaxPoints, tr.ExcludedCategories = 1000, 0, nil
	tr.MemberDayCap, tr.MemberMonthCap = 250, 0
	now := time.Date(2026, 5, 10, 1, 0, 0, 0, time.UTC)
	tx := pointstest.NewTx(now, points.Merchant{ID: "m", Active: true, Earning: tr.Earning(1)})
	svc := &points.Service{Policy: policy()}
	if _, err := svc.Fund(tx, points.FundRequest{MerchantID: "m", AmountFen: 1000, ExternalRef: "f"}); err != nil {
		t.Fatal(err)
	}
	member := points.Identity{Kind: points.IdentityPhone, Value: "13800000001"}
	earn := func(order string, amount int64, explicit *int64) (points.EarnResult, error) {
		var res points.EarnResult
		err := tx.Atomic(func(points.Tx) error {
			var err error
			res, err = svc.Earn(tx, points.EarnRequest{MerchantID: "m", OrderID: order, Member: member, AmountFen: amount, Points: explicit})
			return err
		})
		return res, err
	}
	if r, err := earn("a", 2000, nil); err != nil || r.Points != 200 || r.Breakdown != nil {
		t.Fatalf("a: %+v %v", r, err)
	}
	// Refused (the order earned already): counts nothing.
	if _, err := earn("a", 2000, nil); err == nil {
		t.Fatal("an order earned twice")
	}
	hundred := int64(100)
	r, err := earn("b", 2000, &hundred)
	if err != nil || r.Points != 50 || r.Breakdown == nil || r.Breakdown.Rule != points.BreakdownExplicit || r.Breakdown.Caps[0].RemovedPoints != 50 {
		t.Fatalf("explicit award over the day cap: %+v %+v %v", r, r.Breakdown, err)
	}
	var day points.Counter
	for k, c := range tx.Counters() {
		if k.Period == points.DayPeriod(now) {
			day = c
		}
	}
	if day != (points.Counter{Purchases: 2, Points: 250}) {
		t.Fatalf("day counter %+v", day)
	}
	if err := tx.CheckInvariants(1); err != nil {
		t.Fatal(err)
	}
}

// A plugin configuration is a term: kept compact, refused without a
// plugin or when it is not a JSON object, and a change of it is less
// favourable unless the plugin shows otherwise.
func TestPluginConfigTerm(t *testing.T) {
	tr := terms()
	tr.RulePlugin = "fuel"
	tr.RulePluginConfig = rules.CompactConfig(json.RawMessage(`{ "points_per_litre" : {"92": 1} }`))
	if string(tr.RulePluginConfig) != `{"points_per_litre":{"92":1}}` {
		t.Fatalf("compacted %s", tr.RulePluginConfig)
	}
	if err := tr.Validate(policy()); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{`[1]`, `"x"`, `{`} {
		b := tr
		b.RulePluginConfig = json.RawMessage(bad)
		if b.Validate(policy()) == nil {
			t.Errorf("config %s accepted", bad)
		}
	}
	nop := terms()
	nop.RulePluginConfig = json.RawMessage(`{}`)
	if nop.Validate(policy()) == nil {
		t.Error("a config without a plugin was accepted")
	}
	nw := tr
	nw.RulePluginConfig = json.RawMessage(`{"points_per_litre":{"92":2}}`)
	cs := rules.Diff(&tr, nw, policy(), nil)
	if len(cs) != 1 || cs[0].Term != "rule_plugin_config" || !cs[0].LessFavourable {
		t.Fatalf("config change: %+v", cs)
	}
}

// fakeStore keeps drafts in memory (only what CreateDraft uses).
type fakeStore struct {
	rules.Store
	drafts []rules.Version
}

func (f *fakeStore) RuleVersions(context.Context, string) ([]rules.Version, error) {
	return f.drafts, nil
}
func (f *fakeStore) CreateRuleDraft(_ context.Context, v rules.Version) (rules.Version, error) {
	v.ID = int64(len(f.drafts) + 1)
	f.drafts = append(f.drafts, v)
	return v, nil
}

type checker map[string]error

func (c checker) CheckRuleConfig(_ context.Context, plugin string, config []byte) error {
	return c[string(config)]
}

// A draft's plugin configuration is checked by the plugin when drafted:
// refused (400 rule_plugin_config_invalid) or, with the plugin unreachable,
// not stored either (503).
func TestDraftPluginConfigChecked(t *testing.T) {
	st := &fakeStore{}
	svc := &rules.Service{Policy: policy(), Notice: rules.DefaultNotice, Store: st,
		Plugins: checker{`{"bad":1}`: fmt.Errorf("%w: fuel: no grades", rules.ErrPluginConfig), `{"down":1}`: errors.New("plugin down")}}
	ctx := context.Background()
	d := rules.Draft{RulePlugin: "fuel", RulePluginConfig: json.RawMessage(`{"bad": 1}`)}
	_, err := svc.CreateDraft(ctx, "m", d, "x")
	var re *rules.Error
	if !errors.As(err, &re) || re.Code != rules.CodePluginConfigInvalid || re.Status != 400 {
		t.Fatalf("refused config: %v", err)
	}
	d.RulePluginConfig = json.RawMessage(`{"down":1}`)
	if _, err := svc.CreateDraft(ctx, "m", d, "x"); !errors.As(err, &re) || re.Status != 503 {
		t.Fatalf("plugin down: %v", err)
	}
	if len(st.drafts) != 0 {
		t.Fatalf("refused drafts were stored: %+v", st.drafts)
	}
	d.RulePluginConfig = json.RawMessage(`{"good": 1}`)
	v, err := svc.CreateDraft(ctx, "m", d, "x")
	if err != nil || string(v.Terms.RulePluginConfig) != `{"good":1}` {
		t.Fatalf("accepted: %+v %v", v, err)
	}
	// The public log says it in plain words, with the caps.
	v.Terms.MemberDayCap, v.Terms.MemberMonthCap = 150, 400
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	v.Status, v.Number, v.PublishedAt, v.EffectiveAt = rules.StatusPublished, 1, &now, &now
	feed, err := (rules.Log{MerchantID: "m", History: []rules.Version{v}}).Atom("https://example.test/feed", now)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`configured with {&#34;good&#34;:1}`, "At most 150 points per member per day", "At most 400 points per member per month"} {
		if !strings.Contains(string(feed), want) {
			t.Errorf("feed lacks %q:\n%s", want, feed)
		}
	}
}

// Items are maps to an expression: fields, membership, size, has(),
// comprehension, equality with a literal, and a missing key fails.
func TestExpressionItems(t *testing.T) {
	items := []points.Item{{SKU: "a", Name: "tea", Category: "drinks", Quantity: 2, AmountFen: 1000}, {SKU: "b", Category: "food", Quantity: 1, AmountFen: 500}}
	in := points.RuleInput{AmountFen: 1500, Items: items, OccurredAt: time.Now()}
	for src, want := range map[string]int64{
		`items.exists(i, i.sku == "a") ? 1 : 0`:          1,
		`"category" in items[0] ? 1 : 0`:                 1,
		`"colour" in items[0] ? 1 : 0`:                   0,
		`size(items[0])`:                                 5,
		`has(items[1].name) ? 1 : 0`:                     1,
		`sum(items.map(i, i.quantity * i.amount_fen))`:   2500,
		`items.filter(i, i.category == "drinks").size()`: 1,
		`items[0] == {"sku": "a", "name": "tea", "category": "drinks", "quantity": 2, "amount_fen": 1000} ? 1 : 0`: 1,
		`items[0] == items[1] ? 1 : 0`: 0,
	} {
		x, err := rules.Compile(src)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		got, err := x.Points(in, 1500, items)
		if err != nil || got != want {
			t.Errorf("%s = %d, %v; want %d", src, got, err, want)
		}
	}
	x, _ := rules.Compile(`int(items[0].colour)`)
	if x == nil {
		t.Fatal("a dyn field does not compile")
	}
	if _, err := x.Points(in, 1500, items); err == nil || !strings.Contains(err.Error(), "no such key") {
		t.Fatalf("missing key: %v", err)
	}
}

type failingExpr struct{ err error }

func (f failingExpr) Points(points.RuleInput, int64, []points.Item) (int64, error) { return 0, f.err }

// An expression stopped by its cost limit fails the earn for good (422
// rule_failed); one stopped by the wall clock (a busy machine) is refused
// for now (503 rule_unavailable, retry), never awarded a guess.
func TestExpressionTimeoutIsRetryable(t *testing.T) {
	svc := &points.Service{Policy: policy()}
	for _, c := range []struct {
		err   error
		class points.Class
		code  string
	}{
		{fmt.Errorf("%w: cost limit exceeded", rules.ErrCostLimit), points.Unprocessable, points.CodeRuleFailed},
		{fmt.Errorf("%w (%w): deadline", rules.ErrCostLimit, points.ErrRuleTimeout), points.Unavailable, points.CodeRuleUnavailable},
	} {
		tx := pointstest.NewTx(time.Unix(1e9, 0), points.Merchant{ID: "m", Active: true, Earning: points.Earning{Version: 1, Expr: failingExpr{c.err}}})
		if _, err := svc.Fund(tx, points.FundRequest{MerchantID: "m", AmountFen: 1000, ExternalRef: "f"}); err != nil {
			t.Fatal(err)
		}
		_, err := svc.Earn(tx, points.EarnRequest{MerchantID: "m", OrderID: "o", Member: points.Identity{Kind: points.IdentityPhone, Value: "1"}, AmountFen: 100})
		var pe *points.Error
		if !errors.As(err, &pe) || pe.Class != c.class || pe.Code != c.code {
			t.Errorf("%v: got %v", c.err, err)
		}
	}
}
