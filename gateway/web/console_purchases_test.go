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

// The merchant console's purchase history in Chromium on both databases:
// a cashier sees the merchant's own purchases, newest first, each with how
// its points were computed (the breakdown kept with an earn under a rule
// expression, the version's rate for a flat one), never another
// merchant's; the page passes axe.
func TestMerchantConsolePurchases(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		g := startGateway(t, db)
		ctx0 := context.Background()
		m := g.merchant(t, "Noodles", "restaurant", 150, 0, 1_000_000)
		other := g.merchant(t, "Other", "retail", 100, 0, 1_000_000)
		g.staffFor(t, m)
		g.earn(t, m, "13800138400", 20_000) // flat: 300 points under version 1
		g.earn(t, other, "13800138401", 10_000)
		var draft struct{ ID int64 }
		if err := g.op.Do(ctx0, "POST", "/v1/operator/merchants/"+m.ID+"/rules/drafts", map[string]any{"expression": "eligible_fen * 2"}, &draft); err != nil {
			t.Fatal(err)
		}
		if err := g.op.Do(ctx0, "POST", fmt.Sprintf("/v1/operator/merchants/%s/rules/drafts/%d/publish", m.ID, draft.ID), map[string]any{}, nil); err != nil {
			t.Fatal(err) // more favourable: at once
		}
		g.earn(t, m, "13800138400", 5_000) // 10,000 base, capped at the purchase's value: 5,000

		ctx := browser(t)
		do(t, ctx, chromedp.Navigate(g.base+"/merchant/login"), chromedp.WaitVisible(chromedp.CSS("#login-form")),
			chromedp.SetValue(chromedp.CSS("#merchant"), m.ID), chromedp.SetValue(chromedp.CSS("#login"), "cashier1"),
			chromedp.SetValue(chromedp.CSS("#password"), staffPassword), chromedp.Click(chromedp.CSS("#login-form button")),
			chromedp.WaitVisible(chromedp.CSS("#logout")))
		do(t, ctx, chromedp.Click(chromedp.CSS(`nav a[href="/merchant/purchases"]`)), chromedp.WaitVisible(chromedp.CSS("#purchases")))
		rows := eval[[]string](t, ctx, `[...document.querySelectorAll('#purchases tbody tr[data-purchase]')].map(r =>
			r.querySelector('.points').textContent + ' | ' + [...r.querySelectorAll('.how [data-line]')].map(l => l.dataset.line + '=' + l.textContent.trim()).join(' | '))`)
		want := []string{
			"5,000 | eligible=计入金额 Counted ¥50.00 | base=基础 Base 10,000（expression） | cap=上限 Cap purchase_value 5,000：−5,000 | total=合计 Total 5,000",
			"300 | terms=v1：返还 rate 1.50%",
		}
		if strings.Join(rows, "\n") != strings.Join(want, "\n") {
			t.Errorf("purchases:\n%s\nwant\n%s", strings.Join(rows, "\n"), strings.Join(want, "\n"))
		}
		screenshot(t, ctx, "console-purchases-"+db.Dialect)
		accessible(t, ctx, "the console's purchase history")
		if n := eval[int](t, ctx, `document.querySelectorAll('#older').length`); n != 0 {
			t.Errorf("an older page link with two purchases")
		}
		// A bad cursor is a 400 page, not an error.
		if resp, err := chromedp.RunResponse(ctx, chromedp.Navigate(g.base+"/merchant/purchases?cursor=x")); err != nil || resp.Status != 400 {
			t.Fatalf("bad cursor: %v %v", resp, err)
		}
	})
}
