// Package store is the only package that speaks SQL. It opens the embedded
// SQLite database or a MySQL/MariaDB server through sqlx, applies the
// embedded goose migrations (one set per dialect) and implements the
// ports the domain packages declare: points.Tx (uow.go, one unit of work
// per batch), points.Reader and points.EarningStore (ledger_read.go), and
// merchant.Repository (merchants.go).
//
// Writes go through the batching Writer (writer.go): callers Submit an Op,
// which is a points.Command with its envelope (idempotency record, request
// nonce). The Writer groups Ops into batches, retries conflicts and makes
// each batch durable with one commit (and, on SQLite, one fdatasync shared
// by every batch waiting: syncwal.go). What one batch attempt does inside
// its transaction (load what the commands declared, apply each, keep a
// refused one's effects out) is in batch.go; flush.go writes the buffered
// rows with multi-row statements.
//
// CheckInvariants (verify.go) scans the ledger for every DESIGN §4
// invariant, as `lianmeng verify` reports them.
//
// Timestamps are stored as BIGINT microseconds since the Unix epoch (UTC), so
// both dialects compare and order them the same way and no driver time-zone
// setting can shift them.
package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jmoiron/sqlx"
	"modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/lianmeng/lianmeng/gateway/pii"
	"github.com/lianmeng/lianmeng/gateway/store/walvfs"
)

// Dialects.
const (
	SQLite = "sqlite"
	MySQL  = "mysql"
)

// DB is an open store. W takes writes; R serves reads. On MySQL both are the
// same pool; on SQLite W is a single connection (SQLite has one writer, and
// one connection avoids SQLITE_BUSY churn) while R is a read-only pool that
// WAL mode lets run beside the writer.
type DB struct {
	W       *sqlx.DB
	R       *sqlx.DB
	Dialect string

	idsOnce sync.Once
	ids     *idAllocator
	stmts   stmtCache                   // SQLite writer's prepared statements (stmts.go)
	walPath string                      // SQLite: the WAL that syncWAL makes durable
	pii     atomic.Pointer[pii.Keyring] // see SetPII
	hooks   endpointCache               // active webhook endpoints for the outbox (outbox.go)

	merchantCache merchantCache // merchants and their rule versions for the batch (rules.go)

	gate      storageGate      // SQLite: writes paused after a full disk (storagefull.go)
	mysqlConn driver.Connector // MySQL: for a pool of the migrations' own (migrate.go)
	stopCkpt  chan struct{}    // SQLite background checkpointer
	ckptDone  chan struct{}
	closeOnce sync.Once
}

// Options tune Open.
type Options struct {
	// MaxOpenConns bounds the MySQL pool (default 32).
	MaxOpenConns int
	// SQLiteCacheMiB is the page cache of SQLite's writer connection in MiB
	// (default DefaultSQLiteCacheMiB). The readers keep the default: the
	// writer is the one that misses pages once the ledger's indexes outgrow
	// its cache, and it is serial, so each miss delays every waiting write.
	SQLiteCacheMiB int
}

// DefaultSQLiteCacheMiB is the page cache of each SQLite connection unless
// Options.SQLiteCacheMiB sets the writer's. SQLite allocates it as pages are
// read, so an empty ledger does not pay for it.
const DefaultSQLiteCacheMiB = 64

// Open connects to driver ("sqlite" or "mysql") at dsn. For sqlite, dsn is a
// file path (its directory is created) or a "file:" URI.
func Open(ctx context.Context, driver, dsn string, opt Options) (*DB, error) {
	switch driver {
	case SQLite:
		return openSQLite(ctx, dsn, opt.SQLiteCacheMiB)
	case MySQL:
		return openMySQL(ctx, dsn, opt)
	default:
		return nil, fmt.Errorf("store: unknown driver %q (want sqlite or mysql)", driver)
	}
}

// SQLitePath returns the database file a sqlite DSN names (a path, or a
// "file:" URI with options).
func SQLitePath(dsn string) string {
	path := strings.TrimPrefix(dsn, "file:")
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path = path[:i]
	}
	return path
}

