package api

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
)

// TestOperatorScopeTableCoversOperatorRoutes: every operator route has a
// scope, and the table names no route that does not exist.
func TestOperatorScopeTableCoversOperatorRoutes(t *testing.T) {
	s := fndNewServer(storetest.Open(t, store.SQLite), fndConfig(), nil)
	registered := map[Route]bool{}
	for _, r := range s.Routes() {
		if !strings.HasPrefix(r.Path, "/v1/operator/") {
			continue
		}
		registered[r] = true
		if _, ok := operatorScopes[r]; !ok {
			t.Errorf("operator route %s %s has no scope in operatorScopes (gateway/api/operatorauth.go)", r.Method, r.Path)
		}
	}
	for r, sc := range operatorScopes {
		if !registered[r] {
			t.Errorf("operatorScopes lists %s %s, which is not a registered route", r.Method, r.Path)
		}
		found := false
		for _, known := range OperatorScopes {
			found = found || known == sc
		}
		if !found {
			t.Errorf("%s %s needs unknown scope %q", r.Method, r.Path, sc)
		}
	}
}

// optResp decodes a 2xx JSON answer into v.
func optResp(t *testing.T, r fndResp, v any) {
	t.Helper()
	r.expectOK(t)
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("%v: %s", err, r.Body)
	}
}

// optReq sends a request with bearer token and, if body is set, a JSON body.
func optReq(t *testing.T, token, method, url, body string, headers ...string) fndResp {
	t.Helper()
	h := append([]string{"Authorization", "Bearer " + token}, headers...)
	var b []byte
	if body != "" {
		b = []byte(body)
		h = append(h, "Content-Type", "application/json")
	}
	return fndReq(t, method, url, b, h...)
}

type optCreated struct {
	operatorTokenView
	Token string `json:"token"`
}

