package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/gateway/merchant"
	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
)

func TestMigrationsIdempotent(t *testing.T) {
	for _, dialect := range storetest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			ctx := context.Background()
			driver, dsn := storetest.NewDatabase(t, dialect)
			db, err := store.Open(ctx, driver, dsn, store.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if pending, err := db.HasPending(ctx); err != nil || !pending {
				t.Fatalf("fresh database: pending %v, err %v", pending, err)
			}
			first, err := db.Migrate(ctx, nil)
			if err != nil || len(first) == 0 {
				t.Fatalf("first Migrate applied %v, err %v", first, err)
			}
			second, err := db.Migrate(ctx, nil)
			if err != nil || len(second) != 0 {
				t.Fatalf("second Migrate applied %v, err %v", second, err)
			}
			st, err := db.MigrationStatus(ctx)
			if err != nil || len(st) != len(first) {
				t.Fatalf("status %v, err %v (applied %v)", st, err, first)
			}
			for _, m := range st {
				if !m.Applied {
					t.Errorf("migration %d (%s) not applied", m.Version, m.Source)
				}
			}
			if pending, err := db.HasPending(ctx); err != nil || pending {
				t.Fatalf("after Migrate: pending %v, err %v", pending, err)
			}
			// A second process opening the same database sees nothing to do.
			db2, err := store.Open(ctx, driver, dsn, store.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer db2.Close()
			if again, err := db2.Migrate(ctx, nil); err != nil || len(again) != 0 {
				t.Fatalf("Migrate from a second connection applied %v, err %v", again, err)
			}
		})
	}
}

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	if _, err := store.Open(ctx, "postgres", "x", store.Options{}); err == nil {
		t.Fatal("unknown driver accepted")
	}
	if _, err := store.Open(ctx, store.MySQL, "not a dsn", store.Options{}); err == nil {
		t.Fatal("bad mysql dsn accepted")
	}
	if _, err := store.Open(ctx, store.MySQL, "root@tcp(127.0.0.1:1)/x?timeout=1s", store.Options{}); err == nil {
		t.Fatal("unreachable mysql accepted")
	}
}

func TestMySQLConfig(t *testing.T) {
	cfg, err := store.MySQLConfig("u:p@tcp(h:3306)/db?charset=latin1")
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.ParseTime || cfg.Loc != time.UTC || !cfg.InterpolateParams || cfg.MultiStatements {
		t.Fatalf("cfg = %+v", cfg)
	}
	if _, ok := cfg.Params["charset"]; ok {
		t.Fatal("charset must be a connection option, not a SET variable")
	}
	if cfg.Collation != "utf8mb4_unicode_ci" {
		t.Fatalf("collation %q", cfg.Collation)
	}
}

func TestNonces(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		now := time.Unix(1767225600, 0)
		if err := db.UseNonce(ctx, "key_a", "nonce-0000000001", now.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if err := db.UseNonce(ctx, "key_a", "nonce-0000000001", now.Add(time.Minute)); !errors.Is(err, store.ErrReplay) {
			t.Fatalf("replay: err = %v", err)
		}
		// Per key, and case-sensitive (nonces are compared byte for byte).
		if err := db.UseNonce(ctx, "key_b", "nonce-0000000001", now.Add(time.Minute)); err != nil {
			t.Fatalf("other key: %v", err)
		}
		if err := db.UseNonce(ctx, "key_a", "NONCE-0000000001", now.Add(time.Minute)); err != nil {
			t.Fatalf("nonce differing in case: %v", err)
		}
		if err := db.UseNonce(ctx, "key_a", "nonce-0000000002", now.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		n, err := db.PurgeNonces(ctx, now.Add(2*time.Minute))
		if err != nil || n != 3 {
			t.Fatalf("purged %d, err %v; want 3", n, err)
		}
		if err := db.UseNonce(ctx, "key_a", "nonce-0000000002", now.Add(time.Hour)); !errors.Is(err, store.ErrReplay) {
			t.Fatalf("unexpired nonce was purged: %v", err)
		}
	})
}

