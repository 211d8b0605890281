package api

import (
	"context"
	"sync"
	"time"
)

// A credential's last use (the console's "last used", to the minute) is
// recorded off the request path: a verified request notes it in memory, and
// a flusher started by Serve writes what was noted in one transaction every
// keyUseFlush (store.Merchants.TouchCredentials), and once more when Serve
// stops. It used to be an UPDATE inside the first request of each minute per
// key, which on SQLite waited for the batching writer's only connection.
const (
	keyUseFlush = 10 * time.Second
	// keyUseMax bounds the uses waiting for a flush; more keys than that
	// in one interval are left out until the next (the last use is
	// informational, and a busy key is noted again the next minute).
	keyUseMax = 10_000
	// keyUseFlushTimeout bounds one write of the noted uses.
	keyUseFlushTimeout = 5 * time.Second
)

// keyUses collects credentials' last uses between flushes.
type keyUses struct {
	noted sync.Map // key id -> Unix minute last noted (the lock-free fast path)

	mu      sync.Mutex
	pending map[string]time.Time // key id -> latest use not yet written
	dropped int                  // uses left out since the last flush (pending full)
}

// note records that key kid signed a request that verified at now. A key
// already noted this minute costs one map lookup.
func (k *keyUses) note(kid string, now time.Time) {
	minute := now.Unix() / 60
	if v, ok := k.noted.Load(kid); ok && v.(int64) == minute {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if _, ok := k.pending[kid]; !ok && len(k.pending) >= keyUseMax {
		k.dropped++
		return // noted again on its next request
	}
	k.noted.Store(kid, minute)
	if k.pending == nil {
		k.pending = map[string]time.Time{}
	}
	if now.After(k.pending[kid]) {
		k.pending[kid] = now
	}
}

// take hands over the uses noted since the last take.
func (k *keyUses) take() (map[string]time.Time, int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	p, d := k.pending, k.dropped
	k.pending, k.dropped = nil, 0
	return p, d
}

// flushKeyUses writes the uses noted so far. A failure is logged and those
// uses are lost: the last use is informational, and each key is noted again
// on its next request after the minute.
func (s *Server) flushKeyUses(ctx context.Context) {
	uses, dropped := s.keyUses.take()
	if dropped > 0 {
		s.log.Warn("credential uses left out: too many keys between flushes", "dropped", dropped, "max", keyUseMax)
	}
	if len(uses) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, keyUseFlushTimeout)
	defer cancel()
	if err := s.merchants.TouchCredentials(ctx, uses); err != nil {
		s.log.Warn("record credential uses", "keys", len(uses), "err", err)
		// Each key is noted again on its next request.
		for id := range uses {
			s.keyUses.noted.Delete(id)
		}
	}
}

// runKeyUses flushes every interval until ctx ends.
func (s *Server) runKeyUses(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.flushKeyUses(ctx)
		}
	}
}
