package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/emmansun/gmsm/sm2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/lianmeng/lianmeng/gateway/api"
	"github.com/lianmeng/lianmeng/gateway/config"
	"github.com/lianmeng/lianmeng/gateway/evidence"
	"github.com/lianmeng/lianmeng/gateway/pii"
	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/witness"
	sdkevidence "github.com/lianmeng/lianmeng/sdk/evidence"
)

// startEvidence prepares evidence keys and starts the sealer for serve; it
// returns what the API serves proofs from, and a function that waits for
// the sealer to stop once ctx ends (so the database outlives it). It also sets up personal-data
// protection (setupPII), which must be in place before the first write.
// The sealer stops when ctx ends.
func startEvidence(ctx context.Context, cfg config.Config, db *store.DB, log *slog.Logger, reg prometheus.Registerer) (api.EvidenceProvider, func(), error) {
	done := make(chan struct{})
	wait := func() { <-done }
	remotes, quorum, err := witnessRemotes(cfg)
	if err != nil {
		return nil, nil, err
	}
	if err := setupPII(ctx, cfg, db, log); err != nil {
		return nil, nil, err
	}
	key, err := signingKey(cfg, log)
	if err != nil {
		return nil, nil, err
	}
	signer, err := evidence.NewSigner(key)
	if err != nil {
		return nil, nil, err
	}
	pubPEM, err := signer.PublicKeyPEM()
	if err != nil {
		return nil, nil, err
	}
	if !cfg.Evidence.Disabled {
		sealer, err := evidence.NewSealer(db.Evidence(), signer, sealerOptions(cfg, remotes, signer, log, reg))
		if err != nil {
			return nil, nil, fmt.Errorf("evidence: %w", err)
		}
		go func() {
			defer close(done)
			sealer.Run(ctx)
		}()
		log.Info("evidence sealer started", "origin", cfg.Evidence.Origin, "key_id", signer.KeyID(), "holder", sealer.Lease().Holder)
	} else {
		log.Warn("evidence sealer disabled in this instance (evidence.disabled)")
		close(done)
	}
	proofs := evidence.NewProofs(db.Evidence(), pubPEM, signer.KeyID())
	// Every ledger write's answer carries a signed receipt (Lianmeng-Receipt).
	proofs.Receipts = evidence.NewReceipts(db.Evidence(), signer, cfg.Evidence.Origin)
	if len(remotes) == 0 {
		log.Warn("evidence: no witnesses configured (evidence.witnesses): nobody outside this operator holds the checkpoints, so a log cut back together with its database copy is noticed only by whoever saved a checkpoint")
		return proofs, wait, nil
	}
	sub := witness.NewSubmitter(db.Evidence(), proofs, remotes, quorum, nil, log)
	subDone := make(chan struct{})
	go func() {
		defer close(subDone)
		sub.Run(ctx, evidence.DefaultPoll)
	}()
	log.Info("evidence: submitting checkpoints to witnesses", "witnesses", len(remotes), "quorum", quorum)
	return witnessedProofs{proofs, sub}, func() { wait(); <-subDone }, nil
}

// witnessedProofs is the evidence provider when witnesses are configured:
// /readyz reports a latest checkpoint without its quorum as degraded.
type witnessedProofs struct {
	*evidence.Proofs
	sub *witness.Submitter
}

func (w witnessedProofs) WitnessQuorum(ctx context.Context) error {
	if err := w.sub.Quorum(ctx); errors.Is(err, witness.ErrNoQuorum) {
		return fmt.Errorf("%w: %v", api.ErrDegraded, err)
	} else if err != nil {
		return err
	}
	return nil
}

// witnessRemotes parses evidence.witnesses and the quorum (default: all).
func witnessRemotes(cfg config.Config) ([]witness.Remote, int, error) {
	var out []witness.Remote
	seen := map[string]bool{}
	for i, w := range cfg.Evidence.Witnesses {
		k, err := sdkevidence.ParseWitnessKey(w.Key)
		if err != nil {
			return nil, 0, fmt.Errorf("evidence.witnesses[%d].key: %w", i, err)
		}
		if !strings.HasPrefix(w.URL, "https://") && !strings.HasPrefix(w.URL, "http://") {
			return nil, 0, fmt.Errorf("evidence.witnesses[%d].url: want an http(s) URL, got %q", i, w.URL)
		}
		if seen[k.Name] {
			return nil, 0, fmt.Errorf("evidence.witnesses[%d]: witness %s listed twice", i, k.Name)
		}
		seen[k.Name] = true
		out = append(out, witness.Remote{URL: strings.TrimSuffix(w.URL, "/"), Key: k})
	}
	q := cfg.Evidence.WitnessQuorum
	switch {
	case q < 0 || q > len(out):
		return nil, 0, fmt.Errorf("evidence.witness_quorum %d: between 0 and the %d configured witnesses", q, len(out))
	case q == 0:
		q = len(out)
	}
	return out, q, nil
}

