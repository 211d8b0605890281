// Package scheduler runs the gateway's periodic jobs (releasing pending
// points, expiring old ones, purging nonces). Each job runs under a
// database lease, so with several gateway instances exactly one runs it at
// a time, and a job that finds work due since before a downtime simply
// processes it: catching up needs no special path.
package scheduler

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/lianmeng/lianmeng/gateway/store"
)

// Job is one periodic task. Run does all work that is due and returns how
// many items it processed.
type Job struct {
	Name     string
	Interval time.Duration
	Run      func(ctx context.Context) (int, error)
}

// Scheduler runs jobs.
type Scheduler struct {
	DB     *store.DB
	Holder string // this instance's name in leases
	Log    *slog.Logger
	Now    func() time.Time
}

// Start runs every job on its own ticker until ctx ends. The returned
// function waits until every job has stopped and given up its lease.
func (s *Scheduler) Start(ctx context.Context, jobs ...Job) (wait func()) {
	if s.Now == nil {
		s.Now = time.Now
	}
	var wg sync.WaitGroup
	for _, j := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.loop(ctx, j)
		}()
	}
	return wg.Wait
}

func (s *Scheduler) loop(ctx context.Context, j Job) {
	// A little jitter keeps instances from hitting the lease together.
	timer := time.NewTimer(time.Duration(rand.Int64N(int64(j.Interval)/4 + 1)))
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			s.DB.ReleaseLease(context.Background(), j.Name, s.Holder)
			return
		case <-timer.C:
		}
		s.RunOnce(ctx, j)
		timer.Reset(j.Interval)
	}
}

// RunOnce runs j now if this instance holds (or gets) its lease.
func (s *Scheduler) RunOnce(ctx context.Context, j Job) (ran bool, n int, err error) {
	ok, err := s.DB.AcquireLease(ctx, j.Name, s.Holder, s.Now(), 3*j.Interval+30*time.Second)
	if err != nil {
		s.Log.Warn("job lease", "job", j.Name, "err", err)
		return false, 0, err
	}
	if !ok {
		return false, 0, nil
	}
	n, err = j.Run(ctx)
	if err != nil && ctx.Err() == nil {
		s.Log.Error("job failed", "job", j.Name, "err", err)
	} else if n > 0 {
		s.Log.Info("job done", "job", j.Name, "items", n)
	}
	return true, n, err
}