func openSQLite(ctx context.Context, dsn string, writerCacheMiB int) (*DB, error) {
	if writerCacheMiB <= 0 {
		writerCacheMiB = DefaultSQLiteCacheMiB
	}
	path := SQLitePath(dsn)
	if dir := filepath.Dir(path); dir != "." && dir != "" {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("store: create database directory: %w", err)
		}
	}
	if err := createPrivate(path); err != nil {
		return nil, fmt.Errorf("store: create database file: %w", err)
	}
	// Commit with fdatasync(2), as SQLite's own Linux builds do: it makes the
	// data durable like fsync but skips the timestamp update that fsync
	// forces through the file system journal. (modernc's transpiled library
	// defaults to fsync; where fdatasync is unavailable this is a no-op.)
	_, _ = sqlite.Fdatasync(true)
	// Every connection opens the database through walvfs, which writes a
	// commit's WAL frames in one system call instead of two per page (the
	// writer's commit was 44% of its CPU).
	if err := walvfs.Register(); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	// WAL lets readers run beside the writer. The writer connection commits
	// with synchronous=NORMAL and every acknowledged commit is made durable
	// by syncWAL (group commit, see syncwal.go); the other connections keep
	// FULL. Statement journals stay in memory. The page cache is the
	// writer's own size; the others' is the default. (Each connection needs
	// its own list: the driver runs a DSN's pragmas sorted by their text, so
	// of two cache_size pragmas the one that sorts last wins, not the one
	// given last.)
	pragmas := url.Values{"vfs": {walvfs.Name}}
	for _, p := range []string{"journal_mode(WAL)", "busy_timeout(10000)", "foreign_keys(1)", "temp_store(MEMORY)"} {
		pragmas.Add("_pragma", p)
	}
	wpragmas := pragmas.Encode() + fmt.Sprintf("&_pragma=cache_size(%d)", -writerCacheMiB*1024) + "&_pragma=synchronous(NORMAL)"
	pragmas.Add("_pragma", fmt.Sprintf("cache_size(%d)", -DefaultSQLiteCacheMiB*1024))
	pragmas.Add("_pragma", "synchronous(FULL)")
	// The writer does not checkpoint the WAL itself unless it grows past
	// ~80 MB: a background connection does (see checkpointer), so copying
	// pages into the database file stays off the single writer's path.
	//
	// journal_size_limit: when the writer starts the WAL again from its
	// beginning (after the checkpointer's RESTART), it cuts the file back to
	// walTruncateSize itself, so the file stays bounded without another
	// connection rewriting the WAL header (see checkpointer).
	w, err := sqlx.Open("sqlite", "file:"+path+"?"+wpragmas+"&_pragma=wal_autocheckpoint(20000)"+
		fmt.Sprintf("&_pragma=journal_size_limit(%d)", walTruncateSize)+"&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("store: open sqlite: %w", err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	if err := w.PingContext(ctx); err != nil {
		w.Close()
		return nil, fmt.Errorf("store: open sqlite %s: %w", path, fullHint(path, err))
	}
	if err := restrictSidecars(path); err != nil {
		w.Close()
		return nil, fmt.Errorf("store: open sqlite %s: %w", path, err)
	}
	pragmas.Add("_pragma", "query_only(1)")
	r, err := sqlx.Open("sqlite", "file:"+path+"?"+pragmas.Encode())
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("store: open sqlite reader: %w", err)
	}
	r.SetMaxOpenConns(4)
	r.SetMaxIdleConns(4)
	// The checkpointer waits at most 100 ms for readers and the writer when
	// it truncates the WAL (see checkpointer), instead of 10 s.
	cpragmas := strings.ReplaceAll(pragmas.Encode(), url.QueryEscape("query_only(1)"), url.QueryEscape("query_only(0)"))
	cpragmas = strings.ReplaceAll(cpragmas, url.QueryEscape("busy_timeout(10000)"), url.QueryEscape("busy_timeout(100)"))
	c, err := sql.Open("sqlite", "file:"+path+"?"+cpragmas)
	if err != nil {
		w.Close()
		r.Close()
		return nil, fmt.Errorf("store: open sqlite checkpointer: %w", err)
	}
	c.SetMaxOpenConns(1)
	db := &DB{W: w, R: r, Dialect: SQLite, walPath: path + "-wal", stopCkpt: make(chan struct{}), ckptDone: make(chan struct{})}
	db.reclaimAtOpen(ctx) // storagefull.go
	go db.checkpointer(c)
	return db, nil
}

