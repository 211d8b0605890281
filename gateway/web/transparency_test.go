package web_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/lianmeng/lianmeng/gateway/config"
	"github.com/lianmeng/lianmeng/gateway/evidence"
	"github.com/lianmeng/lianmeng/gateway/rules"
	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
)

// The transparency page, in Chromium against a real gateway: the coverage
// now, each merchant's terms in plain words, the latest signed checkpoint,
// and the "check it yourself" files and command, which the test runs with
// OpenSSL exactly as the page prints it.
func TestTransparencyPage(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		g := startGateway(t, db)
		noodles := g.merchant(t, "面馆 Noodles", "restaurant", 150, 80, 1_000_000)
		books := g.merchant(t, "Books", "retail", 300, 0, 0)
		g.earn(t, noodles, "13800138000", 10_000) // 150 points
		// A less favourable version for Books, published with the notice
		// the gateway enforces.
		var draft struct{ ID int64 }
		if err := g.op.Do(context.Background(), "POST", "/v1/operator/merchants/"+books.ID+"/rules/drafts", map[string]any{"rate_bp": 100}, &draft); err != nil {
			t.Fatal(err)
		}
		effective := g.clock.Now().UTC().Truncate(time.Second).Add(rules.DefaultNotice + time.Hour)
		if err := g.op.Do(context.Background(), "POST", fmt.Sprintf("/v1/operator/merchants/%s/rules/drafts/%d/publish", books.ID, draft.ID),
			map[string]any{"effective_at": effective}, nil); err != nil {
			t.Fatal(err)
		}
		g.seal(t)

		ctx := browser(t)
		do(t, ctx, chromedp.Navigate(g.base+"/"), chromedp.WaitVisible(chromedp.CSS(`body[data-loaded="true"]`)))
		ratio, status := text(t, ctx, "#coverage-ratio"), text(t, ctx, "#coverage-status")
		reserve, outstanding := text(t, ctx, "#coverage-reserve"), text(t, ctx, "#coverage-outstanding")
		terms := text(t, ctx, `tr[data-merchant="`+noodles.ID+`"] .terms`)
		size, signed := text(t, ctx, "#cp-size"), text(t, ctx, "#cp-signed")
		htmlLang := attr(t, ctx, "html", "lang")
		when := text(t, ctx, `tr[data-merchant="`+books.ID+`"] .next .when`)
		change := text(t, ctx, `tr[data-merchant="`+books.ID+`"] .next li[data-term="rate_bp"]`)
		at := attr(t, ctx, `tr[data-merchant="`+books.ID+`"] .next .scheduled`, "data-effective-at")
		if !strings.HasPrefix(when, "第 2 版将于 ") || !strings.Contains(when, "还有 30 天") {
			t.Errorf("scheduled change %q: want version 2 and a countdown of 30 days", when)
		}
		if got, err := time.Parse(time.RFC3339, at); err != nil || !got.Equal(effective) {
			t.Errorf("effective at %q, want %s", at, effective)
		}
		if change != "返还比例: 3.00% → 1.00%（对会员不利）" {
			t.Errorf("change %q", change)
		}
		if none := text(t, ctx, `tr[data-merchant="`+noodles.ID+`"] .next`); none != "无" {
			t.Errorf("merchant without a scheduled change shows %q", none)
		}
		screenshot(t, ctx, "transparency-"+db.Dialect)
		accessible(t, ctx, "the transparency page")
		if ratio != "100.00%" || status != "全部流通积分都有足额备付金。" {
			t.Errorf("coverage %q %q, want 100.00%% and covered", ratio, status)
		}
		// 1,000,000 fen funded = ¥10,000.00 reserve, 1,000,000 points outstanding (one moved to the member).
		if reserve != "¥10,000.00" || outstanding != "1,000,000" {
			t.Errorf("reserve %q outstanding %q", reserve, outstanding)
		}
		if want := "消费 ¥100 得 150 积分（价值 ¥1.50，即返 1.50%），每笔最多 80 积分"; terms != want {
			t.Errorf("terms %q, want %q", terms, want)
		}
		if size == "" || size == "0" || !strings.HasPrefix(signed, "web.test/lianmeng\n") {
			t.Errorf("checkpoint size %q signed %q", size, signed)
		}
		if htmlLang != "zh-CN" {
			t.Errorf("html lang %q, want zh-CN by default", htmlLang)
		}

		// The signature checked in the browser, and refused when the body,
		// the signature or the key is another.
		if res := text(t, ctx, "#sig-result"); attr(t, ctx, "#sig-result", "data-ok") != "true" || !strings.HasPrefix(res, "✓ 签名有效") {
			t.Errorf("in-browser signature check: %q", res)
		}
		otherKey, err := evidence.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		otherSigner, err := evidence.NewSigner(otherKey)
		if err != nil {
			t.Fatal(err)
		}
		otherPEM, err := otherSigner.PublicKeyPEM()
		if err != nil {
			t.Fatal(err)
		}
		got := eval[string](t, ctx, `(async () => {
			const cp = await LM.api('GET', '/v1/evidence/checkpoint');
			const key = (await LM.api('GET', '/v1/evidence/public-key')).public_key_pem;
			const s = cp.signed;
			const body = s.replace('\n' + cp.size + '\n', '\n' + (cp.size + 1) + '\n');
			const sigAt = s.lastIndexOf(' ') + 5;
			const sig = s.slice(0, sigAt) + (s[sigAt] === 'A' ? 'B' : 'A') + s.slice(sigAt + 1);
			return [LMVerify.verifyCheckpoint(s, key).ok, LMVerify.verifyCheckpoint(body, key).ok,
				LMVerify.verifyCheckpoint(sig, key).ok, LMVerify.verifyCheckpoint(s, `+strconv.Quote(string(otherPEM))+`).ok].join(' ');
		})()`)
		if got != "true false false false" {
			t.Errorf("verifyCheckpoint good, other body, other signature, other key = %s; want true false false false", got)
		}

		// The browser remembers the checkpoint; a grown log must come with a
		// consistency proof that holds; a rewritten or shrunk one is an alarm.
		if got := text(t, ctx, "#consistency-result"); !strings.HasPrefix(got, "第一次访问") {
			t.Errorf("first visit: %q", got)
		}
		g.earn(t, noodles, "13800138000", 20_000)
		g.seal(t)
		do(t, ctx, chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(`#consistency-result[data-ok]`)))
		if got := text(t, ctx, "#consistency-result"); attr(t, ctx, "#consistency-result", "data-ok") != "true" || !strings.Contains(got, "一致性证明成立") {
			t.Errorf("after the log grew: %q", got)
		}
		for what, js := range map[string]string{
			"a rewritten history": `s.size = s.size - 1; s.root = '11'.repeat(32)`,
			"a shrunk log":        `s.size = s.size + 5`,
			"a fork at one size":  `s.root = '22'.repeat(32)`,
		} {
			eval[bool](t, ctx, `(() => { const s = JSON.parse(localStorage.getItem('lianmeng.checkpoint')); `+js+`; localStorage.setItem('lianmeng.checkpoint', JSON.stringify(s)); return true; })()`)
			do(t, ctx, chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(`#consistency-result[data-ok]`)))
			if got := text(t, ctx, "#consistency-result"); attr(t, ctx, "#consistency-result", "data-ok") != "false" || !strings.HasPrefix(got, "✗") {
				t.Errorf("%s: %q", what, got)
			}
			eval[bool](t, ctx, `(() => { localStorage.removeItem('lianmeng.checkpoint'); return true; })()`)
			do(t, ctx, chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(`#consistency-result[data-ok="true"]`)))
		}
		// verify.js's inclusion and consistency checks against a plain
		// RFC 6962 reference (MTH, PATH and SUBPROOF) for every tree up to
		// 20 leaves, and a shortened proof refused.
		if bad := eval[string](t, ctx, rfc6962Reference); bad != "" {
			t.Errorf("verify.js against RFC 6962:\n%s", bad)
		}

		// What the three download links hold, read through the links
		// themselves.
		dir := t.TempDir()
		for id, file := range map[string]string{"dl-body": "checkpoint.txt", "dl-sig": "checkpoint.sig", "dl-pem": "lianmeng-evidence.pem"} {
			name := attr(t, ctx, "#"+id, "download")
			b64 := eval[string](t, ctx, `fetch(document.getElementById('`+id+`').href).then(r => r.arrayBuffer()).then(b => { let s = ''; new Uint8Array(b).forEach(c => s += String.fromCharCode(c)); return btoa(s); })`)
			data, err := base64.StdEncoding.DecodeString(b64)
			if err != nil || name != file {
				t.Fatalf("%s: download %q, %v", id, name, err)
			}
			if err := os.WriteFile(filepath.Join(dir, file), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		verifyCmd, fetchCmd := text(t, ctx, "#cmd-verify"), text(t, ctx, "#cmd-fetch")
		if _, err := exec.LookPath("openssl"); err != nil {
			t.Fatalf("openssl is needed to run the page's command: %v", err)
		}
		run := func(dir, script string) (string, error) {
			cmd := exec.Command("sh", "-ec", script)
			cmd.Dir = dir
			out, err := cmd.CombinedOutput()
			return string(out), err
		}
		if out, err := run(dir, verifyCmd); err != nil || !strings.Contains(out, "Signature Verified Successfully") {
			t.Fatalf("the page's command %q: %v\n%s", verifyCmd, err, out)
		}
		// The same command refuses a body changed by one byte.
		body, _ := os.ReadFile(filepath.Join(dir, "checkpoint.txt"))
		body[len(body)-2] ^= 1
		os.WriteFile(filepath.Join(dir, "checkpoint.txt"), body, 0o644)
		if out, err := run(dir, verifyCmd); err == nil {
			t.Fatalf("a changed checkpoint verified: %s", out)
		}
		// The command-line way to the same files, where curl and jq exist.
		_, curlErr := exec.LookPath("curl")
		_, jqErr := exec.LookPath("jq")
		if curlErr == nil && jqErr == nil {
			dir2 := t.TempDir()
			if out, err := run(dir2, fetchCmd+"\n"+verifyCmd); err != nil || !strings.Contains(out, "Signature Verified Successfully") {
				t.Fatalf("fetch and verify:\n%s\n%s\n%v\n%s", fetchCmd, verifyCmd, err, out)
			}
		} else {
			t.Log("curl or jq missing: the page's fetch commands were not run")
		}

		// English, one click away; keyboard users reach it too.
		do(t, ctx, chromedp.Focus(chromedp.CSS("#lang-toggle")), chromedp.KeyEvent("\r"))
		h1, lang2 := text(t, ctx, "h1"), attr(t, ctx, "html", "lang")
		terms2 := text(t, ctx, `tr[data-merchant="`+noodles.ID+`"] .terms`)
		accessible(t, ctx, "the transparency page in English")
		if h1 != "Alliance transparency" || lang2 != "en" || !strings.HasPrefix(terms2, "Spend ¥100, earn 150 points") {
			t.Errorf("English: h1 %q lang %q terms %q", h1, lang2, terms2)
		}
	})
}

