package api

// Fuzz targets for the strict request parsing: the signed-request header
// parser (presence, timestamp grammar and window, nonce grammar), the
// request head (framing, repeated headers, Content-Encoding) through the
// real server over TCP, and the body decoder with a Content-Encoding. The
// seeds run as ordinary tests; run one for longer with, for example,
//
//	go test ./gateway/api -run '^$' -fuzz '^FuzzRequestHead$' -fuzztime 60s

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"

	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
	"github.com/lianmeng/lianmeng/sdk/signature"
)

// FuzzSignedHeaders: parseSignedHeaders accepts exactly five present
// headers with a timestamp in its one canonical spelling inside the window
// and a valid nonce, and refuses everything else with the code of the
// first failing check, never a panic.
func FuzzSignedHeaders(f *testing.F) {
	now := time.Unix(1767225600, 0)
	skew := 5 * time.Minute
	for _, s := range [][5]string{
		{"mch_0123456789abcdef0123", "key_89abcdef0123456789ab", "1767225600", "7f3c9a1e5b2d4c6e8a0f1b3d5e7c9a2b", "GFNnnyK0Eib2VbXfvACCaHHA/GwW+LnypZRFl/y/DL8="},
		{"m", "k", "+1767225600", "7f3c9a1e5b2d4c6e8a0f1b3d5e7c9a2b", "s"},
		{"m", "k", "01767225600", "7f3c9a1e5b2d4c6e8a0f1b3d5e7c9a2b", "s"},
		{"m", "k", "1767225600.0", "7f3c9a1e5b2d4c6e8a0f1b3d5e7c9a2b", "s"},
		{"m", "k", "1767225900", "7f3c9a1e5b2d4c6e8a0f1b3d5e7c9a2b", "s"},
		{"m", "k", "1767225901", "7f3c9a1e5b2d4c6e8a0f1b3d5e7c9a2b", "s"},
		{"m", "k", "1767225299", "7f3c9a1e5b2d4c6e8a0f1b3d5e7c9a2b", "s"},
		{"m", "k", "99999999999999999999", "7f3c9a1e5b2d4c6e8a0f1b3d5e7c9a2b", "s"},
		{"m", "k", "1767225600", "short", "s"},
		{"m", "k", "1767225600", "has spaces in it abcdef", "s"},
		{"m", "k", "1767225600", strings.Repeat("n", 65), "s"},
		{"", "k", "1767225600", "7f3c9a1e5b2d4c6e8a0f1b3d5e7c9a2b", "s"},
		{"m", "k", "", "", ""},
		{"m", "k", "١٧٦٧٢٢٥٦٠٠", "7f3c9a1e5b2d4c6e8a0f1b3d5e7c9a2b", "s"},
	} {
		f.Add(s[0], s[1], s[2], s[3], s[4])
	}
	f.Fuzz(func(t *testing.T, mid, kid, ts, nonce, sig string) {
		hdr := map[string]string{signature.HeaderMerchant: mid, signature.HeaderKey: kid, signature.HeaderTimestamp: ts,
			signature.HeaderNonce: nonce, signature.HeaderSignature: sig}
		get := func(k string, _ ...string) string { return hdr[k] }
		h, err := parseSignedHeaders(get, now, skew)

		// The timestamp grammar, against an independent oracle: the text
		// is the canonical decimal spelling of a non-negative int64.
		n, perr := strconv.ParseInt(ts, 10, 64)
		canonical := perr == nil && n >= 0 && strconv.FormatInt(n, 10) == ts
		if got, ok := parseTimestamp(ts); ok != canonical || ok && got != n {
			t.Fatalf("parseTimestamp(%q) = %d, %v; canonical spelling: %v", ts, got, ok, canonical)
		}

		missing := mid == "" || kid == "" || ts == "" || nonce == "" || sig == ""
		inWindow := canonical && n >= now.Add(-skew).Unix() && n <= now.Add(skew).Unix()
		var want string
		switch {
		case missing:
			want = CodeSignatureMissing
		case !inWindow:
			want = CodeTimestampInvalid
		case !signature.ValidNonce(nonce):
			want = CodeNonceInvalid
		}
		if want == "" {
			if err != nil {
				t.Fatalf("refused good headers %q: %v", hdr, err)
			}
			if h.Merchant != mid || h.Key != kid || h.Nonce != nonce || h.Signature != sig || strconv.FormatInt(h.Timestamp, 10) != ts {
				t.Fatalf("parsed %+v from %q", h, hdr)
			}
			return
		}
		if err == nil || err.Status != 401 || err.Code != want {
			t.Fatalf("headers %q: %v, want 401 %s", hdr, err, want)
		}
	})
}

