// Package loadgen drives signed earn requests at a running Lianmeng gateway
// over HTTP and measures throughput and latency. It is the engine of
// `lianmeng bench` (gateway/cmd/lianmeng/cmd_bench.go) and of the crash test.
//
// It only talks to loopback addresses and every run is bounded in time,
// clients and merchants: it is a measuring tool, not a traffic cannon.
package loadgen

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lianmeng/lianmeng/sdk/client"
	"github.com/lianmeng/lianmeng/sdk/payment"
	"github.com/lianmeng/lianmeng/sdk/signature"
)

// Shapes of traffic.
const (
	// ShapeSpread spreads earns uniformly over many merchants (default 1,000).
	ShapeSpread = "spread"
	// ShapeHot sends every earn to one merchant: its budget is a hot row.
	ShapeHot = "hot"
	// ShapePOS spreads sales like ShapeSpread, but each arrives as a
	// Shopify orders/paid webhook at the merchant's POS connection
	// (signed with the connection's secret) instead of a signed earn: the
	// gateway must run the shopify pos_adapter plugin (POSAdapter). After
	// the window the run waits for the inbox to process every webhook,
	// and earn/s counts that wait (Result.DrainSeconds).
	ShapePOS = "pos"
)

// Bounds on a run.
const (
	MaxClients   = 1024
	MaxMerchants = 10_000
	MaxDuration  = 10 * time.Minute
	// MaxSamples bounds the latency samples kept per run (memory).
	MaxSamples = 20_000_000
)

// Config describes a run.
type Config struct {
	// BaseURL of the gateway, e.g. http://127.0.0.1:8080. Loopback only.
	BaseURL string
	// OperatorToken authenticates the setup calls.
	OperatorToken string
	// Clients is the number of concurrent clients (each one request at a time).
	Clients int
	// Duration is the measured time, after Warmup.
	Duration time.Duration
	// Warmup is run before measuring; its requests are not counted.
	Warmup time.Duration
	// Shape is ShapeSpread or ShapeHot.
	Shape string
	// Merchants is the number of merchants for ShapeSpread (hot uses 1).
	Merchants int
	// Algorithm of the merchants' credentials: hmac-sha256 (default) or ed25519.
	Algorithm string
	// Members is the size of the member pool per run (default 100,000).
	Members int
	// MaxRequests, if > 0, stops the run after that many requests.
	MaxRequests int64
	// RequestTimeout bounds one request (default 10 s).
	RequestTimeout time.Duration
	// SetupConcurrency is the number of concurrent setup calls (default 16).
	SetupConcurrency int
	// POSAdapter names the gateway's Shopify pos_adapter plugin for
	// ShapePOS (default "shopify").
	POSAdapter string
	// DrainTimeout bounds the wait for the inbox after a ShapePOS window
	// (default 5 minutes).
	DrainTimeout time.Duration
	// RuleExpression, if set, makes the merchants earn through a CEL rule
	// version with this expression instead of the flat rate
	// (SetupOptions.RuleExpression).
	RuleExpression string
}

func (c *Config) defaults() {
	if c.Clients == 0 {
		c.Clients = 64
	}
	if c.Shape == "" {
		c.Shape = ShapeSpread
	}
	if c.Merchants == 0 {
		c.Merchants = 1000
	}
	if c.Algorithm == "" {
		c.Algorithm = "hmac-sha256"
	}
	if c.Members == 0 {
		c.Members = 100_000
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = 10 * time.Second
	}
	if c.SetupConcurrency == 0 {
		c.SetupConcurrency = 16
	}
	if c.POSAdapter == "" {
		c.POSAdapter = "shopify"
	}
	if c.DrainTimeout == 0 {
		c.DrainTimeout = 5 * time.Minute
	}
}

