package api

import (
	"container/list"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/lianmeng/lianmeng/gateway/config"
	"github.com/lianmeng/lianmeng/gateway/points"
)

// CodeRateLimited answers a request over one of the rate limits, with
// Retry-After.
const CodeRateLimited = "rate_limited"

// Rate limits (config.RateLimits) are token buckets, one per key. With
// rate_limits.store shared (auto on MySQL, or database) they are GCRA rows
// in the database (store.DB.TakeRateLimit), so every instance on it
// enforces one limit between them; otherwise (SQLite, one instance) they
// are golang.org/x/time/rate limiters in this instance's memory. Which
// limits apply where:
//
//	credential  every signed merchant route, per API credential (limitCredential)
//	lookup      member lookups and tokens, per API credential (limitLookup)
//	member      lookups, tokens and redemptions, per merchant + identity (limitMember)
//	public      unauthenticated coverage and evidence routes, per address (limitByAddress)
//	signin      member sign-in, per address (limitByAddress("signin"))
//	operator    the operator API, per address and per token (limitOperator)
//
// When the shared store fails (an error, or no answer within
// sharedLimitTimeout) the request is charged to this instance's in-memory
// bucket instead: the limit fails open to a per-instance limit, never to
// none. Refusing every request because the limiter's table is slow would
// turn a database hiccup into an outage of routes that do not even write,
// while admitting everything would open lookups and sign-in to enumeration
// exactly when nobody is watching; the local bucket keeps a bound (N
// instances, N times the limit) for as long as the failure lasts, counted
// in lianmeng_rate_limit_store_errors_total.
type rateLimits struct {
	byName  map[string]*keyedLimiter
	limited *prometheus.CounterVec
	// salt keys member identities and operator tokens through HMAC, so
	// neither a phone number nor a token is kept in the limiter's memory
	// or table. It is derived from the member-token key, which every
	// instance shares, so instances agree on a shared bucket's key.
	salt []byte

	shared      sharedLimits // nil: memory only
	storeErrors prometheus.Counter
	log         *slog.Logger
	lastWarn    atomic.Int64 // unix seconds of the last store-error warning
}

// sharedLimits is the database's side of shared rate limits (store.DB).
type sharedLimits interface {
	TakeRateLimit(ctx context.Context, limiter, key string, now time.Time, interval time.Duration, burst, n int) (time.Duration, error)
}

// A shared bucket is not written once per request: an instance reserves
// a chunk of a limit's burst (burst/16, at most 128; 1 for small bursts,
// so member, sign-in and lookup limits are exact) in one upsert and serves
// it from memory, for at most chunkLife. Near the limit it asks for one
// request at a time. The cost: an instance may spend a chunk it reserved
// a little later than the bucket would have, so a client can exceed a
// burst by at most one chunk per instance; the gain: at 1000 requests a
// second on one credential, 8 writes a second instead of 1000 (one take
// is a commit; about 1,000 takes a second was measured on this machine's
// MariaDB, shared with other work).
const (
	chunkDivisor = 16
	maxChunk     = 128
	chunkLife    = time.Minute
)

// sharedLimitTimeout bounds one take from the shared store: past it the
// local bucket decides.
const sharedLimitTimeout = 250 * time.Millisecond

func newRateLimits(cfg config.RateLimits, reg prometheus.Registerer, tokenKey []byte, shared sharedLimits, log *slog.Logger) *rateLimits {
	r := &rateLimits{
		byName: map[string]*keyedLimiter{},
		limited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lianmeng_rate_limited_total",
			Help: "Requests refused with 429 rate_limited, by limit.",
		}, []string{"limit"}),
		storeErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "lianmeng_rate_limit_store_errors_total",
			Help: "Rate-limit takes the shared database store did not answer in time or failed; the instance's own bucket decided them.",
		}),
		shared: shared,
		log:    log,
	}
	m := hmac.New(sha256.New, tokenKey)
	m.Write([]byte("lianmeng rate-limit keys v1"))
	r.salt = m.Sum(nil)
	for name, l := range map[string]config.Limit{"credential": cfg.Credential, "lookup": cfg.Lookup, "member": cfg.Member,
		"public": cfg.Public, "signin": cfg.SignIn, "operator": cfg.Operator} {
		r.byName[name] = newKeyedLimiter(name, l, cfg.MaxKeys)
		r.limited.WithLabelValues(name) // exported at 0 from the start
	}
	reg.MustRegister(r.limited, r.storeErrors)
	return r
}

