package api

// Rate limits: token buckets per key on a fake clock (no sleeps, no timed
// assertions), 429 rate_limited with Retry-After, keys independent, the
// limiter's memory bounded.

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/lianmeng/lianmeng/gateway/config"
	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
	"github.com/lianmeng/lianmeng/sdk/client"
	"github.com/lianmeng/lianmeng/sdk/signature"
)

func TestKeyedLimiterBurstRetryAfterAndKeys(t *testing.T) {
	l := newKeyedLimiter("test", config.Limit{Requests: 1, Per: config.Duration(10 * time.Second), Burst: 3}, 100)
	now := time.Unix(1_800_000_000, 0)
	for i := 0; i < 3; i++ {
		if d := l.take("a", now); d != 0 {
			t.Fatalf("request %d of a burst of 3 refused (%s)", i+1, d)
		}
	}
	if d := l.take("a", now); d != 10*time.Second {
		t.Fatalf("4th request: delay %s, want 10s (one token per 10s)", d)
	}
	// A refused request takes no token: still 10 s to wait, not 20.
	if d := l.take("a", now); d != 10*time.Second {
		t.Fatalf("5th request: delay %s, want 10s", d)
	}
	if d := l.take("b", now); d != 0 {
		t.Fatalf("another key is limited by a's burst (%s)", d)
	}
	// (rate.Limiter computes in float64 seconds: within a microsecond.)
	if d := l.take("a", now.Add(4*time.Second)); (d - 6*time.Second).Abs() > time.Microsecond {
		t.Fatalf("4 s later: delay %s, want 6s", d)
	}
	if d := l.take("a", now.Add(10*time.Second)); d != 0 {
		t.Fatalf("a token after 10 s refused (%s)", d)
	}
	var off *keyedLimiter = newKeyedLimiter("off", config.Limit{Requests: 0}, 100)
	if off != nil || off.take("a", now) != 0 {
		t.Fatal("a disabled limit refuses")
	}
}

func TestKeyedLimiterMemoryBounded(t *testing.T) {
	l := newKeyedLimiter("test", config.Limit{Requests: 1, Per: config.Duration(time.Second), Burst: 2}, 3)
	now := time.Unix(1_800_000_000, 0)
	for i := 0; i < 1000; i++ {
		l.take(strconv.Itoa(i), now)
		if n := l.size(); n > 3 {
			t.Fatalf("%d keys kept, max 3", n)
		}
	}
	// Keys idle for as long as a bucket takes to refill (2 s here) are
	// forgotten on the next call: their buckets would be full anyway.
	l.take("x", now.Add(2*time.Second))
	if n := l.size(); n != 1 {
		t.Fatalf("%d keys kept after they went idle, want 1", n)
	}
	// A key in use is never dropped for being idle while it is limited.
	l.take("x", now.Add(2*time.Second))
	if d := l.take("x", now.Add(2*time.Second)); d == 0 {
		t.Fatal("x's burst of 2 admitted a 3rd request")
	}
}

// The shared path (chunks reserved from the database) forgets idle keys
// too, once their chunk has expired; before, it kept every key it saw
// until max_keys pushed it out.
func TestKeyedLimiterChunksForgetIdleKeys(t *testing.T) {
	l := newKeyedLimiter("test", config.Limit{Requests: 1, Per: config.Duration(time.Second), Burst: 2}, 1000)
	now := time.Unix(1_800_000_000, 0)
	for i := 0; i < 100; i++ {
		key := strconv.Itoa(i)
		_, _, mine := l.chunkOrReserve(key, now)
		if mine == nil {
			t.Fatalf("key %s: no reservation to make", key)
		}
		l.reserved(key, mine, 1, now.Add(chunkLife))
	}
	if n := l.size(); n != 100 {
		t.Fatalf("%d keys kept, want 100", n)
	}
	// Idle past the bucket's refill time but their chunks still valid: kept.
	if spent, _, _ := l.chunkOrReserve("0", now.Add(2*time.Second)); !spent {
		t.Fatal("key 0 did not spend its chunk")
	}
	if n := l.size(); n != 100 {
		t.Fatalf("%d keys kept while their chunks are valid, want 100", n)
	}
	// Once the chunks have expired too, the idle keys go.
	_, _, mine := l.chunkOrReserve("x", now.Add(chunkLife+time.Second))
	l.reserved("x", mine, 0, now.Add(chunkLife+time.Second))
	if n := l.size(); n != 1 {
		t.Fatalf("%d keys kept after they went idle and their chunks expired, want 1", n)
	}
}