// Validate checks the bounds and that BaseURL is a loopback address. Zero
// values are errors here; Run fills in defaults first.
func (c *Config) Validate() error {
	if err := CheckLoopback(c.BaseURL); err != nil {
		return err
	}
	switch {
	case c.Clients < 1 || c.Clients > MaxClients:
		return fmt.Errorf("clients must be between 1 and %d", MaxClients)
	case c.Duration <= 0 || c.Duration > MaxDuration:
		return fmt.Errorf("duration must be between 1ns and %s", MaxDuration)
	case c.Warmup < 0 || c.Warmup > MaxDuration:
		return fmt.Errorf("warmup must be between 0 and %s", MaxDuration)
	case c.Shape != ShapeSpread && c.Shape != ShapeHot && c.Shape != ShapePOS:
		return fmt.Errorf("shape must be %s, %s or %s", ShapeSpread, ShapeHot, ShapePOS)
	case c.Shape != ShapeHot && (c.Merchants < 1 || c.Merchants > MaxMerchants):
		return fmt.Errorf("merchants must be between 1 and %d", MaxMerchants)
	case c.Algorithm != "hmac-sha256" && c.Algorithm != "ed25519":
		return fmt.Errorf("algorithm must be hmac-sha256 or ed25519")
	case c.Members < 1 || c.Members > 100_000_000:
		return fmt.Errorf("members must be between 1 and 100000000")
	case c.RequestTimeout <= 0 || c.SetupConcurrency < 1:
		return fmt.Errorf("request timeout and setup concurrency must be positive")
	case c.MaxRequests < 0:
		return fmt.Errorf("max requests must not be negative")
	}
	return nil
}

// CheckLoopback refuses any base URL whose host is not a loopback address.
func CheckLoopback(base string) error {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("base URL %q must be http://host:port", base)
	}
	host := u.Hostname()
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("base URL %q: the load generator only targets loopback addresses (127.0.0.0/8, ::1, localhost)", base)
	}
	return nil
}

// NewHTTPClient returns a keep-alive client sized for clients concurrent
// requests (idle pool ≥ clients, so connections are reused, never churned).
func NewHTTPClient(clients int, timeout time.Duration) *http.Client {
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        2 * clients,
		MaxIdleConnsPerHost: 2 * clients,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
	}
	return &http.Client{Transport: tr, Timeout: timeout}
}

// Merchant is a merchant set up for a run.
type Merchant struct {
	ID     string
	KeyID  string
	Signer signature.Signer
	Client *client.Client
	// POS is the merchant's POS connection (ShapePOS only).
	POS *POSConnection
}

// POSConnection is where and how a merchant's POS webhooks are sent.
type POSConnection struct {
	URL    string // the gateway's webhook URL of the connection
	Secret string // its Shopify client secret
}

// At returns m with a client for another base URL (a restarted gateway).
func (m Merchant) At(base string, hc *http.Client) Merchant {
	m.Client = client.NewMerchant(base, m.ID, m.Signer, client.WithHTTPClient(hc))
	return m
}

// SetupOptions tune Setup.
type SetupOptions struct {
	// FundFen funds each merchant's budget (default 1e12 fen, the maximum).
	FundFen int64
	// RateBP is the earning rate in basis points (default 100: 1 point per yuan).
	RateBP int
	// RulePlugin, if set, makes the merchants earn through that
	// earning-rule plugin instead of the flat rate (set with their first
	// terms: changing terms later needs the notice period).
	RulePlugin string
	// RuleExpression, if set, is published (through the operator's rule
	// drafts) as a CEL rule version over the flat rate: it must not be
	// less favourable to members than RateBP, or the gateway refuses it
	// without notice.
	RuleExpression string
	// POSAdapter, if set, also connects each merchant's POS through that
	// Shopify pos_adapter plugin (Merchant.POS).
	POSAdapter string
}

