package api

// Points API tests: the flows over HTTP, every bad input refused with a
// stable code and nothing written, and idempotency.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/gateway/consent"
	"github.com/lianmeng/lianmeng/gateway/messaging"
	"github.com/lianmeng/lianmeng/gateway/points"
	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
	"github.com/lianmeng/lianmeng/sdk/client"
	"github.com/lianmeng/lianmeng/sdk/signature"
)

type ptsClock struct{ us atomic.Int64 }

func (c *ptsClock) Now() time.Time          { return time.UnixMicro(c.us.Load()) }
func (c *ptsClock) Advance(d time.Duration) { c.us.Add(d.Microseconds()) }

type ptsGateway struct {
	db     *store.DB
	srv    *Server
	base   string
	op     *client.Client
	writer *store.Writer
	clock  *ptsClock
	rules  points.RuleEvaluator
	sender *captureSender
}

func ptsStart(t *testing.T, db *store.DB, rules points.RuleEvaluator) *ptsGateway {
	t.Helper()
	g := &ptsGateway{db: db, clock: &ptsClock{}, rules: rules}
	g.clock.us.Store(time.Now().UnixMicro())
	g.writer = db.NewWriter(store.WriterOptions{BatchSize: 64, BatchWait: 200 * time.Microsecond, Now: g.clock.Now})
	t.Cleanup(g.writer.Close)
	cfg := fndConfig()
	svc := &points.Service{Policy: cfg.Points.Policy(), Rules: rules}
	g.sender = &captureSender{}
	cs := &consent.Service{Store: db, Sender: g.sender, Now: g.clock.Now}
	g.srv = New(Deps{Config: cfg, DB: db, Log: fndLogger(), Now: g.clock.Now, Writer: g.writer, Points: svc, Consent: cs})
	g.base, _ = fndServe(t, g.srv)
	g.op = client.NewOperator(g.base, fndOperatorToken, client.WithClock(g.clock.Now))
	return g
}

type ptsMerchant struct {
	ID string
	C  *client.Client
}

func (g *ptsGateway) merchant(t testing.TB, rateBP int64, fund int64) ptsMerchant {
	t.Helper()
	ctx := context.Background()
	var m struct{ ID string }
	if err := g.op.Do(ctx, "POST", "/v1/operator/merchants", map[string]string{"name": "Shop", "industry": "restaurant"}, &m); err != nil {
		t.Fatal(err)
	}
	var cred struct{ ID, Secret string }
	if err := g.op.Do(ctx, "POST", "/v1/operator/merchants/"+m.ID+"/credentials", map[string]any{"algorithm": "hmac-sha256", "scopes": []string{"earn", "refund", "redeem", "read", "finance"}}, &cred); err != nil {
		t.Fatal(err)
	}
	if err := g.op.Do(ctx, "PUT", "/v1/operator/merchants/"+m.ID+"/earning", map[string]any{"rate_bp": rateBP}, nil); err != nil {
		t.Fatal(err)
	}
	if fund > 0 {
		if err := g.op.Do(ctx, "POST", "/v1/operator/merchants/"+m.ID+"/fund", map[string]any{"amount_fen": fund, "external_ref": "pay-" + m.ID},
			nil, client.IdempotencyKey("fund-"+m.ID)); err != nil {
			t.Fatal(err)
		}
	}
	s, err := signature.NewHMACSigner(cred.ID, cred.Secret)
	if err != nil {
		t.Fatal(err)
	}
	return ptsMerchant{ID: m.ID, C: client.NewMerchant(g.base, m.ID, s, client.WithClock(g.clock.Now))}
}

var ptsKeys atomic.Int64

func newKey() string { return fmt.Sprintf("k-%d-%d", time.Now().UnixNano(), ptsKeys.Add(1)) }

func phone(v string) map[string]string { return map[string]string{"kind": "phone", "value": v} }

