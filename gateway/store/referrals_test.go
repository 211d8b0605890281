package store_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lianmeng/lianmeng/gateway/ledger"
	"github.com/lianmeng/lianmeng/gateway/points"
	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
)

// Referral rewards through the batching writer, on both databases:
// referral refusals (self, twice, cycle), rewards at two levels only, the
// monthly cap per referrer across earns sharing a batch, the marketing
// budget as the only source (empty: no reward), clawback on refund, and
// the invariants (coverage included) after all of it.
func TestReferralRewards(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clock := &fakeClock{}
		clock.us.Store(time.Date(2026, 6, 1, 4, 0, 0, 0, time.UTC).UnixMicro())
		reg := prometheus.NewRegistry()
		w := db.NewWriter(store.WriterOptions{BatchWait: 300 * time.Millisecond, Registry: reg, Concurrency: 1, Now: clock.Now})
		defer w.Close()
		svc := &points.Service{Policy: testPolicy(), Now: clock.Now, Referral: &points.ReferralTerms{LevelsPermille: []int64{500, 200}, MonthlyCapPoints: 120}}
		m := makeMerchants(t, db, 1, 1000)[0] // 10% back
		svc.Earnings = points.EarningFunc(func(ctx context.Context, m string) (points.Earning, error) {
			return db.MerchantEarningAt(ctx, m, clock.Now())
		})
		submit := func(cmd points.Command) (any, error) {
			res := w.Submit(ctx, &store.Op{Command: cmd})
			return res.Value, res.Err
		}
		// earn prepares and submits an earn (safe in a goroutine).
		earn := func(r points.EarnRequest) (any, error) {
			cmd, err := svc.PrepareEarn(ctx, r)
			if err != nil {
				return nil, err
			}
			return submit(cmd)
		}
		if _, err := submit(svc.FundCommand(points.FundRequest{MerchantID: m, AmountFen: 1_000_000, ExternalRef: "f"})); err != nil {
			t.Fatal(err)
		}
		ids := map[string]string{}
		for _, who := range []string{"a", "b", "c", "d"} {
			v, err := earn(points.EarnRequest{MerchantID: m, OrderID: who + "0", Member: points.Identity{Kind: "customer", Value: who}, AmountFen: 10})
			if err != nil {
				t.Fatal(err)
			}
			ids[who] = v.(points.EarnResult).MemberID
		}
		code := func(who string) string {
			v, err := submit(svc.ReferralCodeCommand(ids[who]))
			if err != nil {
				t.Fatal(err)
			}
			return v.(points.ReferralCodeResult).Code
		}
		refused := func(err error, code string) {
			t.Helper()
			var pe *points.Error
			if !errors.As(err, &pe) || pe.Code != code {
				t.Fatalf("got %v, want %s", err, code)
			}
		}
		_, err := submit(svc.ReferCommand(ids["a"], code("a")))
		refused(err, points.CodeReferralSelf)
		for _, link := range [][2]string{{"b", "a"}, {"c", "b"}, {"d", "c"}} {
			if _, err := submit(svc.ReferCommand(ids[link[0]], code(link[1]))); err != nil {
				t.Fatal(err)
			}
		}
		_, err = submit(svc.ReferCommand(ids["b"], code("d")))
		refused(err, points.CodeAlreadyReferred)
		_, err = submit(svc.ReferCommand(ids["a"], code("d")))
		refused(err, points.CodeReferralCycle)
		if c, by, err := db.ReferralOf(ctx, ids["c"]); err != nil || c == "" || by != ids["b"] {
			t.Fatalf("referral of c: %q %q %v", c, by, err)
		}
		earnD := func(orders ...string) []points.EarnResult {
			out := make([]points.EarnResult, len(orders))
			var wg sync.WaitGroup
			for i, o := range orders {
				wg.Add(1)
				go func() {
					defer wg.Done()
					v, err := earn(points.EarnRequest{MerchantID: m, OrderID: o, Member: points.Identity{Kind: "customer", Value: "d"}, AmountFen: 1000})
					if err != nil {
						t.Error(err)
						return
					}
					out[i] = v.(points.EarnResult)
				}()
			}
			wg.Wait()
			if t.Failed() {
				t.FailNow()
			}
			return out
		}
		// No marketing budget: D earns, nobody is rewarded.
		if r := earnD("d1")[0]; r.Points != 100 || r.ReferralPoints != 0 {
			t.Fatalf("unfunded: %+v", r)
		}
		if _, err := submit(svc.FundMarketingCommand(points.FundRequest{AmountFen: 1000, ExternalRef: "mk"})); err != nil {
			t.Fatal(err)
		}
		// Three earns of D in one batch: C gets 50 + 50 + 20 (cap 120), B 20
		// each (60), A nothing (a third level).
		before := batches(t, reg)
		rs := earnD("d2", "d3", "d4")
		if n := batches(t, reg) - before; n != 1 {
			t.Fatalf("%d batches, want 1", n)
		}
		var rewarded int64
		for _, r := range rs {
			rewarded += r.ReferralPoints
		}
		bal, err := db.Balances(ctx, ledger.MemberPending(ids["a"]), ledger.MemberPending(ids["b"]), ledger.MemberPending(ids["c"]), ledger.Marketing)
		if err != nil {
			t.Fatal(err)
		}
		if rewarded != 180 || bal[ledger.MemberPending(ids["c"])] != 1+120 || bal[ledger.MemberPending(ids["b"])] != 1+60 ||
			bal[ledger.MemberPending(ids["a"])] != 1 || bal[ledger.Marketing] != 1000-180 {
			t.Fatalf("rewards %d, balances %v", rewarded, bal)
		}
		if c := counterRow(t, db, ids["c"], points.ScopeReferral, points.MonthPeriod(clock.Now())); c != (points.Counter{Purchases: 3, Points: 120}) {
			t.Fatalf("C's referral counter %+v", c)
		}
		// Refund d2 in full: its rewards go back to marketing.
		v, err := submit(svc.RefundEarnCommand(points.RefundEarnRequest{MerchantID: m, OrderID: "d2", AmountFen: 1000}))
		if err != nil {
			t.Fatal(err)
		}
		rr := v.(points.RefundEarnResult)
		if rr.ReferralClawedBack == 0 || rr.ReferralDebt != 0 {
			t.Fatalf("refund: %+v", rr)
		}
		if b, _ := db.Balances(ctx, ledger.Marketing); b[ledger.Marketing] != 1000-180+rr.ReferralClawedBack {
			t.Fatalf("marketing after the refund: %d", b[ledger.Marketing])
		}
		// A second refund of the same purchase claws nothing more.
		_, err = submit(svc.RefundEarnCommand(points.RefundEarnRequest{MerchantID: m, OrderID: "d2", AmountFen: 1}))
		refused(err, points.CodeAlreadyRefunded)
		assertClean(t, db)
	})
}