// fzHeadEnv is a served gateway with a route that decodes a JSON body.
type fzHeadEnv struct{ addr string }

const fzHeadRoute = "/fuzz/decode"

func fzHeadSetup(tb testing.TB) *fzHeadEnv {
	tb.Helper()
	s := New(Deps{Config: fndConfig(), DB: storetest.Open(tb, store.SQLite), Log: fndLogger()})
	s.App().Post(fzHeadRoute, func(c *fiber.Ctx) error {
		var v fzDecodeTarget
		if err := decodeJSON(c, &v); err != nil {
			return err
		}
		return c.SendStatus(fiber.StatusNoContent)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	go s.App().Listener(ln)
	tb.Cleanup(func() { s.App().Shutdown() })
	return &fzHeadEnv{addr: ln.Addr().String()}
}

// send writes raw, closes the writing half (so an incomplete body ends
// instead of being waited for) and reads the answer: ok is false when the
// server closed the connection without one.
func (e *fzHeadEnv) send(tb testing.TB, raw []byte) (resp *http.Response, body []byte, ok bool) {
	tb.Helper()
	conn, err := net.Dial("tcp", e.addr)
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	conn.Write(raw)
	conn.(*net.TCPConn).CloseWrite()
	resp, err = http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			tb.Fatalf("no answer within 10 s to %q", raw)
		}
		return nil, nil, false
	}
	defer resp.Body.Close()
	body, _ = io.ReadAll(resp.Body)
	return resp, body, true
}

// fzHeadLines parses header lines as a liberal reader would (name before
// the first colon, any case): the oracle the gateway's acceptance is
// checked against.
func fzHeadLines(head string) (names []string, values []string) {
	for _, line := range strings.Split(head, "\n") {
		line = strings.TrimSuffix(line, "\r")
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		names = append(names, strings.ToLower(name))
		values = append(values, strings.TrimSpace(value))
	}
	return names, values
}

