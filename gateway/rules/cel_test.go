package rules_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/gateway/points"
	"github.com/lianmeng/lianmeng/gateway/points/pointstest"
	"github.com/lianmeng/lianmeng/gateway/rules"
)

// Compile errors come with their line and column.
func TestExpressionCompileErrorsHavePositions(t *testing.T) {
	cases := []struct {
		src        string
		line, col  int
		mentioning string
	}{
		{"eligible_fen / 100 +\n  bonus_points", 2, 3, "undeclared reference to 'bonus_points'"},
		{"amount_fen / ", 1, 14, "Syntax error"},
		{"items.map(i, i.amount_fen).size() + store", 1, 35, "no matching overload"},
		{"eligible_fen / 100.0", 1, 14, "no matching overload"}, // no floats in rules
		{"eligible_fen > 100", 1, 1, "type bool"},               // a rule gives an int
		{"'10'", 1, 1, "type string"},
	}
	for _, c := range cases {
		_, err := rules.Compile(c.src)
		var ce *rules.CompileError
		if !errors.As(err, &ce) || len(ce.Problems) == 0 {
			t.Errorf("%q: %v, want a compile error", c.src, err)
			continue
		}
		p := ce.Problems[0]
		if p.Line != c.line || p.Column != c.col || !strings.Contains(p.Message, c.mentioning) {
			t.Errorf("%q: line %d column %d %q, want line %d column %d mentioning %q", c.src, p.Line, p.Column, p.Message, c.line, c.col, c.mentioning)
		}
	}
	// A draft with such an expression is refused with the code and position.
	tr := terms()
	tr.Expression = "eligible_fen / 100 +\n  bonus_points"
	var re *rules.Error
	if err := tr.Validate(policy()); !errors.As(err, &re) || re.Code != rules.CodeExpressionInvalid || !strings.Contains(re.Message, "line 2, column 3") {
		t.Fatalf("draft: %v", err)
	}
}

// A deliberately expensive expression is refused before it can run on a
// purchase; the evaluation limit stops it anyway.
func TestExpressionCostLimit(t *testing.T) {
	expensive := "items.map(a, items.map(b, items.map(c, a.amount_fen + b.amount_fen + c.amount_fen))).size()"
	tr := terms()
	tr.Expression = expensive
	var re *rules.Error
	if err := tr.Validate(policy()); !errors.As(err, &re) || re.Code != rules.CodeExpressionCostly {
		t.Fatalf("expensive draft: %v", err)
	}
	e, err := rules.Compile(expensive)
	if err != nil {
		t.Fatal(err)
	}
	items := make([]points.Item, 100)
	for i := range items {
		items[i] = points.Item{Category: "food", Quantity: 1, AmountFen: 100}
	}
	if _, err := e.Points(points.RuleInput{AmountFen: 10000, Items: items, OccurredAt: time.Now()}, 10000, items); !errors.Is(err, rules.ErrCostLimit) {
		t.Fatalf("evaluation: %v, want the cost limit", err)
	}
	// An ordinary rule passes the same check.
	tr.Expression = "eligible_fen / 100 * (weekday == 3 ? 2 : 1)"
	if err := tr.Validate(policy()); err != nil {
		t.Fatal(err)
	}
}

// What an expression sees, and what the earn does with its result.
func TestExpressionEarns(t *testing.T) {
	p := policy()
	svc := &points.Service{Policy: p}
	tr := terms() // alcohol excluded, cap 1000
	tr.Expression = `eligible_fen / 100
		+ sum(items.filter(i, i.category == "drinks").map(i, i.amount_fen)) / 100
		+ (hour >= 14 && hour < 17 ? 5 : 0)
		+ (member_tier == "gold" ? 10 : 0)
		+ (payment_method == "wechat" ? 1 : 0)
		+ (store == "st_1" ? 100 : 0)`
	if err := tr.Validate(p); err != nil {
		t.Fatal(err)
	}
	items := []points.Item{{Category: "food", Quantity: 1, AmountFen: 5000}, {Category: "drinks", Quantity: 2, AmountFen: 1000},
		{Category: "alcohol", Quantity: 1, AmountFen: 4000}}
	// 15:30 in Beijing is 07:30 UTC.
	at := time.Date(2026, 1, 7, 7, 30, 0, 0, time.UTC)
	var last points.EarnResult
	earn := func(store string, attrs map[string]string, amount int64, it []points.Item) (int64, error) {
		tx := pointstest.NewTx(at, points.Merchant{ID: "m", Active: true, Earning: tr.Earning(1)})
		if _, err := svc.Fund(tx, points.FundRequest{MerchantID: "m", AmountFen: 10_000_000, ExternalRef: "f"}); err != nil {
			t.Fatal(err)
		}
		r, err := svc.Earn(tx, points.EarnRequest{MerchantID: "m", StoreID: store, OrderID: "o", Member: points.Identity{Kind: points.IdentityPhone, Value: "13800000001"},
			AmountFen: amount, Items: it, Attributes: attrs})
		last = r
		return r.Points, err
	}
	// eligible 6000 -> 60, drinks 1000 -> 10, afternoon 5, gold 10, wechat 1.
	if n, err := earn("", map[string]string{"member_tier": "gold", "payment_method": "wechat"}, 10000, items); err != nil || n != 86 {
		t.Fatalf("points %d (%v), want 86", n, err)
	}
	// The cap of the version (1000) and the purchase's value bound it.
	tr.MaxPoints = 50
	if n, _ := earn("", nil, 10000, items); n != 50 {
		t.Fatalf("capped: %d, want 50", n)
	}
	tr.MaxPoints = 0
	// 1 + 5 + 100 = 106 points for a 100-fen purchase: worth at most 100.
	if n, _ := earn("st_1", nil, 100, nil); n != 100 {
		t.Fatalf("bounded by value: %d, want 100", n)
	}
	if b := last.Breakdown; b == nil || b.BasePoints != 106 || b.TotalPoints != 100 || len(b.Caps) != 1 ||
		b.Caps[0] != (points.BreakdownCap{Code: "purchase_value", LimitPoints: 100, RemovedPoints: 6}) {
		t.Fatalf("breakdown: %+v", last.Breakdown)
	}
	// A negative result fails the earn: 422 rule_failed, nothing written.
	tr.Expression = "eligible_fen / 100 - 1000"
	_, err := earn("", nil, 10000, items)
	var pe *points.Error
	if !errors.As(err, &pe) || pe.Code != points.CodeRuleFailed {
		t.Fatalf("negative: %v", err)
	}
}