func TestOperatorTokens(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		clock := newFndClock()
		w := db.NewWriter(store.WriterOptions{Now: clock.Now})
		t.Cleanup(w.Close)
		s := New(Deps{Config: fndConfig(), DB: db, Log: fndLogger(), Now: clock.Now, Writer: w})
		base, _ := fndServe(t, s)
		tokens := base + "/v1/operator/tokens"

		// The bootstrap token creates a named token, shown once.
		r := optReq(t, fndBootstrapToken, "POST", tokens, `{"label":"finance desk","scopes":["funds:write","read","read"]}`)
		if r.Status != 201 || r.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("create: %s (Cache-Control %q)", r, r.Header.Get("Cache-Control"))
		}
		var fin optCreated
		optResp(t, r, &fin)
		if _, ok := operatorTokenID(fin.Token); !ok || !strings.HasPrefix(fin.Token, fin.ID+".") || fin.Label != "finance desk" ||
			strings.Join(fin.Scopes, " ") != "read funds:write" || fin.Status != "active" || fin.CreatedBy != "operator:bootstrap" ||
			!fin.ExpiresAt.Equal(clock.Now().Add(90*24*time.Hour)) {
			t.Fatalf("created token: %+v", fin)
		}
		// Only its hash is stored; neither the database nor the audit log
		// holds the token.
		var hash string
		if err := db.R.Get(&hash, `SELECT secret_hash FROM operator_tokens WHERE id = ?`, fin.ID); err != nil || len(hash) != 64 {
			t.Fatalf("stored hash %q: %v", hash, err)
		}
		secret := strings.SplitN(fin.Token, ".", 2)[1]
		for _, q := range []string{`SELECT COUNT(*) FROM operator_tokens WHERE label LIKE ? OR scopes LIKE ? OR secret_hash LIKE ?`,
			`SELECT COUNT(*) FROM audit_events WHERE payload LIKE ? OR subject LIKE ? OR actor LIKE ?`} {
			var n int
			like := "%" + secret + "%"
			if err := db.R.Get(&n, q, like, like, like); err != nil || n != 0 {
				t.Fatalf("the secret is stored (%d rows): %v", n, err)
			}
		}

		// The bootstrap token does nothing else.
		optReq(t, fndBootstrapToken, "GET", tokens, "").expectErr(t, 403, CodeOperatorScopeDenied)
		optReq(t, fndBootstrapToken, "POST", tokens+"/"+fin.ID+"/revoke", "").expectErr(t, 403, CodeOperatorScopeDenied)
		optReq(t, fndBootstrapToken, "GET", base+"/v1/operator/totals", "").expectErr(t, 403, CodeOperatorScopeDenied)

		// Scopes: the finance token reads and funds, nothing else.
		var m struct{ ID string }
		optResp(t, optReq(t, fndOperatorToken, "POST", base+"/v1/operator/merchants", `{"name":"Noodle House","industry":"restaurant"}`), &m)
		optReq(t, fin.Token, "GET", base+"/v1/operator/merchants/"+m.ID, "").expectOK(t)
		optReq(t, fin.Token, "GET", base+"/v1/operator/totals", "").expectOK(t)
		e := optReq(t, fin.Token, "POST", base+"/v1/operator/merchants", `{"name":"x","industry":"fuel"}`).expectErr(t, 403, CodeOperatorScopeDenied)
		if !strings.Contains(e.Error.Message, "merchants:write") {
			t.Fatalf("scope_denied does not name the scope: %s", e.Error.Message)
		}
		optReq(t, fin.Token, "PUT", base+"/v1/operator/merchants/"+m.ID+"/earning", `{"rate_bp":100}`).expectErr(t, 403, CodeOperatorScopeDenied)
		optReq(t, fin.Token, "GET", tokens, "").expectErr(t, 403, CodeOperatorScopeDenied)
		optReq(t, fin.Token, "POST", tokens, `{"label":"x","scopes":["read"]}`).expectErr(t, 403, CodeOperatorScopeDenied)
		optReq(t, fin.Token, "POST", base+"/v1/operator/merchants/"+m.ID+"/fund", `{"amount_fen":5000,"external_ref":"wx-1"}`,
			"Idempotency-Key", "fund-1").expectOK(t)
		if n := fndCount(t, db, "merchants"); n != 1 {
			t.Fatalf("%d merchants, want 1", n)
		}

		// A token grants only what it holds.
		var admin optCreated
		optResp(t, optReq(t, fndOperatorToken, "POST", tokens, `{"label":"token admin","scopes":["tokens:write","read"]}`), &admin)
		if admin.CreatedBy != "operator:"+fndOperatorTokenID {
			t.Fatalf("created_by %q", admin.CreatedBy)
		}
		optReq(t, admin.Token, "POST", tokens, `{"label":"x","scopes":["funds:write"]}`).expectErr(t, 403, CodeOperatorScopeDenied)
		var reader optCreated
		optResp(t, optReq(t, admin.Token, "POST", tokens, `{"label":"dashboard","scopes":["read"]}`), &reader)

		// Validation.
		for _, body := range []string{
			`{"label":"x","scopes":[]}`,
			`{"label":"x"}`,
			`{"label":"x","scopes":["admin"]}`,
			`{"label":"","scopes":["read"]}`,
			`{"label":"   ","scopes":["read"]}`,
			`{"label":"` + strings.Repeat("x", 101) + `","scopes":["read"]}`,
			`{"label":"a\u0007b","scopes":["read"]}`,
			fmt.Sprintf(`{"label":"x","scopes":["read"],"expires_at":%q}`, clock.Now().Add(-time.Minute).Format(time.RFC3339)),
			fmt.Sprintf(`{"label":"x","scopes":["read"],"expires_at":%q}`, clock.Now().Add(367*24*time.Hour).Format(time.RFC3339)),
		} {
			optReq(t, admin.Token, "POST", tokens, body).expectErr(t, 400, CodeValidation)
		}

		// Expiry: refused with its own code once the time has come.
		var short optCreated
		optResp(t, optReq(t, admin.Token, "POST", tokens,
			fmt.Sprintf(`{"label":"one hour","scopes":["read"],"expires_at":%q}`, clock.Now().Add(time.Hour).Format(time.RFC3339))), &short)
		optReq(t, short.Token, "GET", base+"/v1/operator/totals", "").expectOK(t)
		clock.Add(2 * time.Hour)
		optReq(t, short.Token, "GET", base+"/v1/operator/totals", "").expectErr(t, 401, CodeOperatorTokenExpired)

		// Revocation: at once, with its own code; a wrong secret for a
		// known id is a plain 401.
		var revoked operatorTokenView
		optResp(t, optReq(t, admin.Token, "POST", tokens+"/"+reader.ID+"/revoke", ""), &revoked)
		if revoked.Status != "revoked" || revoked.RevokedAt == nil || revoked.RevokedBy != "operator:"+admin.ID {
			t.Fatalf("revoked: %+v", revoked)
		}
		optReq(t, reader.Token, "GET", base+"/v1/operator/totals", "").expectErr(t, 401, CodeOperatorTokenRevoked)
		optReq(t, admin.Token, "POST", tokens+"/"+reader.ID+"/revoke", "").expectErr(t, 409, "already_revoked")
		optReq(t, admin.Token, "POST", tokens+"/opt_0123456789abcdef/revoke", "").expectErr(t, 404, CodeOperatorTokenNotFound)
		optReq(t, admin.Token, "POST", tokens+"/nonsense/revoke", "").expectErr(t, 404, CodeOperatorTokenNotFound)
		forged := reader.ID + "." + strings.Repeat("A", operatorSecretLen)
		optReq(t, forged, "GET", base+"/v1/operator/totals", "").expectErr(t, 401, CodeOperatorUnauthorized)

		// The list shows every token with its state, never a secret.
		r = optReq(t, admin.Token, "GET", tokens, "")
		var list struct{ Tokens []map[string]any }
		optResp(t, r, &list)
		states := map[string]string{}
		for _, v := range list.Tokens {
			states[v["id"].(string)] = v["status"].(string)
			if _, has := v["token"]; has {
				t.Fatalf("the list shows a token: %v", v)
			}
		}
		want := map[string]string{fndOperatorTokenID: "active", fin.ID: "active", admin.ID: "active", reader.ID: "revoked", short.ID: "expired"}
		if fmt.Sprint(states) != fmt.Sprint(want) {
			t.Fatalf("list states %v, want %v", states, want)
		}
		if strings.Contains(string(r.Body), secret) || strings.Contains(string(r.Body), hash) {
			t.Fatal("the list shows a secret or its hash")
		}

		// Every operator action is attributed to its token in the audit
		// log, which the sealer appends to the evidence log.
		evs, err := db.AuditEvents(t.Context(), 0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range evs {
			got = append(got, e.Kind+" by "+e.Actor)
		}
		sort.Strings(got)
		wantAudit := []string{
			"merchant.created by operator:" + fndOperatorTokenID,
			"operator_token.created by operator:" + admin.ID,
			"operator_token.created by operator:" + admin.ID,
			"operator_token.created by operator:" + fndOperatorTokenID,
			"operator_token.created by operator:bootstrap",
			"operator_token.revoked by operator:" + admin.ID,
			"reserve.funded by operator:" + fin.ID,
		}
		sort.Strings(wantAudit)
		if fmt.Sprint(got) != fmt.Sprint(wantAudit) {
			t.Fatalf("audit log:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(wantAudit, "\n"))
		}
	})
}

func init() {
	fzBodyRoutes["FuzzOperatorCreateToken"] = fzRoute{"POST", "/v1/operator/tokens", fzOperator}
}

func FuzzOperatorCreateToken(f *testing.F) {
	fuzzRoute(f, "FuzzOperatorCreateToken",
		`{"label":"finance desk","scopes":["funds:write","read"]}`,
		`{"label":"x","scopes":["read"],"expires_at":"2099-01-01T00:00:00Z"}`,
		`{"label":"x","scopes":["read"],"expires_at":"2000-01-01T00:00:00Z"}`,
		`{"label":"x","scopes":["admin"]}`, `{"label":"x","scopes":[]}`, `{"label":"","scopes":["read"]}`,
		`{"label":"x","scopes":"read"}`, `{"scopes":["tokens:write","tokens:write"]}`,
	)
}
