package api

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/gateway/points"
	"github.com/lianmeng/lianmeng/gateway/rules"
	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
	"github.com/lianmeng/lianmeng/sdk/client"
)

// Over HTTP, on both databases: a less favourable change is refused with
// the earliest allowed time and writes nothing, through the new routes and
// through the old flat-rate PUT; published at that time it shows in the
// public rule log with its diff, takes effect for earns at its time, and
// a withdrawal is public too.
func TestRulesOverHTTP(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		g := ptsStart(t, db, nil)
		ctx := context.Background()
		m := g.merchant(t, 200, 1_000_000) // version 1: 2% back
		anon := client.NewOperator(g.base, "")
		base := "/v1/operator/merchants/" + m.ID + "/rules"

		// The old PUT lowering the rate: 409 with the earliest time, nothing written.
		before := fndCount(t, db, "rule_versions")
		r := fndOp(t, "PUT", g.base+"/v1/operator/merchants/"+m.ID+"/earning", `{"rate_bp":100}`)
		r.expectErr(t, 409, rules.CodeNoticePeriodNotMet)
		var raw struct {
			Error struct {
				Earliest time.Time `json:"earliest_effective_at"`
			} `json:"error"`
		}
		if err := json.Unmarshal(r.Body, &raw); err != nil || !raw.Error.Earliest.Equal(g.clock.Now().UTC().Truncate(time.Microsecond).Add(rules.DefaultNotice)) {
			t.Fatalf("earliest_effective_at = %v (%v), want now + notice", raw.Error.Earliest, err)
		}
		if fndCount(t, db, "rule_versions") != before {
			t.Fatal("a refused PUT wrote a rule version")
		}

		// A draft, refused too soon, published at the earliest time.
		var d rules.Version
		if err := g.op.Do(ctx, "POST", base+"/drafts", map[string]any{"rate_bp": 100, "summary_en": "1% back"}, &d); err != nil {
			t.Fatal(err)
		}
		if d.State != rules.StateDraft || d.Terms.ValiditySeconds <= 0 {
			t.Fatalf("draft: %+v", d)
		}
		publish := fmt.Sprintf("%s/drafts/%d/publish", base, d.ID)
		err := g.op.Do(ctx, "POST", publish, map[string]any{"effective_at": g.clock.Now().Add(24 * time.Hour)}, nil)
		if apiCode(t, err) != rules.CodeNoticePeriodNotMet {
			t.Fatalf("too soon: %v", err)
		}
		at := g.clock.Now().UTC().Truncate(time.Second).Add(rules.DefaultNotice + time.Hour)
		var pub rules.Publication
		if err := g.op.Do(ctx, "POST", publish, map[string]any{"effective_at": at}, &pub); err != nil {
			t.Fatal(err)
		}
		if pub.Version.Number != 2 || pub.Version.State != rules.StateScheduled {
			t.Fatalf("publication: %+v", pub)
		}

		// The public log: v1 active, v2 scheduled with a diff naming the rate.
		var log rules.Log
		if err := anon.Do(ctx, "GET", "/v1/public/rules/"+m.ID, nil, &log); err != nil {
			t.Fatal(err)
		}
		if log.Active == nil || log.Active.Number != 1 || log.Scheduled == nil || log.Scheduled.Number != 2 || !hasLessFavourable(log.Changes, "rate_bp") {
			t.Fatalf("public log: %+v", log)
		}

		earn := func(order string) int64 {
			t.Helper()
			var res struct {
				Points      int64  `json:"points"`
				RuleVersion string `json:"rule_version"`
			}
			if err := m.C.Do(ctx, "POST", "/v1/merchant/earn", map[string]any{"order_id": order, "member": phone("13900000001"), "amount_fen": 10000},
				&res, client.IdempotencyKey(newKey())); err != nil {
				t.Fatal(err)
			}
			return res.Points
		}
		if p := earn("before"); p != 200 {
			t.Fatalf("earn before the change: %d points, want 200", p)
		}
		g.clock.us.Store(at.Add(time.Minute).UnixMicro())
		g.srv.cache.forget(m.ID, "")
		if p := earn("after"); p != 100 {
			t.Fatalf("earn after the change: %d points, want 100", p)
		}

		// A favourable change at once, then a scheduled one withdrawn.
		if err := g.op.Do(ctx, "PUT", "/v1/operator/merchants/"+m.ID+"/earning", map[string]any{"rate_bp": 300}, nil); err != nil {
			t.Fatal(err)
		}
		if p := earn("favourable"); p != 300 {
			t.Fatalf("earn after a favourable change: %d points, want 300", p)
		}
		if err := g.op.Do(ctx, "POST", base+"/drafts", map[string]any{"rate_bp": 50}, &d); err != nil {
			t.Fatal(err)
		}
		if err := g.op.Do(ctx, "POST", fmt.Sprintf("%s/drafts/%d/publish", base, d.ID), map[string]any{"effective_at": g.clock.Now().Add(rules.DefaultNotice + time.Hour)}, &pub); err != nil {
			t.Fatal(err)
		}
		var w rules.Version
		if err := g.op.Do(ctx, "POST", fmt.Sprintf("%s/versions/%d/withdraw", base, pub.Version.Number), nil, &w); err != nil {
			t.Fatal(err)
		}
		if err := anon.Do(ctx, "GET", "/v1/public/rules/"+m.ID, nil, &log); err != nil {
			t.Fatal(err)
		}
		if log.Scheduled != nil || len(log.History) != 4 || log.History[3].State != rules.StateWithdrawn || log.Active.Number != 3 {
			t.Fatalf("public log after withdrawal: %+v", log)
		}
		var list struct {
			Versions []rules.Version `json:"versions"`
		}
		if err := g.op.Do(ctx, "GET", base, nil, &list); err != nil || len(list.Versions) != 4 {
			t.Fatalf("versions: %d %v", len(list.Versions), err)
		}

		// Simulation of a draft: on given purchases, and on the last ones.
		if err := g.op.Do(ctx, "POST", base+"/drafts", map[string]any{"rate_bp": 150, "excluded_categories": []string{"alcohol"}}, &d); err != nil {
			t.Fatal(err)
		}
		var sim rules.Simulation
		sample := map[string]any{"purchases": []map[string]any{{"label": "dinner", "amount_fen": 20000,
			"items": []map[string]any{{"category": "food", "quantity": 1, "amount_fen": 15000}, {"category": "alcohol", "quantity": 1, "amount_fen": 5000}}}}}
		if err := g.op.Do(ctx, "POST", fmt.Sprintf("%s/drafts/%d/simulate", base, d.ID), sample, &sim); err != nil {
			t.Fatal(err)
		}
		// v3 (3%) gives 600; the draft 1.5% of the 15000 not excluded: 225.
		if len(sim.Purchases) != 1 || sim.OldTotal != 600 || sim.NewTotal != 225 || !hasLessFavourable(sim.Changes, "rate_bp") {
			t.Fatalf("simulation: %+v", sim)
		}
		if err := g.op.Do(ctx, "POST", fmt.Sprintf("%s/drafts/%d/simulate", base, d.ID), map[string]any{"recent": 10}, &sim); err != nil {
			t.Fatal(err)
		}
		// The three earns above, 10000 fen each: 300 -> 150 points each.
		if len(sim.Purchases) != 3 || sim.OldTotal != 900 || sim.NewTotal != 450 {
			t.Fatalf("simulation on recent purchases: %+v", sim)
		}
		before = fndCount(t, db, "rule_versions")
		if e := fndOp(t, "POST", fmt.Sprintf("%s%s/drafts/%d/simulate", g.base, base, d.ID), `{"recent":5000}`); e.Status != 400 || fndCount(t, db, "rule_versions") != before {
			t.Fatalf("recent 5000: %s", e)
		}

		// The Atom feed: an entry per publication and withdrawal.
		resp := fndReq(t, "GET", g.base+"/v1/public/rules/"+m.ID+"/feed.atom", nil)
		if resp.Status != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/atom+xml") {
			t.Fatalf("feed: %s", resp)
		}
		var feed struct {
			XMLName xml.Name `xml:"http://www.w3.org/2005/Atom feed"`
			Entries []struct {
				ID      string `xml:"id"`
				Title   string `xml:"title"`
				Content string `xml:"content"`
			} `xml:"entry"`
		}
		if err := xml.Unmarshal(resp.Body, &feed); err != nil {
			t.Fatal(err)
		}
		if len(feed.Entries) != 5 || feed.Entries[0].Title != "Version 4 withdrawn" || feed.Entries[1].Title != "Version 4 published" ||
			!strings.Contains(feed.Entries[len(feed.Entries)-1].Content, "2.00% of the purchase back") {
			t.Fatalf("feed entries: %+v", feed.Entries)
		}
	})
}