// FuzzRequestHead sends a request whose header lines (after the request
// line and Host) and body are fuzzed, over TCP to the real server. Never a
// 5xx; and when the request reaches the decoding route and is accepted, its
// head has no repeated Content-Length, no Content-Length with
// Transfer-Encoding, no Transfer-Encoding but one chunked, no
// Content-Encoding but identity, and no repeated X-Lianmeng-*,
// Content-Type, Content-Encoding, Idempotency-Key, Authorization or Host.
func FuzzRequestHead(f *testing.F) {
	const j = "Content-Type: application/json\r\n"
	body := `{"id":"A-1","amount":1}`
	cl := "Content-Length: " + strconv.Itoa(len(body)) + "\r\n"
	chunked := strconv.FormatInt(int64(len(body)), 16) + "\r\n" + body + "\r\n0\r\n\r\n"
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(body))
	zw.Close()
	for _, s := range []struct{ head, body string }{
		{j + cl, body},
		{j + cl + cl, body},
		{j + cl + "Transfer-Encoding: chunked\r\n", chunked},
		{j + "Transfer-Encoding: chunked\r\n" + cl, chunked},
		{j + "Transfer-Encoding: chunked\r\n", chunked},
		{j + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", chunked},
		{j + "Transfer-Encoding: gzip, chunked\r\n", chunked},
		{j + "Transfer-Encoding: identity\r\n" + cl, body},
		{j + "Content-Length: " + strconv.Itoa(gz.Len()) + "\r\nContent-Encoding: gzip\r\n", gz.String()},
		{j + cl + "Content-Encoding: identity\r\n", body},
		{j + cl + "Content-Encoding: br\r\n", body},
		{j + cl + "Content-Encoding: gzip, gzip\r\n", body},
		{j + cl + "Content-Encoding: identity\r\nContent-Encoding: gzip\r\n", body},
		{j + j + cl, body},
		{j + cl + "X-Lianmeng-Nonce: a\r\nx-lianmeng-nonce: b\r\n", body},
		{j + cl + "Idempotency-Key: a\r\nIdempotency-Key: a\r\n", body},
		{j + cl + "Host: other\r\n", body},
		{j + "Content-Length: 5\r\n", body},
		{j + "Content-Length: 50\r\n", body},
		{j + "Content-Length: -1\r\n", body},
		{j + "Content-Length: +23\r\n", body},
		{j + "Content-Length : 23\r\n", body},
		{j + "Content-Length: 23\n", body},
		{j + cl + " folded: line\r\n", body},
		{j + "Content-Length: 15\r\n", `{"id":"\ud800"}`},
		{j + "Content-Length: 15\r\n", `{"id":1,"ID":2}`},
		{"", ""},
	} {
		f.Add(s.head, []byte(s.body))
	}
	e := fzHeadSetup(f)
	f.Fuzz(func(t *testing.T, head string, body []byte) {
		if strings.Contains(head, "\r\n\r\n") || strings.Contains(head, "\n\n") {
			return // the head ends early: the rest is body, covered by body
		}
		raw := []byte("POST " + fzHeadRoute + " HTTP/1.1\r\nHost: gateway.test\r\n" + head)
		if !strings.HasSuffix(head, "\n") && head != "" {
			raw = append(raw, "\r\n"...)
		}
		raw = append(append(raw, "\r\n"...), body...)
		resp, answer, ok := e.send(t, raw)
		if !ok {
			return // the server closed the connection: nothing was served
		}
		if resp.StatusCode >= 500 {
			t.Fatalf("status %d for %q: %s", resp.StatusCode, raw, answer)
		}
		if resp.StatusCode/100 != 2 {
			return
		}
		names, values := fzHeadLines("Host: gateway.test\r\n" + head)
		count := map[string]int{}
		for i, n := range names {
			count[n]++
			if n == "content-encoding" && values[i] != "" && !strings.EqualFold(values[i], "identity") {
				t.Fatalf("accepted Content-Encoding %q: %q", values[i], raw)
			}
			if n == "transfer-encoding" && !strings.EqualFold(values[i], "chunked") {
				t.Fatalf("accepted Transfer-Encoding %q: %q", values[i], raw)
			}
		}
		for n, c := range count {
			if c > 1 && (isSingleton(n) || n == "content-length" || n == "transfer-encoding") {
				t.Fatalf("accepted %d %s headers: %q", c, n, raw)
			}
		}
		if count["content-length"] > 0 && count["transfer-encoding"] > 0 {
			t.Fatalf("accepted Content-Length with Transfer-Encoding: %q", raw)
		}
	})
}

// fzDupKeys reports whether some object in a JSON text holds two keys that
// encoding/json would match to the same field (bytes.EqualFold: an oracle
// independent of foldKey).
func fzDupKeys(body []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(body))
	var stack [][]string // keys of each open object; nil for arrays
	var isObj []bool
	wantKey := false
	for {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		if d, ok := tok.(json.Delim); ok {
			switch d {
			case '{':
				stack, isObj = append(stack, []string{}), append(isObj, true)
				wantKey = true
				continue
			case '[':
				stack, isObj = append(stack, nil), append(isObj, false)
				wantKey = false
				continue
			default:
				stack, isObj = stack[:len(stack)-1], isObj[:len(isObj)-1]
			}
		} else if k, ok := tok.(string); ok && wantKey {
			top := len(stack) - 1
			for _, prev := range stack[top] {
				if bytes.EqualFold([]byte(prev), []byte(k)) {
					return true
				}
			}
			stack[top] = append(stack[top], k)
			wantKey = false
			continue
		}
		if len(stack) == 0 {
			return false
		}
		wantKey = isObj[len(isObj)-1]
	}
}

