package store

import (
	"context"
	"database/sql"
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
	u, err := w.db.beginBatch(ctx, w.now(), r)
	if err != nil {
		return 0, 0, 0, err
	}
	defer u.end()
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
	if err := u.commit(); err != nil {
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

// InBatch runs fn in a unit of work begun as Writer.attempt begins one (on
// MySQL, the pipeline of pipeline.go) and commits it if fn returns nil. For
// the pipeline's tests: exec, get and selectAll are the unit of work's.
func (db *DB) InBatch(fn func(b BatchExec) error) error {
	ctx := context.Background()
	u, err := db.beginBatch(ctx, time.Now(), &idRange{})
	if err != nil {
		return err
	}
	defer u.end()
	if err := fn(BatchExec{u}); err != nil {
		return err
	}
	return u.commit()
}

// BatchExec is the statement layer of a batch's unit of work.
type BatchExec struct{ u *uow }

func (b BatchExec) Exec(q string, args ...any) (sql.Result, error) { return b.u.exec(q, args...) }
func (b BatchExec) Get(dest any, q string, args ...any) error      { return b.u.get(dest, q, args...) }
func (b BatchExec) Select(dest any, q string, args ...any) error {
	return b.u.selectAll(dest, q, args...)
}