// apiCode returns the API error code of err ("" for nil).
func apiCode(t *testing.T, err error) string {
	t.Helper()
	if err == nil {
		return ""
	}
	var ae *client.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("not an API error: %v", err)
	}
	return ae.Code
}

// ledgerRows counts rows of every ledger table.
func ledgerRows(t *testing.T, db *store.DB) string {
	t.Helper()
	var parts []string
	for _, tbl := range []string{"ledger_transactions", "postings", "purchases", "lots", "members", "member_debts", "lot_consumptions", "idempotency_records"} {
		parts = append(parts, fmt.Sprintf("%s=%d", tbl, fndCount(t, db, tbl)))
	}
	var bal int64
	if err := db.R.Get(&bal, "SELECT COALESCE(SUM(ABS(balance)), 0) FROM accounts"); err != nil {
		t.Fatal(err)
	}
	return strings.Join(parts, " ") + fmt.Sprintf(" balances=%d", bal)
}

func TestPointsFlowOverHTTP(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		g := ptsStart(t, db, nil)
		ctx := context.Background()
		a := g.merchant(t, 100, 100_000) // 1% back
		b := g.merchant(t, 100, 0)
		var earn struct {
			Points   int64  `json:"points"`
			MemberID string `json:"member_id"`
		}
		if err := a.C.Do(ctx, "POST", "/v1/merchant/earn", map[string]any{"order_id": "A-1", "member": phone("13800138000"), "amount_fen": 12345},
			&earn, client.IdempotencyKey(newKey())); err != nil {
			t.Fatal(err)
		}
		if earn.Points != 123 {
			t.Fatalf("earned %d points on 123.45 yuan at 1%%, want 123", earn.Points)
		}
		// The member signs in with the code sent to their phone.
		tok := g.signIn(t, "13800138000")
		mc := client.NewOperator(g.base, tok)
		var bal points.MemberBalance
		if err := mc.Do(ctx, "GET", "/v1/member/balance", nil, &bal); err != nil {
			t.Fatal(err)
		}
		if bal.Pending != 123 || bal.Available != 0 {
			t.Fatalf("balance %+v", bal)
		}
		// Not spendable before release.
		err := b.C.Do(ctx, "POST", "/v1/merchant/redeem", map[string]any{"order_id": "B-1", "code": g.redemptionCode(t, tok, 0),
			"points": 50, "amount_fen": 2000}, nil, client.IdempotencyKey(newKey()))
		if apiCode(t, err) != "insufficient_points" {
			t.Fatalf("redeem before release: %v", err)
		}
		// Release after the return window (7 days by default); the member
		// signs in again (sessions last 30 minutes).
		g.clock.Advance(8 * 24 * time.Hour)
		svcRun(t, g, "release")
		g.clock.Advance(time.Minute) // past the sign-in resend interval
		tok = g.signIn(t, "13800138000")
		mc = client.NewOperator(g.base, tok)
		var red struct {
			Points    int64 `json:"points"`
			ValueFen  int64 `json:"value_fen"`
			Available int64 `json:"available"`
		}
		usedCode := g.redemptionCode(t, tok, 0)
		if err := b.C.Do(ctx, "POST", "/v1/merchant/redeem", map[string]any{"order_id": "B-1", "code": usedCode, "points": 50, "amount_fen": 2000},
			&red, client.IdempotencyKey(newKey())); err != nil {
			t.Fatal(err)
		}
		if red.ValueFen != 50 || red.Available != 73 {
			t.Fatalf("redeem %+v", red)
		}
		// The code was used: it cannot redeem again.
		err = b.C.Do(ctx, "POST", "/v1/merchant/redeem", map[string]any{"order_id": "B-2", "code": usedCode, "points": 1, "amount_fen": 100},
			nil, client.IdempotencyKey(newKey()))
		if apiCode(t, err) != points.CodeConsentUsed {
			t.Fatalf("the same code twice: %v", err)
		}
		var acct points.MerchantAccount
		if err := b.C.Do(ctx, "GET", "/v1/merchant/account", nil, &acct); err != nil {
			t.Fatal(err)
		}
		if acct.PayableFen != 50 {
			t.Fatalf("B payable %d, want 50", acct.PayableFen)
		}
		// The member's own view.
		var lots struct{ Lots []map[string]any }
		if err := mc.Do(ctx, "GET", "/v1/member/lots", nil, &lots); err != nil {
			t.Fatal(err)
		}
		if len(lots.Lots) != 1 || lots.Lots[0]["remaining"].(float64) != 73 {
			t.Fatalf("lots %+v", lots)
		}
		var hist struct{ Transactions []map[string]any }
		if err := mc.Do(ctx, "GET", "/v1/member/history", nil, &hist); err != nil {
			t.Fatal(err)
		}
		if len(hist.Transactions) != 3 { // earn, release, redeem
			t.Fatalf("history has %d transactions, want 3", len(hist.Transactions))
		}
		// Only the member's own side: no merchant or alliance accounts.
		for _, tx := range hist.Transactions {
			for _, p := range tx["postings"].([]any) {
				if acct := p.(map[string]any)["account"].(string); !strings.HasPrefix(acct, "member:"+earn.MemberID+":") {
					t.Fatalf("member history shows account %s", acct)
				}
			}
		}
		if err := client.NewOperator(g.base, tok+"x").Do(ctx, "GET", "/v1/member/balance", nil, nil); apiCode(t, err) != CodeMemberUnauthorized {
			t.Fatalf("forged member token: %v", err)
		}
		// Coverage is public and exact.
		var cov map[string]any
		if err := client.NewOperator(g.base, "").Do(ctx, "GET", "/v1/public/coverage", nil, &cov); err != nil {
			t.Fatal(err)
		}
		if cov["coverage_bp"].(float64) != 10000 || cov["covered"] != true {
			t.Fatalf("coverage %v", cov)
		}
		// Refund the redemption, then the earning purchase in two parts.
		if err := b.C.Do(ctx, "POST", "/v1/merchant/redeem/refund", map[string]any{"order_id": "B-1"}, nil, client.IdempotencyKey(newKey())); err != nil {
			t.Fatal(err)
		}
		for _, amt := range []int64{5000, 7345} {
			if err := a.C.Do(ctx, "POST", "/v1/merchant/earn/refund", map[string]any{"order_id": "A-1", "amount_fen": amt}, nil, client.IdempotencyKey(newKey())); err != nil {
				t.Fatal(err)
			}
		}
		// The merchant where the member earned may look them up; with the
		// member's code it sees the balance. Merchant B, where the member
		// only redeemed with an app code, is told nothing.
		var lk lookupResponse
		if err := a.C.Do(ctx, "POST", "/v1/merchant/members/lookup", map[string]any{"member": phone("13800138000"),
			"code": g.redemptionCode(t, tok, 0)}, &lk); err != nil {
			t.Fatal(err)
		}
		if lk.MemberID != earn.MemberID || lk.Balance == nil || lk.Balance.Pending != 0 || lk.Balance.Available != 0 {
			t.Fatalf("after full refunds %+v", lk)
		}
		var plain lookupResponse
		if err := a.C.Do(ctx, "POST", "/v1/merchant/members/lookup", map[string]any{"member": phone("13800138000")}, &plain); err != nil ||
			plain.MemberID != earn.MemberID || plain.Balance != nil {
			t.Fatalf("lookup without a code: %+v %v", plain, err)
		}
		// With the member's code the till gets a 2-minute token that shows
		// the balance and nothing else; without a valid code, none.
		var till memberTokenResponse
		if err := a.C.Do(ctx, "POST", "/v1/merchant/members/token", map[string]any{"code": g.redemptionCode(t, tok, 0)}, &till); err != nil {
			t.Fatal(err)
		}
		if till.MemberID != earn.MemberID || till.Scope != tillPrefix+a.ID {
			t.Fatalf("till token %+v", till)
		}
		tc := client.NewOperator(g.base, till.Token)
		if err := tc.Do(ctx, "GET", "/v1/member/balance", nil, &bal); err != nil || bal.MemberID != earn.MemberID {
			t.Fatalf("balance with a till token: %+v %v", bal, err)
		}
		for _, path := range []string{"/v1/member/lots", "/v1/member/history"} {
			if err := tc.Do(ctx, "GET", path, nil, nil); apiCode(t, err) != CodeMemberScope {
				t.Fatalf("%s with a till token: %v", path, err)
			}
		}
		if err := a.C.Do(ctx, "POST", "/v1/merchant/members/token", map[string]any{"code": "612345678901234566"}, nil); apiCode(t, err) != points.CodeConsentRequired {
			t.Fatalf("till token for a code nobody was given: %v", err)
		}
		// A member B never served and a phone that is no member answer alike.
		for _, p := range []string{"13800138000", "13999999999"} {
			err = b.C.Do(ctx, "POST", "/v1/merchant/members/lookup", map[string]any{"member": phone(p)}, nil)
			if apiCode(t, err) != points.CodeUnknownMember {
				t.Fatalf("lookup of %s by a merchant that never served it: %v", p, err)
			}
		}
		vs, err := db.CheckInvariants(ctx, 1, nil)
		if err != nil || len(vs) != 0 {
			t.Fatalf("invariants: %v %v", vs, err)
		}
	})
}

