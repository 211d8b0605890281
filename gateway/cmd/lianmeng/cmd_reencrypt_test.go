package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/gateway/config"
	"github.com/lianmeng/lianmeng/gateway/merchant"
	"github.com/lianmeng/lianmeng/gateway/pii"
	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
	"github.com/lianmeng/lianmeng/sdk/signature"
)

// insertPlaintextCredential writes an hmac-sha256 credential as an earlier
// version did: its secret in key_material, nothing sealed.
func insertPlaintextCredential(t *testing.T, db *store.DB, merchantID string) (merchant.Credential, string) {
	t.Helper()
	c, secret, err := merchant.NewCredential(merchantID, signature.HMACSHA256, "", "old POS", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	db.W.MustExec(`INSERT INTO api_keys (id, merchant_id, algorithm, key_material, label, status, created_at, scopes) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		c.ID, c.MerchantID, c.Algorithm, secret, c.Label, c.Status, store.Micros(c.CreatedAt), strings.Join(c.Scopes, " "))
	return c, secret
}

// lianmeng reencrypt re-seals HMAC credential secrets under the active key
// and seals plaintext ones, reports both, and only then lets the old key go.
func TestReencryptCommandCredentials(t *testing.T) {
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "lm.db")
	k1, k2, idx := evMust(pii.NewKeyEntry("k1")), evMust(pii.NewKeyEntry("k2")), pii.NewIndexKey()
	cfgPath := filepath.Join(dir, "cfg.yaml")
	y := fmt.Sprintf("database:\n  driver: sqlite\n  dsn: %s\npii:\n  keys: %q\n  index_key: %q\nevidence:\n  key_dir: %s\n", dbPath, k2+","+k1, idx, filepath.Join(dir, "keys"))
	if err := os.WriteFile(cfgPath, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	db, err := store.Open(ctx, store.SQLite, dbPath, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Migrate(ctx, nil); err != nil {
		t.Fatal(err)
	}
	kr1, _ := pii.NewKeyring(k1, idx)
	db.SetPII(kr1)
	m, _ := merchant.NewMerchant("Rotating", "restaurant", time.Now())
	if err := db.Merchants().CreateMerchant(ctx, m, "operator"); err != nil {
		t.Fatal(err)
	}
	sealedCred, sealedSecret, err := merchant.NewCredential(m.ID, signature.HMACSHA256, "", "POS", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Merchants().CreateCredential(ctx, sealedCred, "operator"); err != nil {
		t.Fatal(err)
	}
	plainCred, plainSecret := insertPlaintextCredential(t, db, m.ID)
	db.Close()

	code, stdout, stderr := runCLI("reencrypt", "-q", "-config", cfgPath)
	if code != 0 || !strings.Contains(stdout, "re-encrypted 1 and sealed 1 plaintext of 2 HMAC credential secrets under key k2") ||
		!strings.Contains(stdout, "re-issue those credentials") || !strings.Contains(stdout, "[k1] can be removed") {
		t.Fatalf("reencrypt: %d %q %q", code, stdout, stderr)
	}
	db, err = store.Open(ctx, store.SQLite, dbPath, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	kr2, _ := pii.NewKeyring(k2, idx) // k1 removed
	db.SetPII(kr2)
	for c, secret := range map[string]string{sealedCred.ID: sealedSecret, plainCred.ID: plainSecret} {
		got, err := db.Merchants().GetCredential(ctx, c)
		if err != nil || got.KeyMaterial != secret {
			t.Fatalf("credential %s after reencrypt: %v", c, err)
		}
		var material string
		if err := db.R.Get(&material, `SELECT key_material FROM api_keys WHERE id = ?`, c); err != nil || material != "" {
			t.Fatalf("credential %s: key_material %d bytes, %v", c, len(material), err)
		}
	}
	db.W.MustExec(`PRAGMA wal_checkpoint(TRUNCATE)`)
	file, err := os.ReadFile(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(file, []byte(sealedSecret)) {
		t.Fatal("the sealed credential's secret is in the database file")
	}
	// Running it again finds nothing to do.
	code, stdout, stderr = runCLI("reencrypt", "-q", "-config", cfgPath)
	if code != 0 || !strings.Contains(stdout, "re-encrypted 0 and sealed 0 plaintext of 2 HMAC credential secrets") || strings.Contains(stdout, "re-issue") {
		t.Fatalf("second reencrypt: %d %q %q", code, stdout, stderr)
	}
}

// The summary keeps every key while a credential secret still needs
// sealing or re-encryption.
func TestReencryptSummaryCredentials(t *testing.T) {
	k, err := pii.NewKeyring(evMust(pii.NewKeyEntry("k2"))+","+evMust(pii.NewKeyEntry("k1")), pii.NewIndexKey())
	if err != nil {
		t.Fatal(err)
	}
	left := reencryptSummary(store.ReencryptStats{Scanned: 3, Reencrypted: 3}, store.CredentialReencryptStats{Scanned: 2, Reencrypted: 1, Remaining: 1}, k)
	if strings.Contains(left, "can be removed") || !strings.Contains(left, "1 HMAC credential secrets still need sealing or re-encryption") ||
		!strings.Contains(left, "run again after every instance restarted with the new key first") {
		t.Fatalf("credential remaining: %q", left)
	}
	done := reencryptSummary(store.ReencryptStats{}, store.CredentialReencryptStats{Scanned: 2, Reencrypted: 1, Sealed: 1}, k)
	if !strings.Contains(done, "[k1] can be removed") || !strings.Contains(done, "re-issue those credentials") {
		t.Fatalf("nothing remaining: %q", done)
	}
}

// serve seals plaintext HMAC secrets at start (setupPII, before the API
// serves): afterwards the table holds none, and they still verify.
func TestServeSealsPlaintextCredentials(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		db.W.MustExec(`INSERT INTO merchants (id, name, industry, status, created_at) VALUES ('mch_old', 'Old', 'restaurant', 'active', 1)`)
		var secrets []string
		var ids []string
		for range 2 {
			c, s := insertPlaintextCredential(t, db, "mch_old")
			ids, secrets = append(ids, c.ID), append(secrets, s)
		}
		cfg := config.Default()
		cfg.Evidence.KeyDir = filepath.Join(t.TempDir(), "keys")
		var logs evLogBuf
		if err := setupPII(ctx, cfg, db, slog.New(slog.NewTextHandler(&logs, nil))); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(logs.String(), "sealed HMAC credential secrets that were stored in plaintext") || !strings.Contains(logs.String(), "credentials=2") {
			t.Fatalf("no warning about the sealed plaintext secrets: %s", logs.String())
		}
		var materials []string
		if err := db.R.Select(&materials, `SELECT key_material || '|' || COALESCE(key_sealed, '') FROM api_keys`); err != nil {
			t.Fatal(err)
		}
		for _, row := range materials {
			for _, s := range secrets {
				raw, _ := base64.StdEncoding.DecodeString(s)
				if strings.Contains(row, s) || strings.Contains(row, string(raw)) {
					t.Fatalf("a plaintext secret is still in api_keys")
				}
			}
		}
		for i, id := range ids {
			got, err := db.Merchants().GetCredential(ctx, id)
			if err != nil || got.KeyMaterial != secrets[i] {
				t.Fatalf("credential %s after start: %v", id, err)
			}
		}
		// A second start has nothing to seal and says nothing about it.
		logs = evLogBuf{}
		if err := setupPII(ctx, cfg, db, slog.New(slog.NewTextHandler(&logs, nil))); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(logs.String(), "sealed HMAC credential") {
			t.Fatalf("second start sealed again: %s", logs.String())
		}
		if n, err := db.CredentialsNeedingReencryption(ctx); err != nil || n != 0 {
			t.Fatalf("after start: %d need re-encryption, %v", n, err)
		}
	})
}
