//go:build unix

package store_test

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/lianmeng/lianmeng/gateway/store"
)

// The SQLite database file and its -wal and -shm files are created 0600
// whatever the umask (SQLite alone made them 0644 under the usual 022).
func TestSQLiteFilesCreatedPrivate(t *testing.T) {
	for _, umask := range []int{0o022, 0o000, 0o077} {
		old := syscall.Umask(umask)
		path := filepath.Join(t.TempDir(), "data", "lianmeng.db")
		db, err := store.Open(context.Background(), store.SQLite, path, store.Options{})
		if err == nil {
			_, err = db.Migrate(context.Background(), nil) // writes: the WAL grows
		}
		syscall.Umask(old)
		if err != nil {
			t.Fatal(err)
		}
		// A reader connection too (it opens the -shm).
		var n int
		if err := db.R.Get(&n, `SELECT COUNT(*) FROM merchants`); err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{path, path + "-wal", path + "-shm"} {
			fi, err := os.Stat(f)
			if err != nil {
				t.Fatalf("umask %03o: %v", umask, err)
			}
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("umask %03o: %s has mode %v, want 0600", umask, filepath.Base(f), fi.Mode().Perm())
			}
		}
		db.Close()
	}
}

// An existing database keeps its mode; a -wal or -shm more open than the
// database file is narrowed to it when the database is opened.
func TestSQLiteSidecarsNoWiderThanDatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lianmeng.db")
	db, err := store.Open(context.Background(), store.SQLite, path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Migrate(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	os.Chmod(path, 0o640)
	os.Chmod(path+"-wal", 0o666)
	os.Chmod(path+"-shm", 0o644)
	db2, err := store.Open(context.Background(), store.SQLite, path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	for f, want := range map[string]os.FileMode{path: 0o640, path + "-wal": 0o640, path + "-shm": 0o640} {
		if fi, err := os.Stat(f); err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s: %v %v, want %v", filepath.Base(f), fi.Mode().Perm(), err, want)
		}
	}
}
