package scheduler

import (
	"context"
	"time"

	"github.com/lianmeng/lianmeng/gateway/points"
	"github.com/lianmeng/lianmeng/gateway/store"
)

// lotsPerBatch bounds one release or expiry transaction.
const lotsPerBatch = 500

// PointsJobs returns the release and expiry jobs. Each submits the
// domain's release or expiry command through the batching writer until a
// run handles fewer lots than it could (none left due).
func PointsJobs(w *store.Writer, svc *points.Service, interval time.Duration) []Job {
	return []Job{
		{Name: "points.release", Interval: interval, Run: drain(w, func() points.Command { return svc.ReleaseCommand(lotsPerBatch) })},
		{Name: "points.expire", Interval: interval, Run: drain(w, func() points.Command { return svc.ExpireCommand(lotsPerBatch) })},
	}
}

// NonceJob purges expired request nonces.
func NonceJob(db *store.DB, now func() time.Time) Job {
	return Job{Name: "auth.purge_nonces", Interval: time.Minute, Run: func(ctx context.Context) (int, error) {
		n, err := db.PurgeNonces(ctx, now())
		return int(n), err
	}}
}

// idemPerBatch bounds one purge statement of idempotency records.
const idemPerBatch = 1000

// IdempotencyJob purges idempotency records older than retention
// (idempotency.retention), oldest first, idemPerBatch rows per statement,
// until none is left due. Each statement is its own short transaction, so
// writes go on between batches.
func IdempotencyJob(db *store.DB, retention time.Duration, now func() time.Time) Job {
	return Job{Name: "idempotency.purge", Interval: 10 * time.Minute, Run: func(ctx context.Context) (int, error) {
		cut := now().Add(-retention)
		total := 0
		for ctx.Err() == nil {
			n, err := db.PurgeIdempotency(ctx, cut, idemPerBatch)
			total += int(n)
			if err != nil {
				return total, err
			}
			if n < idemPerBatch {
				break
			}
		}
		return total, nil
	}}
}

// RateLimitJob deletes the shared rate-limit buckets that are full again
// (rate_limits.store database), idemPerBatch rows per statement.
func RateLimitJob(db *store.DB, now func() time.Time) Job {
	return Job{Name: "rate_limits.purge", Interval: 5 * time.Minute, Run: func(ctx context.Context) (int, error) {
		total := 0
		for ctx.Err() == nil {
			n, err := db.PurgeRateLimits(ctx, now(), idemPerBatch)
			total += int(n)
			if err != nil || n < idemPerBatch {
				return total, err
			}
		}
		return total, nil
	}}
}

func drain(w *store.Writer, command func() points.Command) func(ctx context.Context) (int, error) {
	return func(ctx context.Context) (int, error) {
		total := 0
		for ctx.Err() == nil {
			res := w.Submit(ctx, &store.Op{Command: command()})
			if res.Err != nil {
				return total, res.Err
			}
			done, _ := res.Value.(points.LotsDone)
			total += done.Lots
			if !done.Full {
				break
			}
		}
		return total, nil
	}
}

// ConsentJob purges consent codes a day after they expired (used or not:
// a used one's redemption keeps its own record).
func ConsentJob(db *store.DB, now func() time.Time) Job {
	return Job{Name: "consent.purge", Interval: time.Hour, Run: func(ctx context.Context) (int, error) {
		n, err := db.PurgeConsents(ctx, now().Add(-24*time.Hour))
		return int(n), err
	}}
}

// snapshotSettle is how long after midnight a day's snapshot waits, so
// the writer's last batch of the day has committed.
const snapshotSettle = 10 * time.Minute

// SnapshotJob keeps one snapshot of the alliance per finished day
// (store.DB.TakeSnapshots): the published history of the coverage and of
// the points issued, redeemed and expired. Missed days are filled in
// order the next time it runs; a day already kept is never rewritten.
func SnapshotJob(db *store.DB, faceValueFen int64, now func() time.Time) Job {
	return Job{Name: "history.snapshots", Interval: 10 * time.Minute, Run: func(ctx context.Context) (int, error) {
		return db.TakeSnapshots(ctx, now(), snapshotSettle, faceValueFen)
	}}
}
