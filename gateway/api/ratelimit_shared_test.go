package api

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lianmeng/lianmeng/gateway/config"
	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
	"github.com/lianmeng/lianmeng/sdk/client"
	"github.com/lianmeng/lianmeng/sdk/signature"
)

// twoInstances serves two gateways, each with its own connection pool, on
// one fresh MySQL database, with the same limits, member-token key and
// clock, as two instances behind a load balancer would be.
func twoInstances(t *testing.T, limits func(*config.RateLimits)) (a, b *fndGateway, ra, rb *prometheus.Registry) {
	t.Helper()
	driver, dsn := storetest.NewDatabase(t, store.MySQL)
	clock := newFndClock()
	cfg := fndConfig()
	cfg.Database.Driver = driver
	cfg.Auth.MemberTokenKey = "6c69616e6d656e672d726174652d6c696d69742d746573742d6b65792d303031"
	limits(&cfg.RateLimits)
	start := func() (*fndGateway, *prometheus.Registry) {
		db, err := store.Open(context.Background(), driver, dsn, store.Options{MaxOpenConns: 8})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		if _, err := db.Migrate(context.Background(), nil); err != nil {
			t.Fatal(err)
		}
		reg := prometheus.NewRegistry()
		s := New(Deps{Config: cfg, DB: db, Log: fndLogger(), Now: clock.Now, Registry: reg})
		base, _ := fndServe(t, s)
		return &fndGateway{db: db, srv: s, base: base, clock: clock}, reg
	}
	a, ra = start()
	b, rb = start()
	return a, b, ra, rb
}

// TestRateLimitSharedAcrossInstances: two instances on one MySQL enforce
// one limit between them: a credential's burst of 3 is spent whichever
// instance takes the requests, and a member identity's limit is one
// bucket though each instance keys it with its own HMAC; 429 with
// Retry-After and the metric on the instance that refused.
func TestRateLimitSharedAcrossInstances(t *testing.T) {
	a, b, ra, rb := twoInstances(t, func(l *config.RateLimits) {
		l.Credential = config.Limit{Requests: 1, Per: config.Duration(time.Minute), Burst: 3}
		l.Member = config.Limit{Requests: 1, Per: config.Duration(time.Hour), Burst: 2}
	})
	if a.srv.limits.shared == nil || b.srv.limits.shared == nil {
		t.Fatal("rate_limits.store auto on MySQL did not share the limits")
	}
	mid := a.createMerchant(t, "Shared")
	key := a.createKey(t, mid, signature.HMACSHA256)
	ctx := context.Background()
	me := func(g *fndGateway) fndResp {
		return fndSend(t, g.signed(t, "GET", "/v1/merchant/me", nil, mid, key, g.clock.Now(), signature.NewNonce()))
	}
	for i, g := range []*fndGateway{a, b, a} {
		if r := me(g); r.Status != http.StatusOK {
			t.Fatalf("request %d: %s", i+1, r)
		}
	}
	expectLimited(t, me(b), 60)
	expectLimited(t, me(a), 60)
	if na, nb := rlCounter(t, ra, "lianmeng_rate_limited_total", "limit", "credential"), rlCounter(t, rb, "lianmeng_rate_limited_total", "limit", "credential"); na != 1 || nb != 1 {
		t.Fatalf("lianmeng_rate_limited_total{limit=credential}: a %v, b %v; want 1 each", na, nb)
	}
	a.clock.Add(time.Minute) // one more request a minute later, on either
	if r := me(b); r.Status != http.StatusOK {
		t.Fatalf("a minute later: %s", r)
	}
	expectLimited(t, me(a), 60)

	// The member limit, with a second credential so the credential limit
	// is not what refuses.
	a.clock.Add(time.Hour)
	key2 := a.createKey(t, mid, signature.HMACSHA256)
	lookup := func(g *fndGateway, spelling string) string {
		t.Helper()
		err := client.NewMerchant(g.base, mid, key2, client.WithClock(g.clock.Now)).Do(ctx, "POST", "/v1/merchant/members/lookup",
			map[string]any{"member": phone(spelling)}, nil)
		return apiCode(t, err)
	}
	if code := lookup(a, "13800138000"); code == CodeRateLimited {
		t.Fatal("first lookup limited")
	}
	if code := lookup(b, "+8613800138000"); code == CodeRateLimited {
		t.Fatal("second lookup, on b, limited")
	}
	if code := lookup(a, "008613800138000"); code != CodeRateLimited {
		t.Fatalf("third lookup of one member across two instances: %q, want rate_limited", code)
	}
}