// publishedFile is where the sealer remembers, outside the database, the
// largest checkpoint it published: evidence.published_file, by default
// published-checkpoint in the evidence key directory.
func publishedFile(cfg config.Config) string {
	if cfg.Evidence.PublishedFile != "" {
		return cfg.Evidence.PublishedFile
	}
	return filepath.Join(evidenceKeyDir(cfg), "published-checkpoint")
}

// sealerMemory is where the sealer remembers the largest checkpoint it
// published: the published file, and what each witness cosigned.
func sealerMemory(cfg config.Config, remotes []witness.Remote, signer *evidence.Signer, log *slog.Logger) evidence.Memory {
	ms := evidence.Memories{evidence.FileMemory{Path: publishedFile(cfg)}}
	for _, r := range remotes {
		ms = append(ms, witness.RemoteMemory{URL: r.URL, Origin: cfg.Evidence.Origin, Key: signer.PublicKey(), Log: log})
	}
	return ms
}

// readSavedCheckpoints reads checkpoints for verify --checkpoint: each file
// holds the signed text (docs/evidence.md §5.3) or the JSON answer of
// /v1/evidence/checkpoint, whose "signed" field is that text.
func readSavedCheckpoints(paths []string) ([]evidence.SignedCheckpoint, error) {
	var out []evidence.SignedCheckpoint
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("--checkpoint: %w", err)
		}
		if t := bytes.TrimSpace(b); len(t) > 0 && t[0] == '{' {
			var j struct {
				Signed string `json:"signed"`
			}
			if err := json.Unmarshal(t, &j); err != nil || j.Signed == "" {
				return nil, fmt.Errorf("--checkpoint %s: JSON without a \"signed\" checkpoint (%v)", p, err)
			}
			b = []byte(j.Signed)
		}
		sc, err := evidence.ParseSignedCheckpoint(b)
		if err != nil {
			return nil, fmt.Errorf("--checkpoint %s: %w", p, err)
		}
		out = append(out, sc)
	}
	return out, nil
}

// signingKey returns the checkpoint signing key: evidence.signing_key, or a
// development key generated in evidence.key_dir.
func signingKey(cfg config.Config, log *slog.Logger) (*sm2.PrivateKey, error) {
	if pemKey := cfg.Evidence.SigningKey.Reveal(); pemKey != "" {
		key, err := evidence.ParsePrivateKeyPEM([]byte(pemKey))
		if err != nil {
			return nil, fmt.Errorf("evidence.signing_key: %w", err)
		}
		return key, nil
	}
	dir := evidenceKeyDir(cfg)
	key, generated, err := evidence.LoadOrCreateKey(dir)
	if err != nil {
		return nil, fmt.Errorf("evidence key in %s: %w", dir, err)
	}
	if generated {
		log.Warn("!!! GENERATED A DEVELOPMENT CHECKPOINT SIGNING KEY: checkpoints are signed with a key kept on local disk. "+
			"For production set evidence.signing_key (or LIANMENG_EVIDENCE_SIGNING_KEY_FILE) and publish its public key. !!!",
			"dir", dir, "public_key", filepath.Join(dir, evidence.PublicKeyFile))
	} else {
		log.Warn("checkpoints are signed with the development key on local disk; set evidence.signing_key for production", "dir", dir)
	}
	return key, nil
}

// evidenceKeyDir is evidence.key_dir, or by default a "keys" directory
// beside the SQLite database (data/keys for the default data/lianmeng.db),
// or data/keys with MySQL.
func evidenceKeyDir(cfg config.Config) string {
	if cfg.Evidence.KeyDir != "" {
		return cfg.Evidence.KeyDir
	}
	if cfg.Database.Driver == store.SQLite {
		return filepath.Join(filepath.Dir(store.SQLitePath(cfg.Database.DSN.Reveal())), "keys")
	}
	return filepath.Join("data", "keys")
}

// setupPII builds the personal-data keyring from pii.keys and pii.index_key,
// or from development keys generated in pii.key_dir (default
// evidence.key_dir), and gives it to the store, which seals members' phone
// numbers and credential secrets with it. HMAC credential secrets still
// stored in plaintext (written by an earlier version) are sealed here, so
// none is left once a gateway has started.
func setupPII(ctx context.Context, cfg config.Config, db *store.DB, log *slog.Logger) error {
	k, err := piiKeyring(cfg, log)
	if err != nil {
		return err
	}
	db.SetPII(k)
	n, err := db.SealPlaintextCredentials(ctx)
	if err != nil {
		return err
	}
	if n > 0 {
		log.Warn("sealed HMAC credential secrets that were stored in plaintext; copies may remain in database backups, logs or free space: re-issue those credentials if the database may have been read",
			"credentials", n, "key_id", k.ActiveKeyID())
	}
	return nil
}

