package api

// The error model: every failure answers {"error":{code,message,request_id}}
// with the right status; and the operator API's authentication and
// validation errors.

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/emmansun/gmsm/sm2"
	"github.com/gofiber/fiber/v2"

	"github.com/lianmeng/lianmeng/gateway/config"
	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
	"github.com/lianmeng/lianmeng/sdk/signature"
)

func TestErrorsRequestDecoding(t *testing.T) {
	db := storetest.Open(t, store.SQLite)
	cfg := fndConfig()
	cfg.HTTP.BodyLimit = 256
	s := fndNewServer(db, cfg, nil)
	s.App().Get("/test/panic", func(*fiber.Ctx) error { panic("boom: secret detail") })
	s.App().Get("/test/error", func(*fiber.Ctx) error { return errors.New("dial tcp 10.0.0.1:3306: secret detail") })
	base, _ := fndServe(t, s)
	url := base + "/v1/operator/merchants"
	auth := []string{"Authorization", "Bearer " + fndOperatorToken}
	jsonCT := append([]string{"Content-Type", "application/json"}, auth...)

	cases := []struct {
		name    string
		method  string
		url     string
		body    string
		headers []string
		status  int
		code    string
	}{
		{"malformed", "POST", url, `{"name" "x"}`, jsonCT, 400, CodeMalformedJSON},
		{"truncated", "POST", url, `{"name":"x","industry":`, jsonCT, 400, CodeMalformedJSON},
		{"not an object", "POST", url, `[1,2]`, jsonCT, 400, CodeValidation},
		{"wrong type", "POST", url, `{"name":1,"industry":"fuel"}`, jsonCT, 400, CodeValidation},
		{"unknown field", "POST", url, `{"name":"x","industry":"fuel","color":"red"}`, jsonCT, 400, CodeValidation},
		{"trailing object", "POST", url, `{"name":"x","industry":"fuel"}{}`, jsonCT, 400, CodeMalformedJSON},
		{"trailing garbage", "POST", url, `{"name":"x","industry":"fuel"} x`, jsonCT, 400, CodeMalformedJSON},
		{"empty body", "POST", url, ``, jsonCT, 400, CodeMalformedJSON},
		{"whitespace body", "POST", url, " \n ", jsonCT, 400, CodeMalformedJSON},
		{"text/plain", "POST", url, `{"name":"x","industry":"fuel"}`, append([]string{"Content-Type", "text/plain"}, auth...), 415, CodeUnsupportedMedia},
		{"form", "POST", url, `name=x`, append([]string{"Content-Type", "application/x-www-form-urlencoded"}, auth...), 415, CodeUnsupportedMedia},
		{"no content type", "POST", url, `{"name":"x","industry":"fuel"}`, auth, 415, CodeUnsupportedMedia},
		{"too large", "POST", url, `{"name":"` + strings.Repeat("x", 4096) + `","industry":"fuel"}`, jsonCT, 413, CodeBodyTooLarge},
		{"unknown route", "GET", base + "/v1/nothing/here", "", nil, 404, CodeNotFound},
		{"unknown route with auth", "POST", base + "/v1/operator/nothing", "{}", jsonCT, 404, CodeNotFound},
		{"wrong method", "DELETE", base + "/healthz", "", nil, 405, CodeMethodNotAllowed},
		{"wrong method on operator route", "GET", url + "/mch_x/credentials/key_y/revoke", "", auth, 405, CodeMethodNotAllowed},
		{"panicking handler", "GET", base + "/test/panic", "", nil, 500, CodeInternal},
		{"failing handler", "GET", base + "/test/error", "", nil, 500, CodeInternal},
	}
	for _, tc := range cases {
		t.Run(strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) {
			var body []byte
			if tc.body != "" {
				body = []byte(tc.body)
			}
			r := fndReq(t, tc.method, tc.url, body, tc.headers...)
			e := r.expectErr(t, tc.status, tc.code)
			if strings.Contains(e.Error.Message, "secret detail") {
				t.Fatalf("internal detail leaked to the client: %s", r.Body)
			}
			if r.Header.Get("X-Request-Id") != "" && r.Header.Get("X-Request-Id") != e.Error.RequestID {
				t.Fatalf("X-Request-Id %q differs from body %q", r.Header.Get("X-Request-Id"), e.Error.RequestID)
			}
		})
	}
	// Nothing above created a merchant, and the server survived the panic.
	if n := fndCount(t, db, "merchants"); n != 0 {
		t.Fatalf("%d merchants created by refused requests", n)
	}
	fndReq(t, "GET", base+"/healthz", nil).expectOK(t)
	// A valid request still works (the body limit is not too small for it).
	fndOp(t, "POST", url, `{"name":"x","industry":"fuel"}`).expectOK(t)
}

