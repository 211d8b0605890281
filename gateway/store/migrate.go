package store

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"log/slog"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

//go:embed migrations
var migrations embed.FS

// MigrationState is one migration's version, file and whether it is applied.
type MigrationState struct {
	Version int64
	Source  string
	Applied bool
}

// provider returns the goose provider and a function that releases what it
// holds.
func (db *DB) provider(log *slog.Logger) (*goose.Provider, func(), error) {
	sub, err := fs.Sub(migrations, "migrations/"+db.Dialect)
	if err != nil {
		return nil, nil, fmt.Errorf("store: migrations for %s: %w", db.Dialect, err)
	}
	dialect := goose.DialectSQLite3
	conn, release := db.W.DB, func() {}
	opts := []goose.ProviderOption{goose.WithDisableGlobalRegistry(true)}
	if log != nil {
		opts = append(opts, goose.WithSlog(log))
	}
	if db.Dialect == MySQL {
		dialect = goose.DialectMySQL
		// Several gateway instances may start at once: a table-based lock
		// (portable to TiDB) lets exactly one of them migrate.
		locker, err := lock.NewMySQLTableLocker()
		if err != nil {
			return nil, nil, fmt.Errorf("store: migration locker: %w", err)
		}
		opts = append(opts, goose.WithLocker(locker))
		// goose holds one connection while its locker takes another: with
		// database.max_open_conns 1 that waited forever in the shared pool.
		// The migrations get a small pool of their own.
		if db.mysqlConn != nil {
			own := sql.OpenDB(db.mysqlConn)
			own.SetMaxOpenConns(4)
			conn, release = own, func() { own.Close() }
		}
	}
	p, err := goose.NewProvider(dialect, conn, sub, opts...)
	if err != nil {
		release()
		return nil, nil, fmt.Errorf("store: migrations: %w", err)
	}
	return p, release, nil
}

// Migrate applies every pending migration and returns the versions applied.
// Applying twice changes nothing.
func (db *DB) Migrate(ctx context.Context, log *slog.Logger) ([]int64, error) {
	p, release, err := db.provider(log)
	if err != nil {
		return nil, err
	}
	defer release()
	res, err := p.Up(ctx)
	if err != nil {
		return nil, fmt.Errorf("store: migrate up: %w", err)
	}
	var applied []int64
	for _, r := range res {
		applied = append(applied, r.Source.Version)
	}
	return applied, nil
}

// MigrationStatus lists every known migration and whether it is applied.
func (db *DB) MigrationStatus(ctx context.Context) ([]MigrationState, error) {
	p, release, err := db.provider(nil)
	if err != nil {
		return nil, err
	}
	defer release()
	st, err := p.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("store: migration status: %w", err)
	}
	out := make([]MigrationState, 0, len(st))
	for _, s := range st {
		out = append(out, MigrationState{Version: s.Source.Version, Source: s.Source.Path, Applied: s.State == goose.StateApplied})
	}
	return out, nil
}

// HasPending reports whether migrations remain to be applied.
func (db *DB) HasPending(ctx context.Context) (bool, error) {
	p, release, err := db.provider(nil)
	if err != nil {
		return false, err
	}
	defer release()
	return p.HasPending(ctx)
}
