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
	"time"

	"github.com/chromedp/chromedp"

	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
)

const staffPassword = "long enough password"

// staffFor creates owner, finance and cashier accounts at m through the
// operator API.
func (g *gateway) staffFor(t *testing.T, m testMerchant) {
	t.Helper()
	for _, role := range []string{"owner", "finance", "cashier"} {
		if err := g.op.Do(context.Background(), "POST", "/v1/operator/merchants/"+m.ID+"/staff",
			map[string]string{"login": role + "1", "role": role, "password": staffPassword}, nil); err != nil {
			t.Fatal(err)
		}
	}
}

func credStatus(t *testing.T, g *gateway, merchantID, keyID string) string {
	t.Helper()
	var list struct {
		Credentials []struct{ ID, Status string }
	}
	if err := g.op.Do(context.Background(), "GET", "/v1/operator/merchants/"+merchantID+"/credentials", nil, &list); err != nil {
		t.Fatal(err)
	}
	for _, c := range list.Credentials {
		if c.ID == keyID {
			return c.Status
		}
	}
	return "missing"
}

// The merchant console in Chromium on both databases: each role signs in
// and sees only its pages (a cashier and a finance user refused the
// owner's pages with 403), today's figures, the budget, and the owner
// revokes a credential with the page's form.
func TestMerchantConsoleRoles(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		g := startGateway(t, db)
		m := g.merchant(t, "Tea", "restaurant", 150, 0, 1_000_000)
		g.staffFor(t, m)
		g.earn(t, m, "13800138009", 20_000) // 300 points
		keyID := m.C.Signer().KeyID()
		ctx := browser(t)

		signIn := func(login, password string) {
			t.Helper()
			do(t, ctx, chromedp.Navigate(g.base+"/merchant/login"), chromedp.WaitVisible(chromedp.CSS("#login-form")),
				chromedp.SetValue(chromedp.CSS("#merchant"), m.ID), chromedp.SetValue(chromedp.CSS("#login"), login),
				chromedp.SetValue(chromedp.CSS("#password"), password), chromedp.Click(chromedp.CSS("#login-form button")),
				chromedp.WaitVisible(chromedp.CSS("#logout, #message")))
		}
		status := func(path string) int64 {
			t.Helper()
			resp, err := chromedp.RunResponse(ctx, chromedp.Navigate(g.base+path))
			if err != nil {
				t.Fatal(err)
			}
			return resp.Status
		}

		// A wrong password: 401 page, still signed out.
		signIn("owner1", "not the password")
		if msg := text(t, ctx, "#message"); !strings.Contains(msg, "Wrong merchant id, login or password") {
			t.Errorf("wrong password: %q", msg)
		}
		if code := status("/merchant"); code != 200 || !strings.Contains(text(t, ctx, "h2"), "Staff sign-in") {
			t.Errorf("signed out, /merchant: %d %q: want the sign-in page", code, text(t, ctx, "h2"))
		}

		// The owner sees everything and revokes a credential.
		signIn("owner1", staffPassword)
		if got := text(t, ctx, "#today-earn .count") + " " + text(t, ctx, "#today-earn .points"); got != "1 300" {
			t.Errorf("today's earns %q, want 1 300", got)
		}
		accessible(t, ctx, "the console's today page")
		screenshot(t, ctx, "console-today-"+db.Dialect)
		if code := status("/merchant/finance"); code != 200 || text(t, ctx, "#budget") != "999,700" {
			t.Errorf("owner finance: %d budget %q", code, text(t, ctx, "#budget"))
		}
		if code := status("/merchant/credentials"); code != 200 {
			t.Errorf("owner credentials: %d", code)
		}
		accessible(t, ctx, "the console's credentials page")
		do(t, ctx, chromedp.Click(chromedp.CSS(`tr[data-cred="`+keyID+`"] button`)),
			chromedp.WaitNotPresent(chromedp.CSS(`tr[data-cred="`+keyID+`"] button`)))
		if s := text(t, ctx, `tr[data-cred="`+keyID+`"] .status`); s != "revoked" || credStatus(t, g, m.ID, keyID) != "revoked" {
			t.Errorf("after the owner's revoke: page %q, API %q", s, credStatus(t, g, m.ID, keyID))
		}
		do(t, ctx, chromedp.Click(chromedp.CSS("#logout")), chromedp.WaitVisible(chromedp.CSS("#login-form")))
		if code := status("/merchant/finance"); code != 200 || !strings.Contains(text(t, ctx, "h2"), "Staff sign-in") {
			t.Errorf("after sign-out: %d", code)
		}

		// Finance: money yes, credentials no.
		signIn("finance1", staffPassword)
		if code := status("/merchant/finance"); code != 200 {
			t.Errorf("finance on its page: %d", code)
		}
		if code := status("/merchant/credentials"); code != 403 || !strings.Contains(text(t, ctx, "#message"), "finance") {
			t.Errorf("finance on the credentials page: %d", code)
		}
		do(t, ctx, chromedp.Navigate(g.base+"/merchant"), chromedp.Click(chromedp.CSS("#logout")), chromedp.WaitVisible(chromedp.CSS("#login-form")))

		// Cashier: today only; the finance page is refused and not linked.
		signIn("cashier1", staffPassword)
		if links := eval[string](t, ctx, `[...document.querySelectorAll('header nav a')].map(a => a.getAttribute('href')).join(' ')`); strings.Contains(links, "finance") || strings.Contains(links, "credentials") {
			t.Errorf("cashier's navigation links %q", links)
		}
		screenshot(t, ctx, "console-cashier-"+db.Dialect)
		for _, path := range []string{"/merchant/finance", "/merchant/credentials"} {
			if code := status(path); code != 403 || !strings.Contains(text(t, ctx, "#message"), "cashier") || eval[bool](t, ctx, `!!document.getElementById('budget')`) {
				t.Errorf("cashier on %s: %d", path, code)
			}
		}
		accessible(t, ctx, "the console's 403 page")
	})
}