// FuzzDecodeBody drives the body decoder with a Content-Encoding header, as
// the server runs it (strictRequest, then decodeJSON): any encoding but
// identity is 415 unsupported_content_encoding whatever the body, since
// nothing is decompressed; an accepted body is UTF-8, repeats no key (also
// up to case) and had no unpaired surrogate escape turned into U+FFFD.
func FuzzDecodeBody(f *testing.F) {
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(`{"id":"A-1"}`))
	zw.Close()
	for _, s := range []struct {
		enc  string
		body []byte
	}{
		{"", []byte(`{"id":"A-1","amount":1}`)},
		{"identity", []byte(`{"id":"A-1"}`)},
		{"IDENTITY", []byte(`{"id":"A-1"}`)},
		{"gzip", gz.Bytes()},
		{"gzip, gzip", gz.Bytes()},
		{"br", []byte(`{"id":"A-1"}`)},
		{"deflate", []byte(`{}`)},
		{"identity, gzip", []byte(`{}`)},
		{" ", []byte(`{}`)},
		{"", []byte(`{"id":"\ud800"}`)},
		{"", []byte(`{"id":"\ud83d\ude00"}`)},
		{"", []byte(`{"id":"\ufffd"}`)},
		{"", []byte("{\"id\":\"\xef\xbf\xbd\"}")},
		{"", []byte("{\"id\":\"\xd5\xc5\xc8\xfd\"}")},
		{"", []byte(`{"id":"a","ID":"b"}`)},
		{"", []byte(`{"ref":{"kind":"a","\u212aind":"b"}}`)},
		{"", []byte(`{"attrs":{"k":"v","K":"w"}}`)},
		{"", []byte(`{"Amount":1}`)},
	} {
		f.Add(s.enc, s.body)
	}
	app := fiber.New(fiber.Config{ErrorHandler: func(c *fiber.Ctx, err error) error {
		var ae *Error
		if !errors.As(err, &ae) {
			return c.Status(599).SendString(err.Error())
		}
		return c.Status(ae.Status).SendString(ae.Code)
	}})
	app.Use(strictRequest)
	app.Post("/", func(c *fiber.Ctx) error {
		var v fzDecodeTarget
		if err := decodeJSON(c, &v); err != nil {
			return err
		}
		return c.JSON(v)
	})
	codes := []string{CodeMalformedJSON, CodeValidation, CodeUnsupportedMedia, CodeInvalidEncoding, CodeDuplicateKey, CodeUnsupportedEncoding}
	f.Fuzz(func(t *testing.T, enc string, body []byte) {
		// Only what can travel in a header value.
		enc = strings.Map(func(r rune) rune {
			if r < 0x20 || r >= 0x7f {
				return -1
			}
			return r
		}, enc)
		req := httptest.NewRequest("POST", "/", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if enc != "" {
			req.Header.Set("Content-Encoding", enc)
		}
		resp, err := app.Test(req, -1)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		if v := strings.TrimSpace(enc); v != "" && !strings.EqualFold(v, "identity") {
			if resp.StatusCode != 415 || string(out) != CodeUnsupportedEncoding {
				t.Fatalf("Content-Encoding %q: %d %s, want 415 %s", enc, resp.StatusCode, out, CodeUnsupportedEncoding)
			}
			return
		}
		switch {
		case resp.StatusCode == 200:
			if !utf8.Valid(body) {
				t.Fatalf("accepted invalid UTF-8: %q", body)
			}
			if fzDupKeys(body) {
				t.Fatalf("accepted a repeated key: %q", body)
			}
			var v fzDecodeTarget
			if err := json.Unmarshal(body, &v); err != nil {
				t.Fatalf("accepted %q, which encoding/json refuses: %v", body, err)
			}
			strs := []string{v.ID, v.Ref.Kind, v.Ref.Value}
			for _, l := range v.Lines {
				strs = append(strs, l.Kind, l.Value)
			}
			for k, x := range v.Attrs {
				strs = append(strs, k, x)
			}
			lower := strings.ToLower(string(body))
			if slices.ContainsFunc(strs, func(s string) bool { return strings.ContainsRune(s, utf8.RuneError) }) &&
				!strings.Contains(lower, `\ufffd`) && !strings.Contains(string(body), "\uFFFD") {
				t.Fatalf("accepted %q: a string decoded to U+FFFD that the body does not hold", body)
			}
		case resp.StatusCode >= 400 && resp.StatusCode < 500:
			if !slices.Contains(codes, string(out)) {
				t.Fatalf("status %d code %q for %q", resp.StatusCode, out, body)
			}
		default:
			t.Fatalf("status %d (%s) for %q", resp.StatusCode, out, body)
		}
	})
}
