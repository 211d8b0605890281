package store_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
)

// TestTakeRateLimit: a GCRA bucket per limiter and key: a burst, then one
// request per interval, the wait until the next one, buckets apart per key
// and per limiter, and concurrent takers never admitted past the limit;
// full buckets purged; on both databases.
func TestTakeRateLimit(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
		take := func(limiter, key string, at time.Time) time.Duration {
			t.Helper()
			d, err := db.TakeRateLimit(ctx, limiter, key, at, time.Second, 3, 1)
			if err != nil {
				t.Fatal(err)
			}
			return d
		}
		for i := 0; i < 3; i++ {
			if d := take("lookup", "k1", t0); d != 0 {
				t.Fatalf("request %d of a burst of 3 refused: %s", i+1, d)
			}
		}
		if d := take("lookup", "k1", t0); d != time.Second {
			t.Fatalf("4th request: wait %s, want 1s", d)
		}
		if d := take("lookup", "k1", t0.Add(400*time.Millisecond)); d != 600*time.Millisecond {
			t.Fatalf("400ms later: wait %s, want 600ms", d)
		}
		if d := take("lookup", "k1", t0.Add(time.Second)); d != 0 {
			t.Fatalf("a second later: refused %s", d)
		}
		if d := take("lookup", "k1", t0.Add(time.Second)); d != time.Second {
			t.Fatalf("the second in that second: wait %s", d)
		}
		// Other keys and other limiters have their own buckets.
		if d := take("lookup", "k2", t0); d != 0 {
			t.Fatal("k2 refused")
		}
		if d := take("member", "k1", t0); d != 0 {
			t.Fatal("another limiter's k1 refused")
		}
		// Idle for the whole burst: full again.
		for i := 0; i < 3; i++ {
			if d := take("lookup", "k1", t0.Add(10*time.Second)); d != 0 {
				t.Fatalf("after 10 s, request %d refused", i+1)
			}
		}
		if _, err := db.TakeRateLimit(ctx, "x", "k", t0, 0, 1, 1); err == nil {
			t.Fatal("a zero interval accepted")
		}

		// Several at once: 4 of a burst of 10, twice, then 4 more do not
		// fit (2 left) but 1 does; n above the burst is refused.
		for i, want := range []time.Duration{0, 0, time.Second} {
			if d, err := db.TakeRateLimit(ctx, "credential", "n", t0, time.Second, 10, 4); err != nil || d != want {
				t.Fatalf("take 4, %d: wait %s (%v), want %s", i+1, d, err, want)
			}
		}
		for i, want := range []time.Duration{0, 0, time.Second} {
			if d, err := db.TakeRateLimit(ctx, "credential", "n", t0, time.Second, 10, 1); err != nil || d != want {
				t.Fatalf("then 1, %d: wait %s (%v), want %s", i+1, d, err, want)
			}
		}
		if _, err := db.TakeRateLimit(ctx, "credential", "n", t0, time.Second, 10, 11); err == nil {
			t.Fatal("more than the burst at once accepted")
		}

		// Concurrent takers at one instant: exactly the burst is admitted.
		var admitted atomic.Int32
		var wg sync.WaitGroup
		for i := 0; i < 12; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				d, err := db.TakeRateLimit(ctx, "signin", "hot", t0, time.Minute, 5, 1)
				if err != nil {
					t.Error(err)
				} else if d == 0 {
					admitted.Add(1)
				}
			}()
		}
		wg.Wait()
		if n := admitted.Load(); n != 5 {
			t.Fatalf("%d concurrent requests admitted, want the burst of 5", n)
		}

		// Purge: buckets whose tat has passed go; the hot one stays.
		n, err := db.PurgeRateLimits(ctx, t0.Add(time.Minute), 1000)
		if err != nil {
			t.Fatal(err)
		}
		if n != 4 { // lookup k1, lookup k2, member k1, credential n
			t.Fatalf("purged %d buckets, want 4", n)
		}
		// The hot bucket was kept: a minute later one request (not a burst).
		for i, want := range []time.Duration{0, time.Minute} {
			d, err := db.TakeRateLimit(ctx, "signin", "hot", t0.Add(time.Minute), time.Minute, 5, 1)
			if err != nil || d != want {
				t.Fatalf("a minute later, request %d: wait %s (%v), want %s", i+1, d, err, want)
			}
		}
	})
}
