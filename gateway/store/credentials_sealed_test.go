package store_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/gateway/merchant"
	"github.com/lianmeng/lianmeng/gateway/pii"
	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
	"github.com/lianmeng/lianmeng/sdk/signature"
)

// openCredentialDB opens a fresh migrated database of dialect and returns
// it with the SQLite file path ("" for MySQL).
func openCredentialDB(t *testing.T, dialect string) (*store.DB, string) {
	t.Helper()
	driver, dsn := storetest.NewDatabase(t, dialect)
	db, err := store.Open(context.Background(), driver, dsn, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	if driver == store.SQLite {
		return db, store.SQLitePath(dsn)
	}
	return db, ""
}

// secretForms are the spellings of an HMAC secret that must not be found
// at rest: the base64 the merchant holds, its raw bytes, and their hex.
func secretForms(t *testing.T, secretB64 string) map[string][]byte {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(secretB64)
	if err != nil {
		t.Fatal(err)
	}
	return map[string][]byte{
		"base64": []byte(secretB64), "raw": raw,
		"hex": []byte(hex.EncodeToString(raw)), "HEX": []byte(strings.ToUpper(hex.EncodeToString(raw))),
		"base64url": []byte(base64.RawURLEncoding.EncodeToString(raw)),
	}
}

// assertSecretAbsent fails if any form of secret is in any table, or, for
// SQLite, in the database file or its WAL.
func assertSecretAbsent(t *testing.T, db *store.DB, path, secret string) {
	t.Helper()
	dump := []byte(dumpText(t, db))
	var files map[string][]byte
	if path != "" {
		files = map[string][]byte{}
		for _, f := range []string{path, path + "-wal"} {
			b, err := os.ReadFile(f)
			if err != nil && !errors.Is(err, os.ErrNotExist) {
				t.Fatal(err)
			}
			files[f] = b
		}
	}
	for form, v := range secretForms(t, secret) {
		if bytes.Contains(dump, v) {
			t.Errorf("the HMAC secret (%s) is in a table", form)
		}
		for f, b := range files {
			if bytes.Contains(b, v) {
				t.Errorf("the HMAC secret (%s) is in %s", form, f)
			}
		}
	}
}

// verifies checks that c's key material verifies a signature made with
// signer, as the API's merchantAuth does.
func verifies(t *testing.T, c merchant.Credential, signer signature.Signer) {
	t.Helper()
	const canonical = "LIANMENG1\nm\nk\nPOST\n/v1/x\n1\nn\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	sig, err := signer.Sign(canonical)
	if err != nil {
		t.Fatal(err)
	}
	if err := signature.Verify(c.Algorithm, c.KeyMaterial, canonical, sig); err != nil {
		t.Fatalf("credential %s does not verify: %v", c.ID, err)
	}
}

// An HMAC credential's secret is stored sealed: no spelling of it is in the
// database (tables, and the SQLite file and WAL), lookups open it and it
// verifies; public keys stay as they are; a sealed secret copied onto
// another credential does not open; reencrypt moves secrets to a new key.
func TestCredentialSecretsSealedAtRest(t *testing.T) {
	for _, dialect := range storetest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			ctx := context.Background()
			db, path := openCredentialDB(t, dialect)
			db.SetPII(piiKeyring(t, "k1"))
			repo := db.Merchants()
			now := time.Now()
			m, _ := merchant.NewMerchant("Sealed", "restaurant", now)
			if err := repo.CreateMerchant(ctx, m, "operator"); err != nil {
				t.Fatal(err)
			}
			var creds []merchant.Credential
			var secrets []string
			for i := range 2 {
				c, secret, err := merchant.NewCredential(m.ID, signature.HMACSHA256, "", "POS", now.Add(time.Duration(i)*time.Second))
				if err != nil {
					t.Fatal(err)
				}
				if err := repo.CreateCredential(ctx, c, "operator"); err != nil {
					t.Fatal(err)
				}
				creds, secrets = append(creds, c), append(secrets, secret)
			}
			pub := "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n-----END PUBLIC KEY-----\n"
			ed, _, err := merchant.NewCredential(m.ID, signature.Ed25519, pub, "signer", now.Add(time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			if err := repo.CreateCredential(ctx, ed, "operator"); err != nil {
				t.Fatal(err)
			}
			if db.Dialect == store.SQLite {
				db.W.MustExec(`PRAGMA wal_checkpoint(TRUNCATE)`) // the file as well as the WAL
			}
			for _, s := range secrets {
				assertSecretAbsent(t, db, path, s)
			}
			// The public key is stored as given, unsealed.
			var material string
			var sealed *string
			if err := db.R.QueryRow(`SELECT key_material, key_sealed FROM api_keys WHERE id = ?`, ed.ID).Scan(&material, &sealed); err != nil || material != pub || sealed != nil {
				t.Fatalf("ed25519 row: %q %v %v", material, sealed, err)
			}

			for i, c := range creds {
				got, err := repo.GetCredential(ctx, c.ID)
				if err != nil || got.KeyMaterial != secrets[i] {
					t.Fatalf("GetCredential opens %q, %v", got.KeyMaterial, err)
				}
				signer, _ := signature.NewHMACSigner(c.ID, secrets[i])
				verifies(t, got, signer)
			}
			list, err := repo.ListCredentials(ctx, m.ID)
			if err != nil || len(list) != 3 || list[0].KeyMaterial != secrets[0] || list[1].KeyMaterial != secrets[1] || list[2].KeyMaterial != pub {
				t.Fatalf("ListCredentials: %v", err)
			}
			if n, err := db.CredentialsNeedingReencryption(ctx); err != nil || n != 0 {
				t.Fatalf("fresh secrets need re-encryption: %d %v", n, err)
			}

			// Bound to its row: the first secret copied onto the second
			// credential does not open, and the error names no secret.
			var sealed0, sealed1 string
			db.R.QueryRow(`SELECT key_sealed FROM api_keys WHERE id = ?`, creds[0].ID).Scan(&sealed0)
			db.R.QueryRow(`SELECT key_sealed FROM api_keys WHERE id = ?`, creds[1].ID).Scan(&sealed1)
			db.W.MustExec(`UPDATE api_keys SET key_sealed = ? WHERE id = ?`, sealed0, creds[1].ID)
			if _, err := repo.GetCredential(ctx, creds[1].ID); !errors.Is(err, pii.ErrDecrypt) || strings.Contains(err.Error(), secrets[0]) {
				t.Fatalf("copied sealed secret: %v", err)
			}
			if n, _ := db.CredentialsNeedingReencryption(ctx); n != 1 {
				t.Fatalf("a secret that does not open is not counted: %d", n)
			}
			db.W.MustExec(`UPDATE api_keys SET key_sealed = ? WHERE id = ?`, sealed1, creds[1].ID)

			// Without the keyring a sealed secret cannot be read.
			db.SetPII(nil)
			if _, err := repo.GetCredential(ctx, creds[0].ID); !errors.Is(err, store.ErrNoKeyring) {
				t.Fatalf("sealed secret without a keyring: %v", err)
			}

			// Rotation: k2 active, k1 still opens; reencrypt moves both.
			db.SetPII(piiKeyring(t, "k2", "k1"))
			if got, err := repo.GetCredential(ctx, creds[0].ID); err != nil || got.KeyMaterial != secrets[0] {
				t.Fatalf("k1 secret after rotation: %v", err)
			}
			if n, err := db.CredentialsNeedingReencryption(ctx); err != nil || n != 2 {
				t.Fatalf("before reencrypt: %d %v, want 2", n, err)
			}
			st, err := db.ReencryptCredentials(ctx)
			if err != nil || st != (store.CredentialReencryptStats{Scanned: 2, Reencrypted: 2}) {
				t.Fatalf("reencrypt: %+v %v", st, err)
			}
			var all []string
			if err := db.R.Select(&all, `SELECT key_sealed FROM api_keys WHERE key_sealed IS NOT NULL`); err != nil || len(all) != 2 {
				t.Fatalf("sealed rows: %d %v", len(all), err)
			}
			for _, s := range all {
				ct, _ := base64.StdEncoding.DecodeString(s)
				if id, err := pii.KeyIDOf(ct); err != nil || id != "k2" {
					t.Fatalf("secret under %q after reencrypt (%v)", id, err)
				}
			}
			db.SetPII(piiKeyring(t, "k2")) // k1 can go
			for i, c := range creds {
				got, err := repo.GetCredential(ctx, c.ID)
				if err != nil || got.KeyMaterial != secrets[i] {
					t.Fatalf("after removing k1: %v", err)
				}
				signer, _ := signature.NewHMACSigner(c.ID, secrets[i])
				verifies(t, got, signer)
			}
			if st, err := db.ReencryptCredentials(ctx); err != nil || st.Reencrypted != 0 || st.Sealed != 0 || st.Remaining != 0 {
				t.Fatalf("second reencrypt: %+v %v", st, err)
			}
			if db.Dialect == store.SQLite {
				db.W.MustExec(`PRAGMA wal_checkpoint(TRUNCATE)`)
			}
			for _, s := range secrets {
				assertSecretAbsent(t, db, path, s)
			}
		})
	}
}