// svcRun runs a scheduler step through the server's writer.
func svcRun(t *testing.T, g *ptsGateway, which string) {
	t.Helper()
	cmd := g.srv.svc.ReleaseCommand(500)
	if which == "expire" {
		cmd = g.srv.svc.ExpireCommand(500)
	}
	res := g.writer.Submit(context.Background(), &store.Op{Command: cmd})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
}

func TestPointsBadInputWritesNothing(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		g := ptsStart(t, db, nil)
		ctx := context.Background()
		a := g.merchant(t, 100, 10_000)
		b := g.merchant(t, 100, 10_000)
		poor := g.merchant(t, 100, 0)
		// One good earn and redeem to refer to.
		if err := a.C.Do(ctx, "POST", "/v1/merchant/earn", map[string]any{"order_id": "A-1", "member": phone("13800138000"), "amount_fen": 100000}, nil, client.IdempotencyKey(newKey())); err != nil {
			t.Fatal(err)
		}
		// Bob is a member too; codes of his and an expired one of the
		// first member's.
		if err := a.C.Do(ctx, "POST", "/v1/merchant/earn", map[string]any{"order_id": "A-2", "member": phone("13800138002"), "amount_fen": 1000}, nil, client.IdempotencyKey(newKey())); err != nil {
			t.Fatal(err)
		}
		bob := g.signIn(t, "13800138002")
		session := g.signIn(t, "13800138000")
		expired := g.redemptionCode(t, session, 0)
		g.clock.Advance(61 * time.Second)
		code, capped := g.redemptionCode(t, session, 0), g.redemptionCode(t, session, 3)
		bobCode := g.redemptionCode(t, bob, 0)
		before := ledgerRows(t, db)
		raw := func(m ptsMerchant, path, body string) error {
			return m.C.Do(ctx, "POST", path, []byte(body), nil, client.IdempotencyKey(newKey()))
		}
		cases := []struct {
			name string
			m    ptsMerchant
			path string
			body string
			code string
		}{
			{"negative amount", a, "/v1/merchant/earn", `{"order_id":"x","member":{"kind":"phone","value":"13800138001"},"amount_fen":-5}`, "invalid_amount"},
			{"zero amount", a, "/v1/merchant/earn", `{"order_id":"x","member":{"kind":"phone","value":"13800138001"},"amount_fen":0}`, "invalid_amount"},
			{"overflowing amount", a, "/v1/merchant/earn", `{"order_id":"x","member":{"kind":"phone","value":"13800138001"},"amount_fen":99999999999999999999}`, CodeValidation},
			{"float amount", a, "/v1/merchant/earn", `{"order_id":"x","member":{"kind":"phone","value":"13800138001"},"amount_fen":12.5}`, CodeValidation},
			{"amount over maximum", a, "/v1/merchant/earn", `{"order_id":"x","member":{"kind":"phone","value":"13800138001"},"amount_fen":9223372036854775807}`, "invalid_amount"},
			{"negative points", a, "/v1/merchant/earn", `{"order_id":"x","member":{"kind":"phone","value":"13800138001"},"amount_fen":100,"points":-1}`, "invalid_points"},
			{"points worth more than purchase", a, "/v1/merchant/earn", `{"order_id":"x","member":{"kind":"phone","value":"13800138001"},"amount_fen":100,"points":101}`, "invalid_points"},
			{"bad identity kind", a, "/v1/merchant/earn", `{"order_id":"x","member":{"kind":"email","value":"a@b"},"amount_fen":100}`, "invalid_member_identity"},
			{"missing order id", a, "/v1/merchant/earn", `{"member":{"kind":"phone","value":"13800138001"},"amount_fen":100}`, "invalid_order_id"},
			{"unknown store", a, "/v1/merchant/earn", `{"order_id":"x","store_id":"sto_nope","member":{"kind":"phone","value":"13800138001"},"amount_fen":100}`, "unknown_store"},
			{"earn twice", a, "/v1/merchant/earn", `{"order_id":"A-1","member":{"kind":"phone","value":"13800138000"},"amount_fen":100000}`, "purchase_already_earned"},
			{"unfunded", poor, "/v1/merchant/earn", `{"order_id":"p","member":{"kind":"phone","value":"13800138001"},"amount_fen":10000}`, "insufficient_budget"},
			// The outside review's reproduction: a phone number and no consent.
			{"redeem by phone number alone", b, "/v1/merchant/redeem", `{"order_id":"r","member":{"kind":"phone","value":"13800138000"},"points":1,"amount_fen":100}`, "member_consent_required"},
			{"redeem with zero amount", b, "/v1/merchant/redeem", `{"order_id":"r","code":"` + code + `","points":1,"amount_fen":0}`, "invalid_amount"},
			{"redeem for an unknown phone", b, "/v1/merchant/redeem", `{"order_id":"r","member":{"kind":"phone","value":"13999999999"},"code":"123456","points":1,"amount_fen":100}`, "member_consent_required"},
			{"redeem with a mistyped code", b, "/v1/merchant/redeem", `{"order_id":"r","code":"612345678901234563","points":1,"amount_fen":100}`, "invalid_consent_code"},
			{"redeem with an expired code", b, "/v1/merchant/redeem", `{"order_id":"r","code":"` + expired + `","points":1,"amount_fen":100}`, "consent_code_expired"},
			{"redeem naming a member with another's code", b, "/v1/merchant/redeem", `{"order_id":"r","code":"` + bobCode + `","member":{"kind":"phone","value":"13800138000"},"points":1,"amount_fen":100}`, "consent_code_other_member"},
			{"redeem over the code's cap", b, "/v1/merchant/redeem", `{"order_id":"r","code":"` + capped + `","points":4,"amount_fen":100}`, "consent_code_cap_exceeded"},
			{"redeem more than available", b, "/v1/merchant/redeem", `{"order_id":"r","code":"` + code + `","points":5000,"amount_fen":500000}`, "insufficient_points"},
			{"redeem zero", b, "/v1/merchant/redeem", `{"order_id":"r","code":"` + code + `","points":0,"amount_fen":100}`, "invalid_points"},
			{"refund more than purchased", a, "/v1/merchant/earn/refund", `{"order_id":"A-1","amount_fen":100001}`, "refund_exceeds_purchase"},
			{"refund negative", a, "/v1/merchant/earn/refund", `{"order_id":"A-1","amount_fen":-1}`, "invalid_amount"},
			{"other merchant refunds", b, "/v1/merchant/earn/refund", `{"order_id":"A-1","amount_fen":1}`, "unknown_purchase"},
			{"refund unknown redemption", b, "/v1/merchant/redeem/refund", `{"order_id":"nope"}`, "unknown_purchase"},
			{"malformed json", a, "/v1/merchant/earn", `{"order_id":`, CodeMalformedJSON},
			{"unknown field", a, "/v1/merchant/earn", `{"order_id":"x","amount":1}`, CodeValidation},
		}
		for _, c := range cases {
			if got := apiCode(t, raw(c.m, c.path, c.body)); got != c.code {
				t.Errorf("%s: code %q, want %q", c.name, got, c.code)
			}
		}
		// Missing Idempotency-Key on a write.
		if err := a.C.Do(ctx, "POST", "/v1/merchant/earn", map[string]any{"order_id": "y", "member": phone("13800138001"), "amount_fen": 100}, nil); apiCode(t, err) != CodeIdemRequired {
			t.Errorf("no idempotency key: %v", err)
		}
		// Unknown merchant on the operator API.
		if err := g.op.Do(ctx, "POST", "/v1/operator/merchants/mch_nope/fund", map[string]any{"amount_fen": 1, "external_ref": "x"}, nil, client.IdempotencyKey(newKey())); apiCode(t, err) != "merchant_not_found" {
			t.Errorf("fund unknown merchant: %v", err)
		}
		if after := ledgerRows(t, db); after != before {
			t.Errorf("refused requests wrote to the ledger:\nbefore %s\nafter  %s", before, after)
		}
		// Refunding twice: the second full refund is refused, once the first went through.
		if err := raw(a, "/v1/merchant/earn/refund", `{"order_id":"A-1","amount_fen":100000}`); err != nil {
			t.Fatal(err)
		}
		if got := apiCode(t, raw(a, "/v1/merchant/earn/refund", `{"order_id":"A-1","amount_fen":100000}`)); got != "purchase_fully_refunded" {
			t.Errorf("second refund: %q", got)
		}
	})
}

