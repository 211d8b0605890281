package store

import (
	"context"
	"runtime"
	"syscall"
	"time"
)

// BatchPhases runs one batch as Writer.attempt does, on the calling
// goroutine locked to its thread, and returns the CPU time of each phase
// (that thread's, so neighbours on a shared machine do not count): load
// and apply (prefetch, then each op's command with its envelope), flush
// (the multi-row statements) and commit. For BenchmarkBatch.
func (w *Writer) BatchPhases(batch []*Op) (apply, flush, commit time.Duration, err error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	ctx := context.Background()
	ids := 0
	for _, op := range batch {
		ids += op.Command.IDs + 1
	}
	r, err := w.ids.grab(ctx, w.db, ids)
	if err != nil {
		return 0, 0, 0, err
	}
	t0 := threadCPU()
	tx, err := w.db.W.BeginTxx(ctx, w.db.txOptions())
	if err != nil {
		return 0, 0, 0, err
	}
	u := newUOW(ctx, w.db, tx, w.now(), r)
	defer func() {
		_ = tx.Rollback()
		w.db.prepareMissed(ctx, u.missed)
	}()
	excluded := make([]bool, len(batch))
	if err := u.prefetch(batch, excluded); err != nil {
		return 0, 0, 0, err
	}
	for _, op := range batch {
		if res, err := u.apply(op); err != nil || res.Err != nil {
			return 0, 0, 0, errorsJoin(err, res.Err)
		}
	}
	t1 := threadCPU()
	if err := u.flush(); err != nil {
		return 0, 0, 0, err
	}
	t2 := threadCPU()
	if err := tx.Commit(); err != nil {
		return 0, 0, 0, err
	}
	t3 := threadCPU()
	return t1 - t0, t2 - t1, t3 - t2, nil
}

func errorsJoin(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// threadCPU is the CPU time (user and system) of the calling thread.
func threadCPU() time.Duration {
	var ru syscall.Rusage
	const rusageThread = 1 // RUSAGE_THREAD (Linux)
	if err := syscall.Getrusage(rusageThread, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// CommitBatch commits batch as one batch, as the writer's loop does (the
// same retries), and returns each operation's result.
func (w *Writer) CommitBatch(batch []*Op) []OpResult { return w.commit(batch, false) }