// createPrivate creates the SQLite database file, if it does not exist,
// with mode 0600 whatever the umask, before SQLite opens it (SQLite would
// create it 0644 less the umask). SQLite gives the -wal and -shm files it
// creates the database file's mode; restrictSidecars makes sure of it.
// An existing file keeps its mode. An empty file is an empty database.
func createPrivate(path string) error {
	if path == "" || path == ":memory:" {
		return nil
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := f.Chmod(0o600); err != nil { // the umask may have removed bits; make it exact
		f.Close()
		return err
	}
	return f.Close()
}

// restrictSidecars takes from the database's -wal and -shm files any
// permission the database file itself does not grant (files left with a
// wider mode, e.g. by an older version): they hold the same data.
func restrictSidecars(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	perm := fi.Mode().Perm()
	for _, suffix := range []string{"-wal", "-shm"} {
		si, err := os.Stat(path + suffix)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		if sp := si.Mode().Perm(); sp&^perm != 0 {
			if err := os.Chmod(path+suffix, sp&perm); err != nil {
				return err
			}
		}
	}
	return nil
}

// walRestartSize is how much WAL content makes the checkpointer force a
// restart of the WAL. SQLite starts the WAL again from its beginning only
// when a write begins after a checkpoint copied all of it and no reader
// still uses it; under steady load that moment may not come for a long
// time, and the file, which SQLite never shrinks, grows to the
// autocheckpoint size and beyond. Past this much content the checkpointer
// forces that moment (RESTART).
const walRestartSize = 32 << 20

// walTruncateSize bounds the WAL file: the writer cuts it back to this size
// (its journal_size_limit) when it starts the WAL again. It is twice
// walRestartSize so that in steady state the file, restarted at about
// walRestartSize, is reused as it is: overwriting its blocks is several
// times cheaper than appending new ones, and cutting it was an ftruncate
// of up to 26 ms inside the writer's commit (a runtime trace under load).
// Only a WAL that readers kept from restarting is cut.
const walTruncateSize = 2 * walRestartSize

// restartBackoff is how long the checkpointer keeps to PASSIVE after a
// RESTART that readers kept from finishing.
const restartBackoff = 5 * time.Second

// checkpointer copies the WAL into the database file in the background
// (PASSIVE: it never blocks the writer or readers), so the WAL stays short
// without the writer paying for it. When the WAL holds more than
// walRestartSize it follows the PASSIVE pass, which has copied nearly
// everything, with a RESTART checkpoint, which holds new writes back while
// it copies the little committed meanwhile and waits (at most the
// connection's 100 ms busy timeout, else it keeps to PASSIVE for
// restartBackoff) for readers to finish, so that the writer's next
// transaction starts the WAL again. On a small disk that keeps the WAL from
// taking the space the database file needs to take in its content
// (storagefull.go, which truncates to zero when the disk is full).
//
// Not TRUNCATE here: a TRUNCATE checkpoint rewrites the WAL header from
// this connection, and every other connection, the writer included, then
// throws its page cache away. On a 1M-transaction ledger that cost the
// writer about a quarter of the gateway's CPU (README, Large ledger);
// when the writer restarts the WAL itself, its cache stays valid.
func (db *DB) checkpointer(c *sql.DB) {
	defer close(db.ckptDone)
	defer c.Close()
	frame := int64(4096 + 24) // a WAL frame: its header and a page
	var pageSize int64
	if err := c.QueryRow("PRAGMA page_size").Scan(&pageSize); err == nil && pageSize > 0 {
		frame = pageSize + 24
	}
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	var restartAfter time.Time
	for {
		select {
		case <-db.stopCkpt:
			return
		case <-t.C:
			// Errors (busy, closed) are retried on the next tick.
			var busy, frames, done int64
			if err := c.QueryRow("PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &frames, &done); err != nil {
				continue
			}
			if frames*frame > walRestartSize && time.Now().After(restartAfter) {
				// A reader that held it up (a long `lianmeng verify`, an
				// export) is left alone for a while: each attempt holds
				// writes back for up to the busy timeout.
				if err := c.QueryRow("PRAGMA wal_checkpoint(RESTART)").Scan(&busy, &frames, &done); err != nil || busy != 0 {
					restartAfter = time.Now().Add(restartBackoff)
				}
			}
		}
	}
}

// MySQLConfig parses dsn and sets the options the store relies on: UTC,
// utf8mb4, interpolated parameters (one round trip per statement) and
// timeouts. Write transactions ask for READ COMMITTED themselves (see
// txOptions), which works on MariaDB and MySQL 8 alike.
func MySQLConfig(dsn string) (*mysql.Config, error) {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("store: mysql dsn: %w", err)
	}
	cfg.ParseTime = true
	cfg.Loc = time.UTC
	cfg.InterpolateParams = true
	cfg.MultiStatements = false
	// Affected rows count changed rows, not matched ones: the shared rate
	// limit (TakeRateLimit) reads a row its upsert left alone as "refused".
	cfg.ClientFoundRows = false
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.ReadTimeout == 0 {
		cfg.ReadTimeout = 30 * time.Second
	}
	if cfg.WriteTimeout == 0 {
		cfg.WriteTimeout = 30 * time.Second
	}
	if cfg.Params == nil {
		cfg.Params = map[string]string{}
	}
	// The charset is a connection option (SET NAMES at connect), not a
	// system variable: in Params the driver would send "SET charset=...",
	// which the server refuses.
	delete(cfg.Params, "charset")
	if err := cfg.Apply(mysql.Charset("utf8mb4", "utf8mb4_unicode_ci")); err != nil {
		return nil, fmt.Errorf("store: mysql dsn: %w", err)
	}
	if _, ok := cfg.Params["innodb_lock_wait_timeout"]; !ok {
		cfg.Params["innodb_lock_wait_timeout"] = "5"
	}
	cfg.Params["time_zone"] = "'+00:00'"
	return cfg, nil
}