func TestPointsIdempotency(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		g := ptsStart(t, db, nil)
		ctx := context.Background()
		a := g.merchant(t, 100, 100_000)
		body := map[string]any{"order_id": "I-1", "member": phone("13800138000"), "amount_fen": 10000}
		key := newKey()
		send := func(body any, key string) (*http.Response, []byte) {
			t.Helper()
			b := []byte(fmt.Sprint(body))
			if m, ok := body.(map[string]any); ok {
				b = mustJSON(t, m)
			}
			req, err := a.C.NewRequest(ctx, "POST", "/v1/merchant/earn", b, client.IdempotencyKey(key))
			if err != nil {
				t.Fatal(err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var buf strings.Builder
			_, _ = fmt.Fprint(&buf, readAll(t, resp))
			return resp, []byte(buf.String())
		}
		r1, b1 := send(body, key)
		r2, b2 := send(body, key)
		if r1.StatusCode != 201 || r2.StatusCode != 201 || string(b1) != string(b2) || r2.Header.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("replay: %d %s / %d %s (%q)", r1.StatusCode, b1, r2.StatusCode, b2, r2.Header.Get("Idempotent-Replayed"))
		}
		other := map[string]any{"order_id": "I-1", "member": phone("13800138000"), "amount_fen": 10001}
		if r3, b3 := send(other, key); r3.StatusCode != 409 || !strings.Contains(string(b3), CodeIdemConflict) {
			t.Fatalf("same key, other body: %d %s", r3.StatusCode, b3)
		}
		// Concurrent duplicates: one effect, every caller the same answer.
		key2 := newKey()
		body2 := map[string]any{"order_id": "I-2", "member": phone("13800138000"), "amount_fen": 10000}
		var wg sync.WaitGroup
		bodies := make([]string, 16)
		for i := range bodies {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				r, b := send(body2, key2)
				if r.StatusCode != 201 {
					t.Errorf("concurrent duplicate %d: %d %s", i, r.StatusCode, b)
				}
				bodies[i] = string(b)
			}(i)
		}
		wg.Wait()
		for _, b := range bodies[1:] {
			if b != bodies[0] {
				t.Fatalf("concurrent duplicates got different answers:\n%s\n%s", bodies[0], b)
			}
		}
		var n int
		if err := db.R.Get(&n, "SELECT COUNT(*) FROM purchases WHERE order_id = 'I-2'"); err != nil || n != 1 {
			t.Fatalf("purchases for I-2: %d %v", n, err)
		}
		var tx int
		if err := db.R.Get(&tx, "SELECT COUNT(*) FROM ledger_transactions WHERE kind = 'earn'"); err != nil || tx != 2 {
			t.Fatalf("earn transactions: %d %v, want 2", tx, err)
		}
	})
}

