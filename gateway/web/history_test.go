package web_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/lianmeng/lianmeng/gateway/points"
	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
)

// The transparency page's history, in Chromium on both databases: earns
// on two days, the snapshot job run as the scheduler would, then the two
// charts (server-drawn SVG) load and describe the days, the table beside
// them (their text alternative) has a row per day with that day's issued
// points and coverage, the page passes axe with the table open, and both
// follow the language switch.
func TestTransparencyHistory(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		g := startGateway(t, db)
		// Noon in China Standard Time, so the days below do not depend on
		// when the test runs (the clock only moves forward).
		now := g.clock.Now().In(points.DayZone)
		noon := time.Date(now.Year(), now.Month(), now.Day()+1, 12, 0, 0, 0, points.DayZone)
		g.clock.Advance(noon.Sub(now))
		ctx0 := context.Background()
		m := g.merchant(t, "Tea House", "restaurant", 150, 0, 1_000_000)
		g.earn(t, m, "13800138100", 10_000) // 150 points on day A
		dayA := points.DayOf(g.clock.Now())
		g.clock.Advance(24 * time.Hour)
		g.earn(t, m, "13800138100", 20_000) // 300
		g.earn(t, m, "13800138101", 2_000)  // 30
		dayB := points.DayOf(g.clock.Now())
		// Before any day has ended the page says so.
		ctx := browser(t)
		do(t, ctx, chromedp.Navigate(g.base+"/"), chromedp.WaitVisible(chromedp.CSS(`body[data-loaded="true"]`)))
		if hidden := attr(t, ctx, "#history-empty", "hidden"); hidden != "" || eval[int](t, ctx, `document.querySelectorAll('#history-rows tr').length`) != 0 {
			t.Errorf("no days yet: the empty note should show and the table be empty")
		}
		if got := eval[string](t, ctx, `fetch('/charts/points.svg').then(r => r.text())`); !strings.Contains(got, "暂无每日数据") {
			t.Errorf("empty chart: %.300s", got)
		}

		g.clock.Advance(24*time.Hour + 20*time.Minute)
		n, err := g.db.TakeSnapshots(ctx0, g.clock.Now(), 10*time.Minute, g.svc.Policy.FaceValueFen)
		if err != nil || n != 2 {
			t.Fatalf("TakeSnapshots = %d, %v; want days %s and %s", n, err, dayA, dayB)
		}
		do(t, ctx, chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(`body[data-loaded="true"]`)),
			chromedp.Click(chromedp.CSS("#history-details summary")))
		rows := eval[[]string](t, ctx, `[...document.querySelectorAll('#history-rows tr')].map(r => [...r.children].map(c => c.textContent).join('|'))`)
		want := []string{dayA + "|100.00%|1,000,000|150|0|0", dayB + "|100.00%|1,000,000|330|0|0"}
		if strings.Join(rows, "\n") != strings.Join(want, "\n") {
			t.Errorf("history table:\n%s\nwant\n%s", strings.Join(rows, "\n"), strings.Join(want, "\n"))
		}
		// Both charts loaded as images (the new day's, not the cached empty
		// one), with a description of the figures.
		if src := attr(t, ctx, "#chart-points", "src"); !strings.HasSuffix(src, "lang=zh&v="+dayB) {
			t.Errorf("chart src %q: want the last day in it", src)
		}
		for _, id := range []string{"chart-coverage", "chart-points"} {
			if ok := eval[bool](t, ctx, `new Promise(r => { const i = document.getElementById('`+id+`');
				const done = () => r(i.naturalWidth === 720);
				if (i.complete) done(); else { i.addEventListener('load', done); i.addEventListener('error', done); } })`); !ok {
				t.Errorf("%s did not load", id)
			}
		}
		if alt := attr(t, ctx, "#chart-points", "alt"); !strings.Contains(alt, "合计发放 480") {
			t.Errorf("points chart alt %q", alt)
		}
		svg := eval[string](t, ctx, `fetch('/charts/points.svg', {cache: 'no-store'}).then(r => r.text())`) // the empty one is cached
		for _, s := range []string{`role="img"`, "<title id=\"t\">每日积分发放、抵扣与过期</title>", "合计发放 480，抵扣 0，过期 0", "<title>" + dayB + " 发放: 330</title>"} {
			if !strings.Contains(svg, s) {
				t.Errorf("points chart lacks %q", s)
			}
		}
		if cov := eval[string](t, ctx, `fetch('/charts/coverage.svg').then(r => r.text())`); !strings.Contains(cov, "<title>"+dayA+" 覆盖率: 100.00%</title>") {
			t.Errorf("coverage chart: %.400s", cov)
		}
		screenshot(t, ctx, "transparency-history-"+db.Dialect)
		accessible(t, ctx, "the transparency page's history")

		do(t, ctx, chromedp.Click(chromedp.CSS("#lang-toggle")), chromedp.WaitReady(chromedp.CSS(`#chart-points[src*="lang=en"]`)))
		if src := attr(t, ctx, "#chart-points", "src"); !strings.HasSuffix(src, "lang=en&v="+dayB) {
			t.Errorf("English chart src %q", src)
		}
		if c := text(t, ctx, "#history-caption"); c != "The last 2 days" {
			t.Errorf("English caption %q", c)
		}
		if en := eval[string](t, ctx, `fetch('/charts/points.svg?lang=en').then(r => r.text())`); !strings.Contains(en, "480 issued") {
			t.Errorf("English chart: %.300s", en)
		}
		accessible(t, ctx, "the transparency page's history in English")
		// A bad query is refused.
		if st := eval[int](t, ctx, `fetch('/charts/points.svg?days=0').then(r => r.status)`); st != 400 {
			t.Errorf("days=0: %d", st)
		}
	})
}