// The console over plain HTTP: the cookie's attributes, CSRF, another
// merchant's key, expiry and the sign-in rate limit; nothing changes on a
// refusal.
func TestMerchantConsoleRefusals(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		g := startGateway(t, db)
		m := g.merchant(t, "Tea", "restaurant", 150, 0, 0)
		other := g.merchant(t, "Other", "retail", 100, 0, 0)
		g.staffFor(t, m)
		keyID, otherKey := m.C.Signer().KeyID(), other.C.Signer().KeyID()

		jar, _ := cookiejar.New(nil)
		hc := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		post := func(path string, form url.Values) (*http.Response, string) {
			t.Helper()
			resp, err := hc.PostForm(g.base+path, form)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			return resp, string(b)
		}
		get := func(path string) (*http.Response, string) {
			t.Helper()
			resp, err := hc.Get(g.base + path)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			return resp, string(b)
		}

		resp, _ := post("/merchant/login", url.Values{"merchant": {m.ID}, "login": {"owner1"}, "password": {staffPassword}})
		cookie := strings.ToLower(resp.Header.Get("Set-Cookie"))
		if resp.StatusCode != 303 || !strings.Contains(cookie, "; httponly") || !strings.Contains(cookie, "; samesite=strict") ||
			!strings.Contains(cookie, "; path=/merchant") || strings.Contains(cookie, "; secure") {
			t.Fatalf("sign-in: %d, cookie %q (want HttpOnly, SameSite=Strict, Path=/merchant, not Secure over plain HTTP)", resp.StatusCode, cookie)
		}
		_, page := get("/merchant/credentials")
		csrf := regexp.MustCompile(`name="csrf" value="([0-9a-f]{48})"`).FindStringSubmatch(page)
		if csrf == nil {
			t.Fatal("no CSRF token in the credentials page")
		}

		// A form without the CSRF token, or with another: 403, nothing revoked.
		for _, form := range []url.Values{{}, {"csrf": {strings.Repeat("0", 48)}}} {
			if resp, _ := post("/merchant/credentials/"+keyID+"/revoke", form); resp.StatusCode != 403 || credStatus(t, g, m.ID, keyID) != "active" {
				t.Errorf("revoke with csrf %q: %d, credential %s", form.Get("csrf"), resp.StatusCode, credStatus(t, g, m.ID, keyID))
			}
		}
		// From another origin, even with the token: 403.
		req, _ := http.NewRequest("POST", g.base+"/merchant/credentials/"+keyID+"/revoke", strings.NewReader("csrf="+csrf[1]))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", "https://evil.example")
		if resp, err := hc.Do(req); err != nil || resp.StatusCode != 403 || credStatus(t, g, m.ID, keyID) != "active" {
			t.Errorf("cross-origin revoke: %v %v", resp, err)
		}
		// Another merchant's key in the URL: 404, that key untouched.
		if resp, _ := post("/merchant/credentials/"+otherKey+"/revoke", url.Values{"csrf": {csrf[1]}}); resp.StatusCode != 404 || credStatus(t, g, other.ID, otherKey) != "active" {
			t.Errorf("another merchant's key: %d, its status %s", resp.StatusCode, credStatus(t, g, other.ID, otherKey))
		}
		// The right token: revoked.
		if resp, _ := post("/merchant/credentials/"+keyID+"/revoke", url.Values{"csrf": {csrf[1]}}); resp.StatusCode != 303 || credStatus(t, g, m.ID, keyID) != "revoked" {
			t.Errorf("revoke with the token: %d, %s", resp.StatusCode, credStatus(t, g, m.ID, keyID))
		}

		// The session expires after 8 hours: pages send to the sign-in,
		// forms are 401.
		g.clock.Advance(8*time.Hour + time.Second)
		if resp, _ := get("/merchant"); resp.StatusCode != 303 || resp.Header.Get("Location") != "/merchant/login" {
			t.Errorf("expired session: %d %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		if resp, _ := post("/merchant/logout", url.Values{"csrf": {csrf[1]}}); resp.StatusCode != 401 {
			t.Errorf("form with an expired session: %d", resp.StatusCode)
		}

		// Sign-in attempts are limited per address, merchant and login.
		codes := ""
		for i := 0; i < 6; i++ {
			resp, _ := post("/merchant/login", url.Values{"merchant": {m.ID}, "login": {"cashier1"}, "password": {"wrong password " + string(rune('a'+i))}})
			codes += " " + resp.Status[:3]
		}
		if codes != " 401 401 401 401 401 429" {
			t.Errorf("six wrong passwords: %s", codes)
		}
		if resp, _ := post("/merchant/login", url.Values{"merchant": {m.ID}, "login": {"cashier1"}, "password": {staffPassword}}); resp.StatusCode != 429 {
			t.Errorf("the right password while limited: %d", resp.StatusCode)
		}
	})
}