// rfc6962Reference computes trees, audit paths and consistency proofs the
// slow way RFC 6962 §2.1 defines them and checks verify.js accepts every
// one and refuses a shortened consistency proof; it returns the failures.
const rfc6962Reference = `(() => {
	const V = LMVerify, out = [];
	const cat = (a, b) => { const o = new Uint8Array(a.length + b.length); o.set(a); o.set(b, a.length); return o; };
	const leaf = (i) => V.leafHash(Uint8Array.of(i));
	const node = (l, r) => V.sm3(cat(Uint8Array.of(1), cat(l, r)));
	const split = (n) => { let k = 1; while (k * 2 < n) k *= 2; return k; };
	const mth = (lo, hi) => hi - lo === 1 ? leaf(lo) : node(mth(lo, lo + split(hi - lo)), mth(lo + split(hi - lo), hi));
	const path = (i, lo, hi) => { if (hi - lo === 1) return []; const k = split(hi - lo);
		return i < lo + k ? [...path(i, lo, lo + k), mth(lo + k, hi)] : [...path(i, lo + k, hi), mth(lo, lo + k)]; };
	const sub = (m, lo, hi, b) => { const n = hi - lo; if (m === n) return b ? [] : [mth(lo, hi)]; const k = split(n);
		return m <= k ? [...sub(m, lo, lo + k, b), mth(lo + k, hi)] : [...sub(m - k, lo + k, hi, false), mth(lo, lo + k)]; };
	for (let n2 = 1; n2 <= 20; n2++) {
		for (let i = 0; i < n2; i++) {
			const r = V.rootFromInclusion(leaf(i), i, n2, path(i, 0, n2));
			if (!r || V.hex(r) !== V.hex(mth(0, n2))) out.push('inclusion ' + i + ' in ' + n2);
		}
		for (let n1 = 1; n1 <= n2; n1++) {
			const p = n1 === n2 ? [] : sub(n1, 0, n2, true);
			if (!V.consistent(n1, n2, mth(0, n1), mth(0, n2), p)) out.push('consistency ' + n1 + ' to ' + n2);
			if (p.length && V.consistent(n1, n2, mth(0, n1), mth(0, n2), p.slice(1))) out.push('short proof accepted ' + n1 + ' to ' + n2);
		}
	}
	return out.join(', ');
})()`