func TestMerchantRepository(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		repo := db.Merchants()
		now := time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC)
		var ids []string
		for _, name := range []string{"A", "B", "C"} {
			m, err := merchant.NewMerchant(name, "retail", now)
			if err != nil {
				t.Fatal(err)
			}
			if err := repo.CreateMerchant(ctx, m, "operator"); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, m.ID)
		}
		got, err := repo.GetMerchant(ctx, ids[0])
		if err != nil || got.Name != "A" || !got.CreatedAt.Equal(now.Truncate(time.Microsecond)) || got.Status != merchant.StatusActive {
			t.Fatalf("GetMerchant = %+v, %v", got, err)
		}
		if _, err := repo.GetMerchant(ctx, "mch_missing"); !errors.Is(err, merchant.ErrNotFound) {
			t.Fatalf("missing merchant: %v", err)
		}
		page1, err := repo.ListMerchants(ctx, "", 2)
		if err != nil || len(page1) != 2 {
			t.Fatalf("page 1: %v %v", page1, err)
		}
		page2, err := repo.ListMerchants(ctx, page1[1].ID, 2)
		if err != nil || len(page2) != 1 || page2[0].ID <= page1[1].ID {
			t.Fatalf("page 2: %v %v", page2, err)
		}

		st, _ := merchant.NewStore(ids[0], "Xuhui", now)
		if err := repo.CreateStore(ctx, st, "operator"); err != nil {
			t.Fatal(err)
		}
		if got, err := repo.GetStore(ctx, st.ID); err != nil || got.MerchantID != ids[0] {
			t.Fatalf("GetStore = %+v, %v", got, err)
		}
		if _, err := repo.GetStore(ctx, "sto_missing"); !errors.Is(err, merchant.ErrNotFound) {
			t.Fatalf("missing store: %v", err)
		}
		// The foreign key refuses a store of an unknown merchant.
		bad, _ := merchant.NewStore("mch_missing", "x", now)
		if err := repo.CreateStore(ctx, bad, "operator"); err == nil {
			t.Fatal("store of an unknown merchant accepted")
		}

		cred, secret, err := merchant.NewCredential(ids[0], "hmac-sha256", "", "POS", now)
		if err != nil {
			t.Fatal(err)
		}
		if err := repo.CreateCredential(ctx, cred, "operator"); err != nil {
			t.Fatal(err)
		}
		gc, err := repo.GetCredential(ctx, cred.ID)
		if err != nil || gc.KeyMaterial != secret || gc.Status != merchant.KeyActive || gc.RevokedAt != nil {
			t.Fatalf("GetCredential = %+v, %v", gc, err)
		}
		if err := repo.RevokeCredential(ctx, ids[1], cred.ID, now, "operator"); !errors.Is(err, merchant.ErrNotFound) {
			t.Fatalf("revoke through another merchant: %v", err)
		}
		if err := repo.RevokeCredential(ctx, ids[0], cred.ID, now.Add(time.Hour), "operator"); err != nil {
			t.Fatal(err)
		}
		if err := repo.RevokeCredential(ctx, ids[0], cred.ID, now.Add(2*time.Hour), "operator"); !errors.Is(err, merchant.ErrAlreadyRevoked) {
			t.Fatalf("second revoke: %v", err)
		}
		gc, _ = repo.GetCredential(ctx, cred.ID)
		if gc.Status != merchant.KeyRevoked || gc.RevokedAt == nil || !gc.RevokedAt.Equal(now.Add(time.Hour).Truncate(time.Microsecond)) {
			t.Fatalf("revoked credential = %+v", gc)
		}
		cs, err := repo.ListCredentials(ctx, ids[0])
		if err != nil || len(cs) != 1 {
			t.Fatalf("ListCredentials = %v, %v", cs, err)
		}

		// One audit event per change, in order, without key material.
		ev, err := db.AuditEvents(ctx, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		kinds := []string{"merchant.created", "merchant.created", "merchant.created", "store.created", "credential.issued", "credential.revoked"}
		if len(ev) != len(kinds) {
			t.Fatalf("%d audit events, want %d: %+v", len(ev), len(kinds), ev)
		}
		for i, e := range ev {
			if e.Kind != kinds[i] || e.Actor != "operator" {
				t.Errorf("event %d = %+v, want %s", i, e, kinds[i])
			}
			if secret != "" && contains(e.Payload, secret) {
				t.Errorf("audit event %d contains the secret", i)
			}
		}
		if later, _ := db.AuditEvents(ctx, ev[2].ID, 100); len(later) != 3 {
			t.Fatalf("AuditEvents after %d: %d", ev[2].ID, len(later))
		}
	})
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}
