package api

// Credential scopes: every merchant route has one, createCredential
// validates and defaults them, and an out-of-scope call is 403
// scope_denied that writes nothing but uses its nonce.

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/lianmeng/lianmeng/gateway/merchant"
	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
	"github.com/lianmeng/lianmeng/sdk/client"
	"github.com/lianmeng/lianmeng/sdk/signature"
)

func TestScopeTableCoversMerchantRoutes(t *testing.T) {
	s := oaServer(t)
	registered := map[Route]bool{}
	for _, r := range s.Routes() {
		registered[r] = true
		if !strings.HasPrefix(r.Path, "/v1/merchant/") {
			continue
		}
		need, ok := merchantScopes[r]
		if !ok {
			t.Errorf("merchant route %s %s has no entry in merchantScopes (gateway/api/scopes.go)", r.Method, r.Path)
		} else if !slices.Contains(merchant.Scopes, need) {
			t.Errorf("%s %s needs unknown scope %q", r.Method, r.Path, need)
		}
	}
	for r := range merchantScopes {
		if !registered[r] {
			t.Errorf("merchantScopes lists %s %s, which no route serves", r.Method, r.Path)
		}
	}
}

// scpCred is a credential created through the operator API.
type scpCred struct {
	ID     string   `json:"id"`
	Secret string   `json:"secret"`
	Scopes []string `json:"scopes"`
}

func scpCreate(t *testing.T, g *ptsGateway, mid string, body map[string]any) scpCred {
	t.Helper()
	var c scpCred
	if err := g.op.Do(context.Background(), "POST", "/v1/operator/merchants/"+mid+"/credentials", body, &c); err != nil {
		t.Fatalf("create credential %v: %v", body, err)
	}
	return c
}

func (c scpCred) signer(t *testing.T) signature.Signer {
	t.Helper()
	s, err := signature.NewHMACSigner(c.ID, c.Secret)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestCreateCredentialScopes(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		g := ptsStart(t, db, nil)
		m := g.merchant(t, 100, 0)
		pos := scpCreate(t, g, m.ID, map[string]any{"algorithm": "hmac-sha256", "label": "POS"})
		if !slices.Equal(pos.Scopes, []string{"earn", "refund", "redeem", "read"}) {
			t.Fatalf("default scopes %v, want the POS set without finance", pos.Scopes)
		}
		fin := scpCreate(t, g, m.ID, map[string]any{"algorithm": "hmac-sha256", "label": "books", "scopes": []string{"finance", "read", "finance"}})
		if !slices.Equal(fin.Scopes, []string{"read", "finance"}) {
			t.Fatalf("scopes %v, want [read finance]", fin.Scopes)
		}
		keys := fndCount(t, db, "api_keys")
		for _, bad := range []any{[]string{"earn", "admin"}, []string{}, []string{""}, "earn", 7} {
			err := g.op.Do(context.Background(), "POST", "/v1/operator/merchants/"+m.ID+"/credentials",
				map[string]any{"algorithm": "hmac-sha256", "scopes": bad}, nil)
			if code := apiCode(t, err); code != CodeValidation && code != CodeMalformedJSON {
				t.Errorf("scopes %v: %v, want 400 validation_failed", bad, err)
			}
		}
		err := g.op.Do(context.Background(), "POST", "/v1/operator/merchants/"+m.ID+"/credentials",
			map[string]any{"algorithm": "hmac-sha256", "scopes": []string{"earn", "admin"}}, nil)
		var ae *client.APIError
		if !errors.As(err, &ae) || ae.Status != 400 || ae.Code != CodeValidation || !strings.Contains(ae.Message, "admin") {
			t.Fatalf("unknown scope: %v, want 400 validation_failed naming it", err)
		}
		if n := fndCount(t, db, "api_keys"); n != keys {
			t.Fatalf("refused credentials wrote %d keys", n-keys)
		}
		// The list shows every credential's scopes.
		var list struct{ Credentials []scpCred }
		if err := g.op.Do(context.Background(), "GET", "/v1/operator/merchants/"+m.ID+"/credentials", nil, &list); err != nil {
			t.Fatal(err)
		}
		got := map[string][]string{}
		for _, c := range list.Credentials {
			got[c.ID] = c.Scopes
		}
		if !slices.Equal(got[pos.ID], pos.Scopes) || !slices.Equal(got[fin.ID], fin.Scopes) || len(got) != 3 {
			t.Fatalf("listed scopes %v", got)
		}
	})
}

