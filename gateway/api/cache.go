package api

import (
	"context"
	"sync"
	"time"

	"github.com/lianmeng/lianmeng/gateway/merchant"
	"github.com/lianmeng/lianmeng/gateway/points"
	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/sdk/signature"
)

// Cached merchants, credentials and earning configurations are dropped:
//   - at once when changed through this instance (forget);
//   - within auditPoll when changed through another instance: every such
//     change increments the admin epoch in its transaction, so a new epoch
//     means "something changed", and the whole cache is cleared;
//   - after lookupTTL in any case.
const (
	lookupTTL = time.Minute
	auditPoll = time.Second
)

// lookups caches the per-request reads of authentication and earning, which
// would otherwise cost several database round trips for every request.
// Only found entries are cached: a merchant created a moment ago is never
// "unknown" here.
type lookups struct {
	repo merchant.Repository
	db   *store.DB
	now  func() time.Time

	mu        sync.Mutex
	watermark int64     // admin epoch seen
	gen       uint64    // bumped whenever entries are dropped
	polledAt  time.Time // when the watermark was last read
	merchants map[string]cached[merchant.Merchant]
	creds     map[string]cached[credential]
	earning   map[string]cached[points.Earning]
	stores    map[string]cached[merchant.Store]
}

type cached[V any] struct {
	v   V
	exp time.Time
}

func newLookups(repo merchant.Repository, db *store.DB) *lookups {
	return &lookups{repo: repo, db: db, now: time.Now, merchants: map[string]cached[merchant.Merchant]{},
		creds: map[string]cached[credential]{}, earning: map[string]cached[points.Earning]{},
		stores: map[string]cached[merchant.Store]{}}
}

// get returns m[k] if fresh, else loads and caches it.
func get[V any](ctx context.Context, l *lookups, m map[string]cached[V], k string, load func() (V, error)) (V, error) {
	now := l.now()
	l.poll(ctx, now)
	l.mu.Lock()
	e, ok := m[k]
	l.mu.Unlock()
	if ok && now.Before(e.exp) {
		return e.v, nil
	}
	l.mu.Lock()
	gen := l.gen
	l.mu.Unlock()
	v, err := load()
	if err != nil {
		return v, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.gen != gen {
		// Entries were dropped while this one loaded: it may predate the
		// change that dropped them, so use it once but do not keep it.
		return v, nil
	}
	if len(m) > 100_000 { // bound memory: drop everything, refill on demand
		clear(m)
	}
	m[k] = cached[V]{v: v, exp: now.Add(lookupTTL)}
	return v, nil
}

func (l *lookups) merchant(ctx context.Context, id string) (merchant.Merchant, error) {
	return get(ctx, l, l.merchants, id, func() (merchant.Merchant, error) { return l.repo.GetMerchant(ctx, id) })
}

// credential is a cached credential with its signature verifier, its key
// material decoded once (nil if it does not decode: every signature fails).
type credential struct {
	merchant.Credential
	verifier *signature.Verifier
}

// verify checks a signature made with the credential.
func (c credential) verify(canonical, sig string) error {
	if c.verifier == nil {
		return signature.ErrBadSignature
	}
	return c.verifier.Verify(canonical, sig)
}

func (l *lookups) credential(ctx context.Context, id string) (credential, error) {
	return get(ctx, l, l.creds, id, func() (credential, error) {
		c, err := l.repo.GetCredential(ctx, id)
		if err != nil {
			return credential{}, err
		}
		v, _ := signature.NewVerifier(c.Algorithm, c.KeyMaterial)
		return credential{Credential: c, verifier: v}, nil
	})
}

func (l *lookups) store(ctx context.Context, id string) (merchant.Store, error) {
	return get(ctx, l, l.stores, id, func() (merchant.Store, error) { return l.repo.GetStore(ctx, id) })
}

// MerchantEarning is the cached points.EarningSource the earn path reads.
func (l *lookups) MerchantEarning(ctx context.Context, merchantID string) (points.Earning, error) {
	return get(ctx, l, l.earning, merchantID, func() (points.Earning, error) { return l.db.MerchantEarningAt(ctx, merchantID, l.now()) })
}

// forget drops cached entries after a change made through this instance.
func (l *lookups) forget(merchantID, credentialID string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.gen++
	if merchantID != "" {
		delete(l.merchants, merchantID)
		delete(l.earning, merchantID)
	}
	if credentialID != "" {
		delete(l.creds, credentialID)
	}
}

// poll reads the audit watermark at most once per auditPoll and clears the
// cache when another instance changed something. It runs in the request
// that happens to come first, under that request's deadline (with no
// deadline it waited for as long as the database pool stayed exhausted).
func (l *lookups) poll(ctx context.Context, now time.Time) {
	l.mu.Lock()
	if now.Sub(l.polledAt) < auditPoll && !l.polledAt.IsZero() {
		l.mu.Unlock()
		return
	}
	l.polledAt = now // one poller at a time; the others use the cache
	l.mu.Unlock()
	mark, err := l.db.AdminEpoch(ctx)
	if err != nil {
		l.forgetAll() // cannot tell: do not trust the cache
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if mark != l.watermark {
		l.watermark = mark
		l.dropLocked()
	}
}

func (l *lookups) dropLocked() {
	l.gen++
	clear(l.merchants)
	clear(l.creds)
	clear(l.earning)
	clear(l.stores)
}

func (l *lookups) forgetAll() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.dropLocked()
}