// The merchant manages its own rule set with signed requests, and cannot
// reach another merchant's drafts.
func TestMerchantRulesOverHTTP(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		g := ptsStart(t, db, nil)
		ctx := context.Background()
		a := g.merchant(t, 100, 1_000_000)
		b := g.merchant(t, 100, 0)
		var list struct {
			Versions []rules.Version `json:"versions"`
		}
		if err := a.C.Do(ctx, "GET", "/v1/merchant/rules", nil, &list); err != nil || len(list.Versions) != 1 || list.Versions[0].State != rules.StateActive {
			t.Fatalf("versions: %+v %v", list, err)
		}
		var d rules.Version
		if err := a.C.Do(ctx, "POST", "/v1/merchant/rules/drafts", map[string]any{"expression": "eligible_fen / 50"}, &d); err != nil {
			t.Fatal(err)
		}
		var sim rules.Simulation
		if err := a.C.Do(ctx, "POST", fmt.Sprintf("/v1/merchant/rules/drafts/%d/simulate", d.ID),
			map[string]any{"purchases": []map[string]any{{"label": "x", "amount_fen": 10000}}}, &sim); err != nil || sim.OldTotal != 100 || sim.NewTotal != 200 {
			t.Fatalf("simulation: %+v %v", sim, err)
		}
		// Merchant b cannot simulate, publish or see a's draft.
		if err := b.C.Do(ctx, "POST", fmt.Sprintf("/v1/merchant/rules/drafts/%d/publish", d.ID), map[string]any{}, nil); apiCode(t, err) != rules.CodeVersionNotFound {
			t.Fatalf("another merchant's draft: %v", err)
		}
		if err := b.C.Do(ctx, "POST", fmt.Sprintf("/v1/merchant/rules/drafts/%d/simulate", d.ID), map[string]any{}, nil); apiCode(t, err) != rules.CodeVersionNotFound {
			t.Fatalf("another merchant's draft simulated: %v", err)
		}
		var pub rules.Publication
		if err := a.C.Do(ctx, "POST", fmt.Sprintf("/v1/merchant/rules/drafts/%d/publish", d.ID), map[string]any{}, &pub); err != nil || pub.Version.State != rules.StateActive {
			t.Fatalf("publish (favourable, at once): %+v %v", pub, err)
		}
		var res struct {
			Points    int64             `json:"points"`
			Breakdown *points.Breakdown `json:"breakdown"`
		}
		if err := a.C.Do(ctx, "POST", "/v1/merchant/earn", map[string]any{"order_id": "cel-1", "member": phone("13900000002"), "amount_fen": 10000},
			&res, client.IdempotencyKey(newKey())); err != nil || res.Points != 200 || res.Breakdown == nil || res.Breakdown.BasePoints != 200 {
			t.Fatalf("earn under the expression: %+v %v", res, err)
		}
		evs, _ := db.AuditEvents(ctx, 0, 1000)
		if last := evs[len(evs)-1]; last.Kind != rules.AuditPublished || last.Actor != "merchant:"+a.ID {
			t.Fatalf("audit: %+v", last)
		}
	})
}

