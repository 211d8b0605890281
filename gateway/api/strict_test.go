package api

// Strict parsing (issue 10): no decompression, no ambiguous headers or
// framing, no query parameters on writes, no JSON that two parsers could
// read differently, timestamps in one spelling and a nonce once per key.
// Each refusal has its own code and writes nothing.

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
	"github.com/lianmeng/lianmeng/sdk/client"
	"github.com/lianmeng/lianmeng/sdk/signature"
)

// stBomb is a request body under 16 KB that inflates, through its two
// gzip layers, to 1 GiB: the outer layer holds 1024 gzip members of 1 MiB
// of zeros each (gzip readers read concatenated members as one stream).
func stBomb(t *testing.T) (body []byte, inflated int64) {
	t.Helper()
	var member bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&member, gzip.BestCompression)
	if _, err := zw.Write(make([]byte, 1<<20)); err != nil {
		t.Fatal(err)
	}
	zw.Close()
	var outer bytes.Buffer
	zw, _ = gzip.NewWriterLevel(&outer, gzip.BestCompression)
	for range 1024 {
		zw.Write(member.Bytes())
	}
	zw.Close()
	// The structure, checked cheaply: one layer off gives the members.
	zr, err := gzip.NewReader(bytes.NewReader(outer.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, zr)
	if err != nil || n != 1024*int64(member.Len()) {
		t.Fatalf("bomb: inner layer %d bytes (%v), want %d", n, err, 1024*member.Len())
	}
	if outer.Len() > 16<<10 {
		t.Fatalf("bomb is %d bytes, want under 16 KB", outer.Len())
	}
	return outer.Bytes(), 1 << 30
}

// stSigned signs a request to the in-process app (target is path+query).
func stSigned(t *testing.T, method, target string, body []byte, mid string, s signature.Signer, nonce string) *http.Request {
	t.Helper()
	req := httptest.NewRequest(method, target, bytes.NewReader(body))
	if len(body) > 0 {
		req.Header.Set("Content-Type", "application/json")
	}
	if err := client.Sign(req, mid, s, time.Now(), nonce, body); err != nil {
		t.Fatal(err)
	}
	return req
}

// stTest sends req through the app in process.
func stTest(t *testing.T, app *fiber.App, req *http.Request) fndResp {
	t.Helper()
	resp, err := app.Test(req, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return fndResp{resp.StatusCode, resp.Header, b}
}

func TestContentEncodingRefusedWithoutDecompressing(t *testing.T) {
	db := storetest.Open(t, store.SQLite)
	g := fndStartGateway(t, db, nil)
	mid := g.createMerchant(t, "Bomb Shelter")
	key := g.createKey(t, mid, signature.HMACSHA256)
	bomb, inflated := stBomb(t)
	app := g.srv.App()

	send := func(path, encoding string, body []byte) fndResp {
		req := stSigned(t, "POST", path, body, mid, key, signature.NewNonce())
		req.Header.Set("Content-Encoding", encoding)
		return stTest(t, app, req)
	}
	for _, path := range []string{fndWriteRoute, "/v1/merchant/earn", "/v1/merchant/members/lookup"} {
		for _, enc := range []string{"gzip, gzip", "gzip", "br", "deflate", "zstd", "identity, gzip", "x-gzip"} {
			nonces, stores := fndCount(t, db, "request_nonce_hashes"), fndCount(t, db, "stores")
			send(path, enc, bomb).expectErr(t, 415, CodeUnsupportedEncoding)
			if fndCount(t, db, "request_nonce_hashes") != nonces || fndCount(t, db, "stores") != stores {
				t.Fatalf("%s with Content-Encoding %q wrote", path, enc)
			}
		}
	}
	// GET requests and unknown routes too: nothing on the API decodes one.
	req := stSigned(t, "GET", "/v1/merchant/me", nil, mid, key, signature.NewNonce())
	req.Header.Set("Content-Encoding", "br")
	stTest(t, app, req).expectErr(t, 415, CodeUnsupportedEncoding)

	// Memory stays bounded: the gateway never inflates the 1 GiB. Measured
	// as bytes allocated per request (the whole in-process round trip),
	// not time.
	const runs = 5
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range runs {
		if r := send(fndWriteRoute, "gzip, gzip", bomb); r.Status != 415 {
			t.Fatalf("bomb: %s", r)
		}
	}
	runtime.ReadMemStats(&after)
	if per := (after.TotalAlloc - before.TotalAlloc) / runs; per > 10<<20 {
		t.Fatalf("a %d-byte request that inflates to %d bytes allocated %d bytes", len(bomb), inflated, per)
	} else {
		t.Logf("a %d-byte request that inflates to %d bytes: %d bytes allocated per request", len(bomb), inflated, per)
	}

	// identity is no encoding: accepted, and the raw body is what is signed.
	body := []byte(`{"n":1}`)
	req = stSigned(t, "POST", fndWriteRoute, body, mid, key, signature.NewNonce())
	req.Header.Set("Content-Encoding", "identity")
	if r := stTest(t, app, req); r.Status != 201 {
		t.Fatalf("Content-Encoding: identity: %s", r)
	}
	// A body signed compressed and sent compressed is still refused: the
	// gateway does not decode, whatever the signature covers.
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(body)
	zw.Close()
	req = stSigned(t, "POST", fndWriteRoute, gz.Bytes(), mid, key, signature.NewNonce())
	req.Header.Set("Content-Encoding", "gzip")
	stTest(t, app, req).expectErr(t, 415, CodeUnsupportedEncoding)
}

// stRaw sends raw bytes to a served gateway and reads one response.
func stRaw(t *testing.T, base, raw string) (fndResp, bool) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, raw); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("reading the answer to %q: %v", raw, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return fndResp{resp.StatusCode, resp.Header, b}, resp.Close
}

