package main

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/lianmeng/lianmeng/gateway/config"
	"github.com/lianmeng/lianmeng/gateway/internal/keyfile"
)

// memberTokenKeyFile holds the development member-token key beside the
// other development keys.
const memberTokenKeyFile = "member-token.key"

// ensureMemberTokenKey fills auth.member_token_key, when it is not
// configured, from a development key file it creates on first run, so
// member tokens survive a restart of the embedded default. Production sets
// the key (the same on every instance).
func ensureMemberTokenKey(cfg *config.Config, log *slog.Logger) error {
	if cfg.Auth.MemberTokenKey != "" {
		return nil
	}
	dir := evidenceKeyDir(*cfg)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("member token key: %w", err)
	}
	path := filepath.Join(dir, memberTokenKeyFile)
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return fmt.Errorf("member token key: %w", err)
	}
	created, err := keyfile.WriteExclusive(path, []byte(hex.EncodeToString(b[:])+"\n"), 0o600)
	if err != nil {
		return fmt.Errorf("member token key: %w", err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("member token key: %w", err)
	}
	key := strings.TrimSpace(string(raw))
	if k, err := hex.DecodeString(key); err != nil || len(k) < 32 {
		return fmt.Errorf("member token key %s: want 64 hex digits; delete it to generate a new one", path)
	}
	if created {
		log.Warn("generated a development member-token key; set auth.member_token_key (the same on every instance) in production", "file", path)
	}
	cfg.Auth.MemberTokenKey = config.Secret(key)
	return nil
}
