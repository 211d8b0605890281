package eventually_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/gateway/internal/eventually"
)

// fakeT records a failure instead of stopping the test.
type fakeT struct{ failed string }

func (f *fakeT) Helper()                        {}
func (f *fakeT) Fatalf(format string, a ...any) { f.failed = fmt.Sprintf(format, a...) }

func TestWithinSucceedsOnceTheConditionHolds(t *testing.T) {
	calls := 0
	err := eventually.Within(10*time.Second, func() error {
		calls++
		if calls < 3 {
			return errors.New("not yet")
		}
		return nil
	})
	if err != nil || calls != 3 {
		t.Fatalf("err %v after %d calls, want nil after 3", err, calls)
	}
}

func TestWithinReturnsTheLastError(t *testing.T) {
	last := errors.New("first")
	calls := 0
	start := time.Now()
	err := eventually.Within(30*time.Millisecond, func() error {
		calls++
		if calls > 1 {
			last = fmt.Errorf("attempt %d", calls)
		}
		return last
	})
	if !errors.Is(err, last) || !strings.Contains(err.Error(), "30ms") {
		t.Fatalf("err = %v, want the last error (%v) and the timeout", err, last)
	}
	if calls < 2 {
		t.Fatalf("%d calls in 30ms", calls)
	}
	if time.Since(start) < 30*time.Millisecond {
		t.Fatalf("gave up after %v, before the timeout", time.Since(start))
	}
}

func TestWithinZeroTimeoutCallsOnce(t *testing.T) {
	calls := 0
	err := eventually.Within(0, func() error { calls++; return errors.New("no") })
	if err == nil || calls != 1 {
		t.Fatalf("err %v calls %d", err, calls)
	}
}

func TestTrueAndNoError(t *testing.T) {
	var ft fakeT
	n := 0
	eventually.True(&ft, 10*time.Second, "counter reaches 3", func() bool { n++; return n >= 3 })
	eventually.NoError(&ft, 10*time.Second, "nil at once", func() error { return nil })
	if ft.failed != "" {
		t.Fatalf("failed: %s", ft.failed)
	}

	eventually.True(&ft, 10*time.Millisecond, "never true", func() bool { return false })
	if !strings.Contains(ft.failed, "never true") || !strings.Contains(ft.failed, "10ms") {
		t.Fatalf("True failure = %q", ft.failed)
	}
	eventually.NoError(&ft, 10*time.Millisecond, "plugin answers", func() error { return errors.New("connection refused") })
	if !strings.Contains(ft.failed, "plugin answers") || !strings.Contains(ft.failed, "connection refused") {
		t.Fatalf("NoError failure = %q", ft.failed)
	}
}
