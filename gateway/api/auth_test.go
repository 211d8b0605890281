package api

// Signed merchant requests: every algorithm through sdk/client, and every
// failure mode with its own code, writing nothing.

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emmansun/gmsm/sm2"
	"github.com/gofiber/fiber/v2"

	"github.com/lianmeng/lianmeng/gateway/merchant"
	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
	"github.com/lianmeng/lianmeng/sdk/client"
	"github.com/lianmeng/lianmeng/sdk/signature"
)

// fndWriteRoute is a signed route that writes (it creates a store), so tests
// can check that a refused request wrote nothing.
const fndWriteRoute = "/v1/merchant/test-write"

func fndAddWriteRoute(s *Server) {
	s.App().Post(fndWriteRoute, s.merchantAuth, func(c *fiber.Ctx) error {
		st, err := merchant.NewStore(merchantID(c), "written by test", s.now())
		if err != nil {
			return err
		}
		if err := s.merchants.CreateStore(c.UserContext(), st, actor(c)); err != nil {
			return err
		}
		return c.Status(fiber.StatusCreated).JSON(st)
	})
}

// fndGateway is a served gateway with a settable clock.
type fndGateway struct {
	db    *store.DB
	srv   *Server
	base  string
	clock *fndClock
}

func fndStartGateway(t *testing.T, db *store.DB, clock *fndClock) *fndGateway {
	t.Helper()
	if clock == nil {
		clock = newFndClock()
	}
	s := fndNewServer(db, fndConfig(), clock)
	fndAddWriteRoute(s)
	base, _ := fndServe(t, s)
	return &fndGateway{db: db, srv: s, base: base, clock: clock}
}

// createMerchant creates a merchant through the operator API.
func (g *fndGateway) createMerchant(t *testing.T, name string) string {
	t.Helper()
	var m merchant.Merchant
	op := client.NewOperator(g.base, fndOperatorToken)
	if err := op.Do(context.Background(), "POST", "/v1/operator/merchants", map[string]string{"name": name, "industry": "restaurant"}, &m); err != nil {
		t.Fatalf("create merchant: %v", err)
	}
	return m.ID
}

// createKey issues a credential of alg for mid and returns its signer.
func (g *fndGateway) createKey(t *testing.T, mid, alg string) signature.Signer {
	t.Helper()
	req := map[string]string{"algorithm": alg, "label": "test " + alg}
	var sign func(id string) signature.Signer
	switch alg {
	case signature.Ed25519:
		_, priv, _ := ed25519.GenerateKey(rand.Reader)
		pem, err := signature.MarshalPublicKey(priv.Public())
		if err != nil {
			t.Fatal(err)
		}
		req["public_key"] = pem
		sign = func(id string) signature.Signer { return signature.NewEd25519Signer(id, priv) }
	case signature.SM2:
		priv, err := sm2.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		pem, err := signature.MarshalPublicKey(&priv.PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		req["public_key"] = pem
		sign = func(id string) signature.Signer { return signature.NewSM2Signer(id, priv) }
	}
	var out struct {
		ID     string `json:"id"`
		Secret string `json:"secret"`
	}
	op := client.NewOperator(g.base, fndOperatorToken)
	if err := op.Do(context.Background(), "POST", "/v1/operator/merchants/"+mid+"/credentials", req, &out); err != nil {
		t.Fatalf("create %s credential: %v", alg, err)
	}
	if alg == signature.HMACSHA256 {
		if out.Secret == "" {
			t.Fatal("hmac credential returned no secret")
		}
		s, err := signature.NewHMACSigner(out.ID, out.Secret)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	if out.Secret != "" {
		t.Fatalf("%s credential returned a secret", alg)
	}
	return sign(out.ID)
}

func (g *fndGateway) merchantClient(mid string, s signature.Signer) *client.Client {
	return client.NewMerchant(g.base, mid, s, client.WithClock(g.clock.Now))
}

// signed builds a request signed as mid with s at ts with nonce.
func (g *fndGateway) signed(t *testing.T, method, target string, body []byte, mid string, s signature.Signer, ts time.Time, nonce string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, g.base+target, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if len(body) > 0 {
		req.Header.Set("Content-Type", "application/json")
	}
	if err := client.Sign(req, mid, s, ts, nonce, body); err != nil {
		t.Fatal(err)
	}
	return req
}

// goodWrite is a correctly signed request to the write route.
func (g *fndGateway) goodWrite(t *testing.T, mid string, s signature.Signer, nonce string) *http.Request {
	return g.signed(t, "POST", fndWriteRoute, []byte(`{"n":1}`), mid, s, g.clock.Now(), nonce)
}

func TestAuthEachAlgorithmThroughClient(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		g := fndStartGateway(t, db, nil)
		mid := g.createMerchant(t, "Noodle House")
		for _, alg := range []string{signature.Ed25519, signature.SM2, signature.HMACSHA256} {
			t.Run(alg, func(t *testing.T) {
				c := g.merchantClient(mid, g.createKey(t, mid, alg))
				var me merchant.Merchant
				if err := c.Do(context.Background(), "GET", "/v1/merchant/me", nil, &me); err != nil {
					t.Fatalf("GET /v1/merchant/me: %v", err)
				}
				if me.ID != mid || me.Name != "Noodle House" {
					t.Fatalf("me = %+v", me)
				}
				var st merchant.Store
				if err := c.Do(context.Background(), "POST", fndWriteRoute+"?note=a%20b&x=1", map[string]int{"n": 1}, &st); err != nil {
					t.Fatalf("signed POST with query: %v", err)
				}
				if st.MerchantID != mid {
					t.Fatalf("store = %+v", st)
				}
			})
		}
		// Every accepted request consumed exactly one nonce.
		if n := fndCount(t, db, "request_nonce_hashes"); n != 6 {
			t.Fatalf("request_nonce_hashes = %d, want 6", n)
		}
	})
}

