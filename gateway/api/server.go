// Package api is the gateway's HTTP surface: Fiber routes, request and
// response types, authentication and the error model (DESIGN §10). Handlers
// stay thin: they decode, authorise, call a domain package and encode.
package api

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/lianmeng/lianmeng/gateway/config"
	"github.com/lianmeng/lianmeng/gateway/consent"
	"github.com/lianmeng/lianmeng/gateway/inbox"
	"github.com/lianmeng/lianmeng/gateway/lifecycle"
	"github.com/lianmeng/lianmeng/gateway/merchant"
	"github.com/lianmeng/lianmeng/gateway/points"
	"github.com/lianmeng/lianmeng/gateway/rules"
	"github.com/lianmeng/lianmeng/gateway/settlement"
	"github.com/lianmeng/lianmeng/gateway/store"
)

// ReadyCheck is one dependency /readyz checks.
type ReadyCheck struct {
	Name  string
	Check func(ctx context.Context) error
}

// Deps are what the server needs.
type Deps struct {
	Config   config.Config
	DB       *store.DB
	Log      *slog.Logger
	Registry *prometheus.Registry
	// Now is the clock (tests move it); defaults to time.Now.
	Now func() time.Time
	// KeyUseFlush is how often credentials' last uses are written
	// (keyuse.go); zero means every 10 s.
	KeyUseFlush time.Duration
	// Ready lists extra readiness checks (plugins, ...).
	Ready []ReadyCheck
	// Plugins reports the plugins' health for the operator (nil: none).
	Plugins func() []PluginStatus
	// Writer is the batching writer every ledger write goes through.
	Writer *store.Writer
	// Evidence serves checkpoints and proofs (nil: routes answer 503).
	Evidence EvidenceProvider
	// Points is the points module the handlers call. Nil: a Service with
	// the configuration's policy and flat rates only. Its unset ports are
	// filled in: Earnings with the server's lookup cache, Reader and
	// EarningStore with DB.
	Points *points.Service
	// Consent issues sign-in and redemption codes. Nil: one over DB with no
	// message sender (sign-in and SMS consent answer 503).
	Consent *consent.Service
	// Funding takes payment-channel fundings and notifications (nil: 503).
	Funding *settlement.Funding
	// Payouts queues merchants' payouts (nil: 503).
	Payouts *settlement.Payouts
	// Refunds refunds merchants' unused budgets (nil: 503).
	Refunds *settlement.Refunds
	// Lifecycle announces exits and the wind-down and gates issuance. Nil:
	// one over DB, Writer, Points, Refunds and Payouts with the rules'
	// notice period (its ProcessDue then runs nowhere).
	Lifecycle *lifecycle.Service
	// Reconciler matches channel bills (nil: 503).
	Reconciler *settlement.Reconciler
	// Inbox takes POS webhooks (nil: /v1/pos/{connection} answers 503).
	Inbox *inbox.Inbox
}

// Server is the HTTP server.
type Server struct {
	app       *fiber.App
	cfg       config.Config
	db        *store.DB
	log       *slog.Logger
	now       func() time.Time
	ready     []ReadyCheck
	merchants merchant.Repository
	metrics   *httpMetrics
	limits    *rateLimits       // rate_limits (ratelimit.go)
	velocity  *velocityDetector // first-contact redemption alerts (velocity.go)
	routes    []Route
	writer    submitter // the batching writer (nil: none)
	evidence  EvidenceProvider
	svc       *points.Service
	tokenKey  []byte
	cache     *lookups
	consent   *consent.Service
	inbox     *inbox.Inbox   // POS webhooks (pos.go)
	rules     *rules.Service // versioned earning rules (rules.go)

	funding     *settlement.Funding    // payment channels (funding.go)
	payouts     *settlement.Payouts    // payouts.go
	plugins     func() []PluginStatus  // oversight.go
	refunds     *settlement.Refunds    // fundingrefunds.go
	life        *lifecycle.Service     // lifecycle.go
	reconciler  *settlement.Reconciler // statements.go
	keyUses     keyUses                // credentials' last uses, written by a flusher (keyuse.go)
	keyUseEvery time.Duration          // how often the flusher writes them (Deps.KeyUseFlush)
}

// submitter is what the handlers need of the batching writer
// (store.Writer.Submit).
type submitter interface {
	Submit(ctx context.Context, op *store.Op) store.OpResult
}

// Route is a registered route, checked against the OpenAPI document.
type Route struct{ Method, Path string }

