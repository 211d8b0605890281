package inbox

import (
	"context"
	"sync"
	"time"

	"github.com/lianmeng/lianmeng/gateway/store"
)

// Connections are read on every webhook (and again for every event
// processed), each a query and an SM4 open of the sealed configuration; a
// busy POS would pay that per sale. They are cached, found ones only, and
// dropped:
//   - at once when changed through this instance (Forget, called by the
//     API after a disable, enable or rotation);
//   - within connPoll when changed through another instance (every change
//     bumps the admin epoch in its transaction: a new epoch clears all);
//   - after connTTL in any case.
const (
	connTTL  = time.Minute
	connPoll = time.Second
)

type connCache struct {
	mu        sync.Mutex
	m         map[string]cachedConn
	gen       uint64
	watermark int64
	polledAt  time.Time
}

type cachedConn struct {
	c   store.POSConnection
	exp time.Time
}

// connection reads connection id (with its configuration) through the
// cache.
func (in *Inbox) connection(ctx context.Context, id string) (store.POSConnection, error) {
	cc := &in.conns
	now := time.Now()
	in.pollConns(ctx, now)
	cc.mu.Lock()
	e, ok := cc.m[id]
	gen := cc.gen
	cc.mu.Unlock()
	if ok && now.Before(e.exp) {
		return e.c, nil
	}
	c, err := in.DB.POSConnection(ctx, id)
	if err != nil {
		return c, err
	}
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if cc.gen != gen {
		return c, nil // dropped while loading: use once, do not keep
	}
	if cc.m == nil || len(cc.m) > 10_000 {
		cc.m = map[string]cachedConn{}
	}
	cc.m[id] = cachedConn{c: c, exp: now.Add(connTTL)}
	return c, nil
}

// Forget drops connection id from the cache after a change made through
// this instance (a disable, an enable, a rotation).
func (in *Inbox) Forget(id string) {
	cc := &in.conns
	cc.mu.Lock()
	defer cc.mu.Unlock()
	cc.gen++
	delete(cc.m, id)
}

// pollConns reads the admin epoch at most once per connPoll and clears the
// cache when it moved (a change through another instance).
func (in *Inbox) pollConns(ctx context.Context, now time.Time) {
	cc := &in.conns
	cc.mu.Lock()
	if !cc.polledAt.IsZero() && now.Sub(cc.polledAt) < connPoll {
		cc.mu.Unlock()
		return
	}
	cc.polledAt = now // one poller at a time; the others use the cache
	cc.mu.Unlock()
	mark, err := in.DB.AdminEpoch(ctx)
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if err != nil || mark != cc.watermark {
		cc.watermark = mark
		cc.gen++
		clear(cc.m)
	}
}
