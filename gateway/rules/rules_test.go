package rules_test

import (
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/gateway/points"
	"github.com/lianmeng/lianmeng/gateway/points/pointstest"
	"github.com/lianmeng/lianmeng/gateway/rules"
)

func policy() points.Policy {
	return points.Policy{FaceValueFen: 1, ReleaseDelay: 24 * time.Hour, Validity: 30 * 24 * time.Hour,
		ExpiryPolicy: "breakage", MaxPointsPerEarn: 100_000, MaxAmountFen: 100_000_000}
}

func terms() rules.Terms {
	return rules.Terms{RateBP: 500, MaxPoints: 1000, ReleaseDelaySeconds: 86400, ValiditySeconds: 30 * 86400, ExcludedCategories: []string{"alcohol"}}
}

// Every change that leaves members at least as well off is not less
// favourable, so it may take effect at once.
func TestFavourableChangesNeedNoNotice(t *testing.T) {
	corpus, err := rules.SyntheticCorpus("restaurant")
	if err != nil {
		t.Fatal(err)
	}
	better := map[string]func(*rules.Terms){
		"higher rate":       func(x *rules.Terms) { x.RateBP = 600 },
		"higher cap":        func(x *rules.Terms) { x.MaxPoints = 2000 },
		"no cap":            func(x *rules.Terms) { x.MaxPoints = 0 },
		"shorter release":   func(x *rules.Terms) { x.ReleaseDelaySeconds = 0 },
		"longer validity":   func(x *rules.Terms) { x.ValiditySeconds = 60 * 86400 },
		"fewer exclusions":  func(x *rules.Terms) { x.ExcludedCategories = nil },
		"new summary words": func(x *rules.Terms) { x.SummaryEN = "5% back" },
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for name, f := range better {
		old, nw := terms(), terms()
		f(&nw)
		cs := rules.Diff(&old, nw, policy(), corpus)
		if len(cs) == 0 {
			t.Errorf("%s: no change reported", name)
		}
		if rules.LessFavourable(cs) {
			t.Errorf("%s: reported less favourable: %+v", name, cs)
		}
		if err := rules.NoticeCheck(cs, now, now, rules.DefaultNotice); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	// No version in effect: nothing to compare, nothing less favourable.
	if cs := rules.Diff(nil, terms(), policy(), corpus); cs != nil {
		t.Errorf("first version: %+v", cs)
	}
}

// An exclusion costs points exactly where the corpus has the category.
func TestNewExclusionShowsFewerPoints(t *testing.T) {
	corpus, _ := rules.SyntheticCorpus("supermarket")
	old, nw := terms(), terms()
	nw.ExcludedCategories = []string{"alcohol", "tobacco"}
	cs := rules.Diff(&old, nw, policy(), corpus)
	var terms []string
	for _, c := range cs {
		if c.LessFavourable {
			terms = append(terms, c.Term)
		}
	}
	if len(terms) != 2 || terms[0] != "excluded_categories" || terms[1] != "points" {
		t.Fatalf("less favourable terms %v, want excluded_categories and points", terms)
	}
	err := rules.NoticeCheck(cs, time.Unix(0, 0).Add(rules.DefaultNotice-1), time.Unix(0, 0), rules.DefaultNotice)
	if re, ok := err.(*rules.Error); !ok || re.Code != rules.CodeNoticePeriodNotMet || !re.Earliest.Equal(time.Unix(0, 0).Add(rules.DefaultNotice)) {
		t.Fatalf("notice check: %v", err)
	}
	if err := rules.NoticeCheck(cs, time.Unix(0, 0).Add(rules.DefaultNotice), time.Unix(0, 0), rules.DefaultNotice); err != nil {
		t.Fatalf("at the earliest time: %v", err)
	}
}

// The corpus points are the earn's points: the comparison judges what
// members would really get.
func TestCorpusPointsMatchTheEarn(t *testing.T) {
	p := policy()
	svc := &points.Service{Policy: p}
	for _, industry := range []string{"general", "restaurant", "fuel", "supermarket", "hotel", "unknown-industry"} {
		corpus, err := rules.SyntheticCorpus(industry)
		if err != nil || len(corpus) == 0 {
			t.Fatalf("%s: %v", industry, err)
		}
		for _, rate := range []int64{1, 100, 777, 10000} {
			tr := terms()
			tr.RateBP, tr.ExcludedCategories = rate, []string{"alcohol", "tobacco", "deposit", "fuel_95"}
			for i, pu := range corpus {
				var sum int64
				for _, it := range pu.Items {
					sum += it.AmountFen
				}
				if len(pu.Items) > 0 && sum != pu.AmountFen {
					t.Fatalf("%s %s: items sum to %d, amount %d", industry, pu.Label, sum, pu.AmountFen)
				}
				tx := pointstest.NewTx(time.Unix(1e9, 0), points.Merchant{ID: "m", Active: true, Earning: tr.Earning(1)})
				if _, err := svc.Fund(tx, points.FundRequest{MerchantID: "m", AmountFen: 10_000_000, ExternalRef: "f"}); err != nil {
					t.Fatal(err)
				}
				res, err := svc.Earn(tx, points.EarnRequest{MerchantID: "m", OrderID: "o", Member: points.Identity{Kind: points.IdentityPhone, Value: "13800000001"},
					AmountFen: pu.AmountFen, Items: pu.Items})
				if err != nil {
					t.Fatal(err)
				}
				if got := tr.Points(pu, p); got != res.Points {
					t.Errorf("%s #%d rate %d: corpus says %d points, the earn %d", industry, i, rate, got, res.Points)
				}
			}
		}
	}
}

func TestStates(t *testing.T) {
	at := func(h int) *time.Time { v := time.Date(2026, 1, 1, h, 0, 0, 0, time.UTC); return &v }
	vs := []rules.Version{
		{Number: 1, Status: rules.StatusPublished, EffectiveAt: at(0)},
		{Number: 2, Status: rules.StatusPublished, EffectiveAt: at(2)},
		{Number: 3, Status: rules.StatusWithdrawn, EffectiveAt: at(3)},
		{Number: 4, Status: rules.StatusPublished, EffectiveAt: at(5)},
		{Status: rules.StatusDraft},
	}
	rules.States(vs, *at(4))
	want := []string{rules.StateSuperseded, rules.StateActive, rules.StateWithdrawn, rules.StateScheduled, rules.StateDraft}
	for i, v := range vs {
		if v.State != want[i] {
			t.Errorf("version %d: %s, want %s", i, v.State, want[i])
		}
	}
}
