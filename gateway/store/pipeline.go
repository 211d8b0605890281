package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jmoiron/sqlx"
)

// The MySQL batch pipeline: fewer round trips per batch.
//
// A batch of earns used to cost about twenty round trips to the server:
// SET TRANSACTION ISOLATION and START TRANSACTION (database/sql's BeginTx),
// each prefetch statement, each multi-row INSERT or upsert of the flush and
// COMMIT. MariaDB spent about a quarter of its CPU per earn in the kernel
// (scheduling, loopback TCP) and a tenth parsing. On MySQL the batch now
// runs its own transaction on a connection of a pool opened with
// multiStatements: a statement whose result the batch does not need yet
// (BEGIN, an INSERT, an UPDATE, COMMIT) is queued, and travels in one
// COM_QUERY with the next statement whose result it does need. So BEGIN
// goes with the first prefetch read, INSERT IGNORE of new accounts with the
// SELECT ... FOR UPDATE that follows it, and the whole flush with COMMIT.
//
// Values are still never written into SQL text by this package: each
// statement keeps its ? placeholders and the driver interpolates the
// arguments (interpolateParams, with its escaping) into the joined text.
// The server runs the statements in order and stops at the first error,
// which the driver returns; the transaction is then rolled back, as a
// failed statement in the unpipelined order would have done.

// maxPipelineBytes bounds the SQL text (with arguments, roughly) sent in one
// round trip, well below MySQL's smallest default max_allowed_packet (4 MiB
// on MySQL 5.7, 16 MiB on MariaDB and MySQL 8): past it the queue is sent
// on its own.
const maxPipelineBytes = 1 << 20

// pipeline is one batch attempt's transaction on MySQL.
type pipeline struct {
	ctx  context.Context
	conn *sqlx.Conn

	qs    []string // queued statements
	args  []any    // their arguments, in order
	bytes int      // approximate size of the queue

	seq      int     // statements queued so far (a queued statement's number)
	sentUpTo int     // statements [0, sentUpTo) have been sent
	known    int     // statements [known, known+len(affected)) have a row count
	affected []int64 // row counts of the last exec-only send
	began    bool    // START TRANSACTION was sent: ROLLBACK on failure
	done     bool    // committed or rolled back
}

// beginPipeline takes a connection from the batch pool and queues the start
// of a READ COMMITTED transaction (see txOptions).
func (db *DB) beginPipeline(ctx context.Context) (*pipeline, error) {
	conn, err := db.batch.Connx(ctx)
	if err != nil {
		return nil, fmt.Errorf("begin batch: %w", err)
	}
	p := &pipeline{ctx: ctx, conn: conn}
	p.queue("SET TRANSACTION ISOLATION LEVEL READ COMMITTED", nil)
	p.queue("START TRANSACTION", nil)
	return p, nil
}

func (p *pipeline) queue(q string, args []any) int {
	p.qs = append(p.qs, q)
	p.args = append(p.args, args...)
	p.bytes += len(q) + 2
	for _, a := range args {
		switch v := a.(type) {
		case string:
			p.bytes += 2*len(v) + 2 // escaping at most doubles it
		case []byte:
			p.bytes += 2*len(v) + 3
		default:
			p.bytes += 24
		}
	}
	p.seq++
	return p.seq - 1
}

// take returns the queued statements joined ahead of q (if any) and empties
// the queue.
func (p *pipeline) take(q string, args []any) (string, []any, int) {
	n := len(p.qs)
	if q != "" {
		p.qs = append(p.qs, q)
		p.args = append(p.args, args...)
	}
	text := strings.Join(p.qs, ";\n")
	all := p.args
	p.began = true // START TRANSACTION went with the first round trip
	p.sentUpTo = p.seq
	p.qs, p.args, p.bytes = nil, nil, 0
	return text, all, n
}

// heads names the statements of a failed round trip for its error message.
func heads(text string) string {
	var hs []string
	for _, s := range strings.Split(text, ";\n") {
		h, _, _ := strings.Cut(s, "(")
		if len(h) > 48 {
			h = h[:48]
		}
		hs = append(hs, strings.TrimSpace(h))
	}
	return strings.Join(hs, "; ")
}

// send runs the queued statements in one round trip and keeps their row
// counts.
func (p *pipeline) send() error {
	if len(p.qs) == 0 {
		return nil
	}
	first := p.sentUpTo
	text, args, _ := p.take("", nil)
	var counts []int64
	err := p.conn.Raw(func(dc any) error {
		nv := make([]driver.NamedValue, len(args))
		checker, _ := dc.(driver.NamedValueChecker)
		for i, a := range args {
			nv[i] = driver.NamedValue{Ordinal: i + 1, Value: a}
			if checker != nil {
				if err := checker.CheckNamedValue(&nv[i]); err != nil {
					return fmt.Errorf("argument %d: %w", i+1, err)
				}
			} else if v, err := driver.DefaultParameterConverter.ConvertValue(a); err == nil {
				nv[i].Value = v
			} else {
				return fmt.Errorf("argument %d: %w", i+1, err)
			}
		}
		ex, ok := dc.(driver.ExecerContext)
		if !ok {
			return errors.New("driver connection cannot execute statements")
		}
		res, err := ex.ExecContext(p.ctx, text, nv)
		if err != nil {
			return err
		}
		if mr, ok := res.(mysql.Result); ok {
			counts = mr.AllRowsAffected()
		}
		return nil
	})
	if errors.Is(err, driver.ErrSkip) {
		// The driver could not interpolate (an argument type it does not
		// know, or the text past its packet limit): it would prepare the
		// joined text, which the server refuses.
		err = fmt.Errorf("the driver could not interpolate the arguments: %w", err)
	}
	if err != nil {
		return fmt.Errorf("statements %s: %w", heads(text), err)
	}
	p.known, p.affected = first, counts
	return nil
}