// A signed request is single-use whatever its outcome: one refused by the
// rules, or rejected before the write, cannot be replayed later.
func TestRefusedRequestsUseTheirNonce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		g := ptsStart(t, db, nil)
		ctx := context.Background()
		m := g.merchant(t, 100, 100_000)
		for name, body := range map[string]string{
			"refused by the rules": `{"order_id":"r1","member":{"kind":"phone","value":"13800138000"},"points":5,"amount_fen":100}`,
			"rejected before":      `{"order_id":"r2","member":{"kind":"phone","value":"13800138000"},"points":-5}`,
		} {
			req, err := m.C.NewRequest(ctx, "POST", "/v1/merchant/redeem", []byte(body), client.IdempotencyKey(newKey()))
			if err != nil {
				t.Fatal(err)
			}
			again := req.Clone(ctx)
			again.Body = ioNopCloser([]byte(body))
			if r := fndSend(t, req); r.Status < 400 || r.Status >= 500 {
				t.Fatalf("%s: first send %s", name, r)
			}
			fndSend(t, again).expectErr(t, 401, CodeNonceReplayed)
		}
	})
}

// captureSender keeps the messages the gateway sends, for tests to read
// the codes a member would receive.
type captureSender struct {
	mu   sync.Mutex
	msgs []messaging.Message
}