func TestErrorsOperatorAuth(t *testing.T) {
	db := storetest.Open(t, store.SQLite)
	base, _ := fndServe(t, fndNewServer(db, fndConfig(), nil))
	url := base + "/v1/operator/merchants"
	for name, h := range map[string][]string{
		"no header":         nil,
		"wrong token":       {"Authorization", "Bearer op-token-0123456789abcdeX"},
		"token prefix":      {"Authorization", "Bearer op-token"},
		"basic scheme":      {"Authorization", "Basic " + fndOperatorToken},
		"bare token":        {"Authorization", fndOperatorToken},
		"lowercase bearer":  {"Authorization", "bearer " + fndOperatorToken},
		"empty bearer":      {"Authorization", "Bearer "},
		"token with suffix": {"Authorization", "Bearer " + fndOperatorToken + "x"},
	} {
		t.Run(strings.ReplaceAll(name, " ", "_"), func(t *testing.T) {
			fndReq(t, "GET", url, nil, h...).expectErr(t, 401, CodeOperatorUnauthorized)
			fndReq(t, "POST", url, []byte(`{"name":"x","industry":"fuel"}`), append(h, "Content-Type", "application/json")...).
				expectErr(t, 401, CodeOperatorUnauthorized)
		})
	}
	if n := fndCount(t, db, "merchants"); n != 0 {
		t.Fatal("unauthenticated request created a merchant")
	}
	fndOp(t, "GET", url, "").expectOK(t)

	// The bootstrap token does nothing but create named tokens.
	boot := []string{"Authorization", "Bearer " + fndBootstrapToken}
	fndReq(t, "GET", url, nil, boot...).expectErr(t, 403, CodeOperatorScopeDenied)
	fndReq(t, "POST", url, []byte(`{"name":"x","industry":"fuel"}`), append(boot, "Content-Type", "application/json")...).
		expectErr(t, 403, CodeOperatorScopeDenied)

	// No bootstrap token configured: named tokens still work, and an
	// empty configured token matches nothing.
	cfg := fndConfig()
	cfg.Operator.Token = config.Secret("")
	off, _ := fndServe(t, fndNewServer(db, cfg, nil))
	fndReq(t, "GET", off+"/v1/operator/merchants", nil).expectErr(t, 401, CodeOperatorUnauthorized)
	fndReq(t, "GET", off+"/v1/operator/merchants", nil, "Authorization", "Bearer ").expectErr(t, 401, CodeOperatorUnauthorized)
	fndReq(t, "POST", off+"/v1/operator/tokens", []byte(`{"label":"x","scopes":["read"]}`), "Authorization", "Bearer "+fndBootstrapToken,
		"Content-Type", "application/json").expectErr(t, 401, CodeOperatorUnauthorized)
	fndOp(t, "GET", off+"/v1/operator/merchants", "").expectOK(t)
}