// take charges key against the named limiter at now: 0 if admitted, else
// how long until it would be. The shared store decides when there is one
// and it answers; otherwise this instance's bucket.
func (r *rateLimits) take(name, key string, now time.Time) time.Duration {
	l := r.byName[name]
	if l == nil {
		return 0
	}
	if r.shared != nil {
		if len(key) > 100 { // the table's key column is 128 characters
			key = "h " + r.hash(key)
		}
		// One reservation per key at a time: concurrent requests wait for
		// it (at most sharedLimitTimeout) and spend its chunk, rather than
		// each reserving a chunk of their own and emptying the bucket.
		var done chan struct{}
		for done == nil {
			spent, wait, mine := l.chunkOrReserve(key, now)
			if spent {
				return 0
			}
			if mine != nil {
				done = mine
				break
			}
			select {
			case <-wait:
				continue
			case <-time.After(sharedLimitTimeout):
				// The reservation is as slow as a failing store: this
				// instance's bucket decides, as it does then.
				r.storeErrors.Inc()
				return l.take(key, now)
			}
		}
		n := min(max(1, l.burst/chunkDivisor), maxChunk)
		ctx, cancel := context.WithTimeout(context.Background(), sharedLimitTimeout)
		d, err := r.shared.TakeRateLimit(ctx, name, key, now, l.every, l.burst, n)
		if err == nil && d > 0 && n > 1 { // no room for a chunk: for one?
			n = 1
			d, err = r.shared.TakeRateLimit(ctx, name, key, now, l.every, l.burst, 1)
		}
		cancel()
		add := 0
		if err == nil && d == 0 {
			add = n - 1
		}
		l.reserved(key, done, add, now.Add(chunkLife))
		if err == nil {
			return d
		}
		r.storeErrors.Inc()
		if last := r.lastWarn.Load(); now.Unix()-last >= 60 && r.lastWarn.CompareAndSwap(last, now.Unix()) && r.log != nil {
			r.log.Warn("rate limits: the shared store failed; this instance's own buckets decide meanwhile", "limit", name, "err", err)
		}
	}
	return l.take(key, now)
}

// hash is a short keyed digest of a secret or personal value.
func (r *rateLimits) hash(parts ...string) string {
	m := hmac.New(sha256.New, r.salt)
	for _, p := range parts {
		m.Write([]byte(p))
		m.Write([]byte{0})
	}
	return hex.EncodeToString(m.Sum(nil)[:16])
}

// keyedLimiter is a token bucket per key, at most max keys. A key unused
// for idle (the time its bucket takes to refill from empty) has a full
// bucket again, so forgetting it changes nothing: such keys are dropped,
// least recently used first, on every call. Past max keys the least
// recently used is dropped anyway, which can only reset that key's bucket:
// an attacker cycling keys costs memory up to max, never more.
type keyedLimiter struct {
	name  string
	limit rate.Limit
	every time.Duration
	burst int
	idle  time.Duration
	max   int

	mu   sync.Mutex
	keys map[string]*list.Element
	lru  list.List // of *limitedKey, most recently used first
}

type limitedKey struct {
	key  string
	lim  *rate.Limiter
	used time.Time
	// A chunk reserved from the shared bucket: left requests until; a
	// reservation under way closes reserving when done.
	left      int
	until     time.Time
	reserving chan struct{}
}

// newKeyedLimiter returns nil for a disabled limit; a nil limiter admits
// everything.
func newKeyedLimiter(name string, l config.Limit, maxKeys int) *keyedLimiter {
	if !l.Enabled() {
		return nil
	}
	burst := l.BurstOrDefault()
	return &keyedLimiter{name: name, limit: rate.Every(l.Every()), every: l.Every(), burst: burst, idle: l.Every() * time.Duration(burst),
		max: max(1, maxKeys), keys: map[string]*list.Element{}}
}

// take spends one token of key's bucket at now. It returns 0 if the
// request may go, else how long until a token is there (the reservation's
// delay; the reservation is cancelled, so a refused request costs nothing).
func (k *keyedLimiter) take(key string, now time.Time) time.Duration {
	if k == nil {
		return 0
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	el := k.use(key, now)
	e := el.Value.(*limitedKey)
	r := e.lim.ReserveN(now, 1)
	if !r.OK() { // only if burst were 0
		return k.idle
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return d
	}
	return 0
}

// chunkOrReserve spends one request of key's reserved chunk if it has one
// (spent); else, if another request is reserving for key, returns the
// channel closed when it is done (wait); else makes this request the one
// reserving and returns the channel it must close through reserved (mine).
func (k *keyedLimiter) chunkOrReserve(key string, now time.Time) (spent bool, wait, mine chan struct{}) {
	k.mu.Lock()
	defer k.mu.Unlock()
	e := k.use(key, now).Value.(*limitedKey)
	if e.left > 0 && now.Before(e.until) {
		e.left--
		return true, nil, nil
	}
	if e.reserving != nil {
		return false, e.reserving, nil
	}
	e.reserving = make(chan struct{})
	return false, nil, e.reserving
}

// reserved ends a reservation: add requests join key's chunk (valid until
// then) and whoever waited on done is woken.
func (k *keyedLimiter) reserved(key string, done chan struct{}, add int, until time.Time) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if el, ok := k.keys[key]; ok {
		e := el.Value.(*limitedKey)
		if add > 0 {
			if !until.Before(e.until) || e.left == 0 {
				e.until = until
			}
			e.left += add
		}
		if e.reserving == done {
			e.reserving = nil
		}
	}
	close(done)
}