// TestRateLimitStoreFailsOpenToTheInstance: while the shared bucket's row
// is locked (the store cannot answer within sharedLimitTimeout), each
// instance's own bucket decides: requests are admitted up to the local
// burst, then refused, and each failure is counted; once the lock goes,
// the shared bucket (still spent) decides again.
func TestRateLimitStoreFailsOpenToTheInstance(t *testing.T) {
	a, _, ra, _ := twoInstances(t, func(l *config.RateLimits) {
		l.Credential = config.Limit{Requests: 1, Per: config.Duration(time.Minute), Burst: 2}
	})
	mid := a.createMerchant(t, "Locked")
	key := a.createKey(t, mid, signature.HMACSHA256)
	me := func() fndResp {
		return fndSend(t, a.signed(t, "GET", "/v1/merchant/me", nil, mid, key, a.clock.Now(), signature.NewNonce()))
	}
	for i := 0; i < 2; i++ {
		if r := me(); r.Status != http.StatusOK {
			t.Fatalf("request %d: %s", i+1, r)
		}
	}
	expectLimited(t, me(), 60)

	// Lock the bucket's row, as a long transaction or a stuck lock would.
	tx, err := a.db.W.BeginTxx(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var tat int64
	if err := tx.Get(&tat, `SELECT tat FROM rate_limit_buckets WHERE limiter = 'credential' AND rkey = ? FOR UPDATE`, key.KeyID()); err != nil {
		tx.Rollback()
		t.Fatal(err)
	}
	start := time.Now()
	for i := 0; i < 2; i++ {
		if r := me(); r.Status != http.StatusOK {
			tx.Rollback()
			t.Fatalf("store locked, request %d within the instance's burst: %s", i+1, r)
		}
	}
	r := me()
	tx.Rollback()
	expectLimited(t, r, 60)
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("three requests against a locked store took %s", took)
	}
	if n := rlCounter(t, ra, "lianmeng_rate_limit_store_errors_total"); n != 3 {
		t.Fatalf("lianmeng_rate_limit_store_errors_total = %v, want 3", n)
	}
	// The store answers again: its bucket (spent before the lock) decides.
	expectLimited(t, me(), 60)
	if n := rlCounter(t, ra, "lianmeng_rate_limit_store_errors_total"); n != 3 {
		t.Fatalf("lianmeng_rate_limit_store_errors_total = %v after the lock, want 3", n)
	}
}

// On SQLite (one instance) the limits stay in memory unless forced, and
// rate_limits.store: database is refused there.
func TestRateLimitStoreChoice(t *testing.T) {
	db := storetest.Open(t, store.SQLite)
	if s := fndNewServer(db, fndConfig(), nil); s.limits.shared != nil {
		t.Fatal("SQLite shares its limits in the database by default")
	}
	cfg := fndConfig()
	cfg.RateLimits.Store = "database"
	if err := cfg.Validate(); err == nil {
		t.Fatal("rate_limits.store: database accepted on SQLite")
	}
	cfg.Database.Driver = "mysql"
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	cfg.RateLimits.Store = "memory"
	if cfg.RateLimits.Shared("mysql") {
		t.Fatal("memory shared on MySQL")
	}
}

// countingLimits counts the takes that reach the shared store.
type countingLimits struct {
	sharedLimits
	n atomic.Int64
}

func (c *countingLimits) TakeRateLimit(ctx context.Context, limiter, key string, now time.Time, interval time.Duration, burst, n int) (time.Duration, error) {
	c.n.Add(1)
	return c.sharedLimits.TakeRateLimit(ctx, limiter, key, now, interval, burst, n)
}

// With a larger burst each instance reserves chunks (64/16 = 4 requests per
// write): still exactly the burst is admitted across the two instances,
// with about a quarter of the writes.
func TestRateLimitSharedInChunks(t *testing.T) {
	a, b, _, _ := twoInstances(t, func(l *config.RateLimits) {
		l.Credential = config.Limit{Requests: 1, Per: config.Duration(time.Hour), Burst: 64}
	})
	ca, cb := &countingLimits{sharedLimits: a.srv.limits.shared}, &countingLimits{sharedLimits: b.srv.limits.shared}
	a.srv.limits.shared, b.srv.limits.shared = ca, cb
	mid := a.createMerchant(t, "Chunks")
	key := a.createKey(t, mid, signature.HMACSHA256)
	admitted, refused := 0, map[*fndGateway]bool{}
	for i := 0; i < 200 && len(refused) < 2; i++ {
		g := []*fndGateway{a, b, a}[i%3] // unevenly
		r := fndSend(t, g.signed(t, "GET", "/v1/merchant/me", nil, mid, key, g.clock.Now(), signature.NewNonce()))
		switch r.Status {
		case http.StatusOK:
			admitted++
		case http.StatusTooManyRequests:
			refused[g] = true
		default:
			t.Fatalf("request %d: %s", i, r)
		}
	}
	if admitted != 64 {
		t.Fatalf("%d requests admitted across two instances, want the burst of 64", admitted)
	}
	if w := ca.n.Load() + cb.n.Load(); w > 40 {
		t.Fatalf("%d takes reached the database for %d requests", w, admitted)
	}
}

// Many requests of one key at once share one reservation at a time: with a
// burst of 2000 (chunks of 125), 1280 concurrent requests are all admitted
// with about one write per chunk, where each reserving its own chunk
// would empty the bucket after 16 and refuse the rest.
func TestRateLimitSharedChunksUnderConcurrency(t *testing.T) {
	db := storetest.Open(t, store.SQLite)
	cl := &countingLimits{sharedLimits: db}
	cfg := config.Default().RateLimits
	cfg.Credential = config.Limit{Requests: 1000, Per: config.Duration(time.Second), Burst: 2000}
	r := newRateLimits(cfg, prometheus.NewRegistry(), []byte("key"), cl, fndLogger())
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	var refused atomic.Int64
	var wg sync.WaitGroup
	for g := 0; g < 64; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				if r.take("credential", "kid", now) > 0 {
					refused.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if n := refused.Load(); n != 0 {
		t.Fatalf("%d of 1280 requests refused within a burst of 2000", n)
	}
	if w := cl.n.Load(); w > 20 {
		t.Fatalf("%d takes reached the database for 1280 requests (chunks of 125)", w)
	}
}