func TestAuthFailureModes(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		g := fndStartGateway(t, db, nil)
		mid := g.createMerchant(t, "Fuel Station")
		other := g.createMerchant(t, "Other Merchant")
		hk := g.createKey(t, mid, signature.HMACSHA256)
		ek := g.createKey(t, mid, signature.Ed25519)
		otherKey := g.createKey(t, other, signature.Ed25519)
		revoked := g.createKey(t, mid, signature.SM2)
		fndOp(t, "POST", g.base+"/v1/operator/merchants/"+mid+"/credentials/"+revoked.KeyID()+"/revoke", "").expectOK(t)
		// A signer with the right key id but the wrong secret.
		wrong, _ := signature.NewHMACSigner(hk.KeyID(), base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32)))
		body := []byte(`{"n":1}`)
		skew := fndConfig().Auth.ClockSkew.D()

		cases := []struct {
			name   string
			status int
			code   string
			build  func(nonce string) *http.Request
		}{
			{"no headers", 401, CodeSignatureMissing, func(string) *http.Request {
				r, _ := http.NewRequest("POST", g.base+fndWriteRoute, bytes.NewReader(body))
				r.Header.Set("Content-Type", "application/json")
				return r
			}},
		}
		for _, h := range []string{signature.HeaderMerchant, signature.HeaderKey, signature.HeaderTimestamp, signature.HeaderNonce, signature.HeaderSignature} {
			cases = append(cases, struct {
				name   string
				status int
				code   string
				build  func(nonce string) *http.Request
			}{"missing " + h, 401, CodeSignatureMissing, func(n string) *http.Request {
				r := g.goodWrite(t, mid, hk, n)
				r.Header.Del(h)
				return r
			}})
		}
		add := func(name string, status int, code string, build func(nonce string) *http.Request) {
			cases = append(cases, struct {
				name   string
				status int
				code   string
				build  func(nonce string) *http.Request
			}{name, status, code, build})
		}
		add("wrong hmac secret", 401, CodeSignatureInvalid, func(n string) *http.Request { return g.goodWrite(t, mid, wrong, n) })
		add("signature not base64", 401, CodeSignatureInvalid, func(n string) *http.Request {
			r := g.goodWrite(t, mid, hk, n)
			r.Header.Set(signature.HeaderSignature, "%%%not-base64%%%")
			return r
		})
		add("ed25519 signature from the hmac key", 401, CodeSignatureInvalid, func(n string) *http.Request {
			r := g.goodWrite(t, mid, ek, n)
			hr := g.goodWrite(t, mid, hk, n)
			r.Header.Set(signature.HeaderSignature, hr.Header.Get(signature.HeaderSignature))
			return r
		})
		add("body altered", 401, CodeSignatureInvalid, func(n string) *http.Request {
			r := g.signed(t, "POST", fndWriteRoute, body, mid, ek, g.clock.Now(), n)
			alt := []byte(`{"n":2}`)
			r.Body, r.ContentLength = ioNopCloser(alt), int64(len(alt))
			return r
		})
		add("path altered", 401, CodeSignatureInvalid, func(n string) *http.Request {
			r := g.signed(t, "POST", "/v1/merchant/me", body, mid, ek, g.clock.Now(), n)
			r2, _ := http.NewRequest("POST", g.base+fndWriteRoute, bytes.NewReader(body))
			r2.Header = r.Header
			return r2
		})
		add("query altered", 401, CodeSignatureInvalid, func(n string) *http.Request {
			r := g.signed(t, "POST", fndWriteRoute+"?amount=1", body, mid, hk, g.clock.Now(), n)
			r2, _ := http.NewRequest("POST", g.base+fndWriteRoute+"?amount=100", bytes.NewReader(body))
			r2.Header = r.Header
			return r2
		})
		add("method altered", 401, CodeSignatureInvalid, func(n string) *http.Request {
			r := g.signed(t, "PUT", fndWriteRoute, body, mid, hk, g.clock.Now(), n)
			r2, _ := http.NewRequest("POST", g.base+fndWriteRoute, bytes.NewReader(body))
			r2.Header = r.Header
			return r2
		})
		add("merchant header altered", 401, CodeSignatureInvalid, func(n string) *http.Request {
			// The other merchant's own key, but signed claiming mid's
			// canonical merchant line: the headers then disagree with it.
			r := g.signed(t, "POST", fndWriteRoute, body, mid, otherKey, g.clock.Now(), n)
			r.Header.Set(signature.HeaderMerchant, other)
			return r
		})
		add("stale timestamp", 401, CodeTimestampInvalid, func(n string) *http.Request {
			return g.signed(t, "POST", fndWriteRoute, body, mid, hk, g.clock.Now().Add(-skew-time.Second), n)
		})
		add("future timestamp", 401, CodeTimestampInvalid, func(n string) *http.Request {
			return g.signed(t, "POST", fndWriteRoute, body, mid, hk, g.clock.Now().Add(skew+time.Second), n)
		})
		add("timestamp in milliseconds", 401, CodeTimestampInvalid, func(n string) *http.Request {
			r := g.goodWrite(t, mid, hk, n)
			r.Header.Set(signature.HeaderTimestamp, r.Header.Get(signature.HeaderTimestamp)+"000")
			return r
		})
		add("timestamp not a number", 401, CodeTimestampInvalid, func(n string) *http.Request {
			r := g.goodWrite(t, mid, hk, n)
			r.Header.Set(signature.HeaderTimestamp, "2026-01-01T00:00:00Z")
			return r
		})
		add("unknown merchant", 401, CodeUnknownMerchant, func(n string) *http.Request {
			return g.signed(t, "POST", fndWriteRoute, body, "mch_00000000000000000000", hk, g.clock.Now(), n)
		})
		add("unknown key", 401, CodeUnknownKey, func(n string) *http.Request {
			s, _ := signature.NewHMACSigner("key_00000000000000000000", base64.StdEncoding.EncodeToString(make([]byte, 32)))
			return g.signed(t, "POST", fndWriteRoute, body, mid, s, g.clock.Now(), n)
		})
		add("key of another merchant", 401, CodeUnknownKey, func(n string) *http.Request {
			return g.signed(t, "POST", fndWriteRoute, body, mid, otherKey, g.clock.Now(), n)
		})
		add("revoked key", 401, CodeKeyRevoked, func(n string) *http.Request {
			return g.signed(t, "POST", fndWriteRoute, body, mid, revoked, g.clock.Now(), n)
		})

		for _, tc := range cases {
			t.Run(strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) {
				nonce := signature.NewNonce()
				nonces, stores := fndCount(t, db, "request_nonce_hashes"), fndCount(t, db, "stores")
				fndSend(t, tc.build(nonce)).expectErr(t, tc.status, tc.code)
				if n := fndCount(t, db, "request_nonce_hashes"); n != nonces {
					t.Fatalf("refused request recorded a nonce (%d -> %d)", nonces, n)
				}
				if n := fndCount(t, db, "stores"); n != stores {
					t.Fatal("refused request reached the handler and wrote")
				}
				// The refused request did not consume its nonce.
				if r := fndSend(t, g.goodWrite(t, mid, hk, nonce)); r.Status != 201 {
					t.Fatalf("good request reusing the refused request's nonce: %s", r)
				}
			})
		}

		t.Run("boundaries_of_the_window_are_accepted", func(t *testing.T) {
			for _, d := range []time.Duration{-skew, skew} {
				r := g.signed(t, "POST", fndWriteRoute, body, mid, hk, g.clock.Now().Add(d), signature.NewNonce())
				if resp := fndSend(t, r); resp.Status != 201 {
					t.Fatalf("timestamp at %v: %s", d, resp)
				}
			}
		})

		t.Run("server_clock_moves", func(t *testing.T) {
			// Signed now, delivered after the server clock moved past the
			// window: refused; the same request is fine once it is back.
			nonce := signature.NewNonce()
			req := func() *http.Request {
				return g.signed(t, "POST", fndWriteRoute, body, mid, hk, time.Unix(1767225600, 0), nonce)
			}
			g.clock.Set(time.Unix(1767225600, 0).Add(skew + time.Minute))
			fndSend(t, req()).expectErr(t, 401, CodeTimestampInvalid)
			g.clock.Set(time.Unix(1767225600, 0).Add(-skew - time.Minute))
			fndSend(t, req()).expectErr(t, 401, CodeTimestampInvalid)
			g.clock.Set(time.Unix(1767225600, 0))
			if r := fndSend(t, req()); r.Status != 201 {
				t.Fatalf("in window: %s", r)
			}
			g.clock.Set(time.Now())
		})

		for _, bad := range []string{"short", strings.Repeat("a", 65), "has.dots.in.it.abcdef", "has spaces in it abcdef"} {
			t.Run("nonce_invalid_"+bad[:5], func(t *testing.T) {
				nonces := fndCount(t, db, "request_nonce_hashes")
				fndSend(t, g.goodWrite(t, mid, hk, bad)).expectErr(t, 401, CodeNonceInvalid)
				if fndCount(t, db, "request_nonce_hashes") != nonces {
					t.Fatal("invalid nonce recorded")
				}
			})
		}

		t.Run("replayed_nonce", func(t *testing.T) {
			nonce := signature.NewNonce()
			first := g.goodWrite(t, mid, ek, nonce)
			again, _ := http.NewRequest(first.Method, first.URL.String(), bytes.NewReader(body))
			again.Header = first.Header.Clone()
			if r := fndSend(t, first); r.Status != 201 {
				t.Fatalf("first: %s", r)
			}
			stores := fndCount(t, db, "stores")
			fndSend(t, again).expectErr(t, 401, CodeNonceReplayed)
			if fndCount(t, db, "stores") != stores {
				t.Fatal("replayed request wrote")
			}
			// A fresh signature with the same nonce is a replay too.
			fndSend(t, g.goodWrite(t, mid, ek, nonce)).expectErr(t, 401, CodeNonceReplayed)
			// Nonces are per key: another key may use the same one.
			if r := fndSend(t, g.goodWrite(t, mid, hk, nonce)); r.Status != 201 {
				t.Fatalf("same nonce, other key: %s", r)
			}
		})

		t.Run("suspended_merchant", func(t *testing.T) {
			setStatus := func(st string) {
				t.Helper()
				fndOp(t, "PUT", g.base+"/v1/operator/merchants/"+mid+"/status", `{"status":"`+st+`"}`).expectOK(t)
			}
			setStatus(merchant.StatusSuspended)
			defer setStatus(merchant.StatusActive)
			nonce := signature.NewNonce()
			nonces, stores := fndCount(t, db, "request_nonce_hashes"), fndCount(t, db, "stores")
			fndSend(t, g.goodWrite(t, mid, hk, nonce)).expectErr(t, 403, CodeMerchantSuspended)
			if fndCount(t, db, "request_nonce_hashes") != nonces || fndCount(t, db, "stores") != stores {
				t.Fatal("request of a suspended merchant wrote")
			}
			setStatus(merchant.StatusActive)
			if r := fndSend(t, g.goodWrite(t, mid, hk, nonce)); r.Status != 201 {
				t.Fatalf("after reactivation, same nonce: %s", r)
			}
		})

		t.Run("sdk_client_reports_codes", func(t *testing.T) {
			c := client.NewMerchant(g.base, mid, hk, client.WithClock(func() time.Time { return g.clock.Now().Add(-time.Hour) }))
			err := c.Do(context.Background(), "GET", "/v1/merchant/me", nil, nil)
			var ae *client.APIError
			if !errors.As(err, &ae) || ae.Status != 401 || ae.Code != CodeTimestampInvalid || ae.RequestID == "" {
				t.Fatalf("err = %v", err)
			}
			c = g.merchantClient(mid, revoked)
			if err := c.Do(context.Background(), "GET", "/v1/merchant/me", nil, nil); !errors.As(err, &ae) || ae.Code != CodeKeyRevoked {
				t.Fatalf("revoked key: %v", err)
			}
		})
	})
}

