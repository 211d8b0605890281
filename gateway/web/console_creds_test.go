package web_test

import (
	"context"
	"database/sql"
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
	"github.com/lianmeng/lianmeng/sdk/client"
	"github.com/lianmeng/lianmeng/sdk/signature"
)

// countCreds is how many credentials the operator API lists for merchantID.
func countCreds(t *testing.T, g *gateway, merchantID string) int {
	t.Helper()
	var list struct{ Credentials []struct{ ID string } }
	if err := g.op.Do(context.Background(), "GET", "/v1/operator/merchants/"+merchantID+"/credentials", nil, &list); err != nil {
		t.Fatal(err)
	}
	return len(list.Credentials)
}

// The owner creates an API credential in Chromium: its secret is shown
// once and signs requests the API accepts; each key's last use is shown
// (recorded at most once a minute). A cashier's post, a post without the
// CSRF token and a bad algorithm create nothing.
func TestMerchantConsoleCredentialCreate(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		g := startGateway(t, db)
		m := g.merchant(t, "Tea", "restaurant", 150, 0, 1_000_000)
		g.staffFor(t, m)
		keyID := m.C.Signer().KeyID()
		g.earn(t, m, "13800138009", 20_000) // keyID is used now
		recorded(t, db, keyID)
		ctx := browser(t)
		do(t, ctx, chromedp.Navigate(g.base+"/merchant/login"), chromedp.WaitVisible(chromedp.CSS("#login-form")),
			chromedp.SetValue(chromedp.CSS("#merchant"), m.ID), chromedp.SetValue(chromedp.CSS("#login"), "owner1"),
			chromedp.SetValue(chromedp.CSS("#password"), staffPassword), chromedp.Click(chromedp.CSS("#login-form button")),
			chromedp.WaitVisible(chromedp.CSS("#logout")), chromedp.Navigate(g.base+"/merchant/credentials"), chromedp.WaitVisible(chromedp.CSS("#create-cred")))
		if used := text(t, ctx, `tr[data-cred="`+keyID+`"] .last-used`); !regexp.MustCompile(`^\d{4}-\d\d-\d\d \d\d:\d\d$`).MatchString(used) {
			t.Errorf("last use of the key that just earned: %q", used)
		}
		do(t, ctx, chromedp.SetValue(chromedp.CSS("#label"), "till 2"), chromedp.Click(chromedp.CSS("#create-cred-submit")),
			chromedp.WaitVisible(chromedp.CSS("#secret")))
		newID := strings.TrimPrefix(text(t, ctx, "#new-h"), "新凭证 New credential ")
		secret := attr(t, ctx, "#secret", "value")
		if got := text(t, ctx, `tr[data-cred="`+newID+`"] .last-used`); got != "从未 Never" {
			t.Errorf("new key %q last used %q, want never", newID, got)
		}
		accessible(t, ctx, "the credentials page with a new secret")
		screenshot(t, ctx, "console-credentials-"+db.Dialect)
		// The secret signs: the API accepts it and records the use.
		s, err := signature.NewHMACSigner(newID, secret)
		if err != nil {
			t.Fatalf("secret %q of %q: %v", secret, newID, err)
		}
		nc := client.NewMerchant(g.base, m.ID, s, client.WithClock(g.clock.Now))
		if err := nc.Do(context.Background(), "GET", "/v1/merchant/me", nil, nil); err != nil {
			t.Fatalf("the new key on the API: %v", err)
		}
		recorded(t, db, newID)
		do(t, ctx, chromedp.Navigate(g.base+"/merchant/credentials"), chromedp.WaitVisible(chromedp.CSS("#create-cred")))
		if strings.Contains(text(t, ctx, "main"), secret) {
			t.Error("the secret is shown again")
		}
		if got := text(t, ctx, `tr[data-cred="`+newID+`"] .last-used`); got == "从未 Never" {
			t.Error("the new key's use is not recorded")
		}

		// Over plain HTTP: refusals change nothing.
		before := countCreds(t, g, m.ID)
		session := func(login string) (func(string, url.Values) (int, string), string) {
			jar, _ := cookiejar.New(nil)
			hc := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			post := func(path string, form url.Values) (int, string) {
				t.Helper()
				resp, err := hc.PostForm(g.base+path, form)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				return resp.StatusCode, string(b)
			}
			post("/merchant/login", url.Values{"merchant": {m.ID}, "login": {login}, "password": {staffPassword}})
			resp, err := hc.Get(g.base + "/merchant")
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			csrf := regexp.MustCompile(`name="csrf" value="([0-9a-f]{48})"`).FindStringSubmatch(string(b))
			if csrf == nil {
				t.Fatalf("%s: no CSRF token", login)
			}
			return post, csrf[1]
		}
		cashier, cashierCSRF := session("cashier1")
		if code, body := cashier("/merchant/credentials", url.Values{"csrf": {cashierCSRF}, "algorithm": {"hmac-sha256"}, "scope": {"earn"}}); code != 403 || !strings.Contains(body, "cashier") {
			t.Errorf("cashier creating a credential: %d", code)
		}
		owner, ownerCSRF := session("owner1")
		if code, _ := owner("/merchant/credentials", url.Values{"algorithm": {"hmac-sha256"}, "scope": {"earn"}}); code != 403 {
			t.Errorf("create without CSRF: %d", code)
		}
		for _, form := range []url.Values{
			{"csrf": {ownerCSRF}, "algorithm": {"rsa"}, "scope": {"earn"}},
			{"csrf": {ownerCSRF}, "algorithm": {"ed25519"}, "public_key": {"not a key"}, "scope": {"earn"}},
			{"csrf": {ownerCSRF}, "algorithm": {"hmac-sha256"}, "scope": {"everything"}},
			{"csrf": {ownerCSRF}, "algorithm": {"hmac-sha256"}},
		} {
			if code, body := owner("/merchant/credentials", form); code != 400 || !strings.Contains(body, "validation_failed") {
				t.Errorf("create %v: %d", form, code)
			}
		}
		if n := countCreds(t, g, m.ID); n != before {
			t.Errorf("credentials after the refusals: %d, want %d", n, before)
		}
		if code, body := owner("/merchant/credentials", url.Values{"csrf": {ownerCSRF}, "algorithm": {"hmac-sha256"}, "scope": {"read", "finance"}}); code != 201 ||
			!strings.Contains(body, `id="secret"`) || countCreds(t, g, m.ID) != before+1 {
			t.Errorf("create with the token: %d", code)
		}
	})
}

// recorded waits (at most 5 s) until the gateway's flusher has written key
// id's last use: it is noted in memory by the request and written every
// Deps.KeyUseFlush (20 ms here).
func recorded(t *testing.T, db *store.DB, id string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		var used sql.NullInt64
		if err := db.W.Get(&used, `SELECT last_used_at FROM api_keys WHERE id = ?`, id); err != nil {
			t.Fatal(err)
		}
		if used.Valid {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("key %s: its last use was not written within 5 s", id)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
