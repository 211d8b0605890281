package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/lianmeng/lianmeng/gateway/rules"
	"github.com/lianmeng/lianmeng/gateway/settlement"
	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
)

// The console's rules, statements, payouts and POS pages in Chromium on
// both databases: the owner drafts a less favourable rate, simulates it
// (the notice date the gateway enforces shown), is refused publication
// before the notice with the earliest time, publishes after it and sees
// the change on the transparency page with its date, then withdraws it;
// views and downloads a statement; sees payouts; sees a POS connection's
// dead-lettered event with its reason and replays it (another merchant's
// event is not found); finance sees statements and payouts but not rules
// or POS, a cashier none of them; a form without its CSRF token changes
// nothing. Every page passes axe.
func TestMerchantConsoleFeatures(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx0 := context.Background()
		g := startGateway(t, db)
		m := g.merchant(t, "Tea", "restaurant", 150, 0, 1_000_000)
		other := g.merchant(t, "Other", "retail", 100, 0, 0)
		g.staffFor(t, m)
		g.earn(t, m, "13800138300", 20_000) // 300 points: the simulation's recent purchase

		// A statement, as the daily clearing stores it.
		day := time.Now().In(time.FixedZone("CST", 8*3600)).AddDate(0, 0, -1).Format("2006-01-02")
		st := settlement.Statement{MerchantID: m.ID, Date: day, OpeningFen: 0, Lines: []settlement.StatementLine{{Kind: "redeem", Count: 2, AmountFen: 1234}},
			NetFen: 1234, ClosingFen: 1234}
		body, _ := json.Marshal(st)
		if err := db.SaveStatement(ctx0, store.StoredStatement{MerchantID: m.ID, Date: day, Body: string(body), KeyID: "k1", Signature: "c2ln", CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
		// A POS connection with one dead-lettered event each for m and other.
		deadEvent := func(merchantID, conn string) int64 {
			t.Helper()
			if _, err := db.W.ExecContext(ctx0, `INSERT INTO pos_connections (id, merchant_id, adapter, label, config_sealed, store_map, status, created_by, created_at)
				VALUES (?, ?, 'shopify', 'Front till', '', '{}', 'active', 'test', ?)`, conn, merchantID, store.Micros(time.Now())); err != nil {
				t.Fatal(err)
			}
			id, _, err := db.InsertInboxEvent(ctx0, store.InboxEvent{ConnectionID: conn, MerchantID: merchantID, EventKey: "evt-" + conn, EventType: "orders/paid",
				ReceivedAt: time.Now(), BodySHA256: strings.Repeat("ab", 32), Request: []byte(`{}`), State: store.InboxDead, Attempts: 8,
				LastError: "unknown_store: location 77 is not mapped", NextAt: time.Now()})
			if err != nil {
				t.Fatal(err)
			}
			return id
		}
		ev := deadEvent(m.ID, "pos_tea")
		otherEv := deadEvent(other.ID, "pos_other")

		ctx := browser(t)
		signIn := func(login string) {
			t.Helper()
			do(t, ctx, chromedp.Navigate(g.base+"/merchant/login"), chromedp.WaitVisible(chromedp.CSS("#login-form")),
				chromedp.SetValue(chromedp.CSS("#merchant"), m.ID), chromedp.SetValue(chromedp.CSS("#login"), login),
				chromedp.SetValue(chromedp.CSS("#password"), staffPassword), chromedp.Click(chromedp.CSS("#login-form button")),
				chromedp.WaitVisible(chromedp.CSS("#logout")))
		}
		status := func(path string) int64 {
			t.Helper()
			resp, err := chromedp.RunResponse(ctx, chromedp.Navigate(g.base+path))
			if err != nil {
				t.Fatal(err)
			}
			return resp.Status
		}
		// submit clicks a form's button and waits for the next page (the
		// old one is marked first: its #logout is visible too).
		submit := func(sel string) {
			t.Helper()
			eval[bool](t, ctx, `(() => { document.body.dataset.stale = '1'; return true; })()`)
			do(t, ctx, chromedp.Click(chromedp.CSS(sel)), chromedp.WaitVisible(chromedp.CSS("body:not([data-stale]) #logout")))
		}

		signIn("owner1")
		// Rules: a draft at 1.00% (less favourable than 1.50%).
		if code := status("/merchant/rules"); code != 200 {
			t.Fatalf("rules page: %d", code)
		}
		if n := text(t, ctx, "#notice"); !strings.Contains(n, "至少提前 30 天") {
			t.Errorf("notice %q", n)
		}
		do(t, ctx, chromedp.SetValue(chromedp.CSS("#rate_bp"), "100"), chromedp.SetValue(chromedp.CSS("#max_points"), "0"))
		submit("#draft-form button")
		draft := attr(t, ctx, `tr[data-state="draft"]`, "data-rule")
		submit(`tr[data-rule="` + draft + `"] form.inline button`)
		if got := text(t, ctx, "#sim-old") + " → " + text(t, ctx, "#sim-new"); got != "300 → 200" {
			t.Errorf("simulation %q, want 300 → 200", got)
		}
		if c := text(t, ctx, `#sim-changes li[data-term="rate_bp"]`); !strings.Contains(c, "less favourable") {
			t.Errorf("rate change %q: want it marked less favourable", c)
		}
		earliest := g.clock.Now().Add(rules.DefaultNotice).In(time.FixedZone("CST", 8*3600)).Format("2006-01-02 15:04")
		if e := text(t, ctx, "#sim-earliest"); !strings.Contains(e, earliest) {
			t.Errorf("earliest %q, want %s", e, earliest)
		}
		accessible(t, ctx, "the console's rules page with a simulation")
		screenshot(t, ctx, "console-rules-"+db.Dialect)
		// Published at once: refused, with the earliest time.
		if code := status("/merchant/rules"); code != 200 {
			t.Fatal(code)
		}
		submit(`tr[data-rule="` + draft + `"] form.publish button`)
		if eval[int](t, ctx, `document.querySelectorAll('#message').length`) == 0 {
			t.Fatalf("no refusal on the page:\n%s", eval[string](t, ctx, `document.querySelector('main').innerText`))
		}
		if msg := text(t, ctx, "#message"); !strings.Contains(msg, "notice_period_not_met") || !strings.Contains(msg, "earliest") {
			t.Errorf("publication before the notice: %q", msg)
		}
		// After the notice: scheduled, and on the transparency page.
		at := g.clock.Now().Add(rules.DefaultNotice + 24*time.Hour).In(time.FixedZone("CST", 8*3600))
		do(t, ctx, chromedp.SetValue(chromedp.CSS(`#eff-`+draft), at.Format("2006-01-02T15:04")))
		submit(`tr[data-rule="` + draft + `"] form.publish button`)
		if s := text(t, ctx, `tr[data-rule="`+draft+`"] .state`); s != rules.StateScheduled {
			t.Fatalf("published draft state %q (message %q)", s, eval[string](t, ctx, `(document.getElementById('message')||{}).textContent||''`))
		}
		if e := text(t, ctx, `tr[data-rule="`+draft+`"] .effective`); e != at.Format("2006-01-02 15:04") {
			t.Errorf("effective %q, want %s", e, at.Format("2006-01-02 15:04"))
		}
		do(t, ctx, chromedp.Navigate(g.base+"/"), chromedp.WaitVisible(chromedp.CSS(`body[data-loaded="true"]`)))
		if w := text(t, ctx, `tr[data-merchant="`+m.ID+`"] .next .when`); !strings.HasPrefix(w, "第 2 版将于 ") {
			t.Errorf("transparency page: %q", w)
		}
		if code := status("/merchant/rules"); code != 200 {
			t.Fatal(code)
		}
		submit(`tr[data-rule="` + draft + `"] form.inline button`) // withdraw
		if s := text(t, ctx, `tr[data-rule="`+draft+`"] .state`); s != rules.StateWithdrawn {
			t.Errorf("after withdrawal: %q", s)
		}

		// Statements: listed, shown, downloaded as CSV and signed JSON.
		if code := status("/merchant/statements"); code != 200 {
			t.Fatal(code)
		}
		accessible(t, ctx, "the console's statements page")
		if code := status("/merchant/statements?date=" + day); code != 200 || text(t, ctx, "#st-closing") != "¥12.34" {
			t.Errorf("statement of %s: %d closing %q", day, code, text(t, ctx, "#st-closing"))
		}
		accessible(t, ctx, "a statement")
		csv := eval[string](t, ctx, `fetch('/merchant/statements/`+day+`.csv').then(async r => r.headers.get('content-disposition') + '\n' + await r.text())`)
		if !strings.Contains(csv, "attachment") || !strings.Contains(csv, m.ID+","+day+",redeem,2,1234") {
			t.Errorf("CSV download:\n%s", csv)
		}
		signed := eval[string](t, ctx, `fetch('/merchant/statements/`+day+`.json').then(r => r.json()).then(j => j.signature + ' ' + j.key_id + ' ' + (JSON.parse(j.body).closing_fen))`)
		if signed != "c2ln k1 1234" {
			t.Errorf("signed JSON download: %q", signed)
		}
		if code := status("/merchant/statements/2001-01-01.csv"); code != 404 {
			t.Errorf("a day without a statement: %d", code)
		}

		// Payouts: no channel in this gateway, so listed only.
		if code := status("/merchant/payouts"); code != 200 || text(t, ctx, "#po-payable") != "¥0.00" {
			t.Errorf("payouts page: %d", code)
		}
		accessible(t, ctx, "the console's payouts page")

		// POS: the dead event with its reason, replayed.
		if code := status("/merchant/pos"); code != 200 {
			t.Fatal(code)
		}
		if r := text(t, ctx, fmt.Sprintf(`tr[data-event="%d"] .reason`, ev)); !strings.Contains(r, "unknown_store") {
			t.Errorf("dead event reason %q", r)
		}
		if n := eval[int](t, ctx, fmt.Sprintf(`document.querySelectorAll('tr[data-event="%d"]').length`, otherEv)); n != 0 {
			t.Errorf("another merchant's event is listed")
		}
		accessible(t, ctx, "the console's POS page")
		screenshot(t, ctx, "console-pos-"+db.Dialect)
		submit(fmt.Sprintf(`tr[data-event="%d"] button`, ev))
		if s := text(t, ctx, fmt.Sprintf(`tr[data-inbox="%d"] .state`, ev)); s != store.InboxPending {
			t.Errorf("replayed event state %q", s)
		}

		// Plain HTTP with the owner's cookie: another merchant's event is
		// not found; a form without the CSRF token changes nothing.
		jar, _ := cookiejar.New(nil)
		hc := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := hc.PostForm(g.base+"/merchant/login", url.Values{"merchant": {m.ID}, "login": {"owner1"}, "password": {staffPassword}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		csrf := ""
		if resp, err = hc.Get(g.base + "/merchant/rules"); err == nil {
			page := readAll(resp)
			if i := strings.Index(page, `name="csrf" value="`); i >= 0 {
				csrf = page[i+19 : i+19+48]
			}
		}
		if csrf == "" {
			t.Fatal("no CSRF token on the rules page")
		}
		post := func(path string, form url.Values) int {
			t.Helper()
			resp, err := hc.PostForm(g.base+path, form)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return resp.StatusCode
		}
		if code := post(fmt.Sprintf("/merchant/pos/inbox/%d/replay", otherEv), url.Values{"csrf": {csrf}}); code != 404 {
			t.Errorf("another merchant's event replayed: %d", code)
		}
		if e, _ := db.InboxEventByID(ctx0, otherEv); e.State != store.InboxDead {
			t.Errorf("another merchant's event is now %s", e.State)
		}
		before, _ := g.db.RuleVersions(ctx0, m.ID)
		if code := post("/merchant/rules/drafts", url.Values{"rate_bp": {"500"}}); code != 403 {
			t.Errorf("draft without CSRF: %d", code)
		}
		if code := post("/merchant/rules/drafts", url.Values{"rate_bp": {"-5"}, "csrf": {csrf}}); code != 400 {
			t.Errorf("negative rate: %d", code)
		}
		if after, _ := g.db.RuleVersions(ctx0, m.ID); len(after) != len(before) {
			t.Errorf("refused drafts were stored: %d versions, was %d", len(after), len(before))
		}

		// Finance: statements and payouts, not rules or POS. Cashier: none.
		for _, c := range []struct {
			login string
			want  map[string]int64
		}{
			{"finance1", map[string]int64{"/merchant/statements": 200, "/merchant/payouts": 200, "/merchant/rules": 403, "/merchant/pos": 403}},
			{"cashier1", map[string]int64{"/merchant/statements": 403, "/merchant/payouts": 403, "/merchant/rules": 403, "/merchant/pos": 403}},
		} {
			do(t, ctx, chromedp.Navigate(g.base+"/merchant"), chromedp.Click(chromedp.CSS("#logout")), chromedp.WaitVisible(chromedp.CSS("#login-form")))
			signIn(c.login)
			for path, want := range c.want {
				if code := status(path); code != want {
					t.Errorf("%s on %s: %d, want %d", c.login, path, code, want)
				}
			}
		}
	})
}

func readAll(resp *http.Response) string {
	defer resp.Body.Close()
	b := new(strings.Builder)
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			return b.String()
		}
	}
}
