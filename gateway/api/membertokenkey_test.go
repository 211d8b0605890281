package api

import (
	"bytes"
	"encoding/hex"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/gateway/config"
)

// A member-token key shorter than 32 bytes (or not hex) is never used to
// MAC tokens: a random key replaces it, so tokens forged with it do not
// verify, and an error is logged. serve refuses such a key at start.
func TestMemberTokenKeyShortNeverUsed(t *testing.T) {
	for _, key := range []string{"a", "0011", "00112233445566778899aabbccddeeff00112233445566778899aabbccddee",
		"a passphrase that is longer than thirty-two bytes"} {
		var logs strings.Builder
		cfg := config.Default()
		cfg.Auth.MemberTokenKey = config.Secret(key)
		got := memberTokenKey(cfg, slog.New(slog.NewTextHandler(&logs, nil)))
		// The key in use is 32 random bytes, not the configured text or
		// its hex decoding (a random key contains a one-byte key like "a"
		// by chance, so compare whole prefixes, not containment).
		decoded, _ := hex.DecodeString(key)
		if len(got) != 32 || bytes.HasPrefix(got, []byte(key)) || len(decoded) > 0 && bytes.HasPrefix(got, decoded) {
			t.Fatalf("key %q used: %x", key, got)
		}
		exp := time.Unix(1767225600, 0)
		s := &Server{tokenKey: got}
		forged := &Server{tokenKey: []byte(key)}
		if bytes.Equal([]byte(s.signMemberToken("mbr_1", scopeMember, exp)), []byte(forged.signMemberToken("mbr_1", scopeMember, exp))) {
			t.Fatalf("key %q: a token MACed with the short key verifies", key)
		}
		if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), "64 hex digits") {
			t.Fatalf("key %q: no error logged: %s", key, logs.String())
		}
	}
	const good = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
	cfg := config.Default()
	cfg.Auth.MemberTokenKey = good
	if got := memberTokenKey(cfg, nil); hex.EncodeToString(got) != good {
		t.Fatalf("32-byte key: %x", got)
	}
}
