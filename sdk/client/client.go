// Package client is a small Go client for the Lianmeng gateway API. It
// signs merchant requests (see package signature for the scheme) and
// authenticates operator requests with the bearer token, and it turns error
// responses into *APIError values carrying the stable error code and the
// host that answered.
//
// The client never follows redirects: a signed request (its headers, and a
// 307/308's body) or a bearer token re-sent to wherever a Location header
// points would hand a valid, replayable request to another server. A 3xx
// answer comes back as an *APIError that wraps ErrRedirect and carries the
// Location, for the caller to decide (usually: fix the base URL).
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/lianmeng/lianmeng/sdk/signature"
)

// ErrRedirect is wrapped by the *APIError of a 3xx response: the client did
// not follow it (see the package documentation).
var ErrRedirect = errors.New("redirect not followed")

// maxPlainMessage bounds Message for an error body that is not the
// gateway's JSON error model (an HTML page from a proxy, say).
const maxPlainMessage = 1024

// APIError is an error response: from the gateway (Code is its stable error
// code) or from whatever answered instead (Code is "http_" and the status).
type APIError struct {
	Status    int
	Code      string
	Message   string
	RequestID string
	// RetryAfter is the Retry-After header, if any.
	RetryAfter time.Duration
	// Host is the host (and port, if any) the request was sent to, so a
	// refusal names who refused.
	Host string
	// Location is the Location header of a redirect (3xx), which the
	// client did not follow.
	Location string
}

func (e *APIError) Error() string {
	if e.redirect() {
		return fmt.Sprintf("lianmeng: %s answered %d with Location %q: %v (signed requests and credentials are never re-sent to another URL; check the base URL)",
			e.Host, e.Status, e.Location, ErrRedirect)
	}
	return fmt.Sprintf("lianmeng: %s: %d %s: %s (request %s)", e.Host, e.Status, e.Code, e.Message, e.RequestID)
}

// Unwrap returns ErrRedirect for a redirect, so errors.Is(err,
// client.ErrRedirect) tells one apart.
func (e *APIError) Unwrap() error {
	if e.redirect() {
		return ErrRedirect
	}
	return nil
}

func (e *APIError) redirect() bool { return e.Status >= 300 && e.Status < 400 }

// refuseRedirect is every client's CheckRedirect: the 3xx response itself
// is returned to Do.
func refuseRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// Client calls the gateway as one merchant (with a Signer) or as the
// operator (with a token).
type Client struct {
	base       string
	http       *http.Client
	merchantID string
	signer     signature.Signer
	token      string
	now        func() time.Time
	evidence   *evidenceKeeper // receipts and checkpoints kept (WithEvidence)
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient sets the HTTP client (default: 30 s timeout). The client
// uses a copy of h whose CheckRedirect refuses every redirect, whatever h's
// own; h itself is not changed.
func WithHTTPClient(h *http.Client) Option { return func(c *Client) { c.http = h } }

// WithClock sets the clock used for timestamps (tests).
func WithClock(now func() time.Time) Option { return func(c *Client) { c.now = now } }

// NewMerchant returns a client that signs every request as merchantID.
func NewMerchant(baseURL, merchantID string, s signature.Signer, opts ...Option) *Client {
	c := &Client{base: strings.TrimRight(baseURL, "/"), merchantID: merchantID, signer: s}
	return c.apply(opts)
}

// NewOperator returns a client for the operator API. With a member token
// it calls the member API; with an empty token, the public endpoints.
func NewOperator(baseURL, token string, opts ...Option) *Client {
	c := &Client{base: strings.TrimRight(baseURL, "/"), token: token}
	return c.apply(opts)
}

func (c *Client) apply(opts []Option) *Client {
	c.http = &http.Client{Timeout: 30 * time.Second}
	c.now = time.Now
	for _, o := range opts {
		o(c)
	}
	hc := *c.http
	hc.CheckRedirect = refuseRedirect
	c.http = &hc
	return c
}

// Signer returns the signer of a merchant client (nil for others).
func (c *Client) Signer() signature.Signer { return c.signer }

// RequestOption adjusts one request.
type RequestOption func(*http.Request)

// IdempotencyKey sets the Idempotency-Key header of a write.
func IdempotencyKey(k string) RequestOption {
	return func(r *http.Request) { r.Header.Set("Idempotency-Key", k) }
}

// Do sends method path with in (JSON-encoded unless nil or []byte) and
// decodes a 2xx response into out (if not nil). Error responses come back
// as *APIError.
func (c *Client) Do(ctx context.Context, method, path string, in, out any, opts ...RequestOption) error {
	var body []byte
	switch v := in.(type) {
	case nil:
	case []byte:
		body = v
	default:
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("lianmeng: encode request: %w", err)
		}
		body = b
	}
	req, err := c.NewRequest(ctx, method, path, body, opts...)
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("lianmeng: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("lianmeng: read response: %w", err)
	}
	if resp.StatusCode >= 300 {
		return decodeError(resp, raw)
	}
	if err := c.keepReceipt(resp); err != nil {
		return err
	}
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("lianmeng: decode response: %w", err)
		}
	}
	return nil
}