// Every merchant route refuses a credential without its scope: 403
// scope_denied, nothing written, the nonce used (the same signed request
// again is a replay). With the scope the route is reached.
func TestScopeDeniedOnEveryMerchantRoute(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		g := ptsStart(t, db, nil)
		m := g.merchant(t, 100, 1_000_000)
		// Something to look up and to refund, so in-scope calls get past
		// the scope check into the handler.
		if err := m.C.Do(context.Background(), "POST", "/v1/merchant/earn",
			map[string]any{"order_id": "o-1", "member": phone("13800138000"), "amount_fen": 10000}, nil, client.IdempotencyKey(newKey())); err != nil {
			t.Fatal(err)
		}
		pos := scpCreate(t, g, m.ID, map[string]any{"algorithm": "hmac-sha256"})
		fin := scpCreate(t, g, m.ID, map[string]any{"algorithm": "hmac-sha256", "scopes": []string{"finance"}})
		signed := func(cred scpCred, r Route, nonce string) *http.Request {
			path := strings.ReplaceAll(r.Path, ":tx", "1")
			var body []byte
			if r.Method != "GET" {
				body = []byte(`{"order_id":"o-1","member":{"kind":"phone","value":"13800138000"},"amount_fen":100,"points":1}`)
			}
			req, err := http.NewRequest(r.Method, g.base+path, bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			if body != nil {
				req.Header.Set("Content-Type", "application/json")
			}
			req.Header.Set("Idempotency-Key", "scope-"+nonce)
			if err := client.Sign(req, m.ID, cred.signer(t), g.clock.Now(), nonce, body); err != nil {
				t.Fatal(err)
			}
			return req
		}
		n := 0
		for _, r := range g.srv.Routes() {
			if !strings.HasPrefix(r.Path, "/v1/merchant/") {
				continue
			}
			n++
			need := merchantScopes[r]
			without, with := fin, pos
			if need == merchant.ScopeFinance {
				without, with = pos, fin
			}
			before, nonces := ledgerRows(t, db), fndCount(t, db, "request_nonce_hashes")
			nonce := signature.NewNonce()
			fndSend(t, signed(without, r, nonce)).expectErr(t, 403, CodeScopeDenied)
			if after := ledgerRows(t, db); after != before {
				t.Errorf("%s %s out of scope wrote:\n before %s\n after  %s", r.Method, r.Path, before, after)
			}
			if got := fndCount(t, db, "request_nonce_hashes"); got != nonces+1 {
				t.Errorf("%s %s out of scope: %d nonces used, want 1", r.Method, r.Path, got-nonces)
			}
			fndSend(t, signed(without, r, nonce)).expectErr(t, 401, CodeNonceReplayed)
			if resp := fndSend(t, signed(with, r, signature.NewNonce())); resp.Status == 403 && strings.Contains(string(resp.Body), CodeScopeDenied) {
				t.Errorf("%s %s with scope %s: %s", r.Method, r.Path, need, resp)
			}
		}
		if n < len(merchantScopes) {
			t.Fatalf("checked %d merchant routes, the table lists %d", n, len(merchantScopes))
		}
		// The finance credential reads the account; the POS one cannot.
		var acct map[string]any
		fc := client.NewMerchant(g.base, m.ID, fin.signer(t), client.WithClock(g.clock.Now))
		if err := fc.Do(context.Background(), "GET", "/v1/merchant/account", nil, &acct); err != nil {
			t.Fatalf("finance credential: %v", err)
		}
		pc := client.NewMerchant(g.base, m.ID, pos.signer(t), client.WithClock(g.clock.Now))
		if code := apiCode(t, pc.Do(context.Background(), "GET", "/v1/merchant/account", nil, nil)); code != CodeScopeDenied {
			t.Fatalf("POS credential on the account: %q, want scope_denied", code)
		}
	})
}
