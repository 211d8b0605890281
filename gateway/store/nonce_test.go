package store_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
)

// A nonce is used once per key whatever its expiry (the expiry follows the
// signed timestamp, which a client can change), directly and through the
// batching writer, within one batch and across batches.
func TestNonceOncePerKeyWhateverTheExpiry(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		now := time.Unix(1767225600, 0)
		if err := db.UseNonce(ctx, "key_a", "nonce-expiry-0001", now.Add(16*time.Minute)); err != nil {
			t.Fatal(err)
		}
		for _, d := range []time.Duration{17 * time.Minute, 15 * time.Minute, time.Hour} {
			if err := db.UseNonce(ctx, "key_a", "nonce-expiry-0001", now.Add(d)); !errors.Is(err, store.ErrReplay) {
				t.Fatalf("same nonce, expiry +%v: %v", d, err)
			}
		}

		w := db.NewWriter(store.WriterOptions{BatchSize: 8, BatchWait: time.Millisecond})
		defer w.Close()
		use := func(nonce string, d time.Duration) error {
			return w.Submit(ctx, &store.Op{Nonce: &store.Nonce{KeyID: "key_w", Nonce: nonce, Expires: now.Add(d)}}).Err
		}
		if err := use("nonce-expiry-0002", 16*time.Minute); err != nil {
			t.Fatal(err)
		}
		if err := use("nonce-expiry-0002", 17*time.Minute); !errors.Is(err, store.ErrNonceReplayed) {
			t.Fatalf("writer, same nonce, later expiry: %v", err)
		}
		if err := db.UseNonce(ctx, "key_w", "nonce-expiry-0002", now.Add(time.Hour)); !errors.Is(err, store.ErrReplay) {
			t.Fatalf("direct after writer: %v", err)
		}
		// Concurrent, each with its own expiry: exactly one is accepted.
		errs := make(chan error, 8)
		for i := range 8 {
			go func() { errs <- use("nonce-expiry-0003", time.Duration(16+i)*time.Minute) }()
		}
		accepted := 0
		for range 8 {
			switch err := <-errs; {
			case err == nil:
				accepted++
			case !errors.Is(err, store.ErrNonceReplayed):
				t.Fatalf("concurrent: %v", err)
			}
		}
		if accepted != 1 {
			t.Fatalf("%d of 8 concurrent uses accepted, want 1", accepted)
		}
		// Another key may use the same nonce.
		if err := use("nonce-expiry-0001", 20*time.Minute); err != nil {
			t.Fatalf("other key: %v", err)
		}
	})
}

// The migration that makes nonces unique per key keeps, of a nonce that
// was accepted twice under different timestamps before it, the row with
// the latest expiry.
func TestNonceMigrationKeepsLatestDuplicate(t *testing.T) {
	for _, dialect := range storetest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			ctx := context.Background()
			db := openBefore(t, dialect, "_nonce_once_per_key.sql")
			for _, r := range []struct {
				key, nonce string
				exp        int64
			}{{"key_a", "n-dup", 100}, {"key_a", "n-dup", 300}, {"key_a", "n-dup", 200}, {"key_b", "n-dup", 100}, {"key_a", "n-one", 100}} {
				db.W.MustExecContext(ctx, `INSERT INTO request_nonces (key_id, nonce, expires_at) VALUES (?, ?, ?)`, r.key, r.nonce, r.exp)
			}
			if _, err := db.Migrate(ctx, nil); err != nil {
				t.Fatal(err)
			}
			var rows []struct {
				Key   string `db:"key_id"`
				Nonce string `db:"nonce"`
				Exp   int64  `db:"expires_at"`
			}
			if err := db.W.SelectContext(ctx, &rows, `SELECT key_id, nonce, expires_at FROM request_nonces ORDER BY key_id, nonce`); err != nil {
				t.Fatal(err)
			}
			want := "key_a n-dup 300,key_a n-one 100,key_b n-dup 100,"
			got := ""
			for _, r := range rows {
				got += r.Key + " " + r.Nonce + " " + strconv.FormatInt(r.Exp, 10) + ","
			}
			if got != want {
				t.Fatalf("rows after the migration: %s, want %s", got, want)
			}
			if _, err := db.W.ExecContext(ctx, `INSERT INTO request_nonces (key_id, nonce, expires_at) VALUES ('key_a', 'n-one', 999)`); !store.IsDuplicate(err) {
				t.Fatalf("same nonce, other expiry, after the migration: %v", err)
			}
		})
	}
}