// TestAuthReplayAcrossInstances runs two gateway instances, each with its
// own connection pool, on one database: a nonce accepted by one is refused
// by the other, and of many concurrent copies of one request exactly one
// is accepted.
func TestAuthReplayAcrossInstances(t *testing.T) {
	for _, dialect := range storetest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			driver, dsn := storetest.NewDatabase(t, dialect)
			open := func() *store.DB {
				db, err := store.Open(context.Background(), driver, dsn, store.Options{MaxOpenConns: 8})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { db.Close() })
				if _, err := db.Migrate(context.Background(), nil); err != nil {
					t.Fatal(err)
				}
				return db
			}
			dbA, dbB := open(), open()
			a := fndStartGateway(t, dbA, nil)
			b := fndStartGateway(t, dbB, a.clock)
			mid := a.createMerchant(t, "Hotel")
			key := a.createKey(t, mid, signature.SM2)

			nonce := signature.NewNonce()
			reqA := a.goodWrite(t, mid, key, nonce)
			reqB, _ := http.NewRequest("POST", b.base+fndWriteRoute, bytes.NewReader([]byte(`{"n":1}`)))
			reqB.Header = reqA.Header.Clone()
			if r := fndSend(t, reqA); r.Status != 201 {
				t.Fatalf("instance A: %s", r)
			}
			fndSend(t, reqB).expectErr(t, 401, CodeNonceReplayed)

			// Concurrent copies of one signed request, spread over both
			// instances.
			nonce = signature.NewNonce()
			tmpl := a.goodWrite(t, mid, key, nonce)
			const copies = 8
			statuses := make(chan int, copies)
			var wg sync.WaitGroup
			for i := range copies {
				base := a.base
				if i%2 == 1 {
					base = b.base
				}
				req, _ := http.NewRequest("POST", base+fndWriteRoute, bytes.NewReader([]byte(`{"n":1}`)))
				req.Header = tmpl.Header.Clone()
				wg.Add(1)
				go func() {
					defer wg.Done()
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						statuses <- -1
						return
					}
					var e fndErrBody
					json.NewDecoder(resp.Body).Decode(&e)
					resp.Body.Close()
					if resp.StatusCode == 401 && e.Error.Code != CodeNonceReplayed {
						statuses <- -2
						return
					}
					statuses <- resp.StatusCode
				}()
			}
			wg.Wait()
			close(statuses)
			accepted := 0
			for st := range statuses {
				switch st {
				case 201:
					accepted++
				case 401:
				default:
					t.Errorf("unexpected outcome %d", st)
				}
			}
			if accepted != 1 {
				t.Fatalf("%d of %d copies accepted, want exactly 1", accepted, copies)
			}
			if n := fndCount(t, dbA, "stores"); n != 2 {
				t.Fatalf("stores = %d, want 2", n)
			}
		})
	}
}
