package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lianmeng/lianmeng/gateway/evidence"
	"github.com/lianmeng/lianmeng/gateway/points"
)

// Writer is the batching writer (DESIGN §5). Requests queue up; one
// goroutine takes up to BatchSize of them (waiting at most BatchWait for
// more), applies each against the batch's shared view, writes the batch in
// one transaction with multi-row statements and commits once: one fsync
// for the whole batch. A request refused by the rules gets its own error
// and leaves no trace; the others commit.
type Writer struct {
	db   *DB
	ids  *idAllocator
	q    chan *Op
	size int
	wait time.Duration
	now  func() time.Time
	log  *slog.Logger

	batchSize prometheus.Histogram
	retries   prometheus.Counter
	done      chan struct{}

	// syncq carries committed batches to the syncer, which makes them
	// durable before answering (SQLite group commit, see syncwal.go); nil
	// on MySQL, where each commit is durable when it returns.
	syncq     chan committed
	loops     sync.WaitGroup
	syncDone  chan struct{}
	syncFault atomic.Pointer[error] // set when the WAL could not be synced

	// closing guards enqueueing against Close: no op can enter the queue
	// after the loops have drained it.
	closing sync.RWMutex
	closed  bool
}

// Idem is an idempotency key and the hash of the request it came with.
// MerchantID is the key's namespace (the merchant, or "operator").
type Idem struct {
	MerchantID, Key, RequestHash string
	// Status is what the caller answers when the command succeeds; it is
	// recorded with the response so that a replay answers the same.
	Status int
}

// Nonce is a request nonce consumed together with the operation.
type Nonce struct {
	KeyID, Nonce string
	Expires      time.Time
}

// Op is one request for the writer: a domain command, with the envelope
// the store keeps for it in the same transaction: the idempotency record of
// its response and the signed request's nonce.
type Op struct {
	// Command is applied inside the batch. A domain refusal
	// (*points.Error, *points.ErrInsufficient) rolls back only this
	// operation; any other error aborts the attempt, and the batch is then
	// retried without it. A zero Command (nil Apply) only consumes Nonce.
	Command points.Command
	Idem    *Idem
	Nonce   *Nonce
	// Audit, if set, is recorded in the audit log with the command's
	// result when (and only when) the command applies.
	Audit *OpAudit

	res chan OpResult
}

// OpResult is what a request gets back.
type OpResult struct {
	// Value is the command's domain result.
	Value any
	// Body is Value as recorded under the idempotency key (JSON), set when
	// the op had one: answering these bytes makes the first answer and a
	// replay identical.
	Body []byte
	Err  error
	// Replay is set when the idempotency key was already used: the caller
	// compares hashes and replays or refuses.
	Replay *IdemRecord
	// Batch is the ledger transactions of the committed batch this op
	// applied in, for receipts signed once per batch (docs/evidence.md
	// §15); nil for a replay or a refusal.
	Batch *evidence.Batch
}

// ErrNonceReplayed is returned when a request's nonce was already used.
var ErrNonceReplayed = errors.New("nonce already used")

// ErrWriterClosed is returned after Close.
var ErrWriterClosed = errors.New("store: writer is closed")

// WriterOptions tune NewWriter.
type WriterOptions struct {
	BatchSize int
	BatchWait time.Duration
	Now       func() time.Time
	Log       *slog.Logger
	Registry  prometheus.Registerer
	// Concurrency is how many batches may be in flight at once [1 on
	// SQLite, which has one writer; 2 on MySQL, where one batch prepares
	// while another commits; more gave no gain on 2 cores and only more
	// waiting on a hot merchant's budget row].
	Concurrency int
}

// NewWriter starts the batching writer; Close stops it.
func (db *DB) NewWriter(o WriterOptions) *Writer {
	if o.BatchSize <= 0 {
		o.BatchSize = 512
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	w := &Writer{db: db, ids: db.idAllocator(), q: make(chan *Op, 4*o.BatchSize), size: o.BatchSize, wait: o.BatchWait,
		now: o.Now, log: o.Log, done: make(chan struct{})}
	w.batchSize = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "lianmeng_writer_batch_size",
		Help: "Requests committed per batch.", Buckets: prometheus.ExponentialBuckets(1, 2, 13)})
	w.retries = prometheus.NewCounter(prometheus.CounterOpts{Name: "lianmeng_writer_retries_total",
		Help: "Batch attempts retried after a deadlock, lock timeout or conflicting insert."})
	if o.Registry != nil {
		o.Registry.MustRegister(w.batchSize, w.retries)
	}
	n := o.Concurrency
	if n <= 0 || db.Dialect == SQLite {
		n = 1
		if db.Dialect == MySQL && o.Concurrency <= 0 {
			n = 2
		}
	}
	if db.walPath != "" {
		w.syncq = make(chan committed, 64)
		w.syncDone = make(chan struct{})
		go w.syncer()
	}
	w.loops.Add(n)
	for i := 0; i < n; i++ {
		go func() {
			defer w.loops.Done()
			w.loop()
		}()
	}
	if w.syncq != nil {
		go func() {
			w.loops.Wait()
			close(w.syncq) // the syncer answers what is left, then stops
		}()
	}
	return w
}

