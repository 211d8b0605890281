package walvfs_test

import (
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "modernc.org/sqlite"

	"github.com/lianmeng/lianmeng/gateway/store/walvfs"
)

func open(t *testing.T, path string, shim bool, pragmas ...string) *sql.DB {
	t.Helper()
	q := []string{"_pragma=journal_mode(WAL)", "_pragma=busy_timeout(10000)"}
	for _, p := range pragmas {
		q = append(q, "_pragma="+p)
	}
	if shim {
		q = append(q, "vfs="+walvfs.Name)
	}
	db, err := sql.Open("sqlite", "file:"+path+"?"+strings.Join(q, "&"))
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	return db
}

// A commit through the VFS is in the WAL file, and visible to a connection
// of the plain VFS (as to another process), as soon as it returns; its
// frames went to the file in far fewer writes than SQLite asked for.
func TestCommitVisibleAndCoalesced(t *testing.T) {
	if err := walvfs.Register(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "a.db")
	w := open(t, path, true, "synchronous(NORMAL)", "wal_autocheckpoint(0)")
	r := open(t, path, false)
	if _, err := w.Exec(`CREATE TABLE t (k TEXT PRIMARY KEY, v BLOB)`); err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		tx, err := w.Begin()
		if err != nil {
			t.Fatal(err)
		}
		for j := range 40 { // random keys: many pages per commit
			if _, err := tx.Exec(`INSERT INTO t VALUES (hex(randomblob(16)), randomblob(300))`); err != nil {
				t.Fatal(err, j)
			}
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		var n int
		if err := r.QueryRow(`SELECT COUNT(*) FROM t`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != (i+1)*40 {
			t.Fatalf("after commit %d the plain reader sees %d rows, want %d", i, n, (i+1)*40)
		}
	}
	s := walvfs.WALStats(path)
	if s.Requested == 0 || s.Made*4 > s.Requested {
		t.Fatalf("WAL writes: %d asked for, %d made; want them gathered (at most a quarter)", s.Requested, s.Made)
	}
	var ok string
	if err := r.QueryRow(`PRAGMA integrity_check`).Scan(&ok); err != nil || ok != "ok" {
		t.Fatalf("integrity_check: %q %v", ok, err)
	}
}

// Whatever a transaction's size, and so wherever its commit frame falls
// against the gathering buffer's bound (31 frames of 4 KiB), the commit's
// own write puts it in the file: the barrier before SQLite publishes it
// never finds a frame left.
func TestCommitFrameAtEveryOffset(t *testing.T) {
	if err := walvfs.Register(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "c.db")
	w := open(t, path, true, "synchronous(NORMAL)", "wal_autocheckpoint(0)")
	r := open(t, path, false)
	if _, err := w.Exec(`CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB)`); err != nil {
		t.Fatal(err)
	}
	rows := 0
	for n := 1; n <= 90; n++ {
		tx, err := w.Begin()
		if err != nil {
			t.Fatal(err)
		}
		for range n { // a 3,000-byte row fills most of a page
			if _, err := tx.Exec(`INSERT INTO t (v) VALUES (randomblob(3000))`); err != nil {
				t.Fatal(err)
			}
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		rows += n
		var got int
		if err := r.QueryRow(`SELECT COUNT(*) FROM t`).Scan(&got); err != nil || got != rows {
			t.Fatalf("after %d rows in one transaction the plain reader sees %d (%v), want %d", n, got, err, rows)
		}
	}
	if s := walvfs.WALStats(path); s.Late != 0 {
		t.Fatalf("the barrier wrote %d times what commits had left (of %d writes)", s.Late, s.Made)
	}
}

// Transactions larger than the page cache spill frames before their
// commit, and some roll back; the database stays whole and a plain
// connection reads exactly what committed, also after a checkpoint
// restarted the WAL.
func TestSpillRollbackAndRestart(t *testing.T) {
	if err := walvfs.Register(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "b.db")
	w := open(t, path, true, "synchronous(NORMAL)", "cache_size(20)", "wal_autocheckpoint(0)", "journal_size_limit(65536)")
	r := open(t, path, false)
	if _, err := w.Exec(`CREATE TABLE t (k TEXT PRIMARY KEY, v BLOB)`); err != nil {
		t.Fatal(err)
	}
	want := 0
	for i := range 30 {
		tx, err := w.Begin()
		if err != nil {
			t.Fatal(err)
		}
		for range 200 {
			if _, err := tx.Exec(`INSERT INTO t VALUES (hex(randomblob(16)), randomblob(500))`); err != nil {
				t.Fatal(err)
			}
		}
		if i%3 == 1 {
			if err := tx.Rollback(); err != nil {
				t.Fatal(err)
			}
		} else {
			if err := tx.Commit(); err != nil {
				t.Fatal(err)
			}
			want += 200
		}
		if i%7 == 6 {
			if _, err := r.Exec(`PRAGMA wal_checkpoint(RESTART)`); err != nil {
				t.Fatal(err)
			}
		}
		var n int
		if err := r.QueryRow(`SELECT COUNT(*) FROM t`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != want {
			t.Fatalf("round %d: plain reader sees %d rows, want %d", i, n, want)
		}
	}
	for _, db := range []*sql.DB{w, r} {
		var ok string
		if err := db.QueryRow(`PRAGMA integrity_check`).Scan(&ok); err != nil || ok != "ok" {
			t.Fatalf("integrity_check: %q %v", ok, err)
		}
	}
	w.Close()
	r.Close()
	// Reopened from the files alone (WAL recovery), everything committed is there.
	again := open(t, path, false)
	var n int
	if err := again.QueryRow(`SELECT COUNT(*) FROM t`).Scan(&n); err != nil || n != want {
		t.Fatalf("reopened: %d rows (%v), want %d", n, err, want)
	}
}

func Example() {
	if err := walvfs.Register(); err != nil {
		panic(err)
	}
	dir, err := os.MkdirTemp("", "walvfs")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "example.db")+"?vfs="+walvfs.Name+"&_pragma=journal_mode(WAL)")
	if err != nil {
		panic(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TABLE t (v INTEGER); INSERT INTO t VALUES (1), (2)`); err != nil {
		panic(err)
	}
	var n int
	if err := db.QueryRow(`SELECT COUNT(*) FROM t`).Scan(&n); err != nil {
		panic(err)
	}
	fmt.Println(n)
	// Output: 2
}
