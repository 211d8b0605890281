package loadgen

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/lianmeng/lianmeng/adapters/shopify"
	"github.com/lianmeng/lianmeng/sdk/client"
	"github.com/lianmeng/lianmeng/sdk/signature"
)

// The measured earns go through fasthttp's client rather than net/http's
// (Earn, which the crash tests keep): on the bench's two cores the
// generator's CPU competes with the gateway's, and net/http's client was
// most of it (per-request allocations, a goroutine pair per connection).
// Setup and the operator calls stay on net/http:
// they are not the measured path.

// earnPath is the signed earn endpoint.
const earnPath = "/v1/merchant/earn"

// EarnClient sends signed earns to one gateway over keep-alive connections.
// It is safe for concurrent use; each goroutine sends through its own
// Earner.
type EarnClient struct {
	hc      *fasthttp.HostClient
	base    string // scheme://host[:port][/path], no trailing slash
	host    string // for APIError.Host
	timeout time.Duration
}

// NewEarnClient returns a client for base (a loopback URL, as
// CheckLoopback) holding up to conns connections.
func NewEarnClient(base string, conns int, timeout time.Duration) (*EarnClient, error) {
	if err := CheckLoopback(base); err != nil {
		return nil, err
	}
	u, _ := url.Parse(base)
	addr := u.Host
	if u.Port() == "" {
		port := "80"
		if u.Scheme == "https" {
			port = "443"
		}
		addr = net.JoinHostPort(u.Hostname(), port)
	}
	hc := &fasthttp.HostClient{
		Addr:     addr,
		IsTLS:    u.Scheme == "https",
		Name:     "lianmeng-bench",
		MaxConns: conns,
		// A connection is kept for the whole run: one request at a time
		// per client never leaves it idle for long.
		MaxIdleConnDuration: time.Minute,
		// Never resend: a signed request's nonce is used once, and the
		// run counts what failed.
		MaxIdemponentCallAttempts: 1,
		// The target is signed exactly as sent.
		DisablePathNormalizing: true,
		MaxResponseBodySize:    16 << 20,
		// fasthttp refuses an answer whose headers do not fit its read
		// buffer; an earn's receipt header grows with the batch (about
		// 1.2 KB at 256 in flight), so 16 KiB rather than 4.
		ReadBufferSize: 16 << 10,
	}
	return &EarnClient{hc: hc, base: strings.TrimRight(base, "/"), host: u.Host, timeout: timeout}, nil
}

// Connect opens up to n connections (n concurrent GET /healthz) so that a
// measured window does not include their setup. Answers are ignored: any
// answer leaves its connection open for reuse.
func (c *EarnClient) Connect(n int) {
	var wg sync.WaitGroup
	gate := make(chan struct{})
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			req.SetRequestURI(c.base + "/healthz")
			<-gate
			_ = c.hc.DoTimeout(req, resp, c.timeout)
		}()
	}
	close(gate)
	wg.Wait()
}

// Conns is the number of connections open.
func (c *EarnClient) Conns() int { return c.hc.ConnsCount() }

// Close closes the idle connections.
func (c *EarnClient) Close() { c.hc.CloseIdleConnections() }

// Earner sends one signed earn at a time, reusing its request, response
// and buffers: one per client goroutine, not safe for concurrent use.
type Earner struct {
	c      *EarnClient
	req    *fasthttp.Request
	hook   *fasthttp.Request // the pos shape's webhook, made on first use
	resp   *fasthttp.Response
	target string // request target as sent, and signed
	body   []byte
	canon  []byte
	sig    []byte
	ts     int64
	tsText []byte
	nonce  [32]byte
	rng    *mrand.ChaCha8
}

// Earner returns a new Earner on c.
func (c *EarnClient) Earner() *Earner {
	e := &Earner{c: c, req: new(fasthttp.Request), resp: new(fasthttp.Response),
		body: make([]byte, 0, 160), canon: make([]byte, 0, 256), sig: make([]byte, 0, 96)}
	e.req.SetRequestURI(c.base + earnPath)
	e.req.Header.SetMethod(fasthttp.MethodPost)
	e.req.Header.SetContentType("application/json")
	e.target = string(e.req.URI().RequestURI())
	// Nonces need only be unique per key: 128 bits from a generator
	// seeded from crypto/rand, without a system call per request.
	var seed [32]byte
	rand.Read(seed[:])
	e.rng = mrand.NewChaCha8(seed)
	return e
}

