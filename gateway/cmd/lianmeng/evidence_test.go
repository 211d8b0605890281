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
	"sync"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/gateway/config"
	"github.com/lianmeng/lianmeng/gateway/evidence"
	"github.com/lianmeng/lianmeng/gateway/internal/eventually"
	"github.com/lianmeng/lianmeng/gateway/pii"
	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
)

type evLogBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *evLogBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
func (l *evLogBuf) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

func evInsertTx(t *testing.T, db *store.DB, id int64) {
	t.Helper()
	tx := db.W.MustBegin()
	tx.MustExec(`INSERT INTO ledger_transactions (id, kind, ref, reverses, created_at) VALUES (?, 'fund', 'r', 0, ?)`, id, store.Micros(time.Now()))
	tx.MustExec(`INSERT INTO postings (tx_id, seq, account, asset, amount) VALUES (?, 0, 'merchant:m:budget', 'PTS', 5), (?, 1, 'alliance:mint', 'PTS', -5)`, id, id)
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

// TestStartAndVerifyEvidence starts the sealer the way serve does, with
// generated development keys, and verifies the result, then tampers.
func TestStartAndVerifyEvidence(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		cfg := config.Default()
		cfg.Evidence.KeyDir = filepath.Join(t.TempDir(), "keys")
		cfg.Evidence.Settle = config.Duration(time.Millisecond)
		cfg.Evidence.SealInterval = config.Duration(10 * time.Millisecond)
		cfg.Evidence.Origin = "cmd.test/lianmeng"
		var logs evLogBuf
		log := slog.New(slog.NewTextHandler(&logs, nil))
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()

		// Before any key exists, verify does not invent one.
		if out, err := verifyEvidence(ctx, cfg, db, nil, nil); err != nil || len(out) != 0 {
			t.Fatalf("empty database: %q %v", out, err)
		}
		if _, err := os.Stat(filepath.Join(cfg.Evidence.KeyDir, evidence.PrivateKeyFile)); !os.IsNotExist(err) {
			t.Fatalf("verify created a key: %v", err)
		}

		prov, waitSealer, err := startEvidence(ctx, cfg, db, log, nil)
		if err != nil {
			t.Fatal(err)
		}
		if prov == nil || db.PII() == nil {
			t.Fatal("no provider or no pii keyring")
		}
		for _, want := range []string{"GENERATED A DEVELOPMENT CHECKPOINT SIGNING KEY", "GENERATED DEVELOPMENT KEYS FOR MEMBERS' PHONE NUMBERS"} {
			if !strings.Contains(logs.String(), want) {
				t.Fatalf("no loud warning %q in %s", want, logs.String())
			}
		}
		if st, err := os.Stat(filepath.Join(cfg.Evidence.KeyDir, pii.DevKeyFile)); err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("pii dev keys: %v %v", st, err)
		}
		for i := range 5 {
			evInsertTx(t, db, int64(500+i))
		}
		eventually.NoError(t, 20*time.Second, "sealer seals the 5 transactions", func() error {
			cp, err := prov.Checkpoint(ctx)
			if err == nil && cp.Size != 5 {
				err = fmt.Errorf("checkpoint covers %d entries, want 5", cp.Size)
			}
			return err
		})
		cancel()
		waitSealer() // its last checkpoint is remembered outside the database too
		var last int64
		out, err := verifyEvidence(context.Background(), cfg, db, nil, func(done, total int64) { last = done })
		if err != nil || len(out) != 0 || last != 5 {
			t.Fatalf("verify: %q %v (progress %d)", out, err, last)
		}
		// The sealer remembered its checkpoint outside the database, in the
		// form verify --checkpoint reads (text, or the API's JSON).
		saved, err := readSavedCheckpoints([]string{publishedFile(cfg)})
		if err != nil || len(saved) != 1 || saved[0].Size != 5 {
			t.Fatalf("published checkpoint file: %+v %v", saved, err)
		}
		text, _ := saved[0].Marshal()
		asJSON := filepath.Join(t.TempDir(), "cp.json")
		os.WriteFile(asJSON, fmt.Appendf(nil, `{"size": 5, "signed": %q}`, text), 0o600)
		if again, err := readSavedCheckpoints([]string{asJSON}); err != nil || again[0].Size != 5 {
			t.Fatalf("checkpoint JSON: %v", err)
		}
		if out, err := verifyEvidence(context.Background(), cfg, db, saved, nil); err != nil || len(out) != 0 {
			t.Fatalf("verify --checkpoint of the current log: %q %v", out, err)
		}
		bigger := saved[0]
		bigger.Size = 7
		if out, err := verifyEvidence(context.Background(), cfg, db, []evidence.SignedCheckpoint{bigger}, nil); err != nil || len(out) == 0 || !strings.Contains(out[0], "signature does not verify") {
			t.Fatalf("verify --checkpoint with a forged size: %q %v", out, err)
		}
		db.W.MustExec(`UPDATE postings SET amount = 6 WHERE tx_id = 502 AND seq = 0`)
		out, err = verifyEvidence(context.Background(), cfg, db, nil, nil)
		if err != nil || len(out) == 0 || !strings.Contains(out[0], "leaf 2 (ledger transaction 502): leaf hash differs") {
			t.Fatalf("tampered: %q %v", out, err)
		}
		// A second start reuses the keys quietly(ish): no "GENERATED".
		logs = evLogBuf{}
		ctx2, cancel2 := context.WithCancel(context.Background())
		_, wait2, err := startEvidence(ctx2, cfg, db, slog.New(slog.NewTextHandler(&logs, nil)), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer wait2() // the sealer writes in the key directory until it stops
		defer cancel2()
		if strings.Contains(logs.String(), "GENERATED") {
			t.Fatalf("keys generated again: %s", logs.String())
		}
	})
}