// Setup creates n merchants through the operator API: merchant, credential,
// earning rate, funded budget. hc is shared by every returned client.
func Setup(ctx context.Context, cfg Config, n int, hc *http.Client, opt SetupOptions) ([]Merchant, error) {
	cfg.defaults()
	if err := CheckLoopback(cfg.BaseURL); err != nil {
		return nil, err
	}
	if n < 1 || n > MaxMerchants {
		return nil, fmt.Errorf("merchants must be between 1 and %d", MaxMerchants)
	}
	if opt.FundFen == 0 {
		opt.FundFen = 1_000_000_000_000
	}
	if opt.RateBP == 0 {
		opt.RateBP = 100
	}
	op, err := setupOperator(ctx, cfg, hc)
	if err != nil {
		return nil, err
	}
	run := randHex(4)
	out := make([]Merchant, n)
	var (
		wg       sync.WaitGroup
		next     atomic.Int64
		firstErr error
		errOnce  sync.Once
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for w := 0; w < min(cfg.SetupConcurrency, n); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				m, err := setupOne(ctx, cfg, op, hc, opt, fmt.Sprintf("bench-%s-%d", run, i))
				if err != nil {
					errOnce.Do(func() { firstErr = err; cancel() })
					return
				}
				out[i] = m
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	return out, nil
}

// setupOperator returns the operator client for the setup calls. The
// bootstrap operator.token can only create named tokens, so with it a
// named token holding what setup needs is made first (expiring in an
// hour); a named token without tokens:write is used as it is.
func setupOperator(ctx context.Context, cfg Config, hc *http.Client) (*client.Client, error) {
	op := client.NewOperator(cfg.BaseURL, cfg.OperatorToken, client.WithHTTPClient(hc))
	var tok struct {
		Token string `json:"token"`
	}
	err := op.Do(ctx, "POST", "/v1/operator/tokens", map[string]any{"label": "lianmeng bench setup",
		"scopes": []string{"read", "merchants:write", "funds:write"}, "expires_at": time.Now().Add(time.Hour).UTC()}, &tok)
	var ae *client.APIError
	switch {
	case err == nil:
		return client.NewOperator(cfg.BaseURL, tok.Token, client.WithHTTPClient(hc)), nil
	case errors.As(err, &ae) && ae.Code == "scope_denied":
		return op, nil
	}
	return nil, fmt.Errorf("create a named operator token for the setup: %w", err)
}

func setupOne(ctx context.Context, cfg Config, op *client.Client, hc *http.Client, opt SetupOptions, name string) (Merchant, error) {
	var m struct {
		ID string `json:"id"`
	}
	if err := op.Do(ctx, "POST", "/v1/operator/merchants", map[string]string{"name": name, "industry": "restaurant"}, &m); err != nil {
		return Merchant{}, fmt.Errorf("create merchant: %w", err)
	}
	credReq := map[string]string{"algorithm": cfg.Algorithm, "label": "bench"}
	var edKey ed25519.PrivateKey
	if cfg.Algorithm == "ed25519" {
		pub, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return Merchant{}, err
		}
		pemText, err := signature.MarshalPublicKey(pub)
		if err != nil {
			return Merchant{}, err
		}
		credReq["public_key"], edKey = pemText, priv
	}
	var cred struct {
		ID     string `json:"id"`
		Secret string `json:"secret"`
	}
	if err := op.Do(ctx, "POST", "/v1/operator/merchants/"+m.ID+"/credentials", credReq, &cred); err != nil {
		return Merchant{}, fmt.Errorf("create credential: %w", err)
	}
	var signer signature.Signer
	if edKey != nil {
		signer = signature.NewEd25519Signer(cred.ID, edKey)
	} else {
		s, err := signature.NewHMACSigner(cred.ID, cred.Secret)
		if err != nil {
			return Merchant{}, err
		}
		signer = s
	}
	earning := map[string]any{"rate_bp": opt.RateBP, "max_points": 0, "rule_plugin": opt.RulePlugin}
	if err := op.Do(ctx, "PUT", "/v1/operator/merchants/"+m.ID+"/earning", earning, nil); err != nil {
		return Merchant{}, fmt.Errorf("set earning rate: %w", err)
	}
	if opt.RuleExpression != "" {
		var draft struct {
			ID int64 `json:"id"`
		}
		if err := op.Do(ctx, "POST", "/v1/operator/merchants/"+m.ID+"/rules/drafts", map[string]any{"expression": opt.RuleExpression}, &draft); err != nil {
			return Merchant{}, fmt.Errorf("draft the rule expression: %w", err)
		}
		if err := op.Do(ctx, "POST", fmt.Sprintf("/v1/operator/merchants/%s/rules/drafts/%d/publish", m.ID, draft.ID), map[string]any{}, nil); err != nil {
			return Merchant{}, fmt.Errorf("publish the rule expression (it must not be less favourable than the flat rate): %w", err)
		}
	}
	ref := "bench-fund-" + m.ID
	if err := op.Do(ctx, "POST", "/v1/operator/merchants/"+m.ID+"/fund", map[string]any{"amount_fen": opt.FundFen, "external_ref": ref}, nil,
		client.IdempotencyKey(ref)); err != nil {
		return Merchant{}, fmt.Errorf("fund budget: %w", err)
	}
	out := Merchant{ID: m.ID, KeyID: cred.ID, Signer: signer, Client: client.NewMerchant(cfg.BaseURL, m.ID, signer, client.WithHTTPClient(hc))}
	if opt.POSAdapter != "" {
		secret := "shpss_bench_" + randHex(16)
		var conn struct {
			WebhookPath string `json:"webhook_path"`
		}
		if err := op.Do(ctx, "POST", "/v1/operator/merchants/"+m.ID+"/pos/connections", map[string]any{"adapter": opt.POSAdapter,
			"label": "bench", "config": map[string]string{"client_secret": secret}}, &conn); err != nil {
			return Merchant{}, fmt.Errorf("connect a POS (is the %s pos_adapter plugin configured?): %w", opt.POSAdapter, err)
		}
		out.POS = &POSConnection{URL: strings.TrimRight(cfg.BaseURL, "/") + conn.WebhookPath, Secret: secret}
	}
	return out, nil
}