// Earn sends b signed as m, with idempotency key key, at time now (its
// timestamp). A non-2xx answer is a *client.APIError carrying the code of
// the gateway's JSON error body, as Earn's.
func (e *Earner) Earn(m *Merchant, key string, b EarnBody, now time.Time) error {
	e.body = b.AppendJSON(e.body[:0])
	if err := e.sign(m, now); err != nil {
		return err
	}
	h := &e.req.Header
	h.Set("Idempotency-Key", key)
	e.req.SetBodyRaw(e.body)
	if err := e.c.hc.DoTimeout(e.req, e.resp, e.c.timeout); err != nil {
		return fmt.Errorf("lianmeng: POST %s: %w", earnPath, err)
	}
	if st := e.resp.StatusCode(); st >= 300 {
		return e.apiError(st)
	}
	return nil
}

// sign sets the five signature headers (package signature) for e.body.
func (e *Earner) sign(m *Merchant, now time.Time) error {
	if ts := now.Unix(); ts != e.ts || len(e.tsText) == 0 {
		e.ts, e.tsText = ts, strconv.AppendInt(e.tsText[:0], ts, 10)
	}
	var rnd [16]byte
	binary.LittleEndian.PutUint64(rnd[:8], e.rng.Uint64())
	binary.LittleEndian.PutUint64(rnd[8:], e.rng.Uint64())
	hex.Encode(e.nonce[:], rnd[:])
	e.canon = signature.AppendCanonical(e.canon[:0], m.ID, m.KeyID, fasthttp.MethodPost, e.target, e.ts, string(e.nonce[:]), e.body)
	var err error
	if e.sig, err = m.appendSignature(e.sig[:0], e.canon); err != nil {
		return err
	}
	h := &e.req.Header
	h.Set(signature.HeaderMerchant, m.ID)
	h.Set(signature.HeaderKey, m.KeyID)
	h.SetBytesV(signature.HeaderTimestamp, e.tsText)
	h.SetBytesV(signature.HeaderNonce, e.nonce[:])
	h.SetBytesV(signature.HeaderSignature, e.sig)
	return nil
}

// Webhook delivers body to the merchant's POS connection as Shopify would
// (X-Shopify-Hmac-Sha256: base64 HMAC-SHA256 of the body under the client
// secret), through the same connections as the earns so that the pos shape
// and direct earns are measured with the same client: an error unless the
// gateway answered 200.
func (e *Earner) Webhook(m *Merchant, eventID string, body []byte) error {
	if e.hook == nil {
		e.hook = new(fasthttp.Request)
		e.hook.Header.SetMethod(fasthttp.MethodPost)
		e.hook.Header.SetContentType("application/json")
		e.hook.Header.Set(shopify.HeaderTopic, "orders/paid")
	}
	e.hook.SetRequestURI(m.POS.URL)
	e.hook.Header.Set(shopify.HeaderHMAC, shopify.Sign(m.POS.Secret, body))
	e.hook.Header.Set(shopify.HeaderEventID, eventID)
	e.hook.SetBodyRaw(body)
	if err := e.c.hc.DoTimeout(e.hook, e.resp, e.c.timeout); err != nil {
		return fmt.Errorf("lianmeng: POST %s: %w", m.POS.URL, err)
	}
	if st := e.resp.StatusCode(); st != fasthttp.StatusOK {
		return e.apiError(st)
	}
	return nil
}

// apiError is client.Do's error for the response in e.resp.
func (e *Earner) apiError(status int) error {
	return client.ParseError(status, e.c.host, e.resp.Body(), string(e.resp.Header.Peek("Location")), string(e.resp.Header.Peek("Retry-After")))
}

// appendSignature appends the base64 signature of canonical, without
// allocating when the merchant's signer can (signature.AppendSigner).
func (m *Merchant) appendSignature(dst, canonical []byte) ([]byte, error) {
	if as, ok := m.Signer.(signature.AppendSigner); ok {
		return as.AppendSign(dst, canonical)
	}
	s, err := m.Signer.Sign(string(canonical))
	return append(dst, s...), err
}
