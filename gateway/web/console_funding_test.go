package web_test

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
)

// A finance user tops up the budget in Chromium through the sandbox
// channel: the order's page shows the channel's payment link and the
// order waiting; nothing is credited until the channel's signed
// notification arrives (the sandbox page is paid), then the budget has
// grown by the amount and the order shows credited. A cashier, a post
// without the CSRF token, a bad amount and another merchant's order are
// refused and create nothing.
func TestMerchantConsoleTopUp(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		g := startGateway(t, db)
		m := g.merchant(t, "Tea", "restaurant", 150, 0, 0)
		other := g.merchant(t, "Other", "retail", 100, 0, 0)
		g.staffFor(t, m)
		g.staffFor(t, other)
		bg := context.Background()
		budget := func(id string) int64 {
			var a struct {
				BudgetPoints int64 `json:"budget_points"`
			}
			if err := g.op.Do(bg, "GET", "/v1/operator/merchants/"+id+"/account", nil, &a); err != nil {
				t.Fatal(err)
			}
			return a.BudgetPoints
		}
		orders := func(id string) (n int) {
			if err := db.R.GetContext(bg, &n, `SELECT COUNT(*) FROM funding_orders WHERE merchant_id = ?`, id); err != nil {
				t.Fatal(err)
			}
			return n
		}

		ctx := browser(t)
		do(t, ctx, chromedp.Navigate(g.base+"/merchant/login"), chromedp.WaitVisible(chromedp.CSS("#login-form")),
			chromedp.SetValue(chromedp.CSS("#merchant"), m.ID), chromedp.SetValue(chromedp.CSS("#login"), "finance1"),
			chromedp.SetValue(chromedp.CSS("#password"), staffPassword), chromedp.Click(chromedp.CSS("#login-form button")),
			chromedp.WaitVisible(chromedp.CSS("#logout")), chromedp.Navigate(g.base+"/merchant/finance"), chromedp.WaitVisible(chromedp.CSS("#topup-form")))
		accessible(t, ctx, "the finance page with the top-up form")
		do(t, ctx, chromedp.SetValue(chromedp.CSS("#topup-amount"), "123.45"), chromedp.Click(chromedp.CSS("#topup-form button")),
			chromedp.WaitVisible(chromedp.CSS("#funding")))
		order := strings.TrimPrefix(text(t, ctx, "#fund-h"), "充值单 Top-up ")
		if st := attr(t, ctx, "#funding", "data-status"); st != "pending" && st != "created" {
			t.Errorf("new order %s: %q", order, st)
		}
		if got := text(t, ctx, "#fund-amount"); got != "¥123.45" {
			t.Errorf("order amount %q", got)
		}
		if link := attr(t, ctx, "#pay-link", "href"); link != g.sandbox.PageURL(order) {
			t.Errorf("payment link %q, want %q", link, g.sandbox.PageURL(order))
		}
		if b := budget(m.ID); b != 0 {
			t.Errorf("budget before payment: %d", b)
		}
		accessible(t, ctx, "a waiting top-up")
		screenshot(t, ctx, "console-topup-"+db.Dialect)

		// The payer pays on the channel's page; the channel notifies the
		// gateway, which verifies and credits once.
		for i := 0; i < 2; i++ {
			r, err := http.Post(g.sandbox.PageURL(order), "application/x-www-form-urlencoded", nil)
			if err != nil || r.StatusCode != 200 {
				t.Fatalf("pay: %v %v", r, err)
			}
			r.Body.Close()
		}
		do(t, ctx, chromedp.Click(chromedp.CSS("#refresh")), chromedp.WaitVisible(chromedp.CSS("#credited")))
		if st := text(t, ctx, "#fund-status"); st != "succeeded" {
			t.Errorf("paid order: %q", st)
		}
		if b := budget(m.ID); b != 12_345 {
			t.Errorf("budget after payment: %d, want 12,345", b)
		}

		// Refusals over plain HTTP.
		session := func(merchantID, login string) (*http.Client, string) {
			jar, _ := cookiejar.New(nil)
			hc := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			if r, err := hc.PostForm(g.base+"/merchant/login", url.Values{"merchant": {merchantID}, "login": {login}, "password": {staffPassword}}); err != nil {
				t.Fatal(err)
			} else {
				r.Body.Close()
			}
			r, err := hc.Get(g.base + "/merchant")
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(r.Body)
			r.Body.Close()
			csrf := regexp.MustCompile(`name="csrf" value="([0-9a-f]{48})"`).FindStringSubmatch(string(b))
			if csrf == nil {
				t.Fatalf("%s: no CSRF token", login)
			}
			return hc, csrf[1]
		}
		code := func(r *http.Response, err error) int {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
			r.Body.Close()
			return r.StatusCode
		}
		before := orders(m.ID)
		idem := strings.Repeat("ab", 12)
		cashier, cashierCSRF := session(m.ID, "cashier1")
		if c := code(cashier.Get(g.base + "/merchant/funding/" + order)); c != 403 {
			t.Errorf("cashier on a top-up: %d", c)
		}
		if c := code(cashier.PostForm(g.base+"/merchant/funding", url.Values{"csrf": {cashierCSRF}, "idem": {idem}, "amount": {"10"}, "channel": {"sandbox"}})); c != 403 {
			t.Errorf("cashier topping up: %d", c)
		}
		fin, finCSRF := session(m.ID, "finance1")
		if c := code(fin.PostForm(g.base+"/merchant/funding", url.Values{"idem": {idem}, "amount": {"10"}, "channel": {"sandbox"}})); c != 403 {
			t.Errorf("top-up without CSRF: %d", c)
		}
		for _, f := range []url.Values{
			{"amount": {"10.001"}, "channel": {"sandbox"}, "idem": {idem}},
			{"amount": {"-5"}, "channel": {"sandbox"}, "idem": {idem}},
			{"amount": {"0"}, "channel": {"sandbox"}, "idem": {idem}},
			{"amount": {"10"}, "channel": {"nosuch"}, "idem": {idem}},
			{"amount": {"10"}, "channel": {"sandbox"}, "idem": {"x"}},
		} {
			f.Set("csrf", finCSRF)
			if c := code(fin.PostForm(g.base+"/merchant/funding", f)); c != 400 {
				t.Errorf("top-up %v: %d", f, c)
			}
		}
		if n := orders(m.ID); n != before {
			t.Errorf("orders after the refusals: %d, want %d", n, before)
		}
		otherFin, _ := session(other.ID, "finance1")
		if c := code(otherFin.Get(g.base + "/merchant/funding/" + order)); c != 404 {
			t.Errorf("another merchant's order: %d", c)
		}
		if b := budget(m.ID); b != 12_345 {
			t.Errorf("budget after the refusals: %d", b)
		}
	})
}