// rlGateway serves a gateway on db with limits and a fake clock.
func rlGateway(t *testing.T, db *store.DB, limits func(*config.RateLimits)) (*fndGateway, *prometheus.Registry) {
	t.Helper()
	cfg := fndConfig()
	limits(&cfg.RateLimits)
	clock := newFndClock()
	reg := prometheus.NewRegistry()
	s := New(Deps{Config: cfg, DB: db, Log: fndLogger(), Now: clock.Now, Registry: reg})
	base, _ := fndServe(t, s)
	return &fndGateway{db: db, srv: s, base: base, clock: clock}, reg
}

// expectLimited checks a 429 rate_limited answer with Retry-After secs.
func expectLimited(t *testing.T, r fndResp, secs int) {
	t.Helper()
	r.expectErr(t, http.StatusTooManyRequests, CodeRateLimited)
	if got := r.Header.Get("Retry-After"); got != strconv.Itoa(secs) {
		t.Fatalf("Retry-After %q, want %d", got, secs)
	}
}

func TestRateLimitPublicRoutesPerAddress(t *testing.T) {
	db := storetest.Open(t, store.SQLite)
	g, reg := rlGateway(t, db, func(l *config.RateLimits) {
		l.Public = config.Limit{Requests: 1, Per: config.Duration(time.Minute), Burst: 2}
	})
	// The coverage and evidence routes share the address's bucket.
	if r := fndReq(t, "GET", g.base+"/v1/public/coverage", nil); r.Status != 200 {
		t.Fatalf("coverage: %s", r)
	}
	if r := fndReq(t, "GET", g.base+"/v1/evidence/public-key", nil); r.Status == 429 {
		t.Fatalf("evidence key within the burst: %s", r)
	}
	expectLimited(t, fndReq(t, "GET", g.base+"/v1/public/coverage", nil), 60)
	expectLimited(t, fndReq(t, "GET", g.base+"/v1/evidence/checkpoint", nil), 60)
	if got := rlCounter(t, reg, "lianmeng_rate_limited_total", "limit", "public"); got != 2 {
		t.Fatalf("lianmeng_rate_limited_total{limit=public} = %v, want 2", got)
	}
	g.clock.Add(time.Minute)
	if r := fndReq(t, "GET", g.base+"/v1/public/coverage", nil); r.Status != 200 {
		t.Fatalf("coverage a minute later: %s", r)
	}
}

// limitByAddress is what the member sign-in routes attach.
func TestRateLimitByAddressConstructor(t *testing.T) {
	cfg := fndConfig()
	cfg.RateLimits.SignIn = config.Limit{Requests: 2, Per: config.Duration(time.Hour), Burst: 1}
	s := New(Deps{Config: cfg, DB: storetest.Open(t, store.SQLite), Log: fndLogger(), Now: newFndClock().Now})
	s.App().Post("/test/signin", s.limitByAddress("signin"), func(c *fiber.Ctx) error { return c.SendStatus(204) })
	send := func() fndResp {
		resp, err := s.App().Test(httptest.NewRequest("POST", "/test/signin", nil), -1)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return fndResp{resp.StatusCode, resp.Header, b}
	}
	if r := send(); r.Status != 204 {
		t.Fatalf("first sign-in: %s", r)
	}
	expectLimited(t, send(), 1800)
	defer func() {
		if recover() == nil {
			t.Fatal("limitByAddress with an unknown name did not panic")
		}
	}()
	s.limitByAddress("nonesuch")
}

func TestAddressKey(t *testing.T) {
	for in, want := range map[string]string{
		"203.0.113.7":                "203.0.113.7",
		"::ffff:203.0.113.7":         "203.0.113.7",
		"2001:db8:1:2:aaaa::1":       "2001:db8:1:2::/64",
		"2001:db8:1:2:bbbb:cccc::99": "2001:db8:1:2::/64",
		"not an address":             "not an address",
	} {
		if got := addressKey(in); got != want {
			t.Errorf("addressKey(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRateLimitPerCredential(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		g, reg := rlGateway(t, db, func(l *config.RateLimits) {
			l.Credential = config.Limit{Requests: 1, Per: config.Duration(time.Minute), Burst: 2}
		})
		mid := g.createMerchant(t, "Limited")
		a := g.createKey(t, mid, signature.HMACSHA256)
		b := g.createKey(t, mid, signature.HMACSHA256)
		ca, cb := g.merchantClient(mid, a), g.merchantClient(mid, b)
		ctx := context.Background()
		for i := 0; i < 2; i++ {
			if err := ca.Do(ctx, "GET", "/v1/merchant/me", nil, nil); err != nil {
				t.Fatalf("request %d: %v", i+1, err)
			}
		}
		nonces := fndCount(t, db, "request_nonce_hashes")
		nonce := signature.NewNonce()
		expectLimited(t, fndSend(t, g.signed(t, "GET", "/v1/merchant/me", nil, mid, a, g.clock.Now(), nonce)), 60)
		// The refused request used its nonce like any other.
		if got := fndCount(t, db, "request_nonce_hashes"); got != nonces+1 {
			t.Fatalf("%d nonces used by the limited request, want 1", got-nonces)
		}
		fndSend(t, g.signed(t, "GET", "/v1/merchant/me", nil, mid, a, g.clock.Now(), nonce)).expectErr(t, 401, CodeNonceReplayed)
		// Another credential of the same merchant has its own bucket.
		if err := cb.Do(ctx, "GET", "/v1/merchant/me", nil, nil); err != nil {
			t.Fatalf("credential b: %v", err)
		}
		if got := rlCounter(t, reg, "lianmeng_rate_limited_total", "limit", "credential"); got != 1 {
			t.Fatalf("lianmeng_rate_limited_total{limit=credential} = %v, want 1", got)
		}
	})
}