// New builds the server and registers every route.
func New(d Deps) *Server {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Registry == nil {
		d.Registry = prometheus.NewRegistry()
	}
	s := &Server{cfg: d.Config, db: d.DB, log: d.Log, now: d.Now, ready: d.Ready, merchants: d.DB.Merchants(),
		evidence: d.Evidence, svc: d.Points, consent: d.Consent, keyUseEvery: cmp.Or(d.KeyUseFlush, keyUseFlush)}
	if d.Writer != nil { // never a typed nil in the interface
		s.writer = d.Writer
	}
	if s.consent == nil {
		s.consent = &consent.Service{Store: d.DB}
	}
	if s.consent.Now == nil {
		s.consent.Now = d.Now
	}
	s.funding = d.Funding
	s.payouts = d.Payouts
	s.plugins = d.Plugins
	s.refunds = d.Refunds
	s.reconciler = d.Reconciler
	s.inbox = d.Inbox
	s.tokenKey = memberTokenKey(d.Config, d.Log)
	s.cache = newLookups(s.merchants, d.DB)
	s.cache.now = d.Now
	if s.svc == nil {
		s.svc = &points.Service{Policy: d.Config.Points.Policy()}
	}
	if s.svc.Earnings == nil {
		s.svc.Earnings = s.cache
	}
	if s.svc.Reader == nil {
		s.svc.Reader = d.DB
	}
	if s.svc.EarningStore == nil {
		s.svc.EarningStore = d.DB
	}
	if s.svc.Now == nil {
		s.svc.Now = d.Now
	}
	if s.svc.Referral == nil && !s.svc.ReferralScheduled {
		s.svc.Referral = d.Config.Rules.Referral.Terms()
	}
	if s.refunds != nil && s.refunds.Points == nil {
		s.refunds.Points = s.svc
	}
	s.life = d.Lifecycle
	if s.life == nil {
		s.life = &lifecycle.Service{DB: d.DB, Writer: d.Writer, Points: s.svc, Refunds: d.Refunds, Payouts: d.Payouts,
			Notice: d.Config.Rules.NoticePeriod.D(), Now: d.Now}
	}
	if s.svc.Issuance == nil {
		s.svc.Issuance = s.life
	}
	s.metrics = newHTTPMetrics(d.Registry)
	var shared sharedLimits
	if d.Config.RateLimits.Shared(d.DB.Dialect) {
		shared = d.DB
	}
	s.limits = newRateLimits(d.Config.RateLimits, d.Registry, s.tokenKey, shared, d.Log)
	s.velocity = newVelocityDetector(d.Config.RateLimits.RedeemVelocityAlert, d.Registry, d.Log)
	s.app = fiber.New(fiber.Config{
		AppName:               "lianmeng",
		BodyLimit:             d.Config.HTTP.BodyLimit,
		ReadTimeout:           d.Config.HTTP.ReadTimeout.D(),
		WriteTimeout:          d.Config.HTTP.WriteTimeout.D(),
		IdleTimeout:           60 * time.Second,
		DisableStartupMessage: true,
		// Values from the request (headers, params, method) are copied, so
		// keeping one beyond the handler (a cache key, a metric label, a
		// batch waiting in the writer) is safe.
		Immutable: true,
		// Errors fasthttp raises reading a request head (framing it
		// refuses itself) become ambiguous_request first (headError).
		ErrorHandler: func(c *fiber.Ctx, err error) error { return s.errorHandler(c, headError(err)) },
		// Proxies and clients may send a request id; we echo it back.
		ReadBufferSize: 16 << 10,
	})
	// strictRequest runs before any route: ambiguous headers and framing,
	// a request Content-Encoding and JSON a parser could read two ways are
	// refused before anything is looked up, decompressed or written.
	s.app.Use(s.requestID, s.accessLog, s.recoverPanic, strictRequest, requestDeadline(d.Config.HTTP.WriteTimeout.D()))
	s.routesHealth()
	s.routesOperator()
	s.routesOperatorTokens()
	s.routesMerchant()
	s.routesPoints()
	s.routesConsent()
	s.routesEvidence()
	s.routesFunding()
	s.routesPayouts()
	s.routesFundingRefunds()
	s.routesLifecycle()
	s.routesStatements()
	s.routesPOS()
	s.routesRules()
	s.routesReferrals()
	s.routesWebhooks()
	s.routesPublic()
	s.routesOversight() // oversight.go
	s.routesStaff()
	s.routesOpenAPI()
	return s
}

// App exposes the Fiber app (tests register extra routes on it).
func (s *Server) App() *fiber.App { return s.app }

// Rules is the rules service the routes use (the notice period and plugin
// checks configured), for the merchant console to share.
func (s *Server) Rules() *rules.Service { return s.rules }

// Routes lists every registered API route.
func (s *Server) Routes() []Route { return s.routes }

// handle registers a route and remembers it for the OpenAPI check. Write
// routes refuse query parameters first (refuseQuery): they take none.
func (s *Server) handle(method, path string, h ...fiber.Handler) {
	switch method {
	case fiber.MethodPost, fiber.MethodPut, fiber.MethodPatch, fiber.MethodDelete:
		h = append([]fiber.Handler{refuseQuery}, h...)
	}
	s.app.Add(method, path, h...)
	s.routes = append(s.routes, Route{method, path})
}