// stWire writes a signed request's head as raw lines, with extra header
// lines (already formatted) and the given framing and body.
func stWire(req *http.Request, extra []string, framing string, body string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: gateway.test\r\n", req.Method, req.URL.RequestURI())
	for k, vs := range req.Header {
		for _, v := range vs {
			fmt.Fprintf(&b, "%s: %s\r\n", k, v)
		}
	}
	for _, h := range extra {
		b.WriteString(h + "\r\n")
	}
	b.WriteString(framing)
	b.WriteString("\r\n")
	b.WriteString(body)
	return b.String()
}

func TestAmbiguousRequestsRefused(t *testing.T) {
	db := storetest.Open(t, store.SQLite)
	g := fndStartGateway(t, db, nil)
	mid := g.createMerchant(t, "Smuggler's Inn")
	key := g.createKey(t, mid, signature.HMACSHA256)
	const body = `{"n":1}`
	chunked := "7\r\n" + body + "\r\n0\r\n\r\n"
	signed := func(nonce string) *http.Request {
		return stSigned(t, "POST", fndWriteRoute, []byte(body), mid, key, nonce)
	}

	cases := []struct {
		name    string
		extra   []string
		framing string
		body    string
	}{
		{"two Content-Length", nil, "Content-Length: 7\r\nContent-Length: 7\r\n", body},
		{"Content-Length and Transfer-Encoding", nil, "Content-Length: 7\r\nTransfer-Encoding: chunked\r\n", chunked},
		{"Transfer-Encoding and Content-Length", nil, "Transfer-Encoding: chunked\r\nContent-Length: 7\r\n", chunked},
		{"Transfer-Encoding twice", nil, "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", chunked},
		{"Transfer-Encoding not chunked", nil, "Transfer-Encoding: gzip, chunked\r\n", chunked},
		{"nonce twice", []string{signature.HeaderNonce + ": " + signature.NewNonce()}, "Content-Length: 7\r\n", body},
		{"merchant twice, lower case", []string{"x-lianmeng-merchant: mch_00000000000000000000"}, "Content-Length: 7\r\n", body},
		{"signature twice", []string{signature.HeaderSignature + ": AAAA"}, "Content-Length: 7\r\n", body},
		{"Content-Type twice", []string{"Content-Type: text/plain"}, "Content-Length: 7\r\n", body},
		{"Idempotency-Key twice", []string{"Idempotency-Key: a", "Idempotency-Key: b"}, "Content-Length: 7\r\n", body},
		{"Content-Encoding twice", []string{"Content-Encoding: identity", "Content-Encoding: identity"}, "Content-Length: 7\r\n", body},
	}
	for _, tc := range cases {
		t.Run(strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) {
			nonce := signature.NewNonce()
			nonces, stores := fndCount(t, db, "request_nonce_hashes"), fndCount(t, db, "stores")
			r, closed := stRaw(t, g.base, stWire(signed(nonce), tc.extra, tc.framing, tc.body))
			r.expectErr(t, 400, CodeAmbiguousRequest)
			if !closed {
				t.Error("the connection stays open after an ambiguous request")
			}
			if fndCount(t, db, "request_nonce_hashes") != nonces || fndCount(t, db, "stores") != stores {
				t.Fatal("an ambiguous request wrote")
			}
			// Its nonce was not consumed.
			if r, _ := stRaw(t, g.base, stWire(signed(nonce), nil, "Content-Length: 7\r\n", body)); r.Status != 201 {
				t.Fatalf("the same request, unambiguous: %s", r)
			}
		})
	}
	// One chunked body, alone, is fine.
	if r, _ := stRaw(t, g.base, stWire(signed(signature.NewNonce()), nil, "Transfer-Encoding: chunked\r\n", chunked)); r.Status != 201 {
		t.Fatalf("chunked: %s", r)
	}
}