func TestRateLimitMemberLookups(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		g, _ := rlGateway(t, db, func(l *config.RateLimits) {
			l.Member = config.Limit{Requests: 1, Per: config.Duration(time.Hour), Burst: 2}
			l.Lookup = config.Limit{Requests: 1, Per: config.Duration(time.Hour), Burst: 6}
		})
		ma := g.createMerchant(t, "A")
		mb := g.createMerchant(t, "B")
		ca := g.merchantClient(ma, g.createKey(t, ma, signature.HMACSHA256))
		cb := g.merchantClient(mb, g.createKey(t, mb, signature.HMACSHA256))
		lookup := func(c *client.Client, value string) string {
			t.Helper()
			err := c.Do(context.Background(), "POST", "/v1/merchant/members/lookup", map[string]any{"member": phone(value)}, nil)
			var ae *client.APIError
			if err != nil && !errors.As(err, &ae) {
				t.Fatal(err)
			}
			if ae != nil && ae.Code == CodeRateLimited && ae.Status != 429 {
				t.Fatalf("rate_limited with status %d", ae.Status)
			}
			return apiCode(t, err)
		}
		// Two tries for one number, then refused: whichever way it is spelled.
		for i := 0; i < 2; i++ {
			if code := lookup(ca, "13800138000"); code == CodeRateLimited {
				t.Fatalf("try %d refused", i+1)
			}
		}
		for _, spelling := range []string{"13800138000", "+8613800138000", "008613800138000"} {
			if code := lookup(ca, spelling); code != CodeRateLimited {
				t.Fatalf("3rd try as %s: %q, want rate_limited", spelling, code)
			}
		}
		// Another number at the same merchant, and the same number at
		// another merchant, have their own buckets.
		if code := lookup(ca, "13900139000"); code == CodeRateLimited {
			t.Fatal("another number limited")
		}
		if code := lookup(cb, "13800138000"); code == CodeRateLimited {
			t.Fatal("the same number at another merchant limited")
		}
		// The per-credential lookup limit bounds trying number after
		// number: A has used 6 (3 of them refused by the member limit
		// after taking a lookup token).
		if code := lookup(ca, "13700137000"); code != CodeRateLimited {
			t.Fatalf("7th lookup with one key: %q, want rate_limited", code)
		}
	})
}

func TestRateLimitOperator(t *testing.T) {
	db := storetest.Open(t, store.SQLite)
	g, reg := rlGateway(t, db, func(l *config.RateLimits) {
		l.Operator = config.Limit{Requests: 1, Per: config.Duration(time.Second), Burst: 2}
	})
	h := []string{"Authorization", "Bearer " + fndOperatorToken}
	for i := 0; i < 2; i++ {
		if r := fndReq(t, "GET", g.base+"/v1/operator/totals", nil, h...); r.Status != 200 {
			t.Fatalf("request %d: %s", i+1, r)
		}
	}
	expectLimited(t, fndReq(t, "GET", g.base+"/v1/operator/merchants", nil, h...), 1)
	// Guessing tokens from the same address is limited before the token
	// is checked.
	expectLimited(t, fndReq(t, "GET", g.base+"/v1/operator/totals", nil, "Authorization", "Bearer guess-0123456789abcdef"), 1)
	if got := rlCounter(t, reg, "lianmeng_rate_limited_total", "limit", "operator"); got != 2 {
		t.Fatalf("lianmeng_rate_limited_total{limit=operator} = %v, want 2", got)
	}
	g.clock.Add(time.Second)
	if r := fndReq(t, "GET", g.base+"/v1/operator/totals", nil, h...); r.Status != 200 {
		t.Fatalf("a second later: %s", r)
	}
}