// The terms a gateway starts with are recorded when they change (an audit
// event, so an evidence log entry), never twice in a row; a less
// favourable change waits the notice period from its first publication,
// a more favourable one takes effect at once, and publishing the terms in
// force again withdraws a scheduled change.
func TestReferralTermsPublished(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		const notice = 30 * 24 * time.Hour
		at := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
		v1 := &points.ReferralTerms{LevelsPermille: []int64{100}, MonthlyCapPoints: 500}
		v2 := &points.ReferralTerms{LevelsPermille: []int64{100, 50}, MonthlyCapPoints: 500}
		lowCap := &points.ReferralTerms{LevelsPermille: []int64{100, 50}, MonthlyCapPoints: 400}
		publish := func(terms *points.ReferralTerms, eff, now time.Time) (*points.PublishedReferralTerms, points.ReferralSchedule, error) {
			t.Helper()
			return db.PublishReferralTerms(ctx, terms, eff, now, notice)
		}
		must := func(terms *points.ReferralTerms, eff, now time.Time, want bool) points.ReferralSchedule {
			t.Helper()
			rec, sc, err := publish(terms, eff, now)
			if err != nil || (rec != nil) != want {
				t.Fatalf("%v at %s: recorded %+v (%v), want %v", terms, now, rec, err, want)
			}
			return sc
		}
		refused := func(terms *points.ReferralTerms, eff, now, earliest time.Time) {
			t.Helper()
			_, _, err := publish(terms, eff, now)
			var ne *points.ReferralNoticeError
			if !errors.As(err, &ne) || !ne.Earliest.Equal(earliest) || !strings.Contains(err.Error(), earliest.Format(time.RFC3339)) {
				t.Fatalf("%v effective %s at %s: %v, want refused until %s", terms, eff, now, err, earliest)
			}
		}
		must(nil, time.Time{}, at, false) // never had a programme
		if sc := must(v1, time.Time{}, at.Add(time.Hour), true); sc.Active.Version() != v1.Version() || sc.Scheduled {
			t.Fatalf("v1 at once: %+v", sc)
		}
		must(v1, time.Time{}, at.Add(2*time.Hour), false)
		// More favourable (a second level): at once.
		if sc := must(v2, time.Time{}, at.Add(3*time.Hour), true); sc.Active.Version() != v2.Version() {
			t.Fatalf("v2 at once: %+v", sc)
		}
		// Less favourable, each term: fewer levels, a lower share, a lower
		// cap, the programme off. Without notice: refused, nothing recorded.
		now := at.Add(4 * time.Hour)
		for _, less := range []*points.ReferralTerms{v1, {LevelsPermille: []int64{100, 40}, MonthlyCapPoints: 500}, lowCap, nil} {
			refused(less, time.Time{}, now, now.Add(notice))
			refused(less, now.Add(notice-time.Second), now, now.Add(notice))
		}
		// With notice: scheduled; v2 is still paid until then.
		eff := now.Add(notice)
		sc := must(lowCap, eff, now, true)
		if !sc.Scheduled || sc.Active.Version() != v2.Version() || sc.Next.Version() != lowCap.Version() || !sc.NextFrom.Equal(eff) {
			t.Fatalf("scheduled: %+v", sc)
		}
		svc := &points.Service{}
		svc.SetReferralSchedule(sc)
		if svc.ReferralAt(eff.Add(-time.Second)).Version() != v2.Version() || svc.ReferralAt(eff).Version() != lowCap.Version() {
			t.Fatal("the service does not switch at the effective time")
		}
		// A restart while scheduled records nothing; moving the change
		// sooner counts the notice from its first publication.
		must(lowCap, time.Time{}, now.Add(24*time.Hour), false)
		refused(lowCap, eff.Add(-time.Hour), now.Add(24*time.Hour), eff)
		// Back to the terms in force: the scheduled change is withdrawn.
		if sc := must(v2, time.Time{}, now.Add(48*time.Hour), true); sc.Scheduled || sc.Active.Version() != v2.Version() {
			t.Fatalf("withdrawn: %+v", sc)
		}
		// Switched off with notice; after the effective time it is in force.
		off := now.Add(72 * time.Hour)
		must(nil, off.Add(notice), off, true)
		if sc := must(nil, time.Time{}, off.Add(notice+time.Hour), false); sc.Active.Enabled() || sc.Scheduled {
			t.Fatalf("off: %+v", sc)
		}
		// Back on: more favourable, at once.
		must(v1, time.Time{}, off.Add(notice+2*time.Hour), true)
		h, err := db.ReferralTermsHistory(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var versions []string
		for _, p := range h {
			versions = append(versions, p.Version)
		}
		if want := []string{v1.Version(), v2.Version(), lowCap.Version(), v2.Version(), "none", v1.Version()}; fmt.Sprint(versions) != fmt.Sprint(want) {
			t.Fatalf("history %v, want %v", versions, want)
		}
		if p := h[2]; !p.EffectiveFrom.Equal(eff) || !p.LessFavourable || len(p.Changes) != 1 || p.Changes[0].Term != "monthly_cap_points" ||
			p.Changes[0].From != 500 || p.Changes[0].To != 400 {
			t.Fatalf("scheduled entry %+v", p)
		}
		if p := h[4]; !p.LessFavourable || !p.EffectiveFrom.Equal(off.Add(notice)) {
			t.Fatalf("switch-off entry %+v", p)
		}
	})
}
