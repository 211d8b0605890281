package scheduler

import (
	"context"
	"time"

	"github.com/lianmeng/lianmeng/gateway/points"
	"github.com/lianmeng/lianmeng/gateway/store"
)

// lotsPerBatch bounds one release or expiry transaction.
const lotsPerBatch = 500

// PointsJobs returns the release and expiry jobs. Each submits batches of
// due lots through the batching writer until none is left.
func PointsJobs(w *store.Writer, svc *points.Service, interval time.Duration) []Job {
	return []Job{
		{Name: "points.release", Interval: interval, Run: drain(w, svc.Release)},
		{Name: "points.expire", Interval: interval, Run: drain(w, svc.Expire)},
	}
}

// NonceJob purges expired request nonces.
func NonceJob(db *store.DB, now func() time.Time) Job {
	return Job{Name: "auth.purge_nonces", Interval: time.Minute, Run: func(ctx context.Context) (int, error) {
		n, err := db.PurgeNonces(ctx, now())
		return int(n), err
	}}
}

func drain(w *store.Writer, step func(tx points.Tx, limit int) (int, error)) func(ctx context.Context) (int, error) {
	return func(ctx context.Context) (int, error) {
		total := 0
		for ctx.Err() == nil {
			var n int
			res := w.Submit(ctx, &store.Op{IDs: lotsPerBatch, Apply: func(tx points.Tx) (int, []byte, error) {
				var err error
				n, err = step(tx, lotsPerBatch)
				return 0, nil, err
			}})
			if res.Err != nil {
				return total, res.Err
			}
			total += n
			if n < lotsPerBatch {
				break
			}
		}
		return total, nil
	}
}