// NewRequest builds a signed (or token-authenticated) request; exported so
// callers can send raw bodies or inspect the headers. A caller sending it
// with its own http.Client should refuse redirects as Do does
// (CheckRedirect returning http.ErrUseLastResponse).
func (c *Client) NewRequest(ctx context.Context, method, path string, body []byte, opts ...RequestOption) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("lianmeng: build request: %w", err)
	}
	if len(body) > 0 {
		req.Header.Set("Content-Type", "application/json")
	}
	for _, o := range opts {
		o(req)
	}
	if c.signer == nil {
		// Operator, member-token or public (no credentials) client.
		if c.token != "" {
			req.Header.Set("Authorization", "Bearer "+c.token)
		}
		return req, nil
	}
	if err := Sign(req, c.merchantID, c.signer, c.now(), signature.NewNonce(), body); err != nil {
		return nil, err
	}
	return req, nil
}

// Sign adds the signature headers to req for body.
func Sign(req *http.Request, merchantID string, s signature.Signer, now time.Time, nonce string, body []byte) error {
	ts := now.Unix()
	canonical := signature.CanonicalString(merchantID, s.KeyID(), req.Method, req.URL.RequestURI(), ts, nonce, body)
	sig, err := s.Sign(canonical)
	if err != nil {
		return err
	}
	req.Header.Set(signature.HeaderMerchant, merchantID)
	req.Header.Set(signature.HeaderKey, s.KeyID())
	req.Header.Set(signature.HeaderTimestamp, strconv.FormatInt(ts, 10))
	req.Header.Set(signature.HeaderNonce, nonce)
	req.Header.Set(signature.HeaderSignature, sig)
	return nil
}

func decodeError(resp *http.Response, raw []byte) error {
	host := ""
	if resp.Request != nil && resp.Request.URL != nil {
		host = resp.Request.URL.Host
	}
	return ParseError(resp.StatusCode, host, raw, resp.Header.Get("Location"), resp.Header.Get("Retry-After"))
}

// ParseError reads a gateway's error answer into an APIError, as Do does:
// the code, message and request id of its JSON error body, or, for a body
// of another shape, "http_" and the status with the body's text as the
// message. host names who answered; location and retryAfter are the
// answer's Location and Retry-After headers (location is kept only for a
// redirect). For callers that send requests with another HTTP client.
func ParseError(status int, host string, body []byte, location, retryAfter string) *APIError {
	var parsed struct {
		Error struct {
			Code      string `json:"code"`
			Message   string `json:"message"`
			RequestID string `json:"request_id"`
		} `json:"error"`
	}
	e := &APIError{Status: status, Host: host}
	if e.redirect() {
		e.Location = location
	}
	if json.Unmarshal(body, &parsed) == nil && parsed.Error.Code != "" {
		e.Code, e.Message, e.RequestID = parsed.Error.Code, parsed.Error.Message, parsed.Error.RequestID
	} else {
		msg := strings.TrimSpace(string(body))
		if len(msg) > maxPlainMessage {
			msg = strings.ToValidUTF8(msg[:maxPlainMessage], "") + "…"
		}
		e.Code, e.Message = "http_"+strconv.Itoa(status), msg
	}
	if ra, err := strconv.Atoi(retryAfter); err == nil {
		e.RetryAfter = time.Duration(ra) * time.Second
	}
	return e
}