// HMAC secrets stored in plaintext before migration 00035 still verify;
// they count as needing re-encryption, and SealPlaintextCredentials (serve,
// at start) and ReencryptCredentials (lianmeng reencrypt) seal them.
func TestPlaintextCredentialsSealed(t *testing.T) {
	for _, dialect := range storetest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			ctx := context.Background()
			db := openBefore(t, dialect, "_sealed_credentials.sql")
			now := time.Now()
			m, _ := merchant.NewMerchant("Old", "restaurant", now)
			if _, err := db.W.ExecContext(ctx, `INSERT INTO merchants (id, name, industry, status, created_at) VALUES (?, ?, ?, ?, ?)`,
				m.ID, m.Name, m.Industry, m.Status, store.Micros(now)); err != nil {
				t.Fatal(err)
			}
			var creds []merchant.Credential
			var secrets []string
			for i := range 3 {
				c, secret, err := merchant.NewCredential(m.ID, signature.HMACSHA256, "", "old POS", now)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := db.W.ExecContext(ctx, `INSERT INTO api_keys (id, merchant_id, algorithm, key_material, label, status, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
					c.ID, c.MerchantID, c.Algorithm, c.KeyMaterial, c.Label, c.Status, store.Micros(now)+int64(i)); err != nil {
					t.Fatal(err)
				}
				creds, secrets = append(creds, c), append(secrets, secret)
			}
			if _, err := db.Migrate(ctx, nil); err != nil {
				t.Fatal(err)
			}
			repo := db.Merchants()

			// Plaintext rows still verify, with or without a keyring.
			for _, k := range []*pii.Keyring{nil, piiKeyring(t, "k1")} {
				db.SetPII(k)
				got, err := repo.GetCredential(ctx, creds[0].ID)
				if err != nil || got.KeyMaterial != secrets[0] {
					t.Fatalf("plaintext row: %v", err)
				}
			}
			if n, err := db.CredentialsNeedingReencryption(ctx); err != nil || n != 3 {
				t.Fatalf("plaintext rows needing re-encryption: %d %v, want 3", n, err)
			}

			// serve, at start: every plaintext row is sealed, once.
			if n, err := db.SealPlaintextCredentials(ctx); err != nil || n != 3 {
				t.Fatalf("SealPlaintextCredentials: %d %v, want 3", n, err)
			}
			if n, err := db.SealPlaintextCredentials(ctx); err != nil || n != 0 {
				t.Fatalf("SealPlaintextCredentials again: %d %v, want 0", n, err)
			}
			// The tables only: the old plaintext may survive in the SQLite
			// file's free space (documented; re-issue such credentials).
			for _, s := range secrets {
				assertSecretAbsent(t, db, "", s)
			}
			for i, c := range creds {
				got, err := repo.GetCredential(ctx, c.ID)
				if err != nil || got.KeyMaterial != secrets[i] {
					t.Fatalf("sealed legacy row: %v", err)
				}
				signer, _ := signature.NewHMACSigner(c.ID, secrets[i])
				verifies(t, got, signer)
			}

			// lianmeng reencrypt: a plaintext row written meanwhile (an
			// instance without the upgrade, or a store without keyring) is
			// sealed too, and counted until it is.
			late, lateSecret, _ := merchant.NewCredential(m.ID, signature.HMACSHA256, "", "late POS", now)
			db.SetPII(nil)
			if err := repo.CreateCredential(ctx, late, "operator"); err != nil {
				t.Fatal(err)
			}
			db.SetPII(piiKeyring(t, "k1"))
			if n, _ := db.CredentialsNeedingReencryption(ctx); n != 1 {
				t.Fatalf("plaintext row written without a keyring not counted: %d", n)
			}
			st, err := db.ReencryptCredentials(ctx)
			if err != nil || st != (store.CredentialReencryptStats{Scanned: 4, Sealed: 1}) {
				t.Fatalf("reencrypt: %+v %v", st, err)
			}
			assertSecretAbsent(t, db, "", lateSecret)
			if got, err := repo.GetCredential(ctx, late.ID); err != nil || got.KeyMaterial != lateSecret {
				t.Fatalf("late row: %v", err)
			}
		})
	}
}
