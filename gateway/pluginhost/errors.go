package pluginhost

import (
	"errors"
	"fmt"
	"time"

	"github.com/lianmeng/lianmeng/sdk/host"
)

// ErrUnavailable matches (errors.Is) every failure that means "the plugin
// could not answer": not running, crashed mid-call, deadline exceeded,
// panicked, inconsistent answer, circuit open. The concrete error is an
// *UnavailableError carrying a retry-after hint.
var ErrUnavailable = errors.New("plugin unavailable")

// ErrUnknownPlugin is returned for a name that is not configured, or is
// configured with another kind. It is a configuration mistake, not an outage.
var ErrUnknownPlugin = errors.New("unknown plugin")

// ErrChecksum and ErrIncompatible are start-up failures (see sdk/host).
var (
	ErrChecksum     = host.ErrChecksum
	ErrIncompatible = host.ErrIncompatible
)

// UnavailableError is the concrete ErrUnavailable.
type UnavailableError struct {
	Plugin string
	// Reason is a short stable word: down, crashed, deadline, failed,
	// circuit_open, bad_result, closed.
	Reason string
	// RetryAfter is when a retry may succeed (at least one second).
	RetryAfter time.Duration
	// Sent reports whether the request may have reached the plugin. For a
	// payment call this means the outcome is unknown and must be resolved
	// by querying; when false the request certainly had no effect.
	Sent bool
	Err  error
}

func (e *UnavailableError) Error() string {
	s := fmt.Sprintf("plugin %s unavailable (%s, retry after %s)", e.Plugin, e.Reason, e.RetryAfter)
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Is makes errors.Is(err, ErrUnavailable) true.
func (e *UnavailableError) Is(target error) bool { return target == ErrUnavailable }

func (e *UnavailableError) Unwrap() error { return e.Err }

// RetryAfter returns the retry-after hint of an ErrUnavailable error.
func RetryAfter(err error) (time.Duration, bool) {
	var ue *UnavailableError
	if errors.As(err, &ue) {
		return ue.RetryAfter, true
	}
	return 0, false
}

func retryHint(d time.Duration) time.Duration {
	if d < time.Second {
		return time.Second
	}
	return d.Round(time.Second)
}
