// Package pii protects members' personal data at rest (DESIGN §9): SM4-GCM
// encryption under rotating key ids, an HMAC-SM3 blind index for equality
// lookups, phone-number normalisation and masking for API responses. The
// store seals merchants' HMAC credential secrets with the same keyring.
//
// Keys come from configuration strings; no key material ever appears in an
// error message.
package pii

import (
	"bytes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/emmansun/gmsm/sm3"
	"github.com/emmansun/gmsm/sm4"
)

// ciphertextVersion is the first byte of every ciphertext.
const ciphertextVersion byte = 1

const (
	keySize      = 16 // SM4
	nonceSize    = 12 // GCM standard nonce
	tagSize      = 16
	maxKeyIDLen  = 32
	minIndexKey  = 16
	maxIndexKey  = 64
	indexKeyHint = "index key: want 32 to 128 hex digits (16 to 64 random bytes)"
)

// Keyring holds the SM4 data keys, by id, and the blind-index key. It is
// immutable and safe for concurrent use.
type Keyring struct {
	active   string
	aeads    map[string]cipher.AEAD
	ids      []string
	indexKey []byte
}

// NewKeyring parses the encryption keys and the index key.
//
// encKeys is a comma-separated list of "id:hex" entries, hex being 32 hex
// digits (a 16-byte SM4 key); the first entry is the active key used for new
// ciphertexts, the others only decrypt older rows. Ids are 1–32 characters
// from [A-Za-z0-9._-]. Example: "k2026b:00112233445566778899aabbccddeeff,k2026a:…".
//
// indexKey is 32–128 hex digits. It must never change while indexes exist:
// changing it means recomputing every stored index.
func NewKeyring(encKeys, indexKey string) (*Keyring, error) {
	k := &Keyring{aeads: map[string]cipher.AEAD{}}
	raw := map[string][]byte{}
	for i, entry := range strings.Split(encKeys, ",") {
		n := i + 1
		entry = strings.TrimSpace(entry)
		if entry == "" {
			if strings.TrimSpace(encKeys) == "" {
				return nil, errors.New("pii: no encryption keys configured: want \"id:hex32[,id:hex32...]\"")
			}
			return nil, fmt.Errorf("pii: encryption key entry %d is empty (stray comma?)", n)
		}
		id, hexKey, ok := strings.Cut(entry, ":")
		if !ok {
			return nil, fmt.Errorf("pii: encryption key entry %d has no ':': want id:hex32", n)
		}
		if err := checkKeyID(id); err != nil {
			return nil, fmt.Errorf("pii: encryption key entry %d: %w", n, err)
		}
		if _, dup := k.aeads[id]; dup {
			return nil, fmt.Errorf("pii: encryption key entry %d uses an id that appears twice", n)
		}
		if len(hexKey) != 2*keySize {
			return nil, fmt.Errorf("pii: encryption key entry %d: want id:hex32 (a 16-byte SM4 key in hex), got %d characters after ':'", n, len(hexKey))
		}
		key, err := hex.DecodeString(hexKey)
		if err != nil {
			return nil, fmt.Errorf("pii: encryption key entry %d: the key is not hexadecimal", n)
		}
		block, err := sm4.NewCipher(key)
		if err != nil {
			return nil, fmt.Errorf("pii: encryption key entry %d: %w", n, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("pii: encryption key entry %d: %w", n, err)
		}
		if k.active == "" {
			k.active = id
		}
		k.aeads[id] = aead
		k.ids = append(k.ids, id)
		raw[id] = key
	}
	indexKey = strings.TrimSpace(indexKey)
	if indexKey == "" {
		return nil, errors.New("pii: no index key configured: " + indexKeyHint)
	}
	if len(indexKey)%2 != 0 || len(indexKey) < 2*minIndexKey || len(indexKey) > 2*maxIndexKey {
		return nil, fmt.Errorf("pii: %s, got %d characters", indexKeyHint, len(indexKey))
	}
	ik, err := hex.DecodeString(indexKey)
	if err != nil {
		return nil, errors.New("pii: index key: not hexadecimal")
	}
	for id, key := range raw {
		if bytes.Equal(key, ik) {
			return nil, fmt.Errorf("pii: index key equals encryption key %q; use a separate random key", id)
		}
	}
	k.indexKey = ik
	return k, nil
}

func checkKeyID(id string) error {
	if id == "" || len(id) > maxKeyIDLen {
		return fmt.Errorf("key id must be 1 to %d characters", maxKeyIDLen)
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return fmt.Errorf("key id %q: only letters, digits, '.', '_' and '-' are allowed", id)
		}
	}
	return nil
}

// ActiveKeyID returns the id of the key new ciphertexts are sealed with.
func (k *Keyring) ActiveKeyID() string { return k.active }

// KeyIDs returns all key ids, active first.
func (k *Keyring) KeyIDs() []string { return append([]string(nil), k.ids...) }