// An expression's change is judged by the points it awards on the corpus.
func TestExpressionChangeComparedOnCorpus(t *testing.T) {
	corpus, _ := rules.SyntheticCorpus("restaurant")
	old, nw := terms(), terms()
	old.Expression = "eligible_fen / 100"
	nw.Expression = "eligible_fen / 100 + (eligible_fen > 100000 ? 50 : 0)"
	if cs := rules.Diff(&old, nw, policy(), corpus); rules.LessFavourable(cs) {
		t.Fatalf("a bonus on large purchases is less favourable? %+v", cs)
	}
	nw.Expression = "eligible_fen > 10000 ? eligible_fen / 100 : 0"
	if cs := rules.Diff(&old, nw, policy(), corpus); !rules.LessFavourable(cs) {
		t.Fatalf("nothing under 100 yuan is not less favourable? %+v", cs)
	}
}

// benchEarn earns for one member again and again (the budget is the most
// a funding may bring, so a long run never runs out of it).
func benchEarn(b *testing.B, tr rules.Terms) {
	p := policy()
	svc := &points.Service{Policy: p}
	tx := pointstest.NewTx(time.Date(2026, 1, 7, 7, 30, 0, 0, time.UTC), points.Merchant{ID: "m", Active: true, Earning: tr.Earning(1)})
	if _, err := svc.Fund(tx, points.FundRequest{MerchantID: "m", AmountFen: 1_000_000_000_000, ExternalRef: "f"}); err != nil {
		b.Fatal(err)
	}
	items := []points.Item{{SKU: "a", Category: "food", Quantity: 1, AmountFen: 5000}, {SKU: "b", Category: "drinks", Quantity: 2, AmountFen: 1000},
		{SKU: "c", Category: "alcohol", Quantity: 1, AmountFen: 4000}}
	member := points.Identity{Kind: points.IdentityPhone, Value: "13800000001"}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if _, err := svc.Earn(tx, points.EarnRequest{MerchantID: "m", OrderID: fmt.Sprint("o", i), Member: member, AmountFen: 10000, Items: items,
			Attributes: map[string]string{"member_tier": "gold"}}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEarnFlat and BenchmarkEarnCEL: the domain's earn with a flat
// rate and with a CEL rule (the target: the CEL rule costs ≤ 20 µs per
// earn).
func BenchmarkEarnFlat(b *testing.B) { benchEarn(b, terms()) }

func BenchmarkEarnCEL(b *testing.B) {
	tr := terms()
	tr.Expression = `eligible_fen / 100 + sum(items.filter(i, i.category == "drinks").map(i, i.amount_fen)) / 100 + (member_tier == "gold" ? 10 : 0)`
	benchEarn(b, tr)
}

// BenchmarkEarnCELCounters: a CEL rule reading the member's counters under
// per-member caps (the counters are read and added to in the unit of work).
func BenchmarkEarnCELCounters(b *testing.B) {
	tr := terms()
	tr.Expression = `eligible_fen / 100 * (purchases_month >= 3 ? 2 : 1) + (points_today > 500 ? 0 : 10)`
	tr.MemberDayCap, tr.MemberMonthCap = 1_000_000_000, 1_000_000_000
	benchEarn(b, tr)
}

// BenchmarkExpressionPoints is one evaluation of a typical rule: what a
// CEL rule adds to an earn.
func BenchmarkExpressionPoints(b *testing.B) {
	e, err := rules.Compile(`eligible_fen / 100 + sum(items.filter(i, i.category == "drinks").map(i, i.amount_fen)) / 100 + (member_tier == "gold" ? 10 : 0)`)
	if err != nil {
		b.Fatal(err)
	}
	items := []points.Item{{SKU: "a", Category: "food", Quantity: 1, AmountFen: 5000}, {SKU: "b", Category: "drinks", Quantity: 2, AmountFen: 1000}}
	in := points.RuleInput{AmountFen: 10000, Items: items, OccurredAt: time.Now(), Attributes: map[string]string{"member_tier": "gold"}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.Points(in, 6000, items); err != nil {
			b.Fatal(err)
		}
	}
}
