package api

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/gateway/points"
	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
	"github.com/lianmeng/lianmeng/sdk/client"
)

// Referrals over HTTP on both databases: a member's code, being referred
// once (not by oneself), rewards only from a funded marketing budget, the
// public terms, and the clawback when the purchase is refunded.
func TestReferralsOverHTTP(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		g := ptsStart(t, db, nil)
		g.srv.svc.Referral = &points.ReferralTerms{LevelsPermille: []int64{500, 100}, MonthlyCapPoints: 1000}
		ctx := context.Background()
		// What serve does at start: the terms become public and dated.
		if _, _, err := db.PublishReferralTerms(ctx, g.srv.svc.Referral, time.Time{}, g.clock.Now(), 30*24*time.Hour); err != nil {
			t.Fatal(err)
		}
		m := g.merchant(t, 1000, 1_000_000) // 10% back
		earn := func(order, ph string, amount int64) points.EarnResult {
			t.Helper()
			var r points.EarnResult
			if err := m.C.Do(ctx, "POST", "/v1/merchant/earn", map[string]any{"order_id": order, "member": phone(ph), "amount_fen": amount}, &r,
				client.IdempotencyKey(newKey())); err != nil {
				t.Fatal(err)
			}
			return r
		}
		earn("a0", "13800000001", 100)
		earn("b0", "13800000002", 100)
		ta, tb := g.signIn(t, "13800000001"), g.signIn(t, "13800000002")
		a, b := client.NewOperator(g.base, ta), client.NewOperator(g.base, tb)
		var code points.ReferralCodeResult
		if err := a.Do(ctx, "POST", "/v1/member/referral/code", nil, &code); err != nil || len(code.Code) != points.ReferralCodeLength {
			t.Fatalf("code %+v %v", code, err)
		}
		if err := a.Do(ctx, "POST", "/v1/member/referral/referrer", map[string]any{"code": code.Code}, nil); apiCode(t, err) != points.CodeReferralSelf {
			t.Fatalf("self: %v", err)
		}
		if err := b.Do(ctx, "POST", "/v1/member/referral/referrer", map[string]any{"code": "00000000"}, nil); apiCode(t, err) != points.CodeReferralUnknownCode {
			t.Fatalf("unknown: %v", err)
		}
		var rr points.ReferResult
		if err := b.Do(ctx, "POST", "/v1/member/referral/referrer", map[string]any{"code": code.Code}, &rr); err != nil || rr.ReferredBy == "" {
			t.Fatalf("refer: %+v %v", rr, err)
		}
		if err := b.Do(ctx, "POST", "/v1/member/referral/referrer", map[string]any{"code": code.Code}, nil); apiCode(t, err) != points.CodeAlreadyReferred {
			t.Fatalf("twice: %v", err)
		}
		var view memberReferralView
		if err := b.Do(ctx, "GET", "/v1/member/referral", nil, &view); err != nil || !view.Referred || !view.Terms.Enabled || view.Code != "" {
			t.Fatalf("b's view: %+v %v", view, err)
		}
		// Unfunded: B earns, A gets nothing.
		if r := earn("b1", "13800000002", 1000); r.Points != 100 || r.ReferralPoints != 0 {
			t.Fatalf("unfunded: %+v", r)
		}
		var f points.MarketingFundResult
		if err := g.op.Do(ctx, "POST", "/v1/operator/marketing/funding", map[string]any{"amount_fen": 10_000, "external_ref": "mk-1"}, &f,
			client.IdempotencyKey("mk-1")); err != nil || f.MarketingPoints != 10_000 {
			t.Fatalf("fund marketing: %+v %v", f, err)
		}
		if err := g.op.Do(ctx, "POST", "/v1/operator/marketing/funding", map[string]any{"amount_fen": 10_000, "external_ref": "mk-1"}, nil,
			client.IdempotencyKey("mk-1-again")); apiCode(t, err) != points.CodeAlreadyFunded {
			t.Fatalf("one payment funded twice: %v", err)
		}
		if r := earn("b2", "13800000002", 1000); r.ReferralPoints != 50 {
			t.Fatalf("funded: %+v", r)
		}
		var pub publicReferral
		if err := client.NewOperator(g.base, "").Do(ctx, "GET", "/v1/public/referral", nil, &pub); err != nil ||
			pub.MarketingPoints != 10_000-50 || len(pub.Terms.LevelsPermille) != 2 || pub.Terms.Version == "" ||
			len(pub.History) != 1 || pub.History[0].Version != pub.Terms.Version {
			t.Fatalf("public terms: %+v %v", pub, err)
		}
		var ref points.RefundEarnResult
		if err := m.C.Do(ctx, "POST", "/v1/merchant/earn/refund", map[string]any{"order_id": "b2", "amount_fen": 1000}, &ref,
			client.IdempotencyKey(newKey())); err != nil || ref.ReferralClawedBack != 50 {
			t.Fatalf("refund: %+v %v", ref, err)
		}
		// Without a session: 401.
		resp, err := http.Post(g.base+"/v1/member/referral/code", "application/json", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 {
			t.Fatalf("no session: %d", resp.StatusCode)
		}
		if problems, err := db.CheckInvariants(ctx, g.srv.svc.Policy.FaceValueFen, nil); err != nil || len(problems) > 0 {
			t.Fatalf("invariants: %v %v", problems, err)
		}
	})
}

