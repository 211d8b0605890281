package scheduler

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
)

// TestIdempotencyJob: records older than the retention are purged, in more
// than one batch, by whichever instance holds the job's lease; recent ones
// stay.
func TestIdempotencyJob(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
		clock := func() time.Time { return now }
		const retention = 30 * 24 * time.Hour
		const old, recent = idemPerBatch + 250, 40
		insert := func(prefix string, n int, at time.Time) {
			t.Helper()
			for start := 0; start < n; start += 200 {
				var rows []string
				var args []any
				for i := start; i < min(n, start+200); i++ {
					rows = append(rows, "(?, ?, ?, ?, ?, ?)")
					// Spread over an hour, so the order is by age.
					args = append(args, "mch_m", fmt.Sprintf("%s-%05d", prefix, i), strings.Repeat("0", 64), 201, `{}`,
						store.Micros(at.Add(time.Duration(i)*time.Second)))
				}
				if _, err := db.W.ExecContext(ctx, `INSERT INTO idempotency_keys (merchant_id, idem_key, request_hash, status, response, created_at) VALUES `+
					strings.Join(rows, ", "), args...); err != nil {
					t.Fatal(err)
				}
			}
		}
		insert("old", old, now.Add(-retention-2*time.Hour))
		// Just inside the window: an hour younger than the retention.
		insert("recent", recent, now.Add(-retention+time.Hour))

		job := IdempotencyJob(db, retention, clock)
		a := &Scheduler{DB: db, Holder: "a", Log: discard, Now: clock}
		b := &Scheduler{DB: db, Holder: "b", Log: discard, Now: clock}
		if ran, n, err := a.RunOnce(ctx, job); !ran || err != nil || n != old {
			t.Fatalf("a: ran=%v n=%d err=%v, want %d purged", ran, n, err, old)
		}
		if ran, _, _ := b.RunOnce(ctx, job); ran {
			t.Fatal("b ran the purge while a holds the lease")
		}
		var left []string
		if err := db.R.SelectContext(ctx, &left, `SELECT idem_key FROM idempotency_keys`); err != nil {
			t.Fatal(err)
		}
		if len(left) != recent {
			t.Fatalf("%d records left, want the %d recent ones", len(left), recent)
		}
		for _, k := range left {
			if !strings.HasPrefix(k, "recent-") {
				t.Fatalf("%s survived the purge", k)
			}
		}
		// Two hours later the recent ones are due too.
		now = now.Add(2 * time.Hour)
		if ran, n, err := a.RunOnce(ctx, job); !ran || err != nil || n != recent {
			t.Fatalf("second run: ran=%v n=%d err=%v, want %d", ran, n, err, recent)
		}
	})
}