func openMySQL(ctx context.Context, dsn string, opt Options) (*DB, error) {
	cfg, err := MySQLConfig(dsn)
	if err != nil {
		return nil, err
	}
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, fmt.Errorf("store: mysql connector: %w", err)
	}
	db := sqlx.NewDb(sql.OpenDB(conn), "mysql")
	n := opt.MaxOpenConns
	if n <= 0 {
		n = 32
	}
	db.SetMaxOpenConns(n)
	db.SetMaxIdleConns(n)
	db.SetConnMaxLifetime(3 * time.Minute)
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: connect to mysql %s@%s/%s: %w", cfg.User, cfg.Addr, cfg.DBName, err)
	}
	return &DB{W: db, R: db, Dialect: MySQL, mysqlConn: conn}, nil
}

// Close closes both pools.
func (db *DB) Close() error {
	if db.stopCkpt != nil {
		db.closeOnce.Do(func() { close(db.stopCkpt) })
		<-db.ckptDone
	}
	db.closeStmts()
	err := db.W.Close()
	if db.R != db.W {
		err = errors.Join(err, db.R.Close())
	}
	return err
}

// Ping checks that the database answers and takes writes (for /readyz):
// while writes are paused after a full disk it fails (and tries to resume
// them, see storageReady).
func (db *DB) Ping(ctx context.Context) error {
	if err := db.W.PingContext(ctx); err != nil {
		return err
	}
	return db.storageReady(ctx)
}

// Now returns the current time in the store's unit (Unix microseconds).
func Micros(t time.Time) int64 { return t.UTC().UnixMicro() }

// FromMicros converts a stored timestamp back to UTC time.
func FromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

// IsDuplicate reports whether err is a unique-key violation.
func IsDuplicate(err error) bool {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number == 1062
	}
	return err != nil && strings.Contains(err.Error(), "UNIQUE constraint failed")
}

// IsRetryable reports whether err is a transient conflict after which the
// whole transaction should be retried: MySQL deadlock (1213), lock wait
// timeout (1205), snapshot conflict (1020), TiDB's write conflict (9007,
// 8005), retryable transaction errors (8002, 8022), a schema change during
// the transaction (8028) and a busy or unreachable TiKV (9002, 9003, 9005),
// or SQLite busy.
func IsRetryable(err error) bool {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		switch me.Number {
		case 1213, 1205, 1020, 9007, 8005, 8002, 8022, 8028, 9002, 9003, 9005:
			return true
		}
		return false
	}
	if err == nil {
		return false
	}
	s := err.Error()
	return strings.Contains(s, "SQLITE_BUSY") || strings.Contains(s, "database is locked")
}

// idAllocator returns the process-wide id allocator of this database.
func (db *DB) idAllocator() *idAllocator {
	db.idsOnce.Do(func() { db.ids = &idAllocator{} })
	return db.ids
}

// txOptions are the options of every write transaction: READ COMMITTED on
// MySQL (fewer gap locks than REPEATABLE READ; row locks are taken
// explicitly), the default on SQLite, whose only isolation is serializable.
func (db *DB) txOptions() *sql.TxOptions {
	if db.Dialect == MySQL {
		return &sql.TxOptions{Isolation: sql.LevelReadCommitted}
	}
	return nil
}
