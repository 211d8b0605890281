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
	gd := goose.DialectSQLite3
	if dialect == store.MySQL {
		gd = goose.DialectMySQL
	}
	p, err := goose.NewProvider(gd, db.W.DB, os.DirFS("migrations/"+dialect))
	if err != nil {
		t.Fatal(err)
	}
	var before, target int64
	for _, src := range p.ListSources() {
		if strings.HasSuffix(src.Path, suffix) {
			target = src.Version
			break
		}
		before = src.Version
	}
	if target == 0 {
		t.Fatalf("no *%s migration", suffix)
	}
	if _, err := p.UpTo(ctx, before); err != nil {
		t.Fatal(err)
	}
	return db
}
