package store_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/lianmeng/lianmeng/gateway/store"
)

// The writer's page cache is the size Options asks for and the readers keep
// the default. (An earlier attempt appended a second cache_size pragma to the
// writer's DSN; the driver sorts a DSN's pragmas, so the default's ran last
// and won, which this catches.)
func TestSQLiteWriterCacheSize(t *testing.T) {
	for _, tc := range []struct{ ask, want int }{{0, store.DefaultSQLiteCacheMiB}, {256, 256}, {8, 8}} {
		db, err := store.Open(context.Background(), store.SQLite, filepath.Join(t.TempDir(), "lm.db"), store.Options{SQLiteCacheMiB: tc.ask})
		if err != nil {
			t.Fatal(err)
		}
		var w, r int
		if err := db.W.Get(&w, `PRAGMA cache_size`); err != nil {
			t.Fatal(err)
		}
		if err := db.R.Get(&r, `PRAGMA cache_size`); err != nil {
			t.Fatal(err)
		}
		db.Close()
		if w != -tc.want*1024 {
			t.Errorf("SQLiteCacheMiB %d: writer cache_size = %d, want %d (KiB, negative)", tc.ask, w, -tc.want*1024)
		}
		if r != -store.DefaultSQLiteCacheMiB*1024 {
			t.Errorf("SQLiteCacheMiB %d: reader cache_size = %d, want %d", tc.ask, r, -store.DefaultSQLiteCacheMiB*1024)
		}
	}
}