// exec queues q: its result comes with the next round trip.
func (p *pipeline) exec(q string, args []any) (sql.Result, error) {
	n := p.queue(q, args)
	if p.bytes > maxPipelineBytes {
		if err := p.send(); err != nil {
			return nil, err
		}
	}
	return queuedResult{p, n}, nil
}

// query sends the queued statements and q together and returns q's rows.
func (p *pipeline) query(q string, args []any) (*sqlx.Rows, error) {
	text, all, n := p.take(q, args)
	rows, err := p.conn.QueryxContext(p.ctx, text, all...)
	if err != nil && n > 0 {
		return nil, fmt.Errorf("statements %s: %w", heads(text), err)
	}
	return rows, err
}

func (p *pipeline) selectAll(dest any, q string, args []any) error {
	return sqlx.SelectContext(p.ctx, pipeQueryer{p}, dest, q, args...)
}

func (p *pipeline) get(dest any, q string, args []any) error {
	return sqlx.GetContext(p.ctx, pipeQueryer{p}, dest, q, args...)
}

// pipeQueryer lets sqlx's Select and Get read through the pipeline.
type pipeQueryer struct{ p *pipeline }

func (q pipeQueryer) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	rows, err := q.p.query(query, args)
	if err != nil {
		return nil, err
	}
	return rows.Rows, nil
}

func (q pipeQueryer) QueryxContext(ctx context.Context, query string, args ...any) (*sqlx.Rows, error) {
	return q.p.query(query, args)
}

func (q pipeQueryer) QueryRowxContext(ctx context.Context, query string, args ...any) *sqlx.Row {
	text, all, _ := q.p.take(query, args)
	return q.p.conn.QueryRowxContext(q.p.ctx, text, all...)
}

// commit sends what is queued with COMMIT.
func (p *pipeline) commit() error {
	p.queue("COMMIT", nil)
	if err := p.send(); err != nil {
		return err
	}
	p.done = true
	return nil
}

// close rolls back a transaction that did not commit and returns the
// connection to the pool. A connection whose ROLLBACK failed is discarded:
// it may still hold the transaction open.
func (p *pipeline) close() {
	if !p.done && p.began {
		p.qs, p.args, p.bytes = nil, nil, 0
		if _, err := p.conn.ExecContext(context.WithoutCancel(p.ctx), "ROLLBACK"); err != nil {
			_ = p.conn.Raw(func(any) error { return driver.ErrBadConn })
		}
	}
	p.done = true
	_ = p.conn.Close()
}

// queuedResult is the result of a queued statement. Asking for it sends
// the queue if the statement is still in it.
type queuedResult struct {
	p *pipeline
	n int
}

var errResultUnknown = errors.New("store: the row count of a statement sent ahead of a query is not known")

func (r queuedResult) RowsAffected() (int64, error) {
	if r.n >= r.p.sentUpTo {
		if err := r.p.send(); err != nil {
			return 0, err
		}
	}
	i := r.n - r.p.known
	if i < 0 || i >= len(r.p.affected) {
		return 0, errResultUnknown
	}
	return r.p.affected[i], nil
}

func (r queuedResult) LastInsertId() (int64, error) {
	return 0, errors.New("store: LastInsertId is not kept for queued statements")
}

// beginBatch starts one batch attempt's unit of work: on MySQL in a
// pipeline of the batch pool, elsewhere in a transaction of the writer's
// pool.
func (db *DB) beginBatch(ctx context.Context, now time.Time, ids *idRange) (*uow, error) {
	if db.batch != nil {
		p, err := db.beginPipeline(ctx)
		if err != nil {
			return nil, err
		}
		u := newUOW(ctx, db, nil, now, ids)
		u.pipe = p
		return u, nil
	}
	tx, err := db.W.BeginTxx(ctx, db.txOptions())
	if err != nil {
		return nil, fmt.Errorf("begin batch: %w", err)
	}
	return newUOW(ctx, db, tx, now, ids), nil
}

// commit commits the batch's transaction (on MySQL with what the flush
// queued, in one round trip).
func (u *uow) commit() error {
	if u.pipe != nil {
		return u.pipe.commit()
	}
	return u.tx.Commit()
}

// end rolls back a transaction that did not commit and, once the
// connection is free, prepares the statements the batch ran unprepared.
func (u *uow) end() {
	if u.pipe != nil {
		u.pipe.close()
		return
	}
	_ = u.tx.Rollback() // no-op after Commit
	// Only now is the (single, on SQLite) writer connection free.
	u.db.prepareMissed(u.ctx, u.missed)
}