func init() {
	fzBodyRoutes["FuzzMemberReferrer"] = fzRoute{"POST", "/v1/member/referral/referrer", fzMember}
	fzBodyRoutes["FuzzOperatorFundMarketing"] = fzRoute{"POST", "/v1/operator/marketing/funding", fzOperator}
}

func FuzzMemberReferrer(f *testing.F) {
	fuzzRoute(f, "FuzzMemberReferrer", `{"code":"ABCD1234"}`, `{"code":""}`, `{"code":"abcd-123"}`, `{"code":1}`, `{}`, `{"code":"ABCD1234","x":1}`)
}

func FuzzOperatorFundMarketing(f *testing.F) {
	fuzzRoute(f, "FuzzOperatorFundMarketing", `{"amount_fen":100000,"external_ref":"mk-1"}`, `{"amount_fen":0,"external_ref":"x"}`,
		`{"amount_fen":100}`, `{"amount_fen":1e3,"external_ref":"x"}`, `{"amount_fen":100,"external_ref":"x","y":1}`)
}

// A less favourable change of the referral terms over HTTP on both
// databases: refused without notice, then published with an effective
// time a notice period ahead, public with its diff while scheduled, and
// rewards keep the old terms until it takes effect.
func TestReferralNoticeOverHTTP(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		g := ptsStart(t, db, nil)
		ctx := context.Background()
		const notice = 7 * 24 * time.Hour
		old := &points.ReferralTerms{LevelsPermille: []int64{500}, MonthlyCapPoints: 1000}
		lower := &points.ReferralTerms{LevelsPermille: []int64{100}, MonthlyCapPoints: 1000}
		start := g.clock.Now()
		if _, sc, err := db.PublishReferralTerms(ctx, old, time.Time{}, start, notice); err != nil || sc.Active.Version() != old.Version() {
			t.Fatalf("first terms: %+v %v", sc, err)
		}
		_, _, err := db.PublishReferralTerms(ctx, lower, time.Time{}, start, notice)
		var ne *points.ReferralNoticeError
		if !errors.As(err, &ne) || !ne.Earliest.Equal(start.UTC().Truncate(time.Microsecond).Add(notice)) ||
			!strings.Contains(err.Error(), ne.Earliest.UTC().Format(time.RFC3339)) || !strings.Contains(err.Error(), "level_1_permille 500 -> 100") {
			t.Fatalf("no notice: %v", err)
		}
		eff := start.Add(notice)
		rec, sc, err := db.PublishReferralTerms(ctx, lower, eff, start, notice)
		if err != nil || rec == nil || !rec.LessFavourable || !sc.Scheduled {
			t.Fatalf("scheduled: %+v %+v %v", rec, sc, err)
		}
		g.srv.svc.SetReferralSchedule(sc)
		m := g.merchant(t, 1000, 1_000_000) // 10% back
		earn := func(order, ph string, amount int64) points.EarnResult {
			t.Helper()
			var r points.EarnResult
			if err := m.C.Do(ctx, "POST", "/v1/merchant/earn", map[string]any{"order_id": order, "member": phone(ph), "amount_fen": amount}, &r,
				client.IdempotencyKey(newKey())); err != nil {
				t.Fatal(err)
			}
			return r
		}
		earn("a0", "13800000001", 100)
		earn("b0", "13800000002", 100)
		a, b := client.NewOperator(g.base, g.signIn(t, "13800000001")), client.NewOperator(g.base, g.signIn(t, "13800000002"))
		var code points.ReferralCodeResult
		if err := a.Do(ctx, "POST", "/v1/member/referral/code", nil, &code); err != nil {
			t.Fatal(err)
		}
		if err := b.Do(ctx, "POST", "/v1/member/referral/referrer", map[string]any{"code": code.Code}, nil); err != nil {
			t.Fatal(err)
		}
		if err := g.op.Do(ctx, "POST", "/v1/operator/marketing/funding", map[string]any{"amount_fen": 10_000, "external_ref": "mk-1"}, nil,
			client.IdempotencyKey("mk-1")); err != nil {
			t.Fatal(err)
		}
		var pub publicReferral
		if err := client.NewOperator(g.base, "").Do(ctx, "GET", "/v1/public/referral", nil, &pub); err != nil ||
			pub.Terms.Version != old.Version() || pub.Scheduled == nil || pub.Scheduled.Terms.Version != lower.Version() ||
			!pub.Scheduled.EffectiveFrom.Equal(eff.UTC().Truncate(time.Microsecond)) || !pub.Scheduled.LessFavourable ||
			len(pub.Scheduled.Changes) != 1 || pub.Scheduled.Changes[0].Term != "level_1_permille" || len(pub.History) != 2 {
			t.Fatalf("public while scheduled: %+v %v", pub, err)
		}
		// Before the effective time: the old terms (500‰ of 100 points).
		if r := earn("b1", "13800000002", 1000); r.ReferralPoints != 50 {
			t.Fatalf("before: %+v", r)
		}
		g.clock.Advance(notice)
		if r := earn("b2", "13800000002", 1000); r.ReferralPoints != 10 {
			t.Fatalf("after: %+v", r)
		}
		pub = publicReferral{}
		if err := client.NewOperator(g.base, "").Do(ctx, "GET", "/v1/public/referral", nil, &pub); err != nil ||
			pub.Terms.Version != lower.Version() || pub.Scheduled != nil {
			t.Fatalf("public after: %+v %v", pub, err)
		}
	})
}
