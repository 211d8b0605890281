package store_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/gateway/points"
	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
)

// TestPurgeIdempotency: records older than the cut-off go, oldest first and
// at most limit per call; recent ones stay and still replay; a purged key
// runs its operation again.
func TestPurgeIdempotency(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		var now atomic.Int64
		t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		now.Store(t0.UnixMicro())
		clock := func() time.Time { return time.UnixMicro(now.Load()) }
		w := db.NewWriter(store.WriterOptions{Now: clock})
		defer w.Close()
		var runs atomic.Int64
		submit := func(key string) store.OpResult {
			t.Helper()
			res := w.Submit(ctx, &store.Op{
				Command: points.Command{Name: "test", Apply: func(points.Tx) (any, error) { return map[string]int64{"run": runs.Add(1)}, nil }},
				Idem:    &store.Idem{MerchantID: "mch_test", Key: key, RequestHash: "h", Status: 201}})
			if res.Err != nil {
				t.Fatal(res.Err)
			}
			return res
		}
		const old = 7
		for i := 0; i < old; i++ {
			submit(fmt.Sprintf("old-%d", i))
			now.Add(time.Minute.Microseconds())
		}
		now.Store(t0.Add(40 * 24 * time.Hour).UnixMicro())
		submit("recent")
		cut := t0.Add(30 * 24 * time.Hour)

		if _, err := db.PurgeIdempotency(ctx, cut, 0); err == nil {
			t.Fatal("limit 0 accepted")
		}
		// Bounded: three per call, oldest first.
		n, err := db.PurgeIdempotency(ctx, cut, 3)
		if err != nil || n != 3 {
			t.Fatalf("first batch: %d %v", n, err)
		}
		var left []string
		for _, k := range []string{"old-0", "old-1", "old-2", "old-3", "old-4", "old-5", "old-6", "recent"} {
			ok, err := db.IdempotencyRecorded(ctx, "mch_test", k)
			if err != nil {
				t.Fatal(err)
			}
			if ok {
				left = append(left, k)
			}
		}
		if want := []string{"old-3", "old-4", "old-5", "old-6", "recent"}; fmt.Sprint(left) != fmt.Sprint(want) {
			t.Fatalf("after one batch: %v, want %v", left, want)
		}
		total := n
		for {
			n, err := db.PurgeIdempotency(ctx, cut, 3)
			if err != nil {
				t.Fatal(err)
			}
			total += n
			if n < 3 {
				break
			}
		}
		if total != old {
			t.Fatalf("purged %d, want %d", total, old)
		}
		if n, err := db.PurgeIdempotency(ctx, cut, 3); err != nil || n != 0 {
			t.Fatalf("nothing left to purge: %d %v", n, err)
		}
		// The recent key still replays; a purged one is a new operation.
		before := runs.Load()
		if res := submit("recent"); res.Replay == nil || runs.Load() != before {
			t.Fatalf("recent key did not replay: %+v", res)
		}
		if res := submit("old-0"); res.Replay != nil || runs.Load() != before+1 {
			t.Fatalf("purged key replayed: %+v", res)
		}
	})
}