// use returns key's element (entry), marked used at now, after dropping,
// least recently used first, the keys idle for k.idle whose chunk from the
// shared store has expired: their buckets are full again, and forgetting
// them forgets nothing. (The shared path, chunkOrReserve, kept every key
// it saw until max_keys pushed it out.) k.mu is held.
func (k *keyedLimiter) use(key string, now time.Time) *list.Element {
	el := k.entry(key)
	for b := k.lru.Back(); b != el; b = k.lru.Back() {
		if e := b.Value.(*limitedKey); now.Sub(e.used) < k.idle || now.Before(e.until) {
			break
		}
		k.drop(b)
	}
	el.Value.(*limitedKey).used = now
	return el
}

// entry returns key's element, most recently used now, adding it (and
// dropping the least recently used past max) if it is new. k.mu is held.
func (k *keyedLimiter) entry(key string) *list.Element {
	if el, ok := k.keys[key]; ok {
		k.lru.MoveToFront(el)
		return el
	}
	for k.lru.Len() >= k.max {
		k.drop(k.lru.Back())
	}
	el := k.lru.PushFront(&limitedKey{key: key, lim: rate.NewLimiter(k.limit, k.burst)})
	k.keys[key] = el
	return el
}

func (k *keyedLimiter) drop(el *list.Element) {
	k.lru.Remove(el)
	delete(k.keys, el.Value.(*limitedKey).key)
}

// size is how many keys are kept (tests).
func (k *keyedLimiter) size() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.lru.Len()
}

// limit charges key against the named limiter: nil if admitted, else 429
// rate_limited with Retry-After in whole seconds (at least 1), counted in
// lianmeng_rate_limited_total.
func (s *Server) limit(name, key string) error {
	d := s.limits.take(name, key, s.now())
	if d <= 0 {
		return nil
	}
	s.limits.limited.WithLabelValues(name).Inc()
	secs := int((d + time.Second - 1) / time.Second)
	return &Error{Status: fiber.StatusTooManyRequests, Code: CodeRateLimited, RetryAfter: secs,
		Message: "too many requests (" + name + " limit); retry after the Retry-After seconds"}
}

// limitByAddress returns a middleware limiting requests per client address
// with the limit named name: "public" (rate_limits.public) or "signin"
// (rate_limits.signin). An unknown name panics when routes are registered.
func (s *Server) limitByAddress(name string) fiber.Handler {
	if name != "public" && name != "signin" {
		panic("api: limitByAddress: no per-address limit " + name)
	}
	return func(c *fiber.Ctx) error {
		if err := s.limit(name, addressKey(c.IP())); err != nil {
			return err
		}
		return c.Next()
	}
}

// addressKey is the client address, or its /64 for IPv6 (one subscriber
// usually holds a whole /64).
func addressKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

// limitCredential limits every signed merchant request per API credential.
// It runs after merchantAuth or merchantAuthWrite (a refused request's
// nonce is consumed all the same).
func (s *Server) limitCredential(c *fiber.Ctx) error {
	kid, _ := c.Locals(localKey).(string)
	if err := s.limit("credential", kid); err != nil {
		return err
	}
	return c.Next()
}

// limitLookup limits member lookups (and tokens) per API credential: what
// bounds trying phone numbers one after another with one key.
func (s *Server) limitLookup(c *fiber.Ctx) error {
	kid, _ := c.Locals(localKey).(string)
	if err := s.limit("lookup", kid); err != nil {
		return err
	}
	return c.Next()
}

// limitMember limits requests naming one member identity ({"member":
// {"kind","value"}} in the body) per merchant, keyed by the merchant, the
// kind and a keyed hash of the value (never the phone number itself). A
// body without a member is left to the handler.
func (s *Server) limitMember(c *fiber.Ctx) error {
	var req struct {
		Member *points.Identity `json:"member"`
	}
	if json.Unmarshal(c.Request().Body(), &req) == nil && req.Member != nil && req.Member.Value != "" {
		key := merchantID(c) + " " + req.Member.Kind + " " + s.limits.hash(req.Member.Kind, identityValue(req.Member.Kind, req.Member.Value))
		if err := s.limit("member", key); err != nil {
			return err
		}
	}
	return c.Next()
}

// identityValue folds the spellings of one phone number together (+86,
// 0086 or no prefix, as pii.NormalizePhone does for mainland numbers), so
// reformatting a number does not dodge the member limit.
func identityValue(kind, v string) string {
	if kind != points.IdentityPhone {
		return v
	}
	d := strings.TrimPrefix(strings.TrimSpace(v), "+")
	d = strings.TrimPrefix(d, "00")
	if len(d) == 13 && strings.HasPrefix(d, "86") {
		d = d[2:]
	}
	return d
}

// limitOperator limits the operator API per client address and per bearer
// token presented (keyed by its hash), before the token is checked, so
// guessing tokens is limited too.
func (s *Server) limitOperator(c *fiber.Ctx) error {
	if err := s.limit("operator", "addr "+addressKey(c.IP())); err != nil {
		return err
	}
	if tok, ok := strings.CutPrefix(c.Get(fiber.HeaderAuthorization), "Bearer "); ok && tok != "" {
		if err := s.limit("operator", "token "+s.limits.hash(tok)); err != nil {
			return err
		}
	}
	return c.Next()
}