// ShopifyOrder is the orders/paid webhook body the generator sends: a paid
// order in CNY with the member's phone (order is the numeric order id).
func ShopifyOrder(order string, m Member, amountFen int64) []byte {
	b, _ := json.Marshal(map[string]any{"id": json.Number(order), "currency": "CNY", "financial_status": "paid",
		"total_price": payment.FormatYuan(amountFen), "created_at": time.Now().UTC().Format(time.RFC3339),
		"phone": "+86" + m.Value, "line_items": []any{}})
	return b
}

// drainInbox waits until the gateway's inbox has no pending event (every
// webhook acknowledged so far is processed) and returns how long it took.
// dead counts the dead letters then (up to 500).
func drainInbox(ctx context.Context, cfg Config, hc *http.Client) (took time.Duration, dead int, err error) {
	op, err := setupOperator(ctx, cfg, hc)
	if err != nil {
		return 0, 0, err
	}
	start := time.Now()
	for {
		var page struct {
			Events []json.RawMessage `json:"events"`
		}
		if err := op.Do(ctx, "GET", "/v1/operator/pos/inbox?state=pending&limit=1", nil, &page); err != nil {
			return time.Since(start), 0, fmt.Errorf("inbox backlog: %w", err)
		}
		if len(page.Events) == 0 {
			took := time.Since(start)
			// A webhook dead-lettered is one that earned nothing: an error
			// of the run, not a success.
			if err := op.Do(ctx, "GET", "/v1/operator/pos/inbox?state=dead&limit=500", nil, &page); err != nil {
				return took, 0, fmt.Errorf("inbox dead letters: %w", err)
			}
			dead = len(page.Events)
			return took, dead, nil
		}
		if time.Since(start) > cfg.DrainTimeout {
			return time.Since(start), 0, fmt.Errorf("the inbox still had pending events after %s", cfg.DrainTimeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Member is the member part of an earn request.
type Member struct {
	Kind  string `json:"kind"`
	Value string `json:"value"`
}

// EarnBody is the body of POST /v1/merchant/earn as the generator sends it.
type EarnBody struct {
	OrderID   string `json:"order_id"`
	Member    Member `json:"member"`
	AmountFen int64  `json:"amount_fen"`
}

// AppendJSON appends b as json.Marshal writes it, without reflection: the
// generator encodes one per request, and its CPU counts against the
// gateway's on the same machine.
func (b EarnBody) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"order_id":`...)
	dst = appendJSONString(dst, b.OrderID)
	dst = append(dst, `,"member":{"kind":`...)
	dst = appendJSONString(dst, b.Member.Kind)
	dst = append(dst, `,"value":`...)
	dst = appendJSONString(dst, b.Member.Value)
	dst = append(dst, `},"amount_fen":`...)
	dst = strconv.AppendInt(dst, b.AmountFen, 10)
	return append(dst, '}')
}

// appendJSONString appends s quoted as json.Marshal quotes it: printable
// ASCII other than the characters it escapes is copied; anything else goes
// through encoding/json.
func appendJSONString(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s)
			return append(dst, q...)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}

// EarnResponse is the part of a 201 the generator reads.
type EarnResponse struct {
	PurchaseID int64  `json:"purchase_id"`
	MemberID   string `json:"member_id"`
	Points     int64  `json:"points"`
}

// PhoneMember returns member i of the pool as a phone number.
func PhoneMember(i int) Member {
	if i < 0 || i >= 100_000_000 {
		return Member{Kind: "phone", Value: "139" + fmt.Sprintf("%08d", i)}
	}
	b := append(make([]byte, 0, 11), "13900000000"...)
	for j := 10; j >= 3 && i > 0; j-- { // "139" and i in 8 digits, zero-padded
		b[j] = byte('0' + i%10)
		i /= 10
	}
	return Member{Kind: "phone", Value: string(b)}
}

// Earn sends one signed earn with idempotency key key and the exact body
// bytes given (so a retry sends the same bytes). replayed reports the
// Idempotent-Replayed header.
func Earn(ctx context.Context, m *Merchant, key string, body []byte) (res EarnResponse, err error) {
	err = m.Client.Do(ctx, "POST", "/v1/merchant/earn", body, &res, client.IdempotencyKey(key))
	return res, err
}

// ErrorCode classifies an error from Earn: the API error code, or
// "transport" for connection errors, "timeout" for deadlines.
func ErrorCode(err error) string {
	var ae *client.APIError
	switch {
	case err == nil:
		return ""
	case errors.As(err, &ae):
		return ae.Code
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	}
	// net.Error's and fasthttp.ErrTimeout's (which has no Temporary).
	var te interface{ Timeout() bool }
	if errors.As(err, &te) && te.Timeout() {
		return "timeout"
	}
	return "transport"
}

// Result is what a run measured.
type Result struct {
	Shape string `json:"shape"`
	// RuleExpression is the CEL rule the merchants earned under ("": the
	// flat rate).
	RuleExpression string         `json:"rule_expression,omitempty"`
	Clients        int            `json:"clients"`
	Merchants      int            `json:"merchants"`
	Seconds        float64        `json:"seconds"`
	Requests       int64          `json:"requests"`
	OK             int64          `json:"ok"`
	Errors         map[string]int `json:"errors"`
	EarnPerS       float64        `json:"earn_per_s"`
	P50Ms          float64        `json:"p50_ms"`
	P95Ms          float64        `json:"p95_ms"`
	P99Ms          float64        `json:"p99_ms"`
	MaxMs          float64        `json:"max_ms"`
	// ShapePOS: AckPerS is the webhooks acknowledged per second of the
	// window; DrainSeconds how long the inbox took after the window to
	// process what was left, counted in EarnPerS (OK / (Seconds +
	// DrainSeconds)): the rate the webhook path sustains end to end.
	AckPerS      float64 `json:"ack_per_s,omitempty"`
	DrainSeconds float64 `json:"drain_seconds,omitempty"`
	// Warmup counts what the warm-up sent (not in the figures above).
	WarmupRequests int64   `json:"warmup_requests"`
	WarmupErrors   int64   `json:"warmup_errors"`
	SetupSeconds   float64 `json:"setup_seconds"`
}

// ErrorCount is the total of Errors.
func (r Result) ErrorCount() int64 {
	var n int64
	for _, v := range r.Errors {
		n += int64(v)
	}
	return n
}

type worker struct {
	samples  []time.Duration
	ok, reqs int64
	errs     map[string]int
	wReqs    int64
	wErrs    int64
}

// Run sets up the merchants, warms up, then measures for cfg.Duration.
// onMeasure, if not nil, is called when the measured window starts (the
// bench command starts a CPU profile of the gateway there).
func Run(ctx context.Context, cfg Config, onMeasure func()) (Result, error) {
	cfg.defaults()
	if err := cfg.Validate(); err != nil {
		return Result{}, err
	}
	hc := NewHTTPClient(cfg.Clients+cfg.SetupConcurrency, cfg.RequestTimeout)
	defer hc.CloseIdleConnections()
	t0 := time.Now()
	n := cfg.Merchants
	if cfg.Shape == ShapeHot {
		n = 1
	}
	opt := SetupOptions{RuleExpression: cfg.RuleExpression}
	if cfg.Shape == ShapePOS {
		opt.POSAdapter = cfg.POSAdapter
	}
	ms, err := Setup(ctx, cfg, n, hc, opt)
	if err != nil {
		return Result{}, fmt.Errorf("setup: %w", err)
	}
	setup := time.Since(t0)
	res, err := Drive(ctx, cfg, ms, onMeasure)
	if err != nil {
		return Result{}, err
	}
	res.SetupSeconds = setup.Seconds()
	res.RuleExpression = cfg.RuleExpression
	if cfg.Shape == ShapePOS {
		drain, dead, err := drainInbox(ctx, cfg, hc)
		if err != nil {
			return res, err
		}
		if dead > 0 {
			res.Errors["inbox_dead_lettered"] += dead
		}
		res.DrainSeconds = drain.Seconds()
		res.AckPerS = res.EarnPerS
		res.EarnPerS = float64(res.OK) / (res.Seconds + res.DrainSeconds)
	}
	return res, nil
}

// Drive runs the load against merchants already set up. Signed earns go
// through an EarnClient with a connection per client, opened before the
// clock starts.
func Drive(ctx context.Context, cfg Config, ms []Merchant, onMeasure func()) (Result, error) {
	cfg.defaults()
	if len(ms) == 0 {
		return Result{}, errors.New("no merchants to drive")
	}
	ec, err := NewEarnClient(cfg.BaseURL, cfg.Clients, cfg.RequestTimeout)
	if err != nil {
		return Result{}, err
	}
	defer ec.Close()
	if ms[0].POS == nil {
		ec.Connect(cfg.Clients)
	}
	run := randHex(6)
	posRun := 100_000 + mrand.IntN(900_000)
	start := time.Now()
	measureFrom := start.Add(cfg.Warmup)
	end := measureFrom.Add(cfg.Duration)
	ctx, cancel := context.WithDeadline(ctx, end.Add(cfg.RequestTimeout))
	defer cancel()
	if onMeasure != nil {
		t := time.AfterFunc(cfg.Warmup, onMeasure)
		defer t.Stop()
	}
	perWorker := MaxSamples / cfg.Clients
	workers := make([]*worker, cfg.Clients)
	var sent atomic.Int64
	var wg sync.WaitGroup
	for i := range workers {
		w := &worker{errs: map[string]int{}}
		workers[i] = w
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			rng := mrand.New(mrand.NewPCG(uint64(time.Now().UnixNano()), uint64(i)))
			earner := ec.Earner()
			for seq := 0; ; seq++ {
				now := time.Now()
				if !now.Before(end) || ctx.Err() != nil {
					return
				}
				if cfg.MaxRequests > 0 && sent.Add(1) > cfg.MaxRequests {
					return
				}
				m := &ms[rng.IntN(len(ms))]
				order := run + "-" + strconv.Itoa(i) + "-" + strconv.Itoa(seq)
				member, amount := PhoneMember(rng.IntN(cfg.Members)), 100+rng.Int64N(50_000)
				var err error
				if m.POS != nil {
					// Shopify order ids are numbers.
					order = fmt.Sprintf("%d%04d%08d", posRun, i, seq)
					err = earner.Webhook(m, "evt-"+order, ShopifyOrder(order, member, amount))
				} else {
					err = earner.Earn(m, order, EarnBody{OrderID: order, Member: member, AmountFen: amount}, now)
				}
				took := time.Since(now)
				if now.Before(measureFrom) {
					w.wReqs++
					if err != nil {
						w.wErrs++
					}
					continue
				}
				if time.Now().After(end) {
					// Finished after the window: not counted (it would
					// inflate earn/s), but the error still matters.
					if err != nil {
						w.errs[ErrorCode(err)]++
					}
					continue
				}
				w.reqs++
				if err != nil {
					w.errs[ErrorCode(err)]++
					continue
				}
				w.ok++
				if len(w.samples) < perWorker {
					w.samples = append(w.samples, took)
				}
			}
		}(i)
	}
	wg.Wait()
	r := Result{Shape: cfg.Shape, Clients: cfg.Clients, Merchants: len(ms), Seconds: cfg.Duration.Seconds(), Errors: map[string]int{}}
	var all []time.Duration
	for _, w := range workers {
		r.Requests += w.reqs
		r.OK += w.ok
		r.WarmupRequests += w.wReqs
		r.WarmupErrors += w.wErrs
		for k, v := range w.errs {
			r.Errors[k] += v
		}
		all = append(all, w.samples...)
	}
	r.EarnPerS = float64(r.OK) / cfg.Duration.Seconds()
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	r.P50Ms, r.P95Ms, r.P99Ms = ms3(quantile(all, 0.50)), ms3(quantile(all, 0.95)), ms3(quantile(all, 0.99))
	if len(all) > 0 {
		r.MaxMs = ms3(all[len(all)-1])
	}
	return r, nil
}

func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func ms3(d time.Duration) float64 { return math.Round(float64(d)/1e3) / 1e3 }

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
