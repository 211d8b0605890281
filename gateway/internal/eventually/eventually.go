// Package eventually is test support: it polls a condition until it holds
// or a deadline passes, for tests that wait on something asynchronous (a
// sealer writing a checkpoint, a restarted plugin, a gateway becoming
// ready).
//
// The timeout guards against hangs; it is never a performance assertion, so
// give it generously (tens of seconds). Polling starts every few
// milliseconds and backs off to every 50 ms, so a condition that holds soon
// is noticed soon.
package eventually

import (
	"errors"
	"fmt"
	"time"
)

// TB is the part of testing.TB the helpers use.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
}

const (
	firstInterval = 2 * time.Millisecond
	maxInterval   = 50 * time.Millisecond
)

// Within calls f until it returns nil and then returns nil. If f still
// fails once timeout has passed, Within returns f's last error, saying how
// long it waited. f is always called at least once, and once more after the
// deadline's last sleep.
func Within(timeout time.Duration, f func() error) error {
	deadline := time.Now().Add(timeout)
	interval := firstInterval
	for {
		err := f()
		if err == nil {
			return nil
		}
		if !time.Now().Before(deadline) {
			return fmt.Errorf("still failing after %v: %w", timeout, err)
		}
		time.Sleep(min(interval, time.Until(deadline)+time.Millisecond))
		interval = min(2*interval, maxInterval)
	}
}

// NoError polls f until it returns nil; if it still fails after timeout,
// the test fails with what and f's last error.
func NoError(t TB, timeout time.Duration, what string, f func() error) {
	t.Helper()
	if err := Within(timeout, f); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// errFalse is what Within sees while a True condition does not hold.
var errFalse = errors.New("condition is false")

// True polls cond until it returns true; if it is still false after
// timeout, the test fails with what.
func True(t TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	err := Within(timeout, func() error {
		if cond() {
			return nil
		}
		return errFalse
	})
	if err != nil {
		t.Fatalf("%s: not true after %v", what, timeout)
	}
}
