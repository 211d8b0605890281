package client_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emmansun/gmsm/sm2"

	"github.com/lianmeng/lianmeng/sdk/client"
	"github.com/lianmeng/lianmeng/sdk/signature"
)

// verifyingServer checks every request's signature as the gateway does and
// echoes what it saw.
func verifyingServer(t *testing.T, alg, material string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		ts, err := strconv.ParseInt(r.Header.Get(signature.HeaderTimestamp), 10, 64)
		if err != nil {
			http.Error(w, "bad timestamp", 400)
			return
		}
		if !signature.ValidNonce(r.Header.Get(signature.HeaderNonce)) {
			http.Error(w, "bad nonce", 400)
			return
		}
		c := signature.CanonicalString(r.Header.Get(signature.HeaderMerchant), r.Header.Get(signature.HeaderKey), r.Method,
			r.RequestURI, ts, r.Header.Get(signature.HeaderNonce), body)
		if err := signature.Verify(alg, material, c, r.Header.Get(signature.HeaderSignature)); err != nil {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(401)
			io.WriteString(w, `{"error":{"code":"signature_invalid","message":"no","request_id":"req_1"}}`)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"uri":`+strconv.Quote(r.RequestURI)+`,"ts":`+strconv.FormatInt(ts, 10)+
			`,"ct":`+strconv.Quote(r.Header.Get("Content-Type"))+`,"idem":`+strconv.Quote(r.Header.Get("Idempotency-Key"))+`}`)
	}))
	t.Cleanup(srv.Close)
	return srv
}

type echo struct {
	URI  string `json:"uri"`
	TS   int64  `json:"ts"`
	CT   string `json:"ct"`
	Idem string `json:"idem"`
}

func TestMerchantClientSignsEachAlgorithm(t *testing.T) {
	_, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	edPEM, _ := signature.MarshalPublicKey(edPriv.Public())
	smPriv, err := sm2.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	smPEM, _ := signature.MarshalPublicKey(&smPriv.PublicKey)
	raw := make([]byte, 32)
	rand.Read(raw)
	secret := base64.StdEncoding.EncodeToString(raw)
	hs, err := signature.NewHMACSigner("key_h", secret)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		alg, material string
		s             signature.Signer
	}{
		{signature.Ed25519, edPEM, signature.NewEd25519Signer("key_e", edPriv)},
		{signature.SM2, smPEM, signature.NewSM2Signer("key_s", smPriv)},
		{signature.HMACSHA256, secret, hs},
	}
	fixed := time.Unix(1767225600, 0)
	for _, tc := range cases {
		t.Run(tc.alg, func(t *testing.T) {
			srv := verifyingServer(t, tc.alg, tc.material)
			c := client.NewMerchant(srv.URL+"/", "mch_1", tc.s, client.WithClock(func() time.Time { return fixed }))
			var out echo
			// The query string is signed exactly as sent.
			if err := c.Do(context.Background(), "POST", "/v1/merchant/earn?z=1&a=%2F", map[string]int{"amount_fen": 1}, &out,
				client.IdempotencyKey("idem-1")); err != nil {
				t.Fatalf("Do: %v", err)
			}
			if out.URI != "/v1/merchant/earn?z=1&a=%2F" || out.TS != fixed.Unix() || out.CT != "application/json" || out.Idem != "idem-1" {
				t.Fatalf("server saw %+v", out)
			}
			// GET without a body signs the hash of the empty body.
			if err := c.Do(context.Background(), "GET", "/v1/merchant/me", nil, &out); err != nil {
				t.Fatalf("GET: %v", err)
			}
			if out.CT != "" {
				t.Fatalf("GET without body sent Content-Type %q", out.CT)
			}
			// Raw bytes are sent (and signed) verbatim.
			if err := c.Do(context.Background(), "PUT", "/raw", []byte(`{"x" : 1 }`), nil); err != nil {
				t.Fatalf("raw body: %v", err)
			}
		})
	}
}

func TestMerchantClientFreshNonces(t *testing.T) {
	_, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	c := client.NewMerchant("http://127.0.0.1:1", "mch_1", signature.NewEd25519Signer("key_e", edPriv))
	seen := map[string]bool{}
	for range 20 {
		req, err := c.NewRequest(context.Background(), "GET", "/v1/merchant/me", nil)
		if err != nil {
			t.Fatal(err)
		}
		n := req.Header.Get(signature.HeaderNonce)
		if seen[n] || !signature.ValidNonce(n) {
			t.Fatalf("nonce %q repeated or invalid", n)
		}
		seen[n] = true
		for _, h := range []string{signature.HeaderMerchant, signature.HeaderKey, signature.HeaderTimestamp, signature.HeaderSignature} {
			if req.Header.Get(h) == "" {
				t.Fatalf("header %s missing", h)
			}
		}
		if req.Header.Get("Authorization") != "" {
			t.Fatal("merchant request carries an Authorization header")
		}
	}
}

func TestOperatorClientUsesBearerToken(t *testing.T) {
	var auth, sig string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth, sig = r.Header.Get("Authorization"), r.Header.Get(signature.HeaderSignature)
		w.WriteHeader(201)
		io.WriteString(w, `{"id":"mch_1"}`)
	}))
	defer srv.Close()
	var out struct{ ID string }
	if err := client.NewOperator(srv.URL, "tok-0123456789abcdef").Do(context.Background(), "POST", "/v1/operator/merchants", map[string]string{"name": "x"}, &out); err != nil {
		t.Fatal(err)
	}
	if auth != "Bearer tok-0123456789abcdef" || sig != "" || out.ID != "mch_1" {
		t.Fatalf("auth %q sig %q out %+v", auth, sig, out)
	}
}

func TestErrorResponses(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/model":
			w.Header().Set("Retry-After", "7")
			w.WriteHeader(429)
			io.WriteString(w, `{"error":{"code":"rate_limited","message":"slow down","request_id":"req_abc"}}`)
		case "/plain":
			w.WriteHeader(502)
			io.WriteString(w, "bad gateway\n")
		case "/badjson":
			io.WriteString(w, "{")
		}
	}))
	defer srv.Close()
	c := client.NewOperator(srv.URL, "tok-0123456789abcdef")
	err := c.Do(context.Background(), "GET", "/model", nil, nil)
	var ae *client.APIError
	if !errors.As(err, &ae) || ae.Status != 429 || ae.Code != "rate_limited" || ae.Message != "slow down" || ae.RequestID != "req_abc" || ae.RetryAfter != 7*time.Second {
		t.Fatalf("err = %#v", err)
	}
	if !strings.Contains(ae.Error(), "rate_limited") || !strings.Contains(ae.Error(), "req_abc") {
		t.Fatalf("Error() = %q", ae.Error())
	}
	err = c.Do(context.Background(), "GET", "/plain", nil, nil)
	if !errors.As(err, &ae) || ae.Status != 502 || ae.Code != "http_502" || ae.Message != "bad gateway" {
		t.Fatalf("plain error = %#v", err)
	}
	var out map[string]any
	if err := c.Do(context.Background(), "GET", "/badjson", nil, &out); err == nil || errors.As(err, &ae) {
		t.Fatalf("undecodable 200 body: err = %v", err)
	}
	if err := client.NewOperator("http://127.0.0.1:1", "t").Do(context.Background(), "GET", "/", nil, nil); err == nil {
		t.Fatal("connection refused not reported")
	}
	if err := c.Do(context.Background(), "GET", "/model", make(chan int), nil); err == nil {
		t.Fatal("unencodable body accepted")
	}
}

// A redirect is never followed: neither the signed headers (and a 307's
// body) nor a bearer token reach the Location; the caller gets the 3xx as
// an *APIError wrapping ErrRedirect, with the Location and the host.
func TestRedirectsAreNotFollowed(t *testing.T) {
	var elsewhereHits atomic.Int64
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		elsewhereHits.Add(1)
		io.WriteString(w, `{}`)
	}))
	defer elsewhere.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		code, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/"))
		w.Header().Set("Location", elsewhere.URL+"/stolen")
		w.WriteHeader(code)
		io.WriteString(w, "<a href=\"...\">moved</a>")
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")

	_, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	follows := &http.Client{} // a caller's client that would follow redirects
	clients := map[string]*client.Client{
		"merchant":             client.NewMerchant(srv.URL, "mch_1", signature.NewEd25519Signer("key_e", edPriv)),
		"operator":             client.NewOperator(srv.URL, "tok-0123456789abcdef"),
		"merchant, own client": client.NewMerchant(srv.URL, "mch_1", signature.NewEd25519Signer("key_e", edPriv), client.WithHTTPClient(follows)),
	}
	for name, c := range clients {
		for _, code := range []int{301, 302, 303, 307, 308} {
			err := c.Do(context.Background(), "POST", "/"+strconv.Itoa(code), map[string]int{"amount_fen": 100}, nil)
			var ae *client.APIError
			if !errors.As(err, &ae) || !errors.Is(err, client.ErrRedirect) {
				t.Fatalf("%s %d: want an *APIError wrapping ErrRedirect, got %v", name, code, err)
			}
			if ae.Status != code || ae.Location != elsewhere.URL+"/stolen" || ae.Host != host || ae.Code != "http_"+strconv.Itoa(code) {
				t.Fatalf("%s %d: %+v", name, code, ae)
			}
			if msg := err.Error(); !strings.Contains(msg, host) || !strings.Contains(msg, elsewhere.URL) {
				t.Fatalf("%s %d: Error() = %q: want the host and the Location", name, code, msg)
			}
		}
	}
	if n := elsewhereHits.Load(); n != 0 {
		t.Fatalf("the redirect target received %d requests", n)
	}
	if follows.CheckRedirect != nil {
		t.Fatal("WithHTTPClient changed the caller's http.Client")
	}
	// A plain error is not a redirect.
	err := client.NewOperator(srv.URL, "t").Do(context.Background(), "GET", "/404", nil, nil)
	if errors.Is(err, client.ErrRedirect) {
		t.Fatalf("404 reported as a redirect: %v", err)
	}
}

// A refusal names the host that refused, in the error value and its text;
// a non-JSON body (a proxy's HTML page) is cut to a bounded message.
func TestErrorsNameTheHost(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/html" {
			w.WriteHeader(403)
			io.WriteString(w, "<html>"+strings.Repeat("x", 10000)+"</html>")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(401)
		io.WriteString(w, `{"error":{"code":"signature_invalid","message":"no","request_id":"req_1"}}`)
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	_, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	c := client.NewMerchant(srv.URL, "mch_1", signature.NewEd25519Signer("key_e", edPriv))
	err := c.Do(context.Background(), "GET", "/v1/merchant/me", nil, nil)
	var ae *client.APIError
	if !errors.As(err, &ae) || ae.Host != host || ae.Code != "signature_invalid" {
		t.Fatalf("err = %#v", err)
	}
	if want := "lianmeng: " + host + ": 401 signature_invalid: no (request req_1)"; err.Error() != want {
		t.Fatalf("Error() = %q, want %q", err.Error(), want)
	}
	err = c.Do(context.Background(), "GET", "/html", nil, nil)
	if !errors.As(err, &ae) || ae.Status != 403 || ae.Host != host || len(ae.Message) > 1100 || !strings.HasPrefix(ae.Message, "<html>") {
		t.Fatalf("err = %v (message %d bytes)", err, len(ae.Message))
	}
}
