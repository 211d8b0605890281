package web_test

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
)

// The operator console, in Chromium against a real gateway: a wrong token
// is refused; with a named token, totals and merchants show; a merchant is
// created, given a store and a credential (whose secret shows once), the
// credential revoked, the merchant funded and suspended, each checked
// through the API; a read-only token cannot fund and changes nothing.
func TestOperatorConsole(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		g := startGateway(t, db)
		g.merchant(t, "Noodles", "restaurant", 100, 0, 200_000)
		ctx := browser(t)
		bg := context.Background()

		do(t, ctx, chromedp.Navigate(g.base+"/operator"), chromedp.WaitVisible(chromedp.CSS(`body[data-loaded="true"]`)),
			chromedp.SendKeys(chromedp.CSS("#token"), "opt_0000000000000001.wrong"), chromedp.Click(chromedp.CSS("#token-form button")),
			chromedp.WaitVisible(chromedp.CSS("#error:not(:empty)")), chromedp.WaitVisible(chromedp.CSS("#token")))
		if e := text(t, ctx, "#error"); !strings.Contains(e, "[operator_") {
			t.Errorf("wrong token: %q", e)
		}

		do(t, ctx, chromedp.SendKeys(chromedp.CSS("#token"), g.opTok), chromedp.Click(chromedp.CSS("#token-form button")),
			chromedp.WaitVisible(chromedp.CSS(`#merchant-rows tr[data-merchant]`)))
		if got := text(t, ctx, "#tot-reserve"); got != "¥2,000.00" {
			t.Errorf("reserve %q, want ¥2,000.00", got)
		}

		// Create a merchant through the form.
		do(t, ctx, chromedp.SendKeys(chromedp.CSS("#new-name"), "Bakery 面包"), chromedp.SetValue(chromedp.CSS("#new-industry"), "retail"),
			chromedp.Click(chromedp.CSS("#create-form button")), chromedp.WaitVisible(chromedp.CSS("#detail")))
		id := attr(t, ctx, "#detail", "data-merchant")
		var m struct{ Name, Status string }
		if err := g.op.Do(bg, "GET", "/v1/operator/merchants/"+id, nil, &m); err != nil || m.Name != "Bakery 面包" || m.Status != "active" {
			t.Fatalf("created merchant %s: %+v %v", id, m, err)
		}

		// A store, a credential (secret shown once), then revoked.
		do(t, ctx, chromedp.SendKeys(chromedp.CSS("#store-name"), "Main St"), chromedp.Click(chromedp.CSS("#store-form button")),
			chromedp.WaitVisible(chromedp.CSS("#store-list li")))
		if got := text(t, ctx, "#store-list li"); !strings.HasPrefix(got, "Main St (") {
			t.Errorf("store %q", got)
		}
		do(t, ctx, chromedp.Click(chromedp.CSS("#cred-create")), chromedp.WaitVisible(chromedp.CSS("#cred-secret")))
		secret := strings.Split(text(t, ctx, "#cred-secret"), "\n")
		if len(secret) != 2 || secret[1] == "" {
			t.Fatalf("secret box %q", secret)
		}
		keyID := secret[0]
		do(t, ctx, chromedp.Click(chromedp.CSS(`tr[data-cred="`+keyID+`"] button`)),
			chromedp.WaitNotPresent(chromedp.CSS(`tr[data-cred="`+keyID+`"] button`)))
		var creds struct {
			Credentials []struct{ ID, Status string }
		}
		if err := g.op.Do(bg, "GET", "/v1/operator/merchants/"+id+"/credentials", nil, &creds); err != nil || len(creds.Credentials) != 1 || creds.Credentials[0].Status != "revoked" {
			t.Fatalf("credentials after revoke: %+v %v", creds, err)
		}

		// Fund: the budget and the reserve grow by exactly the amount.
		do(t, ctx, chromedp.SendKeys(chromedp.CSS("#fund-amount"), "50000"), chromedp.SendKeys(chromedp.CSS("#fund-ref"), "bank-001"),
			chromedp.Click(chromedp.CSS("#fund-form button")), chromedp.WaitVisible(chromedp.CSS("#fund-status:not(:empty)")))
		if got := text(t, ctx, "#d-budget"); got != "50,000" {
			t.Errorf("budget %q, want 50,000", got)
		}
		if got := text(t, ctx, "#tot-reserve"); got != "¥2,500.00" {
			t.Errorf("reserve after funding %q, want ¥2,500.00", got)
		}
		screenshot(t, ctx, "operator-"+db.Dialect)
		accessible(t, ctx, "the operator console")

		// Suspend.
		do(t, ctx, chromedp.Click(chromedp.CSS("#d-toggle")), chromedp.WaitVisible(chromedp.CSS(`#detail[data-status="suspended"]`)))
		if err := g.op.Do(bg, "GET", "/v1/operator/merchants/"+id, nil, &m); err != nil || m.Status != "suspended" {
			t.Fatalf("after suspend: %+v %v", m, err)
		}

		// A read-only token sees the console but cannot fund.
		var ro struct{ Token string }
		if err := g.op.Do(bg, "POST", "/v1/operator/tokens", map[string]any{"label": "auditor", "scopes": []string{"read"}}, &ro); err != nil {
			t.Fatal(err)
		}
		do(t, ctx, chromedp.Click(chromedp.CSS("#signout")), chromedp.WaitVisible(chromedp.CSS("#token")),
			chromedp.SendKeys(chromedp.CSS("#token"), ro.Token), chromedp.Click(chromedp.CSS("#token-form button")),
			chromedp.WaitVisible(chromedp.CSS(`#merchant-rows tr[data-merchant="`+id+`"] button`)),
			chromedp.Click(chromedp.CSS(`#merchant-rows tr[data-merchant="`+id+`"] button`)), chromedp.WaitVisible(chromedp.CSS("#fund-amount")),
			chromedp.SendKeys(chromedp.CSS("#fund-amount"), "100"), chromedp.SendKeys(chromedp.CSS("#fund-ref"), "bank-002"),
			chromedp.Click(chromedp.CSS("#fund-form button")), chromedp.WaitVisible(chromedp.CSS("#error:not(:empty)")))
		if e := text(t, ctx, "#error"); !strings.Contains(e, "[scope_denied]") {
			t.Errorf("read-only fund: %q", e)
		}
		// The audit log, newest first: the suspension, the revocation and
		// the creation done through the console, each with who did it;
		// the plugins (none run here).
		kinds := eval[[]string](t, ctx, `[...document.querySelectorAll('#audit-rows tr')].map(r => r.dataset.kind + ' ' + r.children[2].textContent + ' ' + r.children[3].textContent)`)
		joined := strings.Join(kinds, "\n")
		for _, want := range []string{"merchant.status_set operator:", "credential.revoked operator:", "merchant.created operator:"} {
			if !strings.Contains(joined, want) {
				t.Errorf("audit log lacks %q:\n%s", want, joined)
			}
		}
		if i, j := strings.Index(joined, "merchant.status_set"), strings.Index(joined, "merchant.created"); i < 0 || j < i {
			t.Errorf("audit log not newest first:\n%s", joined)
		}
		if p := text(t, ctx, "#plugin-rows"); !strings.Contains(p, "未运行插件") {
			t.Errorf("plugins: %q", p)
		}
		accessible(t, ctx, "the operator console with the audit log")
		var acct struct {
			BudgetPoints int64 `json:"budget_points"`
		}
		if err := g.op.Do(bg, "GET", "/v1/operator/merchants/"+id+"/account", nil, &acct); err != nil || acct.BudgetPoints != 50_000 {
			t.Fatalf("budget after the refused fund: %+v %v", acct, err)
		}
	})
}