// A checkpoint short of the configured quorum of witness cosignatures is
// flagged on the transparency page (as on /readyz); without witnesses the
// page says the checkpoint carries only the alliance's own signature.
func TestTransparencyWitnessQuorum(t *testing.T) {
	db := storetest.Open(t, store.SQLite)
	for _, c := range []struct {
		quorum    int
		want, msg string
	}{
		{0, "met", "未配置见证人"},
		{1, "short", "警告：只有 0 个见证人联署，少于要求的 1 个"},
	} {
		g := startGateway(t, db, func(cfg *config.Config) { cfg.Evidence.WitnessQuorum = c.quorum })
		m := g.merchant(t, fmt.Sprint("Tea ", c.quorum), "restaurant", 100, 0, 10_000)
		g.earn(t, m, "13800138001", 1_000)
		g.seal(t)
		ctx := browser(t)
		do(t, ctx, chromedp.Navigate(g.base+"/"), chromedp.WaitVisible(chromedp.CSS(`body[data-loaded="true"]`)))
		if got := attr(t, ctx, "#cp-witnesses", "data-quorum"); got != c.want {
			t.Errorf("quorum %d: data-quorum %q, want %q", c.quorum, got, c.want)
		}
		if got := text(t, ctx, "#cp-witnesses"); !strings.Contains(got, c.msg) {
			t.Errorf("quorum %d: %q, want it to say %q", c.quorum, got, c.msg)
		}
	}
}