// header returns version || len(id) || id, which starts the ciphertext and
// is authenticated with it.
func header(id string) []byte {
	h := make([]byte, 0, 2+len(id)+nonceSize)
	h = append(h, ciphertextVersion, byte(len(id)))
	return append(h, id...)
}

// Encrypt seals plaintext with the active key under a fresh random nonce.
// The result is version(1) || len(id)(1) || id || nonce(12) || SM4-GCM
// ciphertext and tag(16); the version byte, key id and associatedData are
// authenticated. associatedData binds the ciphertext to its place (e.g.
// "member:42:phone"), so it cannot be copied onto another row.
func (k *Keyring) Encrypt(plaintext, associatedData []byte) []byte {
	hdr := header(k.active)
	out := make([]byte, len(hdr), len(hdr)+nonceSize+len(plaintext)+tagSize)
	copy(out, hdr)
	nonce := out[len(hdr) : len(hdr)+nonceSize]
	out = out[:len(hdr)+nonceSize]
	rand.Read(nonce) // never fails (crypto/rand since Go 1.24)
	return k.aeads[k.active].Seal(out, nonce, plaintext, aad(hdr, associatedData))
}

func aad(hdr, associatedData []byte) []byte {
	// hdr is self-delimiting, so hdr||associatedData is unambiguous.
	return append(bytes.Clone(hdr), associatedData...)
}

// ErrDecrypt is returned (wrapped) when a ciphertext fails authentication.
var ErrDecrypt = errors.New("pii: decryption failed: wrong associated data, wrong key or corrupted ciphertext")

// Decrypt opens a ciphertext produced by Encrypt under any key in the ring.
func (k *Keyring) Decrypt(ciphertext, associatedData []byte) ([]byte, error) {
	id, hdrLen, err := parseHeader(ciphertext)
	if err != nil {
		return nil, err
	}
	aead, ok := k.aeads[id]
	if !ok {
		return nil, fmt.Errorf("pii: ciphertext uses key id %q, which is not configured (keep retired keys until rotation has finished)", id)
	}
	nonce := ciphertext[hdrLen : hdrLen+nonceSize]
	pt, err := aead.Open(nil, nonce, ciphertext[hdrLen+nonceSize:], aad(ciphertext[:hdrLen], associatedData))
	if err != nil {
		return nil, fmt.Errorf("%w (key id %q)", ErrDecrypt, id)
	}
	return pt, nil
}

// KeyIDOf returns the key id a ciphertext was sealed with.
func KeyIDOf(ciphertext []byte) (string, error) {
	id, _, err := parseHeader(ciphertext)
	return id, err
}

func parseHeader(c []byte) (id string, hdrLen int, err error) {
	if len(c) < 2 {
		return "", 0, errors.New("pii: ciphertext too short")
	}
	if c[0] != ciphertextVersion {
		return "", 0, fmt.Errorf("pii: unknown ciphertext version %d", c[0])
	}
	hdrLen = 2 + int(c[1])
	if len(c) < hdrLen+nonceSize+tagSize {
		return "", 0, errors.New("pii: ciphertext too short")
	}
	id = string(c[2:hdrLen])
	if err := checkKeyID(id); err != nil {
		return "", 0, fmt.Errorf("pii: malformed ciphertext: %w", err)
	}
	return id, hdrLen, nil
}

// NeedsRotation reports whether a ciphertext should be re-encrypted: it was
// not sealed with the active key (or cannot be parsed at all).
func (k *Keyring) NeedsRotation(ciphertext []byte) bool {
	id, err := KeyIDOf(ciphertext)
	return err != nil || id != k.active
}

// Reencrypt decrypts with whichever key sealed the ciphertext and encrypts
// again with the active key; for a background rotation job.
func (k *Keyring) Reencrypt(ciphertext, associatedData []byte) ([]byte, error) {
	pt, err := k.Decrypt(ciphertext, associatedData)
	if err != nil {
		return nil, err
	}
	return k.Encrypt(pt, associatedData), nil
}

// Index returns the blind index of value, HMAC-SM3(indexKey, value), for
// equality lookups on encrypted columns. Normalise the value first (see
// IndexPhone); when indexing several kinds of identifier in one column,
// prefix each with its kind (e.g. "openid:...") so they cannot collide.
func (k *Keyring) Index(value string) []byte {
	m := hmac.New(sm3.New, k.indexKey)
	m.Write([]byte(value))
	return m.Sum(nil)
}

// IndexPhone normalises a phone number (NormalizePhone) and returns the
// normalised form and its blind index.
func (k *Keyring) IndexPhone(raw string) (e164 string, index []byte, err error) {
	e164, err = NormalizePhone(raw)
	if err != nil {
		return "", nil, err
	}
	return e164, k.Index(e164), nil
}