func TestUnknownQueryParameterOnWrites(t *testing.T) {
	db := storetest.Open(t, store.SQLite)
	g := fndStartGateway(t, db, nil)
	mid := g.createMerchant(t, "Query Cafe")
	key := g.createKey(t, mid, signature.HMACSHA256)
	app := g.srv.App()
	earn := []byte(`{"order_id":"Q-1","member":{"kind":"phone","value":"13800138000"},"amount_fen":12800}`)
	for _, target := range []string{
		"/v1/merchant/earn?dry_run=true", // the README's signing example, signed
		"/v1/merchant/earn?store=sto_00112233445566778899&dry_run=true",
		"/v1/merchant/earn/refund?x", "/v1/merchant/redeem?=1", "/v1/merchant/members/lookup?a=b",
	} {
		nonces := fndCount(t, db, "request_nonce_hashes")
		e := stTest(t, app, stSigned(t, "POST", target, earn, mid, key, signature.NewNonce())).expectErr(t, 400, CodeUnknownQuery)
		if !strings.Contains(e.Error.Message, "unknown query parameter") {
			t.Fatalf("%s: %s", target, e.Error.Message)
		}
		if fndCount(t, db, "request_nonce_hashes") != nonces {
			t.Fatalf("%s consumed its nonce", target)
		}
	}
	r := fndOp(t, "PUT", g.base+"/v1/operator/merchants/"+mid+"/earning?rate_bp=5000", `{"rate_bp":100}`)
	r.expectErr(t, 400, CodeUnknownQuery)
	r = fndOp(t, "POST", g.base+"/v1/operator/merchants?name=x", `{"name":"X","industry":"restaurant"}`)
	r.expectErr(t, 400, CodeUnknownQuery)
	// Reads keep their parameters.
	if r := fndOp(t, "GET", g.base+"/v1/operator/merchants?limit=1", ""); r.Status != 200 {
		t.Fatalf("GET with a query: %s", r)
	}
}

// stEarn is an earn body with raw bytes spliced in.
func stEarn(member string, extra string) []byte {
	return []byte(`{"order_id":"S-1","member":` + member + `,"amount_fen":100` + extra + `}`)
}