// The operator sets an industry template; anyone can read it; a merchant
// adopts it as a draft (nothing published until it publishes the draft).
func TestRuleTemplatesOverHTTP(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		g := ptsStart(t, db, nil)
		ctx := context.Background()
		m := g.merchant(t, 100, 1_000_000)
		var tpl rules.Template
		if err := g.op.Do(ctx, "PUT", "/v1/operator/rule-templates/restaurant", map[string]any{"expression": "eligible_fen / 50",
			"excluded_categories": []string{"tip"}, "summary_en": "2 points per 100 fen"}, &tpl); err != nil {
			t.Fatal(err)
		}
		if tpl.Industry != "restaurant" || tpl.Terms.ValiditySeconds <= 0 || tpl.Terms.Expression == "" {
			t.Fatalf("template: %+v", tpl)
		}
		if e := fndOp(t, "PUT", g.base+"/v1/operator/rule-templates/fuel", `{"expression":"oops +"}`); e.Status != 400 {
			t.Fatalf("bad template: %s", e)
		}
		var list struct {
			Templates []rules.Template `json:"templates"`
		}
		if err := client.NewOperator(g.base, "").Do(ctx, "GET", "/v1/public/rule-templates", nil, &list); err != nil || len(list.Templates) != 1 {
			t.Fatalf("public templates: %+v %v", list, err)
		}
		var d rules.Version
		if err := m.C.Do(ctx, "POST", "/v1/merchant/rules/adopt/restaurant", nil, &d); err != nil || d.State != rules.StateDraft || d.Terms.Expression != "eligible_fen / 50" {
			t.Fatalf("adopt: %+v %v", d, err)
		}
		if err := m.C.Do(ctx, "POST", "/v1/merchant/rules/adopt/hotel", nil, nil); apiCode(t, err) != rules.CodeTemplateNotFound {
			t.Fatalf("adopt a missing template: %v", err)
		}
		if err := g.op.Do(ctx, "POST", "/v1/operator/merchants/"+m.ID+"/rules/adopt/restaurant", nil, &d); err != nil || d.State != rules.StateDraft {
			t.Fatalf("operator adopt: %+v %v", d, err)
		}
		// Nothing changed until a draft is published.
		if e, err := db.MerchantEarningAt(ctx, m.ID, g.clock.Now()); err != nil || e.Version != 1 || e.Expr != nil {
			t.Fatalf("terms after adopting: %+v %v", e, err)
		}
		// The template excludes tips, which the merchant's version did not:
		// adopting it is a less favourable change like any other.
		publish := fmt.Sprintf("/v1/merchant/rules/drafts/%d/publish", d.ID)
		if err := m.C.Do(ctx, "POST", publish, map[string]any{}, nil); apiCode(t, err) != rules.CodeNoticePeriodNotMet {
			t.Fatalf("publish the adopted draft at once: %v", err)
		}
		var pub rules.Publication
		if err := m.C.Do(ctx, "POST", publish, map[string]any{"effective_at": g.clock.Now().Add(rules.DefaultNotice + time.Hour)}, &pub); err != nil ||
			pub.Version.Number != 2 || pub.Version.State != rules.StateScheduled {
			t.Fatalf("publish the adopted draft after notice: %+v %v", pub, err)
		}
	})
}

