package pluginhost

import (
	"sync"
	"time"
)

// breaker is a consecutive-failure circuit breaker. Closed: calls pass.
// After threshold failures in a row it opens: calls fail fast for cooldown.
// Then it is half-open: one probe call passes; success closes it, failure
// opens it again.
type breaker struct {
	threshold int
	cooldown  time.Duration
	now       func() time.Time

	mu       sync.Mutex
	failures int
	openedAt time.Time
	state    breakerState
	probing  bool
}

type breakerState int

const (
	closed breakerState = iota
	open
	halfOpen
)

func (s breakerState) String() string { return [...]string{"closed", "open", "half_open"}[s] }

// allow reports whether a call may proceed; if not, how long until it may.
// A true result with probe set must be followed by done.
func (b *breaker) allow() (ok bool, wait time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch b.state {
	case open:
		if left := b.cooldown - b.now().Sub(b.openedAt); left > 0 {
			return false, left
		}
		b.state = halfOpen
		fallthrough
	case halfOpen:
		if b.probing {
			return false, b.cooldown
		}
		b.probing = true
	}
	return true, 0
}

// done records the outcome of an allowed call.
func (b *breaker) done(success bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.probing = false
	if success {
		b.failures = 0
		b.state = closed
		return
	}
	b.failures++
	if b.state == halfOpen || b.failures >= b.threshold {
		b.state = open
		b.openedAt = b.now()
	}
}

// release ends an allowed call that never reached the plugin, without
// counting it either way.
func (b *breaker) release() {
	b.mu.Lock()
	b.probing = false
	b.mu.Unlock()
}

func (b *breaker) current() breakerState {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.state
}
