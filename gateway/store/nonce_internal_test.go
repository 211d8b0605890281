package store

import (
	"encoding/hex"
	"testing"
)

// nonceHash is stored: its encoding may not change under a running
// window of nonces, and no two (key id, nonce) pairs may share an encoding.
func TestNonceHashEncoding(t *testing.T) {
	// Pinned (computed outside Go): SHA-256 over the domain, then each
	// part after its 4-byte big-endian length, first 16 bytes.
	h := nonceHash("key_a", "nonce-0000000001")
	if got, want := hex.EncodeToString(h[:]), "3433eaa74779d38aea97b05eaf9ddff5"; got != want {
		t.Fatalf("nonceHash(key_a, nonce-0000000001) = %s, want %s", got, want)
	}
	// Every split of one string into (key id, nonce) is a different pair,
	// including splits around a NUL (the separator the batch's map used
	// to join them with) and around bytes that look like a length.
	seen := map[[16]byte]string{}
	for _, s := range []string{"abc", "key_a\x00nonce", "a\x00\x00\x00\x01b", "\x00\x00\x00\x00", ""} {
		for i := 0; i <= len(s); i++ {
			k, n := s[:i], s[i:]
			h := nonceHash(k, n)
			if prev, ok := seen[h]; ok {
				t.Fatalf("(%q, %q) hashes as %s", k, n, prev)
			}
			seen[h] = k + " | " + n
		}
	}
	if nonceHash("ab", "c") == nonceHash("a", "bc") {
		t.Fatal(`("ab", "c") and ("a", "bc") hash alike`)
	}
}