func hasLessFavourable(cs []rules.Change, term string) bool {
	for _, c := range cs {
		if c.Term == term && c.LessFavourable {
			return true
		}
	}
	return false
}

func init() {
	fzBodyRoutes["FuzzOperatorSetRuleTemplate"] = fzRoute{"PUT", "/v1/operator/rule-templates/:industry", fzOperator}
	fzBodyRoutes["FuzzMerchantCreateRuleDraft"] = fzRoute{"POST", "/v1/merchant/rules/drafts", fzMerchant}
	fzBodyRoutes["FuzzMerchantSimulateRuleDraft"] = fzRoute{"POST", "/v1/merchant/rules/drafts/:draft/simulate", fzMerchant}
	fzBodyRoutes["FuzzMerchantPublishRuleDraft"] = fzRoute{"POST", "/v1/merchant/rules/drafts/:draft/publish", fzMerchant}
	fzBodyRoutes["FuzzOperatorSimulateRuleDraft"] = fzRoute{"POST", "/v1/operator/merchants/:merchant/rules/drafts/:draft/simulate", fzOperator}
	fzBodyRoutes["FuzzOperatorCreateRuleDraft"] = fzRoute{"POST", "/v1/operator/merchants/:merchant/rules/drafts", fzOperator}
	fzBodyRoutes["FuzzOperatorPublishRuleDraft"] = fzRoute{"POST", "/v1/operator/merchants/:merchant/rules/drafts/:draft/publish", fzOperator}
}