func TestStrictJSONRefusedBeforeLookup(t *testing.T) {
	db := storetest.Open(t, store.SQLite)
	g := fndStartGateway(t, db, nil)
	mid := g.createMerchant(t, "Strict Noodles")
	key := g.createKey(t, mid, signature.HMACSHA256)
	app := g.srv.App()
	zhangsan := "\xd5\xc5\xc8\xfd" // 张三 in GBK
	lisi := "\xc0\xee\xcb\xc4"     // 李四 in GBK

	cases := []struct {
		name, code string
		body       []byte
	}{
		{"GBK customer id", CodeInvalidEncoding, stEarn(`{"kind":"customer","value":"`+zhangsan+`"}`, "")},
		{"GBK customer id 2", CodeInvalidEncoding, stEarn(`{"kind":"customer","value":"`+lisi+`"}`, "")},
		{"GBK order id", CodeInvalidEncoding, []byte(`{"order_id":"` + lisi + `","member":{"kind":"phone","value":"13800138000"},"amount_fen":1}`)},
		{"invalid UTF-8 in a key", CodeInvalidEncoding, stEarn(`{"kind":"phone","value":"13800138000"}`, `,"`+"\xff"+`":1`)},
		{"lone high surrogate", CodeInvalidEncoding, stEarn(`{"kind":"customer","value":"\ud800"}`, "")},
		{"lone low surrogate", CodeInvalidEncoding, stEarn(`{"kind":"customer","value":"a\udc00b"}`, "")},
		{"high surrogate then a letter", CodeInvalidEncoding, stEarn(`{"kind":"customer","value":"\ud800\u0041"}`, "")},
		{"two high surrogates", CodeInvalidEncoding, stEarn(`{"kind":"customer","value":"\uD83D\uD83D"}`, "")},
		{"surrogate in a key", CodeInvalidEncoding, stEarn(`{"kind":"phone","value":"13800138000"}`, `,"attributes":{"\udfff":"x"}`)},
		{"duplicate amount", CodeDuplicateKey, stEarn(`{"kind":"phone","value":"13800138000"}`, `,"amount_fen":1000000`)},
		{"case-variant amount", CodeDuplicateKey, stEarn(`{"kind":"phone","value":"13800138000"}`, `,"Amount_fen":1000000`)},
		{"upper-case variant amount", CodeDuplicateKey, stEarn(`{"kind":"phone","value":"13800138000"}`, `,"AMOUNT_FEN":1000000`)},
		{"escaped duplicate", CodeDuplicateKey, stEarn(`{"kind":"phone","value":"13800138000"}`, `,"\u0061mount_fen":1000000`)},
		{"nested duplicate", CodeDuplicateKey, stEarn(`{"kind":"phone","value":"13800138000","value":"13900139000"}`, "")},
		{"nested case variant", CodeDuplicateKey, stEarn(`{"kind":"phone","Kind":"customer","value":"13800138000"}`, "")},
		{"Kelvin sign variant", CodeDuplicateKey, stEarn(`{"kind":"phone","\u212aind":"customer","value":"13800138000"}`, "")},
		{"duplicate in an array item", CodeDuplicateKey, stEarn(`{"kind":"phone","value":"13800138000"}`, `,"items":[{"sku":"a","sku":"b"}]`)},
		{"duplicate attribute", CodeDuplicateKey, stEarn(`{"kind":"phone","value":"13800138000"}`, `,"attributes":{"table":"1","table":"2"}`)},
		{"case-variant attribute", CodeDuplicateKey, stEarn(`{"kind":"phone","value":"13800138000"}`, `,"attributes":{"table":"1","Table":"2"}`)},
		{"duplicate unknown key", CodeDuplicateKey, stEarn(`{"kind":"phone","value":"13800138000"}`, `,"x":1,"x":2`)},
	}
	for _, tc := range cases {
		t.Run(strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) {
			nonces, members := fndCount(t, db, "request_nonce_hashes"), fndCount(t, db, "members")
			req := stSigned(t, "POST", "/v1/merchant/earn", tc.body, mid, key, signature.NewNonce())
			req.Header.Set("Idempotency-Key", signature.NewNonce())
			stTest(t, app, req).expectErr(t, 400, tc.code)
			// Refused before authentication looked anything up: the nonce
			// is not consumed, no member exists.
			if fndCount(t, db, "request_nonce_hashes") != nonces || fndCount(t, db, "members") != members {
				t.Fatal("refused body wrote")
			}
			// The decoder refuses it the same way when called directly.
			var v earnRequest
			if got := stCode(stDecode(t, string(tc.body), &v)); got != tc.code {
				t.Fatalf("decodeJSON: %s, want %s", got, tc.code)
			}
		})
	}
}

func TestDecodeJSONExactFieldNames(t *testing.T) {
	decode := func(body string, v any) error { return stDecode(t, body, v) }
	code := stCode
	var v earnRequest
	for body, want := range map[string]string{
		`{"Amount_fen":1000000}`:                 CodeValidation, // a field only up to case
		`{"ORDER_ID":"x"}`:                       CodeValidation,
		`{"member":{"Kind":"phone"}}`:            CodeValidation,
		`{"member":{"\u212aind":"phone"}}`:       CodeValidation,
		`{"items":[{"SKU":"x"}]}`:                CodeValidation,
		`{"amount_fen":1}`:                       "",
		`{"attributes":{"Table":"1"}}`:           "", // map keys are data, any case
		`{"order_id":"\ud83d\ude00 ok"}`:         "", // a surrogate pair is a character
		`{"order_id":"\ufffd is fine"}`:          "",
		`{"order_id":"a\\ud800"}`:                "", // an escaped backslash, not an escape
		`{"occurred_at":"2026-01-01T00:00:00Z"}`: "",
		`{"amount_fen":1,"x":{"a":1,"A":2}}`:     CodeDuplicateKey,
		`{"amount_fen":1,"x":{"a":1}}`:           CodeValidation,
		`{"amount_fen":1,`:                       CodeMalformedJSON,
		`{"amount_fen":1,"amount_fen":`:          CodeMalformedJSON, // syntax first
	} {
		v = earnRequest{}
		if got := code(decode(body, &v)); got != want {
			t.Errorf("%s: %q, want %q", body, got, want)
		}
	}
	if err := decode(`{"order_id":"\ud83d\ude00"}`, &v); err != nil || v.OrderID != "😀" {
		t.Fatalf("surrogate pair: %v %q", err, v.OrderID)
	}
	// Embedded structs' fields are promoted, exactly as encoding/json does.
	type inner struct {
		A int `json:"a"`
	}
	type outer struct {
		inner
		B int `json:"b"`
	}
	var o outer
	if err := decode(`{"a":1,"b":2}`, &o); err != nil || o.A != 1 || o.B != 2 {
		t.Fatalf("embedded: %v %+v", err, o)
	}
	if got := code(decode(`{"A":1}`, &o)); got != CodeValidation {
		t.Fatalf("embedded, case variant: %q", got)
	}
}