// committed is a batch whose transaction has committed (or failed) and
// whose requests wait for their answers.
type committed struct {
	batch   []*Op
	results []OpResult
}

// ErrStorageSync is returned when the database's log could not be made
// durable. The writer then refuses all further work: after a failed
// fdatasync the state of the file is unknown (a retry can report success
// for data that was dropped), so the process must be restarted and the
// database recovered.
var ErrStorageSync = errors.New("store: the write-ahead log could not be synced; restart the gateway")

// syncer makes committed batches durable with one fdatasync for all that
// are waiting, then answers their requests.
func (w *Writer) syncer() {
	defer close(w.syncDone)
	for c := range w.syncq {
		group := []committed{c}
	more:
		for {
			select {
			case c, ok := <-w.syncq:
				if !ok {
					break more
				}
				group = append(group, c)
			default:
				break more
			}
		}
		err := w.fault()
		if err == nil {
			if err = w.db.syncWAL(); err != nil {
				w.log.Error("syncing the write-ahead log failed; refusing all further writes", "err", err)
				w.syncFault.Store(&err)
			}
		}
		for _, c := range group {
			for i, op := range c.batch {
				r := c.results[i]
				if err != nil {
					r = syncFailed(err)
				}
				op.res <- r
			}
		}
	}
}

// syncFailed is the answer to a request the writer could not make durable.
func syncFailed(err error) OpResult {
	return OpResult{Err: fmt.Errorf("%w: %v", ErrStorageSync, err)}
}

// fault is the sync failure that stopped the writer, if any.
func (w *Writer) fault() error {
	if p := w.syncFault.Load(); p != nil {
		return *p
	}
	return nil
}

// Submit queues op and waits for its result. If ctx ends first the
// operation may still commit; a retry with the same idempotency key finds
// out.
func (w *Writer) Submit(ctx context.Context, op *Op) OpResult {
	op.res = make(chan OpResult, 1)
	w.closing.RLock()
	if w.closed {
		w.closing.RUnlock()
		return OpResult{Err: ErrWriterClosed}
	}
	select {
	case w.q <- op:
	case <-ctx.Done():
		w.closing.RUnlock()
		return OpResult{Err: ctx.Err()}
	}
	w.closing.RUnlock()
	select {
	case r := <-op.res:
		return r
	case <-ctx.Done():
		return OpResult{Err: ctx.Err()}
	}
}

// Close stops the writer after the batch in progress and waits until every
// request it took has been answered.
func (w *Writer) Close() {
	w.closing.Lock()
	if !w.closed {
		w.closed = true
		close(w.done)
	}
	w.closing.Unlock()
	w.loops.Wait()
	if w.syncDone != nil {
		<-w.syncDone
	}
}

// Check reports whether the writer can still make writes durable (for
// /readyz).
func (w *Writer) Check(context.Context) error { return w.fault() }

func (w *Writer) loop() {
	for {
		var first *Op
		select {
		case first = <-w.q:
		case <-w.done:
			w.drain()
			return
		}
		batch := []*Op{first}
		// Take what is already queued, then wait up to BatchWait for more.
		var timer <-chan time.Time
		if w.wait > 0 {
			timer = time.After(w.wait)
		}
	collect:
		for len(batch) < w.size {
			select {
			case op := <-w.q:
				batch = append(batch, op)
			default:
				if timer == nil {
					break collect
				}
				select {
				case op := <-w.q:
					batch = append(batch, op)
				case <-timer:
					break collect
				}
			}
		}
		w.run(batch)
	}
}

func (w *Writer) drain() {
	for {
		select {
		case op := <-w.q:
			op.res <- OpResult{Err: ErrWriterClosed}
		default:
			return
		}
	}
}

