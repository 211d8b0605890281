package web_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
)

// The member's history says how each earning's points were computed, in
// Chromium on both databases: a flat-rate earning with its rule version
// and rate, and, after the merchant publishes a rule expression, an
// earning with the breakdown kept with the purchase (eligible amount,
// base points, the cap that removed points, the total); the history API
// answers the same; the page passes axe in both languages.
func TestMemberHistoryBreakdown(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		g := startGateway(t, db)
		ctx0 := context.Background()
		m := g.merchant(t, "Noodles", "restaurant", 150, 0, 1_000_000)
		const phone = "13800138200"
		g.earn(t, m, phone, 20_000) // flat: 300 points under version 1
		var draft struct{ ID int64 }
		if err := g.op.Do(ctx0, "POST", "/v1/operator/merchants/"+m.ID+"/rules/drafts", map[string]any{"expression": "eligible_fen * 2"}, &draft); err != nil {
			t.Fatal(err)
		}
		if err := g.op.Do(ctx0, "POST", fmt.Sprintf("/v1/operator/merchants/%s/rules/drafts/%d/publish", m.ID, draft.ID), map[string]any{}, nil); err != nil {
			t.Fatal(err) // more favourable: at once
		}
		g.earn(t, m, phone, 5_000) // 10,000 base, capped at the purchase's value: 5,000

		ctx := browser(t)
		do(t, ctx, chromedp.Navigate(g.base+"/member"), chromedp.WaitVisible(chromedp.CSS(`body[data-loaded="true"]`)))
		signIn(t, g, ctx, phone)
		rows := eval[[]string](t, ctx, `[...document.querySelectorAll('#hist-rows tr[data-kind="earn"] .details')].map(d =>
			d.querySelector('.buy').textContent + ' | ' + [...d.querySelectorAll('li')].map(l => l.dataset.line + '=' + l.textContent).join(' | '))`)
		want := []string{
			"Noodles · 消费 ¥50.00 · 规则 第 2 版 | eligible=计积分金额 ¥50.00 | base=基础积分 10,000 | cap=上限 purchase_value（5,000）：−5,000 | total=合计 5,000 积分",
			"Noodles · 消费 ¥200.00 · 规则 第 1 版 | flat=按消费额的 1.50% 计积分 | total=合计 300 积分",
		}
		if strings.Join(rows, "\n") != strings.Join(want, "\n") {
			t.Errorf("history details:\n%s\nwant\n%s", strings.Join(rows, "\n"), strings.Join(want, "\n"))
		}
		screenshot(t, ctx, "member-breakdown-"+db.Dialect)
		accessible(t, ctx, "the member history with breakdowns")
		do(t, ctx, chromedp.Click(chromedp.CSS("#lang-toggle")))
		eval[bool](t, ctx, `new Promise(r => { const f = () => document.querySelector('#hist-rows li[data-line="cap"]').textContent.startsWith('cap') ? r(true) : setTimeout(f, 20); f(); })`)
		if got := text(t, ctx, `#hist-rows tr[data-kind="earn"] li[data-line="cap"]`); got != "cap purchase_value (5,000): −5,000" {
			t.Errorf("English cap line %q", got)
		}
		accessible(t, ctx, "the member history with breakdowns in English")

		// The API the page reads: each entry with its purchase.
		hist := eval[string](t, ctx, `(async () => {
			const s = JSON.parse(sessionStorage.getItem('lianmeng.member'));
			const r = await fetch('/v1/member/history', { headers: { Authorization: 'Bearer ' + s.token } });
			const h = await r.json();
			return h.transactions.filter(x => x.kind === 'earn').map(x => x.purchase.rule_version + ':' + x.purchase.points + ':' +
				(x.purchase.breakdown ? x.purchase.breakdown.rule : 'terms ' + x.purchase.terms.rate_bp)).join(',');
		})()`)
		if hist != "v2:5000:expression,v1:300:terms 150" {
			t.Errorf("history API: %s", hist)
		}
	})
}
