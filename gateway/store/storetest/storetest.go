// Package storetest gives tests a fresh, migrated database of each dialect.
//
// SQLite always runs (a file in t.TempDir()). MariaDB/MySQL runs at
// LIANMENG_TEST_MYSQL_DSN (default root@tcp(127.0.0.1:3306)/test): each test
// creates its own database and drops it afterwards. When the server does not
// answer, MySQL tests are skipped locally but fail when CI=true or
// LIANMENG_TEST_MYSQL=require, so CI can never pass on SQLite alone.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/go-sql-driver/mysql"

	"github.com/lianmeng/lianmeng/gateway/store"
)

// DefaultMySQLDSN is used when LIANMENG_TEST_MYSQL_DSN is unset.
const DefaultMySQLDSN = "root@tcp(127.0.0.1:3306)/test"

// MySQLDSN returns the server DSN tests use.
func MySQLDSN() string {
	if v := os.Getenv("LIANMENG_TEST_MYSQL_DSN"); v != "" {
		return v
	}
	return DefaultMySQLDSN
}

// MySQLRequired reports whether a missing MySQL server must fail tests.
func MySQLRequired() bool {
	return os.Getenv("CI") == "true" || os.Getenv("LIANMENG_TEST_MYSQL") == "require"
}

var (
	probeOnce sync.Once
	probeErr  error
)

func probeMySQL() error {
	probeOnce.Do(func() {
		cfg, err := store.MySQLConfig(MySQLDSN())
		if err != nil {
			probeErr = err
			return
		}
		conn, err := mysql.NewConnector(cfg)
		if err != nil {
			probeErr = err
			return
		}
		db := sql.OpenDB(conn)
		defer db.Close()
		probeErr = db.Ping()
	})
	return probeErr
}

// Dialects lists the dialects every storage test runs against.
func Dialects() []string { return []string{store.SQLite, store.MySQL} }

// Each runs fn as a subtest against a fresh migrated database of each dialect.
func Each(t *testing.T, fn func(t *testing.T, db *store.DB)) {
	t.Helper()
	for _, d := range Dialects() {
		t.Run(d, func(t *testing.T) {
			fn(t, Open(t, d))
		})
	}
}

// Open returns a fresh migrated database of dialect, closed and removed when
// the test ends.
func Open(t testing.TB, dialect string) *store.DB {
	t.Helper()
	driver, dsn := NewDatabase(t, dialect)
	db, err := store.Open(context.Background(), driver, dsn, store.Options{MaxOpenConns: 16})
	if err != nil {
		t.Fatalf("open %s: %v", dialect, err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(context.Background(), nil); err != nil {
		t.Fatalf("migrate %s: %v", dialect, err)
	}
	return db
}

// NewDatabase creates an empty database of dialect and returns the driver
// and DSN to open it with (for tests that start a gateway process).
func NewDatabase(t testing.TB, dialect string) (driver, dsn string) {
	t.Helper()
	switch dialect {
	case store.SQLite:
		return store.SQLite, filepath.Join(t.TempDir(), "lianmeng.db")
	case store.MySQL:
		if err := probeMySQL(); err != nil {
			if MySQLRequired() {
				t.Fatalf("MySQL/MariaDB at %s is required (CI=true) but does not answer: %v", MySQLDSN(), err)
			}
			t.Skipf("MySQL/MariaDB at %s not reachable (%v); set CI=true to make this fail", MySQLDSN(), err)
		}
		cfg, err := store.MySQLConfig(MySQLDSN())
		if err != nil {
			t.Fatal(err)
		}
		var b [6]byte
		rand.Read(b[:])
		name := "lmt_" + hex.EncodeToString(b[:])
		conn, err := mysql.NewConnector(cfg)
		if err != nil {
			t.Fatal(err)
		}
		admin := sql.OpenDB(conn)
		if _, err := admin.Exec("CREATE DATABASE " + name + " CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"); err != nil {
			admin.Close()
			t.Fatalf("create test database: %v", err)
		}
		t.Cleanup(func() {
			admin.Exec("DROP DATABASE IF EXISTS " + name)
			admin.Close()
		})
		cfg.DBName = name
		return store.MySQL, cfg.FormatDSN()
	}
	t.Fatalf("unknown dialect %q", dialect)
	return "", ""
}