func FuzzOperatorCreateRuleDraft(f *testing.F) {
	fuzzRoute(f, "FuzzOperatorCreateRuleDraft",
		`{"rate_bp":100,"max_points":500,"release_delay_seconds":86400,"validity_seconds":31536000,"excluded_categories":["tobacco"],"summary_zh":"每元1分","summary_en":"1 point per yuan"}`,
		`{"rate_bp":-1}`, `{"rate_bp":10001}`, `{"validity_seconds":0}`, `{"release_delay_seconds":-5}`,
		`{"excluded_categories":[""]}`, `{"rule_plugin":"restaurant"}`, `{"rate_bp":1.5}`,
		`{"expression":"eligible_fen / 100 + (weekday == 3 ? 5 : 0)"}`, `{"expression":"eligible_fen /\n nope"}`, `{"expression":"1.5"}`,
		`{"expression":"items.map(a, items.map(b, items.map(c, 1))).size()"}`, `{"expression":"1","rule_plugin":"restaurant"}`,
	)
}

func FuzzOperatorSimulateRuleDraft(f *testing.F) {
	fuzzRoute(f, "FuzzOperatorSimulateRuleDraft",
		`{"purchases":[{"label":"lunch","amount_fen":3800,"items":[{"category":"food","quantity":1,"amount_fen":3800}]}]}`,
		`{"recent":50}`, `{"recent":-1}`, `{"purchases":[{"amount_fen":0}]}`, `{}`,
	)
}

func FuzzOperatorPublishRuleDraft(f *testing.F) {
	fuzzRoute(f, "FuzzOperatorPublishRuleDraft",
		`{"effective_at":"2099-01-01T00:00:00Z"}`, `{"effective_at":"2000-01-01T00:00:00Z"}`, `{"effective_at":null}`, `{"effective_at":"soon"}`,
	)
}

func FuzzMerchantCreateRuleDraft(f *testing.F) {
	fuzzRoute(f, "FuzzMerchantCreateRuleDraft", `{"rate_bp":100}`, `{"expression":"eligible_fen / 100"}`, `{"expression":"x"}`, `{"validity_seconds":0}`)
}

func FuzzMerchantSimulateRuleDraft(f *testing.F) {
	fuzzRoute(f, "FuzzMerchantSimulateRuleDraft", `{"recent":5}`, `{"purchases":[{"label":"a","amount_fen":100}]}`, `{"recent":-1}`)
}

func FuzzMerchantPublishRuleDraft(f *testing.F) {
	fuzzRoute(f, "FuzzMerchantPublishRuleDraft", `{}`, `{"effective_at":"2099-01-01T00:00:00Z"}`, `{"effective_at":"2000-01-01T00:00:00Z"}`)
}

func FuzzOperatorSetRuleTemplate(f *testing.F) {
	fuzzRoute(f, "FuzzOperatorSetRuleTemplate", `{"rule_plugin":"fuel","summary_en":"1 point per litre"}`, `{"rate_bp":100,"validity_seconds":0}`,
		`{"expression":"nope"}`, `{"rate_bp":-1}`)
}