func (c *captureSender) Send(_ context.Context, m messaging.Message) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.msgs = append(c.msgs, m)
	return nil
}

// last is the newest message sent to phone.
func (c *captureSender) last(phone string) (messaging.Message, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := len(c.msgs) - 1; i >= 0; i-- {
		if c.msgs[i].To == phone {
			return c.msgs[i], true
		}
	}
	return messaging.Message{}, false
}

// signIn signs a member in over HTTP with the code "sent" to their phone
// and returns the member token.
func (g *ptsGateway) signIn(t *testing.T, phone string) string {
	t.Helper()
	ctx := context.Background()
	anon := client.NewOperator(g.base, "")
	if err := anon.Do(ctx, "POST", "/v1/member/signin", map[string]any{"phone": phone}, nil); err != nil {
		t.Fatal(err)
	}
	m, ok := g.sender.last(phone)
	if !ok || m.Purpose != messaging.PurposeSignIn {
		t.Fatalf("no sign-in code sent to %s", phone)
	}
	var tok memberTokenResponse
	if err := anon.Do(ctx, "POST", "/v1/member/signin/verify", map[string]any{"phone": phone, "code": m.Code}, &tok); err != nil {
		t.Fatal(err)
	}
	return tok.Token
}

// redemptionCode asks for a redemption code in the member's session.
func (g *ptsGateway) redemptionCode(t *testing.T, token string, maxPoints int64) string {
	t.Helper()
	var rc consent.RedemptionCode
	if err := client.NewOperator(g.base, token).Do(context.Background(), "POST", "/v1/member/redemption-codes", map[string]any{"max_points": maxPoints}, &rc); err != nil {
		t.Fatal(err)
	}
	return rc.Code
}