// Serve serves on ln until ctx is cancelled, then stops accepting, lets
// in-flight requests finish within the shutdown timeout, and returns.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	// Credentials' last uses are written in the background, and what is
	// left once the requests have drained is written before Serve returns.
	flushCtx, stopFlush := context.WithCancel(context.Background())
	flushed := make(chan struct{})
	go func() { defer close(flushed); s.runKeyUses(flushCtx, s.keyUseEvery) }()
	defer func() {
		stopFlush()
		<-flushed
		s.flushKeyUses(context.Background())
	}()
	errc := make(chan error, 1)
	go func() { errc <- s.app.Listener(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	s.log.Info("shutting down: draining in-flight requests", "timeout", s.cfg.HTTP.ShutdownTimeout.D().String())
	shutdownErr := s.app.ShutdownWithTimeout(s.cfg.HTTP.ShutdownTimeout.D())
	// When ctx ends before the listener goroutine has handed ln to fasthttp,
	// the shutdown above does not know ln and the server would then serve
	// forever: closing ln ourselves makes it return in every case.
	ln.Close()
	if shutdownErr != nil {
		return fmt.Errorf("graceful shutdown: %w", shutdownErr)
	}
	if err := <-errc; err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("http server: %w", err)
	}
	return nil
}

const localRequestID = "request_id"

func requestID(c *fiber.Ctx) string {
	if v, ok := c.Locals(localRequestID).(string); ok {
		return v
	}
	return ""
}

// requestID takes a sane X-Request-Id from the client or makes one.
func (s *Server) requestID(c *fiber.Ctx) error {
	id := c.Get(fiber.HeaderXRequestID)
	if !validRequestID(id) {
		id = newRequestID()
	}
	c.Locals(localRequestID, id)
	c.Set(fiber.HeaderXRequestID, id)
	return c.Next()
}

// requestDeadline bounds the work of every request one second short of
// the HTTP write timeout (which would cut the connection without an
// answer): a request left waiting for a database connection, as when lock
// waits hold every connection of a small pool, or for a database that
// stopped answering, is answered 503 unavailable with Retry-After
// (store.IsUnavailable holds for the deadline) instead of hanging.
func requestDeadline(writeTimeout time.Duration) fiber.Handler {
	budget := max(writeTimeout-time.Second, time.Second)
	return func(c *fiber.Ctx) error {
		if writeTimeout <= 0 {
			return c.Next()
		}
		ctx, cancel := context.WithTimeout(c.UserContext(), budget)
		defer cancel()
		c.SetUserContext(ctx)
		return c.Next()
	}
}

func newRequestID() string {
	var b [12]byte
	rand.Read(b[:])
	return "req_" + hex.EncodeToString(b[:])
}

func validRequestID(id string) bool {
	if len(id) < 8 || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		ch := id[i]
		if !(ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '-' || ch == '_') {
			return false
		}
	}
	return true
}

// accessLog logs one structured line per request and feeds the metrics. It
// runs the error handler itself so the status it sees is the final one.
func (s *Server) accessLog(c *fiber.Ctx) error {
	start := time.Now()
	err := c.Next()
	if err != nil {
		if herr := s.errorHandler(c, err); herr != nil {
			return herr
		}
	}
	status := c.Response().StatusCode()
	// Label by route pattern, never by raw path, to bound cardinality; the
	// catch-all middleware route "/" means nothing matched.
	route := c.Route().Path
	if route == "/" {
		route = "unmatched"
	}
	elapsed := time.Since(start)
	s.metrics.observe(route, c.Method(), status, elapsed)
	lvl := slog.LevelInfo
	if status >= 500 {
		lvl = slog.LevelError
	}
	if route == "/healthz" || route == "/readyz" {
		lvl = slog.LevelDebug
	}
	ctx := c.UserContext()
	if !s.log.Enabled(ctx, lvl) {
		return nil // not even the line's attributes (the address, say) are built
	}
	attrs := []slog.Attr{
		slog.String("request_id", requestID(c)),
		slog.String("method", c.Method()),
		slog.String("route", route),
		slog.Int("status", status),
		slog.Int64("duration_us", elapsed.Microseconds()),
		slog.String("remote", c.IP()),
	}
	if m, ok := c.Locals(localMerchant).(string); ok {
		attrs = append(attrs, slog.String("merchant", m))
	}
	s.log.LogAttrs(ctx, lvl, "http", attrs...)
	return nil
}

// recoverPanic turns a handler panic into a 500 in the error model and logs
// the stack, so one bad request cannot take the process down.
func (s *Server) recoverPanic(c *fiber.Ctx) (err error) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("panic in handler", "request_id", requestID(c), "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			err = Errorf(500, CodeInternal, "internal error; quote the request id when reporting it")
		}
	}()
	return c.Next()
}

// pageLimit reads ?limit= with a default and a maximum.
func pageLimit(c *fiber.Ctx, def, max int) (int, error) {
	v := c.Query("limit")
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > max {
		return 0, Errorf(400, CodeValidation, "limit must be an integer between 1 and %d", max)
	}
	return n, nil
}

// pageCursor reads ?cursor=, a previous page's next_cursor (a positive
// row id; 0 when absent: the first page).
func pageCursor(c *fiber.Ctx) (int64, error) {
	cur := c.Query("cursor")
	if cur == "" {
		return 0, nil
	}
	before, err := strconv.ParseInt(cur, 10, 64)
	if err != nil || before <= 0 {
		return 0, Errorf(400, CodeValidation, "cursor must be the next_cursor of a previous page")
	}
	return before, nil
}