func piiKeyring(cfg config.Config, log *slog.Logger) (*pii.Keyring, error) {
	if k, ok, err := configuredPIIKeyring(cfg); ok || err != nil {
		return k, err
	}
	dir := piiKeyDir(cfg)
	k, generated, err := pii.LoadOrCreateDevKeyring(dir)
	if err != nil {
		return nil, fmt.Errorf("pii development keys in %s: %w", dir, err)
	}
	if generated {
		log.Warn("!!! GENERATED DEVELOPMENT KEYS FOR MEMBERS' PHONE NUMBERS: they are kept on local disk next to the data they protect. "+
			"For production set pii.keys and pii.index_key (or their _FILE variants); the index key can never change afterwards. !!!",
			"file", filepath.Join(dir, pii.DevKeyFile))
	} else {
		log.Warn("members' phone numbers are encrypted with development keys kept on local disk; set pii.keys and pii.index_key for production", "dir", dir)
	}
	return k, nil
}

// configuredPIIKeyring returns the keyring of pii.keys and pii.index_key;
// ok is false if neither is set (development keys).
func configuredPIIKeyring(cfg config.Config) (k *pii.Keyring, ok bool, err error) {
	keys, index := cfg.PII.Keys.Reveal(), cfg.PII.IndexKey.Reveal()
	switch {
	case keys != "" && index != "":
		k, err := pii.NewKeyring(keys, index)
		if err != nil {
			return nil, true, fmt.Errorf("pii keys: %w", err)
		}
		return k, true, nil
	case keys != "" || index != "":
		return nil, true, errors.New("pii: set both pii.keys and pii.index_key, or neither (development keys)")
	}
	return nil, false, nil
}

// piiKeyDir is pii.key_dir, by default the evidence key directory.
func piiKeyDir(cfg config.Config) string {
	if cfg.PII.KeyDir != "" {
		return cfg.PII.KeyDir
	}
	return evidenceKeyDir(cfg)
}

// verifyEvidence recomputes the evidence chain and tree from the database
// and returns one line per divergence.
func verifyEvidence(ctx context.Context, cfg config.Config, db *store.DB, saved []evidence.SignedCheckpoint, progress func(done, total int64)) ([]string, error) {
	pub, err := verifyKey(cfg)
	if err != nil {
		return nil, err
	}
	settle := cfg.Evidence.Settle.D()
	if settle <= 0 {
		settle = evidence.DefaultSettle
	}
	// One snapshot for the whole check: a live sealer keeps appending
	// leaves and tiles meanwhile.
	st, release, err := db.EvidenceSnapshot(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	return evidence.Verify(ctx, st, evidence.VerifyOptions{
		PublicKey: pub,
		// Rows are sealed on the sealer's next poll after settling.
		Settle:   settle + evidence.DefaultPoll,
		Progress: progress,
		Saved:    saved,
	})
}

// verifyKey returns the public key checkpoints must verify with, without
// ever generating one: from evidence.signing_key, else the key files in
// evidence.key_dir; nil if there is none.
func verifyKey(cfg config.Config) (*ecdsa.PublicKey, error) {
	if pemKey := cfg.Evidence.SigningKey.Reveal(); pemKey != "" {
		key, err := evidence.ParsePrivateKeyPEM([]byte(pemKey))
		if err != nil {
			return nil, fmt.Errorf("evidence.signing_key: %w", err)
		}
		return &key.PublicKey, nil
	}
	raw, err := os.ReadFile(filepath.Join(evidenceKeyDir(cfg), evidence.PublicKeyFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	return evidence.ParsePublicKeyPEM(raw)
}

// sealerOptions are the evidence sealer's options as serve configures them
// from cfg; lianmeng prefill starts from them too.
func sealerOptions(cfg config.Config, remotes []witness.Remote, signer *evidence.Signer, log *slog.Logger, reg prometheus.Registerer) evidence.SealerOptions {
	return evidence.SealerOptions{
		Origin:             cfg.Evidence.Origin,
		Settle:             cfg.Evidence.Settle.D(),
		CheckpointInterval: cfg.Evidence.SealInterval.D(),
		CheckpointEvery:    cfg.Evidence.CheckpointEvery,
		AllowKeyChange:     cfg.Evidence.AllowKeyChange,
		Memory:             sealerMemory(cfg, remotes, signer, log),
		Log:                log,
		Registry:           reg,
	}
}
