package api

import (
	"container/list"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/netip"
	"strings"
	"sync"
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

// Rate limits (config.RateLimits) are token buckets from golang.org/x/time/rate,
// one per key, kept in this instance's memory: with several instances a
// client gets up to that many times the limit until a shared store takes
// their place. Which limits apply where:
//
//	credential  every signed merchant route, per API credential (limitCredential)
//	lookup      member lookups and tokens, per API credential (limitLookup)
//	member      lookups, tokens and redemptions, per merchant + identity (limitMember)
//	public      unauthenticated coverage and evidence routes, per address (limitByAddress)
//	signin      member sign-in, per address (limitByAddress("signin"))
//	operator    the operator API, per address and per token (limitOperator)
type rateLimits struct {
	byName  map[string]*keyedLimiter
	limited *prometheus.CounterVec
	// salt keys member identities and operator tokens through HMAC, so
	// neither a phone number nor a token is kept in the limiter's memory.
	salt []byte
}

func newRateLimits(cfg config.RateLimits, reg prometheus.Registerer) *rateLimits {
	r := &rateLimits{
		byName: map[string]*keyedLimiter{},
		limited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lianmeng_rate_limited_total",
			Help: "Requests refused with 429 rate_limited, by limit.",
		}, []string{"limit"}),
		salt: make([]byte, 32),
	}
	rand.Read(r.salt)
	for name, l := range map[string]config.Limit{"credential": cfg.Credential, "lookup": cfg.Lookup, "member": cfg.Member,
		"public": cfg.Public, "signin": cfg.SignIn, "operator": cfg.Operator} {
		r.byName[name] = newKeyedLimiter(name, l, cfg.MaxKeys)
		r.limited.WithLabelValues(name) // exported at 0 from the start
	}
	reg.MustRegister(r.limited)
	return r
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
}

// newKeyedLimiter returns nil for a disabled limit; a nil limiter admits
// everything.
func newKeyedLimiter(name string, l config.Limit, maxKeys int) *keyedLimiter {
	if !l.Enabled() {
		return nil
	}
	burst := l.BurstOrDefault()
	return &keyedLimiter{name: name, limit: rate.Every(l.Every()), burst: burst, idle: l.Every() * time.Duration(burst),
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
	el, ok := k.keys[key]
	if ok {
		k.lru.MoveToFront(el)
	} else {
		for k.lru.Len() >= k.max {
			k.drop(k.lru.Back())
		}
		el = k.lru.PushFront(&limitedKey{key: key, lim: rate.NewLimiter(k.limit, k.burst)})
		k.keys[key] = el
	}
	for b := k.lru.Back(); b != el && now.Sub(b.Value.(*limitedKey).used) >= k.idle; b = k.lru.Back() {
		k.drop(b)
	}
	e := el.Value.(*limitedKey)
	e.used = now
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
	l := s.limits.byName[name]
	d := l.take(key, s.now())
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
