package web_test

import (
	"context"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/lianmeng/lianmeng/gateway/messaging"
	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
)

// The member page, in Chromium against a real gateway: sign in with the
// code the (capturing) sender received; see balance, lots with release and
// expiry dates and history; see the balance change after an earn through
// the API; show a redemption code as digits and QR, decode the QR from the
// page's pixels with an independent decoder, and redeem with the code;
// verify that transaction's inclusion proof in the browser.
func TestMemberPage(t *testing.T) {
	jsQR, err := os.ReadFile("testdata/jsQR.js")
	if err != nil {
		t.Fatal(err)
	}
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		g := startGateway(t, db)
		m := g.merchant(t, "Tea", "restaurant", 150, 0, 1_000_000)
		const phone = "13800138001"
		g.earn(t, m, phone, 20_000) // 300 points, pending

		ctx := browser(t)
		do(t, ctx, chromedp.Navigate(g.base+"/member"), chromedp.WaitVisible(chromedp.CSS(`body[data-loaded="true"]`)))
		accessible(t, ctx, "the member sign-in")
		do(t, ctx,
			chromedp.SendKeys(chromedp.CSS("#phone"), phone),
			chromedp.Click(chromedp.CSS("#phone-form button")),
			chromedp.WaitVisible(chromedp.CSS("#code")),
		)
		msg, ok := g.sender.last(phone, messaging.PurposeSignIn)
		if !ok {
			t.Fatal("no sign-in code was sent")
		}
		// A wrong code first: refused with its stable code, still signed out.
		do(t, ctx, chromedp.SendKeys(chromedp.CSS("#code"), wrong(msg.Code)), chromedp.KeyEvent("\r"),
			chromedp.WaitVisible(chromedp.CSS("#error:not(:empty)")))
		if e := text(t, ctx, "#error"); !strings.Contains(e, "[signin_code_invalid]") {
			t.Errorf("wrong code: error %q", e)
		}
		do(t, ctx, chromedp.SetValue(chromedp.CSS("#code"), msg.Code), chromedp.KeyEvent("\r"),
			chromedp.WaitVisible(chromedp.CSS(`#lot-rows tr[data-lot]`)))
		if got := text(t, ctx, "#bal-pending"); got != "300" {
			t.Errorf("pending %q, want 300", got)
		}
		if rel, exp := text(t, ctx, "#lot-rows tr[data-lot] .release"), text(t, ctx, "#lot-rows tr[data-lot] .expires"); rel == "" || exp == "" {
			t.Errorf("lot release %q expiry %q: want both dates", rel, exp)
		}
		if got := text(t, ctx, `#hist-rows tr[data-kind="earn"] .change`); got != "+300" {
			t.Errorf("history earn change %q, want +300", got)
		}
		screenshot(t, ctx, "member-"+db.Dialect)

		// An earn through the API: the page, reloaded, shows it (the
		// session survives the reload).
		g.earn(t, m, phone, 10_000) // +150
		do(t, ctx, chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(`body[data-loaded="true"]`)))
		if got := text(t, ctx, "#bal-pending"); got != "450" {
			t.Errorf("pending after another earn %q, want 450", got)
		}

		// A week later the points are released and the member token has
		// expired: the page asks to sign in again, then shows them spendable.
		g.release(t)
		do(t, ctx, chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("#phone")))
		signIn(t, g, ctx, phone)
		if got := text(t, ctx, "#bal-available"); got != "450" {
			t.Errorf("available after the release %q, want 450", got)
		}

		do(t, ctx, chromedp.Click(chromedp.CSS("#rc-show")), chromedp.WaitVisible(chromedp.CSS("#rc-qr")))
		code := attr(t, ctx, "#rc-digits", "data-code")
		shown := text(t, ctx, "#rc-digits")
		if !regexp.MustCompile(`^\d{18}$`).MatchString(code) || strings.ReplaceAll(shown, " ", "") != code {
			t.Fatalf("code %q shown as %q", code, shown)
		}
		if label := attr(t, ctx, "#rc-qr", "aria-label"); !strings.Contains(label, code) {
			t.Errorf("QR label %q does not name the code", label)
		}
		// Decode the drawn QR from its pixels with jsQR, loaded through
		// DevTools (the page's CSP would refuse it, rightly).
		eval[bool](t, ctx, string(jsQR)+";\nwindow.jsQR = jsQR; true")
		decoded := eval[string](t, ctx, `(() => { const c = document.getElementById('rc-qr'); const d = c.getContext('2d').getImageData(0, 0, c.width, c.height); const r = jsQR(d.data, c.width, c.height); return r ? r.data : ''; })()`)
		if decoded != "LMRC:"+code {
			t.Fatalf("the QR decodes to %q, want LMRC:%s", decoded, code)
		}
		screenshot(t, ctx, "member-code-"+db.Dialect)
		accessible(t, ctx, "the member page with a redemption code")

		// The code on the page is the member's consent: the merchant redeems with it.
		var res struct {
			Points int64 `json:"points"`
		}
		if err := m.C.Do(context.Background(), "POST", "/v1/merchant/redeem", map[string]any{"store_id": m.Store, "order_id": key("r"),
			"code": code, "points": 100, "amount_fen": 500}, &res, clientKey()); err != nil {
			t.Fatalf("redeem with the page's code: %v", err)
		}
		do(t, ctx, chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(`#hist-rows tr[data-kind="redeem"]`)))
		if got := text(t, ctx, "#bal-available"); got != "350" {
			t.Errorf("available after redeeming 100: %q, want 350", got)
		}
		if got := text(t, ctx, `#hist-rows tr[data-kind="redeem"] .change`); got != "-100" {
			t.Errorf("history redeem change %q, want -100", got)
		}

		// "Verify this one": not sealed yet, then checked in the browser
		// against the checkpoint once sealed.
		row := `#hist-rows tr[data-kind="redeem"]`
		do(t, ctx, chromedp.Click(chromedp.CSS(row+" button")), chromedp.WaitVisible(chromedp.CSS(row+" .verdict:not(:empty)")))
		if v := text(t, ctx, row+" .verdict"); !strings.Contains(v, "尚未封存") {
			t.Errorf("verdict before sealing: %q", v)
		}
		g.seal(t)
		do(t, ctx, chromedp.Click(chromedp.CSS(row+" button")), chromedp.WaitVisible(chromedp.CSS(row+` .verdict[data-ok="true"]`)))
		if v := text(t, ctx, row+" .verdict"); attr(t, ctx, row+" .verdict", "data-ok") != "true" || !strings.HasPrefix(v, "✓ 已在日志中") {
			t.Errorf("verdict after sealing: %q", v)
		}
		// The checks themselves: the SM3 test vector (GB/T 32905 A.1), and a
		// proof that was tampered with, or served for another transaction,
		// does not verify.
		if h := eval[string](t, ctx, `LMVerify.hex(LMVerify.sm3(new TextEncoder().encode('abc')))`); h != "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0" {
			t.Errorf("SM3(abc) = %s", h)
		}
		verdicts := eval[string](t, ctx, `(async () => {
			const s = JSON.parse(sessionStorage.getItem('lianmeng.member'));
			const h = await LM.api('GET', '/v1/member/history', undefined, s.token);
			const [redeem, earn] = [h.transactions.find(x => x.kind === 'redeem'), h.transactions.find(x => x.kind === 'earn')];
			const p = await LM.api('GET', '/v1/member/evidence/transactions/' + redeem.id, undefined, s.token);
			const good = LMVerify.checkMemberTx(redeem, s.member_id, p).ok;
			const other = LMVerify.checkMemberTx(earn, s.member_id, p).ok;
			const bad = JSON.parse(JSON.stringify(p));
			if (bad.proof.length) bad.proof[0] = (bad.proof[0][0] === '0' ? '1' : '0') + bad.proof[0].slice(1); else bad.checkpoint.root = '00' + bad.checkpoint.root.slice(2);
			const tampered = LMVerify.checkMemberTx(redeem, s.member_id, bad).ok;
			const wrongAmount = LMVerify.checkMemberTx(Object.assign({}, redeem, {postings: redeem.postings.map(x => Object.assign({}, x, {amount: x.amount - 1}))}), s.member_id, p).ok;
			return [good, other, tampered, wrongAmount].join(' ');
		})()`)
		if verdicts != "true false false false" {
			t.Errorf("verify good, other tx, tampered path, other amount = %s; want true false false false", verdicts)
		}

		// Signing out forgets the token.
		do(t, ctx, chromedp.Click(chromedp.CSS("#signout")), chromedp.WaitVisible(chromedp.CSS("#phone")))
		if tok := eval[string](t, ctx, `sessionStorage.getItem('lianmeng.member') || ''`); tok != "" {
			t.Errorf("token kept after sign-out: %q", tok)
		}
	})
}

// signIn signs in on the member page with the code the sender received.
func signIn(t *testing.T, g *gateway, ctx context.Context, phone string) {
	t.Helper()
	do(t, ctx, chromedp.SetValue(chromedp.CSS("#phone"), phone), chromedp.Click(chromedp.CSS("#phone-form button")),
		chromedp.WaitVisible(chromedp.CSS("#code")))
	msg, ok := g.sender.last(phone, messaging.PurposeSignIn)
	if !ok {
		t.Fatal("no sign-in code was sent")
	}
	do(t, ctx, chromedp.SetValue(chromedp.CSS("#code"), msg.Code), chromedp.Click(chromedp.CSS("#code-form button")),
		chromedp.WaitVisible(chromedp.CSS(`#account[data-loaded-for]`)))
}

// wrong returns a different code of the same shape.
func wrong(code string) string {
	b := []byte(code)
	b[0] = '0' + (b[0]-'0'+1)%10
	return string(b)
}
