package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
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

// minMemberTokenKey is the shortest member-token key accepted, in bytes:
// the key MACs every member token, so a short one lets tokens be forged.
// (api.memberTokenKey applies the same rule.)
const minMemberTokenKey = 32

// checkMemberTokenKey refuses a member-token key that is not hexadecimal
// or decodes to fewer than 32 bytes. Errors never repeat the key.
func checkMemberTokenKey(key string) error {
	const want = "want at least 64 hex digits (32 random bytes, e.g. from `openssl rand -hex 32`)"
	b, err := hex.DecodeString(key)
	switch {
	case err == nil && len(b) >= minMemberTokenKey:
		return nil
	case len(key) < 2*minMemberTokenKey:
		return fmt.Errorf("too short (%d characters): %s", len(key), want)
	default:
		return errors.New("not hexadecimal: " + want)
	}
}

// ensureMemberTokenKey checks a configured auth.member_token_key (at least
// 32 bytes in hex, else serve refuses to start) or, when none is
// configured, fills it from a development key file it creates on first run,
// so member tokens survive a restart of the embedded default. Production
// sets the key (the same on every instance). The key file, like every key
// file, is refused if group or others can read it.
func ensureMemberTokenKey(cfg *config.Config, log *slog.Logger) error {
	if k := cfg.Auth.MemberTokenKey.Reveal(); k != "" {
		if err := checkMemberTokenKey(k); err != nil {
			return fmt.Errorf("auth.member_token_key: %w", err)
		}
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
	raw, err := keyfile.ReadPrivate(path)
	if err != nil {
		return fmt.Errorf("member token key: %w", err)
	}
	key := strings.TrimSpace(string(raw))
	if err := checkMemberTokenKey(key); err != nil {
		return fmt.Errorf("member token key %s: %w; delete the file to generate a new one", path, err)
	}
	if created {
		log.Warn("generated a development member-token key; set auth.member_token_key (the same on every instance) in production", "file", path)
	}
	cfg.Auth.MemberTokenKey = config.Secret(key)
	return nil
}