// run commits a batch, retrying on transient conflicts, excluding an
// operation that poisons the transaction, and, when the batch fails as a
// whole for a reason a retry will not cure (a row the database refuses at
// flush time), committing the operations one by one so that only the
// culprit fails.
func (w *Writer) run(batch []*Op) {
	var results []OpResult
	if err := w.fault(); err != nil {
		results = make([]OpResult, len(batch))
		for i := range results {
			results[i] = syncFailed(err)
		}
	} else if err := w.db.storageReady(context.Background()); err != nil {
		// Paused after a full disk (storagefull.go): nothing is tried.
		results = make([]OpResult, len(batch))
		for i := range results {
			results[i] = OpResult{Err: err}
		}
	} else {
		results = w.commit(batch, true)
		w.batchSize.Observe(float64(len(batch)))
		for i := range results {
			results[i].Err = w.db.noteStorageFull(results[i].Err)
		}
	}
	if w.syncq != nil {
		w.syncq <- committed{batch, results}
		return
	}
	for i, op := range batch {
		op.res <- results[i]
	}
}

func (w *Writer) commit(batch []*Op, isolate bool) []OpResult {
	ctx := context.Background()
	results := make([]OpResult, len(batch))
	excluded := make([]bool, len(batch))
	ids := 0
	for _, op := range batch {
		ids += op.Command.IDs + 1
	}
	for attempt := 0; ; attempt++ {
		r, err := w.ids.grab(ctx, w.db, ids)
		if err != nil {
			for i := range results {
				results[i] = OpResult{Err: err}
			}
			return results
		}
		bad, err := w.attempt(ctx, batch, excluded, results, r)
		if err == nil {
			return results
		}
		switch {
		case errors.Is(err, errIDsExhausted):
			ids *= 2 // an operation needed more ids than it declared
			continue
		case IsRetryable(err) || IsDuplicate(err):
			// A deadlock, lock timeout or a concurrent insert of the same
			// key is the batch's problem, not one operation's: retry all
			// (a duplicate is then found by the prefetch).
			if attempt < 20 {
				w.retries.Inc()
				time.Sleep(time.Duration(rand.IntN(1000*(attempt+1))) * time.Microsecond)
				continue
			}
		case IsUnavailable(err) || IsStorageFull(err):
			// The connection broke or the database refused: if it broke in
			// COMMIT the batch may have committed, so running it again
			// (or op by op) would find its own nonces and answer
			// nonce_replayed for effects that exist. Every op gets this
			// error (503): the client's retry with its Idempotency-Key
			// replays the stored answer or applies it once.
		case bad >= 0:
			// One operation broke the transaction: answer it, run the rest.
			excluded[bad] = true
			results[bad] = OpResult{Err: err}
			w.log.Error("operation aborted its batch; retrying the batch without it", "err", err)
			continue
		case isolate && w.active(excluded) > 1:
			w.log.Error("batch failed; committing its operations one by one", "err", err, "size", len(batch))
			for i, op := range batch {
				if !excluded[i] {
					results[i] = w.commit([]*Op{op}, false)[0]
				}
			}
			return results
		}
		w.log.Error("batch failed", "err", err, "size", len(batch))
		for i := range batch {
			if !excluded[i] {
				results[i] = OpResult{Err: fmt.Errorf("store: batch commit: %w", err)}
			}
		}
		return results
	}
}

func (w *Writer) active(excluded []bool) int {
	n := 0
	for _, x := range excluded {
		if !x {
			n++
		}
	}
	return n
}

// attempt runs one transaction for the batch. On an operation-specific
// fatal error it returns that operation's index.
func (w *Writer) attempt(ctx context.Context, batch []*Op, excluded []bool, results []OpResult, ids *idRange) (int, error) {
	tx, err := w.db.W.BeginTxx(ctx, w.db.txOptions())
	if err != nil {
		return -1, fmt.Errorf("begin batch: %w", err)
	}
	u := newUOW(ctx, w.db, tx, w.now(), ids)
	defer func() {
		_ = tx.Rollback() // no-op after Commit
		// Only now is the (single, on SQLite) writer connection free.
		w.db.prepareMissed(ctx, u.missed)
	}()
	if err := u.prefetch(batch, excluded); err != nil {
		return -1, err
	}
	for i, op := range batch {
		if excluded[i] {
			continue
		}
		res, err := u.apply(op)
		if err != nil {
			return i, err
		}
		results[i] = res
	}
	if err := u.flush(); err != nil {
		return -1, err
	}
	if err := tx.Commit(); err != nil {
		return -1, fmt.Errorf("commit batch: %w", err)
	}
	if len(u.txs) > 0 {
		b := evidence.NewBatch(func() []evidence.TxRecord { return txRecords(u.txs) })
		for i := range batch {
			if !excluded[i] && results[i].Err == nil && results[i].Replay == nil {
				results[i].Batch = b
			}
		}
	}
	return -1, nil
}