// A nonce used before nonces were kept as hashes (migration 00085; in
// request_nonces, by its text) is still refused after the upgrade, by
// UseNonce and by the writer, and nothing writes that table any more.
func TestNonceUsedBeforeHashesIsRefused(t *testing.T) {
	for _, dialect := range storetest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			ctx := context.Background()
			now := time.Now()
			exp := store.Micros(now.Add(10 * time.Minute))
			db := openBefore(t, dialect, "_request_nonce_hashes.sql")
			for _, n := range []string{"n-before-1", "n-before-2", "n-before-3"} {
				db.W.MustExecContext(ctx, `INSERT INTO request_nonces (key_id, nonce, expires_at) VALUES (?, ?, ?)`, "key_a", n, exp)
			}
			if _, err := db.Migrate(ctx, nil); err != nil {
				t.Fatal(err)
			}
			if err := db.UseNonce(ctx, "key_a", "n-before-1", now.Add(time.Hour)); !errors.Is(err, store.ErrReplay) {
				t.Fatalf("direct, nonce used before the upgrade: %v", err)
			}
			w := db.NewWriter(store.WriterOptions{BatchSize: 8, BatchWait: time.Millisecond})
			defer w.Close()
			op := func(key, nonce string) *store.Op {
				return &store.Op{Nonce: &store.Nonce{KeyID: key, Nonce: nonce, Expires: now.Add(5 * time.Minute)}}
			}
			if err := w.Submit(ctx, op("key_a", "n-before-2")).Err; !errors.Is(err, store.ErrNonceReplayed) {
				t.Fatalf("writer, nonce used before the upgrade: %v", err)
			}
			// In a batch with fresh nonces, only the old one is refused.
			res := w.CommitBatch([]*store.Op{op("key_a", "n-after-1"), op("key_a", "n-before-3"), op("key_b", "n-before-3")})
			if res[0].Err != nil || !errors.Is(res[1].Err, store.ErrNonceReplayed) || res[2].Err != nil {
				t.Fatalf("batch of a new, an old and another key's nonce: %v, %v, %v", res[0].Err, res[1].Err, res[2].Err)
			}
			if err := db.UseNonce(ctx, "key_c", "n-after-2", now.Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
			var old, hashed int
			if err := db.R.GetContext(ctx, &old, `SELECT COUNT(*) FROM request_nonces`); err != nil {
				t.Fatal(err)
			}
			if err := db.R.GetContext(ctx, &hashed, `SELECT COUNT(*) FROM request_nonce_hashes`); err != nil {
				t.Fatal(err)
			}
			if old != 3 || hashed != 3 {
				t.Fatalf("request_nonces holds %d rows (want the 3 from before), request_nonce_hashes %d (want 3)", old, hashed)
			}
		})
	}
}

// The second use of a nonce in one batch is refused, the first stands.
func TestNonceTwiceInOneBatch(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		w := db.NewWriter(store.WriterOptions{})
		defer w.Close()
		exp := time.Now().Add(5 * time.Minute)
		op := func(key, nonce string) *store.Op {
			return &store.Op{Nonce: &store.Nonce{KeyID: key, Nonce: nonce, Expires: exp}}
		}
		res := w.CommitBatch([]*store.Op{op("key_a", "n-twice"), op("key_a", "n-twice"), op("key_a", "n-other")})
		if res[0].Err != nil || !errors.Is(res[1].Err, store.ErrNonceReplayed) || res[2].Err != nil {
			t.Fatalf("results %v, %v, %v; want nil, ErrNonceReplayed, nil", res[0].Err, res[1].Err, res[2].Err)
		}
		if err := db.UseNonce(ctx, "key_a", "n-twice", exp); !errors.Is(err, store.ErrReplay) {
			t.Fatalf("after the batch: %v", err)
		}
	})
}

// PurgeNonces deletes the expired nonces of both tables, the ones used
// before migration 00085 and the hashed ones, and keeps the others.
func TestPurgeNoncesBothTables(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		now := time.Unix(1767225600, 0)
		for _, r := range []struct {
			nonce string
			exp   time.Time
		}{{"old-expired", now.Add(-time.Minute)}, {"old-live", now.Add(time.Minute)}} {
			db.W.MustExecContext(ctx, `INSERT INTO request_nonces (key_id, nonce, expires_at) VALUES ('key_a', ?, ?)`, r.nonce, store.Micros(r.exp))
		}
		for _, r := range []struct {
			nonce string
			exp   time.Time
		}{{"new-expired-1", now.Add(-time.Minute)}, {"new-expired-2", now.Add(-time.Second)}, {"new-live", now.Add(time.Minute)}} {
			if err := db.UseNonce(ctx, "key_a", r.nonce, r.exp); err != nil {
				t.Fatal(err)
			}
		}
		n, err := db.PurgeNonces(ctx, now)
		if err != nil || n != 3 {
			t.Fatalf("purged %d (%v), want 3", n, err)
		}
		for nonce, used := range map[string]bool{"old-expired": false, "old-live": true, "new-expired-1": false, "new-expired-2": false, "new-live": true} {
			err := db.UseNonce(ctx, "key_a", nonce, now.Add(time.Minute))
			if used && !errors.Is(err, store.ErrReplay) {
				t.Errorf("%s: %v, want it still refused", nonce, err)
			}
			if !used && err != nil {
				t.Errorf("%s: %v, want it purged", nonce, err)
			}
		}
	})
}