func TestTimestampGrammar(t *testing.T) {
	for s, want := range map[string]bool{
		"1767225600": true, "0": true, "9223372036854775807": true,
		"": false, "+1767225600": false, "-1767225600": false, "01767225600": false, "00": false,
		"1767225600.0": false, "1767225600e0": false, " 1767225600": false, "1767225600 ": false,
		"1_767_225_600": false, "0x69": false, "9223372036854775808": false, "١٧٦٧٢٢٥٦٠٠": false,
	} {
		n, ok := parseTimestamp(s)
		if ok != want {
			t.Errorf("parseTimestamp(%q) = %v, want %v", s, ok, want)
		}
		if ok && strconv.FormatInt(n, 10) != s {
			t.Errorf("parseTimestamp(%q) = %d: not the canonical spelling", s, n)
		}
	}

	// End to end: each spelling other than the canonical one is refused,
	// before any lookup, and its nonce stays unused.
	db := storetest.Open(t, store.SQLite)
	g := fndStartGateway(t, db, nil)
	mid := g.createMerchant(t, "Clockwork")
	key := g.createKey(t, mid, signature.HMACSHA256)
	now := g.clock.Now().Unix()
	for _, ts := range []string{"+" + fmt.Sprint(now), "0" + fmt.Sprint(now), "00" + fmt.Sprint(now), fmt.Sprint(now) + ".0", fmt.Sprint(now) + "e0"} {
		nonce := signature.NewNonce()
		// Signed over the odd spelling itself, so only the grammar refuses it.
		sum := sha256.Sum256([]byte(`{"n":1}`))
		canonical := strings.Join([]string{signature.Version, mid, key.KeyID(), "POST", fndWriteRoute, ts, nonce, hex.EncodeToString(sum[:])}, "\n")
		sig, _ := key.Sign(canonical)
		req, _ := http.NewRequest("POST", g.base+fndWriteRoute, strings.NewReader(`{"n":1}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(signature.HeaderMerchant, mid)
		req.Header.Set(signature.HeaderKey, key.KeyID())
		req.Header.Set(signature.HeaderTimestamp, ts)
		req.Header.Set(signature.HeaderNonce, nonce)
		req.Header.Set(signature.HeaderSignature, sig)
		nonces := fndCount(t, db, "request_nonce_hashes")
		e := fndSend(t, req).expectErr(t, 401, CodeTimestampInvalid)
		if !strings.Contains(e.Error.Message, "no leading zeros") {
			t.Errorf("%q: message %q does not state the grammar", ts, e.Error.Message)
		}
		if fndCount(t, db, "request_nonce_hashes") != nonces {
			t.Fatalf("%q consumed its nonce", ts)
		}
	}
}

// stDecode runs decodeJSON on body into v in a bare app, as a handler would.
func stDecode(t *testing.T, body string, v any) error {
	t.Helper()
	var got error
	app := fiber.New()
	app.Post("/", func(c *fiber.Ctx) error {
		got = decodeJSON(c, v)
		return nil
	})
	req := httptest.NewRequest("POST", "/", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if _, err := app.Test(req, -1); err != nil {
		t.Fatal(err)
	}
	return got
}

// stCode is an error's API code ("" for nil).
func stCode(err error) string {
	if err == nil {
		return ""
	}
	var ae *Error
	if !errors.As(err, &ae) {
		return "not an API error: " + err.Error()
	}
	return ae.Code
}
