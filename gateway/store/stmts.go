package store

import (
	"context"
	"database/sql"
	"fmt"
	"sync"

	"github.com/jmoiron/sqlx"
)

// Prepared statements for the batch writer on SQLite.
//
// A profile of the earn path showed the pure-Go SQLite spending about a
// sixth of the writer's time parsing SQL: every batch built its multi-row
// INSERTs and IN-list SELECTs afresh. Batches now use a few fixed shapes
// (IN lists padded to a power of two, inserts cut into power-of-two
// chunks), and each shape is prepared once on the single writer connection
// and reused (database/sql keeps the statement per connection, and
// modernc's driver keeps the compiled program). MySQL keeps interpolated
// one-round-trip statements: its parser is fast, and preparing on each of
// the pool's connections would add round trips.

// maxCachedStmts bounds the cache; shapes beyond it are run unprepared.
const maxCachedStmts = 512

type stmtCache struct {
	mu sync.Mutex
	m  map[string]*sqlx.Stmt
}

// cached returns the prepared statement for q, or nil. A miss inside a
// transaction cannot prepare on the pool: SQLite's writer pool has one
// connection and the transaction holds it. The caller runs q unprepared
// and records it; prepareMissed prepares it once the connection is free.
func (db *DB) cached(q string) (s *sqlx.Stmt, cacheable bool) {
	if !db.cachesStmts() {
		return nil, false
	}
	db.stmts.mu.Lock()
	defer db.stmts.mu.Unlock()
	if s, ok := db.stmts.m[q]; ok {
		return s, true
	}
	return nil, len(db.stmts.m) < maxCachedStmts
}

// prepareMissed prepares the statements a finished transaction ran
// unprepared. A failure only means they stay unprepared.
func (db *DB) prepareMissed(ctx context.Context, qs []string) {
	for _, q := range qs {
		if s, ok := db.cached(q); s != nil || !ok {
			continue
		}
		s, err := db.W.PreparexContext(ctx, q)
		if err != nil {
			continue
		}
		db.stmts.mu.Lock()
		if db.stmts.m == nil {
			db.stmts.m = map[string]*sqlx.Stmt{}
		}
		if _, dup := db.stmts.m[q]; dup || len(db.stmts.m) >= maxCachedStmts {
			s.Close()
		} else {
			db.stmts.m[q] = s
		}
		db.stmts.mu.Unlock()
	}
}

// closeStmts releases the cached statements (before closing the pool).
func (db *DB) closeStmts() {
	db.stmts.mu.Lock()
	defer db.stmts.mu.Unlock()
	for q, s := range db.stmts.m {
		s.Close()
		delete(db.stmts.m, q)
	}
}

// stmt returns q bound to the unit of work's transaction when a prepared
// statement is cached, or nil (then recording q for prepareMissed).
func (u *uow) stmt(q string) (*sqlx.Stmt, error) {
	s, cacheable := u.db.cached(q)
	if s == nil {
		if cacheable {
			u.missed = append(u.missed, q)
		}
		return nil, nil
	}
	return u.tx.StmtxContext(u.ctx, s), nil
}

func (u *uow) exec(q string, args ...any) (sql.Result, error) {
	s, err := u.stmt(q)
	if err != nil {
		return nil, err
	}
	if s == nil {
		return u.tx.ExecContext(u.ctx, q, args...)
	}
	return s.ExecContext(u.ctx, args...)
}

func (u *uow) queryx(q string, args ...any) (*sqlx.Rows, error) {
	s, err := u.stmt(q)
	if err != nil {
		return nil, err
	}
	if s == nil {
		return u.tx.QueryxContext(u.ctx, q, args...)
	}
	return s.QueryxContext(u.ctx, args...)
}

func (u *uow) selectAll(dest any, q string, args ...any) error {
	s, err := u.stmt(q)
	if err != nil {
		return err
	}
	if s == nil {
		return u.tx.SelectContext(u.ctx, dest, q, args...)
	}
	return s.SelectContext(u.ctx, dest, args...)
}

func (u *uow) get(dest any, q string, args ...any) error {
	s, err := u.stmt(q)
	if err != nil {
		return err
	}
	if s == nil {
		return u.tx.GetContext(u.ctx, dest, q, args...)
	}
	return s.GetContext(u.ctx, dest, args...)
}

// cachesStmts says whether the writer's statements are prepared and reused
// (SQLite), and so worth cutting into repeating shapes.
func (db *DB) cachesStmts() bool { return db.Dialect == SQLite }

// inList returns the placeholders for the tuples in args (per values each)
// and the arguments. Where statements are cached, the list is padded to a
// power-of-two number of tuples by repeating the last one: a repeated key in
// an IN list changes nothing, and batches of 33 and of 60 keys share one
// statement.
func (u *uow) inList(one string, per int, args []any) (string, []any) {
	if !u.db.cachesStmts() {
		return placeholders(len(args)/per, one), args
	}
	return inList(one, per, args)
}

func inList(one string, per int, args []any) (string, []any) {
	n := len(args) / per
	if n*per != len(args) || n == 0 {
		panic(fmt.Sprintf("store: inList: %d arguments for tuples of %d", len(args), per))
	}
	p := 1
	for p < n {
		p <<= 1
	}
	last := args[(n-1)*per : n*per : n*per]
	for i := n; i < p; i++ {
		args = append(args, last...)
	}
	return placeholders(p, one), args
}

// chunkSize is the next chunk for a multi-row INSERT of n remaining rows: the
// largest power of two not above n, capped at bulkChunk.
func chunkSize(n int) int {
	c := 1
	for c*2 <= n && c*2 <= bulkChunk {
		c *= 2
	}
	return c
}
