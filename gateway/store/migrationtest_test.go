package store_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/pressly/goose/v3"

	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
)

// openBefore opens a new database of dialect migrated up to just before
// the migration whose file ends in suffix (whatever it is numbered), for
// tests of what that migration does to rows written before it. db.Migrate
// then applies it and the rest.
func openBefore(t *testing.T, dialect, suffix string) *store.DB {
	t.Helper()
	ctx := context.Background()
	driver, dsn := storetest.NewDatabase(t, dialect)
	db, err := store.Open(ctx, driver, dsn, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	p := migrationProvider(t, db)
	before := versionBefore(t, p, suffix)
	if _, err := p.UpTo(ctx, before); err != nil {
		t.Fatal(err)
	}
	return db
}

// migrationProvider is a goose provider over db's migrations (no locker:
// the test is the only one migrating).
func migrationProvider(t *testing.T, db *store.DB) *goose.Provider {
	t.Helper()
	gd := goose.DialectSQLite3
	if db.Dialect == store.MySQL {
		gd = goose.DialectMySQL
	}
	p, err := goose.NewProvider(gd, db.W.DB, os.DirFS("migrations/"+db.Dialect))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// versionBefore is the version of the migration before the one whose file
// ends in suffix (whatever it is numbered).
func versionBefore(t *testing.T, p *goose.Provider, suffix string) int64 {
	t.Helper()
	var before int64
	for _, src := range p.ListSources() {
		if strings.HasSuffix(src.Path, suffix) {
			return before
		}
		before = src.Version
	}
	t.Fatalf("no *%s migration", suffix)
	return 0
}