func TestPIIConfig(t *testing.T) {
	cfg := config.Default()
	cfg.PII.Keys = config.Secret(evMust(pii.NewKeyEntry("k1")))
	if _, err := piiKeyring(cfg, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "both") {
		t.Fatalf("keys without index key: %v", err)
	}
	cfg.PII.IndexKey = config.Secret(pii.NewIndexKey())
	k, err := piiKeyring(cfg, slog.New(slog.DiscardHandler))
	if err != nil || k.ActiveKeyID() != "k1" {
		t.Fatalf("configured keys: %v", err)
	}
	cfg.Evidence.SigningKey = "not a pem"
	if _, err := signingKey(cfg, slog.New(slog.DiscardHandler)); err == nil || strings.Contains(err.Error(), "not a pem") {
		t.Fatalf("bad signing key: %v", err)
	}
}

func evMust[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestReencryptCommand rotates the pii key and runs lianmeng reencrypt.
func TestReencryptCommand(t *testing.T) {
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "lm.db")
	k1, k2, idx := evMust(pii.NewKeyEntry("k1")), evMust(pii.NewKeyEntry("k2")), pii.NewIndexKey()
	writeCfg := func(keys string) string {
		p := filepath.Join(dir, "cfg.yaml")
		y := fmt.Sprintf("database:\n  driver: sqlite\n  dsn: %s\npii:\n  keys: %q\n  index_key: %q\nevidence:\n  key_dir: %s\n", dbPath, keys, idx, filepath.Join(dir, "keys"))
		if err := os.WriteFile(p, []byte(y), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
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
	ct := kr1.Encrypt([]byte("+8613800138000"), []byte("member_identity:phone"))
	lookup := fmt.Sprintf("%x", kr1.Index("+8613800138000"))
	db.W.MustExec(`INSERT INTO members (id, created_at) VALUES ('mbr_1', 1)`)
	db.W.MustExec(`INSERT INTO member_identities (kind, lookup, member_id, sealed, created_at) VALUES ('phone', ?, 'mbr_1', ?, 1)`,
		lookup, b64(ct))
	db.Close()

	code, stdout, stderr := runCLI("reencrypt", "-q", "-config", writeCfg(k2+","+k1))
	if code != 0 || !strings.Contains(stdout, "re-encrypted 1 of 1 sealed identities under key k2") || !strings.Contains(stdout, "[k1] can be removed") {
		t.Fatalf("reencrypt: %d %q %q", code, stdout, stderr)
	}
	db, err = store.Open(ctx, store.SQLite, dbPath, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	kr2, _ := pii.NewKeyring(k2, idx) // k1 removed
	db.SetPII(kr2)
	if got, err := db.MemberPhone(ctx, "mbr_1"); err != nil || got != "+8613800138000" {
		t.Fatalf("after rotation: %q %v", got, err)
	}
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// reencrypt never generates keys: without configured keys it uses the
// development keys already on disk, and refuses if there are none.
func TestReencryptNeverGeneratesKeys(t *testing.T) {
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "lm.db")
	keyDir := filepath.Join(dir, "keys")
	cfgPath := filepath.Join(dir, "cfg.yaml")
	y := fmt.Sprintf("database:\n  driver: sqlite\n  dsn: %s\nevidence:\n  key_dir: %s\n", dbPath, keyDir)
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
	db.Close()

	code, stdout, stderr := runCLI("reencrypt", "-q", "-config", cfgPath)
	if code == 0 || !strings.Contains(stderr, "never generates keys") {
		t.Fatalf("reencrypt without keys: %d %q %q", code, stdout, stderr)
	}
	if _, err := os.Stat(filepath.Join(keyDir, pii.DevKeyFile)); err == nil {
		t.Fatal("reencrypt generated development keys")
	}
	if _, _, err := pii.LoadOrCreateDevKeyring(keyDir); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr = runCLI("reencrypt", "-q", "-config", cfgPath)
	if code != 0 || !strings.Contains(stdout, "re-encrypted 0 of 0 sealed identities under key dev1") {
		t.Fatalf("reencrypt with existing dev keys: %d %q %q", code, stdout, stderr)
	}
}

func TestReencryptSummary(t *testing.T) {
	k, err := pii.NewKeyring(evMust(pii.NewKeyEntry("k2"))+","+evMust(pii.NewKeyEntry("k1")), pii.NewIndexKey())
	if err != nil {
		t.Fatal(err)
	}
	done := reencryptSummary(store.ReencryptStats{Scanned: 3, Reencrypted: 3}, store.CredentialReencryptStats{}, k)
	if !strings.Contains(done, "[k1] can be removed") {
		t.Fatalf("nothing remaining: %q", done)
	}
	left := reencryptSummary(store.ReencryptStats{Scanned: 3, Reencrypted: 3, Remaining: 2}, store.CredentialReencryptStats{}, k)
	if strings.Contains(left, "can be removed") || !strings.Contains(left, "2 sealed identities still need re-encryption") ||
		!strings.Contains(left, "run again after every instance restarted with the new key first") {
		t.Fatalf("rows remaining: %q", left)
	}
}
