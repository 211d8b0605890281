package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/sdk/client"
	"github.com/lianmeng/lianmeng/sdk/signature"
)

func TestCheckLoopback(t *testing.T) {
	for _, ok := range []string{"http://127.0.0.1:8080", "http://localhost:1", "http://[::1]:80", "http://127.3.4.5"} {
		if err := CheckLoopback(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, bad := range []string{"http://10.0.0.1:8080", "http://example.com", "ftp://127.0.0.1", "127.0.0.1:8080", "http://0.0.0.0:80", ""} {
		if err := CheckLoopback(bad); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

func TestValidateBounds(t *testing.T) {
	good := Config{BaseURL: "http://127.0.0.1:1", Duration: time.Second}
	good.defaults()
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, mut := range map[string]func(*Config){
		"clients":   func(c *Config) { c.Clients = MaxClients + 1 },
		"duration":  func(c *Config) { c.Duration = MaxDuration + 1 },
		"merchants": func(c *Config) { c.Merchants = MaxMerchants + 1 },
		"shape":     func(c *Config) { c.Shape = "wave" },
		"algorithm": func(c *Config) { c.Algorithm = "rsa" },
		"remote":    func(c *Config) { c.BaseURL = "http://192.168.1.1:8080" },
	} {
		c := good
		mut(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: out-of-bounds config accepted", name)
		}
	}
	hot := good
	hot.Shape, hot.Merchants = ShapeHot, 0
	if err := hot.Validate(); err != nil {
		t.Errorf("hot ignores merchants: %v", err)
	}
}

func TestQuantile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	if q := quantile(d, 0.5); q != 50*time.Millisecond {
		t.Errorf("p50 = %v", q)
	}
	if q := quantile(d, 0.99); q != 99*time.Millisecond {
		t.Errorf("p99 = %v", q)
	}
	if q := quantile(nil, 0.99); q != 0 {
		t.Errorf("empty p99 = %v", q)
	}
}

// The generator's hand-written encodings are the ones it replaced: the
// earn body is what json.Marshal writes (also for strings it must escape),
// and a member of the pool is "139" and its number in eight digits.
func TestEarnBodyAndMemberEncodings(t *testing.T) {
	for _, b := range []EarnBody{
		{OrderID: "a1b2c3-0-17", Member: PhoneMember(42), AmountFen: 12345},
		{OrderID: "", Member: Member{Kind: "phone", Value: ""}, AmountFen: 0},
		{OrderID: `q"<>&\` + "\x01é\u2028", Member: Member{Kind: "customer", Value: "x y"}, AmountFen: -1},
	} {
		want, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		if got := b.AppendJSON([]byte("prefix")); string(got) != "prefix"+string(want) {
			t.Errorf("AppendJSON = %s, want %s", got, want)
		}
	}
	for _, i := range []int{0, 7, 42, 99_999, 12_345_678, 99_999_999, 100_000_000, -3} {
		if got, want := PhoneMember(i).Value, "139"+fmt.Sprintf("%08d", i); got != want {
			t.Errorf("PhoneMember(%d) = %s, want %s", i, got, want)
		}
	}
}

// BenchmarkSignedEarnRequest is the generator's own work per earn before
// the network: the body, the request and its signature (HMAC, as bench
// sets the merchants up).
func BenchmarkSignedEarnRequest(b *testing.B) {
	s, err := signature.NewHMACSigner("key_0123456789abcdef0123", "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")
	if err != nil {
		b.Fatal(err)
	}
	c := client.NewMerchant("http://127.0.0.1:8080", "mch_0123456789abcdef0123", s)
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		order := "a1b2c3-0-" + strconv.Itoa(i)
		body := EarnBody{OrderID: order, Member: PhoneMember(i % 100_000), AmountFen: int64(100 + i%50_000)}.AppendJSON(make([]byte, 0, 128))
		if _, err := c.NewRequest(ctx, "POST", "/v1/merchant/earn", body, client.IdempotencyKey(order)); err != nil {
			b.Fatal(err)
		}
	}
}

const testSecret = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="

// verifyingServer checks every earn as the gateway does (signature over
// the request as received, parsed by net/http rather than fasthttp, nonce
// never reused, the five headers, the body's JSON) and answers 201, or
// 401 signature_invalid or nonce_replayed in the gateway's error body.
func verifyingServer(t *testing.T, verifiers map[string]*signature.Verifier) *httptest.Server {
	t.Helper()
	var mu sync.Mutex
	seen := map[string]bool{}
	fail := func(w http.ResponseWriter, status int, code string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"error":{"code":%q,"message":"refused","request_id":"r1"}}`, code)
	}
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			w.WriteHeader(http.StatusOK)
			return
		}
		body, _ := io.ReadAll(r.Body)
		var eb EarnBody
		if r.Method != "POST" || r.URL.RequestURI() != "/v1/merchant/earn" || r.Header.Get("Content-Type") != "application/json" ||
			json.Unmarshal(body, &eb) != nil || eb.OrderID == "" || r.Header.Get("Idempotency-Key") != eb.OrderID {
			fail(w, 400, "bad_request")
			return
		}
		for _, h := range []string{signature.HeaderMerchant, signature.HeaderKey, signature.HeaderTimestamp, signature.HeaderNonce, signature.HeaderSignature} {
			if len(r.Header.Values(h)) != 1 {
				fail(w, 401, "missing_signature")
				return
			}
		}
		ts, err := strconv.ParseInt(r.Header.Get(signature.HeaderTimestamp), 10, 64)
		v := verifiers[r.Header.Get(signature.HeaderKey)]
		nonce := r.Header.Get(signature.HeaderNonce)
		if err != nil || v == nil || !signature.ValidNonce(nonce) || time.Since(time.Unix(ts, 0)).Abs() > 5*time.Minute {
			fail(w, 401, "signature_invalid")
			return
		}
		canon := signature.CanonicalString(r.Header.Get(signature.HeaderMerchant), r.Header.Get(signature.HeaderKey), r.Method, r.URL.RequestURI(), ts, nonce, body)
		if v.Verify(canon, r.Header.Get(signature.HeaderSignature)) != nil {
			fail(w, 401, "signature_invalid")
			return
		}
		mu.Lock()
		reused := seen[nonce]
		seen[nonce] = true
		mu.Unlock()
		if reused {
			fail(w, 401, "nonce_replayed")
			return
		}
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{"purchase_id":1,"member_id":"mem_1","points":1}`)
	}))
	t.Cleanup(s.Close)
	return s
}

// testMerchant is a merchant signing as Setup sets one up (HMAC), with
// secret as its credential's.
func testMerchant(t *testing.T, id, keyID, secret string) Merchant {
	t.Helper()
	s, err := signature.NewHMACSigner(keyID, secret)
	if err != nil {
		t.Fatal(err)
	}
	return Merchant{ID: id, KeyID: keyID, Signer: s}
}

// An Earner's requests verify as the gateway verifies them, signed with
// the pooled HMAC or through any other Signer (ed25519); a wrong secret
// is refused and counted by the code of the error body.
func TestEarnerSignsVerifiably(t *testing.T) {
	hv, err := signature.NewVerifier(signature.HMACSHA256, testSecret)
	if err != nil {
		t.Fatal(err)
	}
	pub, priv, _ := ed25519.GenerateKey(nil)
	pemText, _ := signature.MarshalPublicKey(pub)
	ev, err := signature.NewVerifier(signature.Ed25519, pemText)
	if err != nil {
		t.Fatal(err)
	}
	s := verifyingServer(t, map[string]*signature.Verifier{"key_h": hv, "key_e": ev})
	good := testMerchant(t, "mch_1", "key_h", testSecret)
	wrong := testMerchant(t, "mch_1", "key_h", "ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA=")
	ed := Merchant{ID: "mch_2", KeyID: "key_e", Signer: signature.NewEd25519Signer("key_e", priv)}

	ec, err := NewEarnClient(s.URL+"/", 2, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer ec.Close()
	e := ec.Earner()
	for i := range 5 { // reused request, buffers and timestamp text
		for _, m := range []*Merchant{&good, &ed} {
			order := fmt.Sprintf("o-%s-%d", m.ID, i)
			if err := e.Earn(m, order, EarnBody{OrderID: order, Member: PhoneMember(i), AmountFen: 100 + int64(i)}, time.Now()); err != nil {
				t.Fatalf("earn %d as %s: %v", i, m.ID, err)
			}
		}
	}
	err = e.Earn(&wrong, "o-wrong", EarnBody{OrderID: "o-wrong", Member: PhoneMember(1), AmountFen: 100}, time.Now())
	var ae *client.APIError
	if !errors.As(err, &ae) || ae.Status != 401 || ae.RequestID != "r1" || ErrorCode(err) != "signature_invalid" {
		t.Fatalf("wrong secret: %v (code %q)", err, ErrorCode(err))
	}
	// A stale timestamp is what the gateway refuses too.
	err = e.Earn(&good, "o-old", EarnBody{OrderID: "o-old", Member: PhoneMember(1), AmountFen: 100}, time.Now().Add(-time.Hour))
	if ErrorCode(err) != "signature_invalid" {
		t.Fatalf("an hour-old timestamp: %v", err)
	}
	// A non-JSON answer is classified by its status, a dead server as transport.
	if ae := client.ParseError(502, "h", []byte("bad gateway\n"), "", "3"); ErrorCode(ae) != "http_502" || ae.Message != "bad gateway" || ae.RetryAfter != 3*time.Second {
		t.Errorf("plain 502: %+v", ae)
	}
	if ae := client.ParseError(308, "h", nil, "http://elsewhere/", ""); ErrorCode(ae) != "http_308" || ae.Location != "http://elsewhere/" {
		t.Errorf("redirect: %+v", ae)
	}
	s.Close()
	if err := e.Earn(&good, "o-down", EarnBody{OrderID: "o-down", Member: PhoneMember(1), AmountFen: 100}, time.Now()); ErrorCode(err) != "transport" {
		t.Errorf("server down: %v (code %q)", err, ErrorCode(err))
	}
}

// Drive sends signed earns that verify, counts refusals by the error
// body's code, and opens a connection per client before its clock starts.
func TestDriveCountsByCode(t *testing.T) {
	hv, _ := signature.NewVerifier(signature.HMACSHA256, testSecret)
	s := verifyingServer(t, map[string]*signature.Verifier{"key_h": hv})
	ms := []Merchant{testMerchant(t, "mch_1", "key_h", testSecret), testMerchant(t, "mch_2", "key_h", "ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA=")}
	r, err := Drive(context.Background(), Config{BaseURL: s.URL, Clients: 4, Warmup: 50 * time.Millisecond, Duration: 300 * time.Millisecond}, ms, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.OK == 0 || r.Errors["signature_invalid"] == 0 || len(r.Errors) != 1 || r.WarmupRequests == 0 || r.Requests <= r.OK {
		t.Fatalf("result %+v", r)
	}
}

// Connect leaves one open connection per concurrent client.
func TestEarnClientConnect(t *testing.T) {
	const n = 6
	var arrived sync.WaitGroup
	arrived.Add(n)
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Hold every call until all n are in, so n connections are needed.
		arrived.Done()
		arrived.Wait()
		w.WriteHeader(http.StatusNotFound)
	}))
	defer s.Close()
	ec, err := NewEarnClient(s.URL, n, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer ec.Close()
	ec.Connect(n)
	if got := ec.Conns(); got != n {
		t.Fatalf("%d connections open after Connect(%d)", got, n)
	}
	if _, err := NewEarnClient("http://192.0.2.1:80", 1, time.Second); err == nil {
		t.Fatal("a non-loopback earn client")
	}
}

// cannedServer answers every HTTP/1.1 request on a loopback listener with
// the same 201, parsing no more than it must (the request line, headers
// up to the blank line, Content-Length bytes of body): the same small,
// fixed cost behind either client in BenchmarkEarnRoundTrip.
func cannedServer(b *testing.B) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	const body = `{"purchase_id":1,"member_id":"mem_1","points":1}`
	resp := []byte("HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReaderSize(c, 4096)
				for {
					n := 0
					for {
						line, err := br.ReadSlice('\n')
						if err != nil {
							return
						}
						if len(line) <= 2 {
							break
						}
						if v, ok := bytes.CutPrefix(bytes.ToLower(line), []byte("content-length:")); ok {
							n, _ = strconv.Atoi(string(bytes.TrimSpace(v)))
						}
					}
					if _, err := br.Discard(n); err != nil {
						return
					}
					if _, err := c.Write(resp); err != nil {
						return
					}
				}
			}()
		}
	}()
	return "http://" + ln.Addr().String()
}

// BenchmarkEarnRoundTrip is the generator's whole cost of one signed earn
// over loopback, through net/http's client as Earn sends (what bench used
// before) and through an Earner as bench sends now, against a server that
// does almost nothing. cpu-µs/op is the process's CPU (both ends, the
// server's part the same in each) per earn; 64 clients as bench runs.
func BenchmarkEarnRoundTrip(b *testing.B) {
	base := cannedServer(b)
	s, err := signature.NewHMACSigner("key_0123456789abcdef0123", testSecret)
	if err != nil {
		b.Fatal(err)
	}
	hc := NewHTTPClient(64, 10*time.Second)
	m := Merchant{ID: "mch_0123456789abcdef0123", KeyID: "key_0123456789abcdef0123", Signer: s,
		Client: client.NewMerchant(base, "mch_0123456789abcdef0123", s, client.WithHTTPClient(hc))}
	ec, err := NewEarnClient(base, 64, 10*time.Second)
	if err != nil {
		b.Fatal(err)
	}
	defer ec.Close()
	ctx := context.Background()
	var seq atomic.Int64
	body := func() EarnBody {
		i := int(seq.Add(1))
		return EarnBody{OrderID: "a1b2c3-0-" + strconv.Itoa(i), Member: PhoneMember(i % 100_000), AmountFen: int64(100 + i%50_000)}
	}
	for _, tc := range []struct {
		name string
		per  func() func() error
	}{
		{"nethttp", func() func() error {
			return func() error {
				eb := body()
				_, err := Earn(ctx, &m, eb.OrderID, eb.AppendJSON(make([]byte, 0, 128)))
				return err
			}
		}},
		{"fasthttp", func() func() error {
			e := ec.Earner()
			return func() error {
				eb := body()
				return e.Earn(&m, eb.OrderID, eb, time.Now())
			}
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.SetParallelism(max(1, 64/runtime.GOMAXPROCS(0)))
			b.ReportAllocs()
			cpu0 := processCPU()
			b.RunParallel(func(pb *testing.PB) {
				earn := tc.per()
				for pb.Next() {
					if err := earn(); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64((processCPU()-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
		})
	}
}

// processCPU is the process's user and system CPU so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