func TestErrorsOperatorValidation(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		base, _ := fndServe(t, fndNewServer(db, fndConfig(), nil))
		url := base + "/v1/operator/merchants"
		for name, body := range map[string]string{
			"unknown industry": `{"name":"x","industry":"casino"}`,
			"empty name":       `{"name":"","industry":"fuel"}`,
			"blank name":       `{"name":"   ","industry":"fuel"}`,
			"missing name":     `{"industry":"fuel"}`,
			"long name":        `{"name":"` + strings.Repeat("名", 101) + `","industry":"fuel"}`,
		} {
			e := fndOp(t, "POST", url, body).expectErr(t, 400, CodeValidation)
			if !strings.Contains(e.Error.Message, "name") && !strings.Contains(e.Error.Message, "industry") {
				t.Errorf("%s: message does not name the field: %q", name, e.Error.Message)
			}
		}
		var m struct{ ID string }
		json.Unmarshal(fndOp(t, "POST", url, `{"name":"Noodle House","industry":"restaurant"}`).expectOK(t).Body, &m)
		var other struct{ ID string }
		json.Unmarshal(fndOp(t, "POST", url, `{"name":"Other","industry":"hotel"}`).expectOK(t).Body, &other)
		murl := url + "/" + m.ID

		fndOp(t, "POST", murl+"/stores", `{"name":""}`).expectErr(t, 400, CodeValidation)
		fndOp(t, "POST", url+"/mch_00000000000000000000/stores", `{"name":"x"}`).expectErr(t, 404, "merchant_not_found")
		fndOp(t, "GET", url+"/mch_00000000000000000000", "").expectErr(t, 404, "merchant_not_found")
		fndOp(t, "GET", url+"?limit=0", "").expectErr(t, 400, CodeValidation)
		fndOp(t, "GET", url+"?limit=abc", "").expectErr(t, 400, CodeValidation)

		_, edPriv, _ := ed25519.GenerateKey(rand.Reader)
		edPEM, _ := signature.MarshalPublicKey(edPriv.Public())
		smPriv, _ := sm2.GenerateKey(rand.Reader)
		smPEM, _ := signature.MarshalPublicKey(&smPriv.PublicKey)
		q := func(s string) string { b, _ := json.Marshal(s); return string(b) }
		for name, body := range map[string]string{
			"bad public key":         `{"algorithm":"ed25519","public_key":"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"}`,
			"not pem":                `{"algorithm":"sm2","public_key":"hello"}`,
			"missing public key":     `{"algorithm":"ed25519"}`,
			"sm2 key as ed25519":     `{"algorithm":"ed25519","public_key":` + q(smPEM) + `}`,
			"ed25519 key as sm2":     `{"algorithm":"sm2","public_key":` + q(edPEM) + `}`,
			"hmac with a public key": `{"algorithm":"hmac-sha256","public_key":` + q(edPEM) + `}`,
			"unknown algorithm":      `{"algorithm":"rsa-sha256","public_key":` + q(edPEM) + `}`,
			"missing algorithm":      `{"label":"x"}`,
			"label over 100 runes":   `{"algorithm":"hmac-sha256","label":"` + strings.Repeat("x", 101) + `"}`,
		} {
			t.Run(strings.ReplaceAll(name, " ", "_"), func(t *testing.T) {
				fndOp(t, "POST", murl+"/credentials", body).expectErr(t, 400, CodeValidation)
			})
		}
		if n := fndCount(t, db, "api_keys"); n != 0 {
			t.Fatalf("%d credentials created by invalid requests", n)
		}

		var hk struct {
			ID     string `json:"id"`
			Secret string `json:"secret"`
		}
		r := fndOp(t, "POST", murl+"/credentials", `{"algorithm":"hmac-sha256","label":"POS"}`).expectOK(t)
		json.Unmarshal(r.Body, &hk)
		if r.Status != 201 || hk.Secret == "" || r.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("create hmac credential: %d %s (Cache-Control %q)", r.Status, r.Body, r.Header.Get("Cache-Control"))
		}
		fndOp(t, "POST", murl+"/credentials", `{"algorithm":"ed25519","public_key":`+q(edPEM)+`}`).expectOK(t)
		fndOp(t, "POST", murl+"/credentials", `{"algorithm":"sm2","public_key":`+q(smPEM)+`}`).expectOK(t)

		// The secret is shown once: never in lists, and never in the audit log.
		list := fndOp(t, "GET", murl+"/credentials", "").expectOK(t)
		if strings.Contains(string(list.Body), hk.Secret) || strings.Contains(string(list.Body), "PUBLIC KEY") {
			t.Fatalf("credential list exposes key material: %s", list.Body)
		}
		var audit []string
		if err := db.R.Select(&audit, `SELECT payload FROM audit_events`); err != nil {
			t.Fatal(err)
		}
		if len(audit) != 5 { // 2 merchants, 3 credentials
			t.Fatalf("%d audit events, want 5", len(audit))
		}
		for _, p := range audit {
			if strings.Contains(p, hk.Secret) {
				t.Fatal("audit event contains the hmac secret")
			}
		}

		revoke := murl + "/credentials/" + hk.ID + "/revoke"
		fndOp(t, "POST", url+"/"+other.ID+"/credentials/"+hk.ID+"/revoke", "").expectErr(t, 404, "merchant_not_found")
		fndOp(t, "POST", murl+"/credentials/key_00000000000000000000/revoke", "").expectErr(t, 404, "merchant_not_found")
		var cred struct {
			Status    string  `json:"status"`
			RevokedAt *string `json:"revoked_at"`
		}
		json.Unmarshal(fndOp(t, "POST", revoke, "").expectOK(t).Body, &cred)
		if cred.Status != "revoked" || cred.RevokedAt == nil {
			t.Fatalf("revoked credential = %+v", cred)
		}
		fndOp(t, "POST", revoke, "").expectErr(t, 409, "already_revoked")
	})
}

// A request whose database work cannot finish (here: waits for its
// context, as for a connection from an exhausted pool) is answered 503
// unavailable with Retry-After one second short of the write timeout,
// before the HTTP server would cut the connection without an answer.
func TestRequestDeadlineAnswersUnavailable(t *testing.T) {
	db := storetest.Open(t, store.SQLite)
	cfg := fndConfig()
	cfg.HTTP.WriteTimeout = config.Duration(2 * time.Second)
	s := fndNewServer(db, cfg, nil)
	s.App().Get("/test/wait", func(c *fiber.Ctx) error {
		<-c.UserContext().Done()
		return fmt.Errorf("get a connection: %w", c.UserContext().Err())
	})
	base, _ := fndServe(t, s)
	start := time.Now()
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(base + "/test/wait")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	took := time.Since(start)
	var body struct {
		Error struct{ Code string } `json:"error"`
	}
	json.NewDecoder(resp.Body).Decode(&body)
	if resp.StatusCode != 503 || body.Error.Code != CodeUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("got %d %q Retry-After %q, want 503 unavailable with Retry-After", resp.StatusCode, body.Error.Code, resp.Header.Get("Retry-After"))
	}
	if took < 900*time.Millisecond || took > 1900*time.Millisecond {
		t.Errorf("answered after %s, want about 1 s (the 2 s write timeout less 1 s)", took)
	}
}
