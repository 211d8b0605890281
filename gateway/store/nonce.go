package store

import (
	"crypto/sha256"
	"encoding/binary"
)

// A used request nonce (table request_nonce_hashes, migration 00085) is
// kept as nonceHash of its key id and nonce, with the expiry after which
// it may be purged. Nonces used before 00085 stay in request_nonces, by
// their text, still refused until they expire and then purged; nothing
// writes that table any more.

// nonceDomain separates these hashes from every other SHA-256 the store
// keeps. Changing it, or the encoding below, forgets every nonce used
// within the current window: a replay would be accepted once.
const nonceDomain = "lianmeng request nonce v1\x00"

// nonceHash names a used nonce: the first 16 bytes of SHA-256 over
// nonceDomain, then the key id and then the nonce, each preceded by its
// length as 4 bytes big-endian, so that no two (key id, nonce) pairs encode
// alike (("ab", "c") and ("a", "bc") differ). A replay always hashes to
// the same value; a collision (2^64 nonces for an even chance at 128 bits)
// could only refuse a fresh request, never accept a replay.
func nonceHash(keyID, nonce string) (h [16]byte) {
	var buf [128]byte
	b := append(buf[:0], nonceDomain...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(keyID)))
	b = append(b, keyID...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(nonce)))
	b = append(b, nonce...)
	s := sha256.Sum256(b)
	copy(h[:], s[:16])
	return h
}
