// Package signature defines how merchant systems sign requests to the
// Lianmeng gateway, and how the gateway verifies them.
//
// A request carries five headers:
//
//	X-Lianmeng-Merchant:  the merchant id, e.g. mch_0123456789abcdef0123
//	X-Lianmeng-Key:       the credential id, e.g. key_0123456789abcdef0123
//	X-Lianmeng-Timestamp: decimal Unix seconds (digits only: no sign, no
//	                      leading zeros, no fraction), within ±5 minutes of
//	                      the gateway clock
//	X-Lianmeng-Nonce:     16–64 characters of [A-Za-z0-9_-], used once per
//	                      key whatever the timestamp
//	X-Lianmeng-Signature: base64 (standard, padded) of the signature
//
// Each header is sent once, and the body is sent as signed: uncompressed
// (the gateway refuses a request Content-Encoding).
//
// The signature covers the canonical string, eight lines joined by "\n"
// with no trailing newline:
//
//	LIANMENG1
//	<merchant id>
//	<key id>
//	<METHOD, upper case>
//	<request target: path plus "?" and raw query if any, exactly as sent>
//	<timestamp>
//	<nonce>
//	<lowercase hex SHA-256 of the raw body; of the empty string if no body>
//
// Algorithms: "ed25519" (signature of the canonical string's bytes),
// "sm2" (SM2 with SM3 and the default user id 1234567812345678, ASN.1 DER
// signature) and "hmac-sha256" (HMAC-SHA256 keyed with the base64-decoded
// shared secret).
package signature

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"
	"sync"

	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/smx509"
)

// Header names.
const (
	HeaderMerchant  = "X-Lianmeng-Merchant"
	HeaderKey       = "X-Lianmeng-Key"
	HeaderTimestamp = "X-Lianmeng-Timestamp"
	HeaderNonce     = "X-Lianmeng-Nonce"
	HeaderSignature = "X-Lianmeng-Signature"
)

// Algorithms.
const (
	Ed25519    = "ed25519"
	SM2        = "sm2"
	HMACSHA256 = "hmac-sha256"
)

// Version is the first line of the canonical string.
const Version = "LIANMENG1"

// ErrBadSignature is returned when a signature does not verify.
var ErrBadSignature = errors.New("signature does not verify")

// CanonicalString returns the string a request's signature covers.
func CanonicalString(merchantID, keyID, method, target string, timestamp int64, nonce string, body []byte) string {
	// One allocation when the string fits the buffer: every request signs
	// and verifies one.
	var buf [512]byte
	return string(AppendCanonical(buf[:0], merchantID, keyID, method, target, timestamp, nonce, body))
}

// AppendCanonical appends CanonicalString's bytes to dst, for callers that
// sign into reused buffers.
func AppendCanonical(dst []byte, merchantID, keyID, method, target string, timestamp int64, nonce string, body []byte) []byte {
	sum := sha256.Sum256(body)
	for i := 0; i < len(method); i++ {
		if c := method[i]; c < 'A' || c > 'Z' { // usually upper case already: no copy
			method = strings.ToUpper(method)
			break
		}
	}
	for _, part := range [...]string{Version, merchantID, keyID, method, target} {
		dst = append(append(dst, part...), '\n')
	}
	dst = append(strconv.AppendInt(dst, timestamp, 10), '\n')
	dst = append(append(dst, nonce...), '\n')
	return hex.AppendEncode(dst, sum[:])
}

// ValidNonce reports whether n has the allowed length and alphabet.
func ValidNonce(n string) bool {
	if len(n) < 16 || len(n) > 64 {
		return false
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// NewNonce returns a random 32-character nonce.
func NewNonce() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("signature: crypto/rand failed: " + err.Error())
	}
	return hex.EncodeToString(b[:])
}

// Signer signs canonical strings with one credential.
type Signer interface {
	KeyID() string
	Sign(canonical string) (string, error)
}

// AppendSigner is a Signer that can also append a signature (base64, as
// Sign returns it) of a canonical string held in bytes to dst, without
// allocating: the hmac-sha256 signer is one.
type AppendSigner interface {
	Signer
	AppendSign(dst, canonical []byte) ([]byte, error)
}

type hmacSigner struct {
	id     string
	secret []byte
	macs   *sync.Pool // keyed hash.Hash values, Reset between uses
}

// NewHMACSigner signs with a base64 shared secret as issued by the gateway.
func NewHMACSigner(keyID, secretBase64 string) (Signer, error) {
	secret, err := base64.StdEncoding.DecodeString(secretBase64)
	if err != nil || len(secret) < 16 {
		return nil, errors.New("signature: hmac secret must be base64 of at least 16 bytes")
	}
	return hmacSigner{keyID, secret, new(sync.Pool)}, nil
}

func (s hmacSigner) KeyID() string { return s.id }
func (s hmacSigner) Sign(c string) (string, error) {
	var sum [sha256.Size]byte
	return base64.StdEncoding.EncodeToString(s.mac([]byte(c), sum[:0])), nil
}

func (s hmacSigner) AppendSign(dst, c []byte) ([]byte, error) {
	var sum [sha256.Size]byte
	return base64.StdEncoding.AppendEncode(dst, s.mac(c, sum[:0])), nil
}

// mac appends the HMAC-SHA256 of c to dst, with a keyed hash from the
// pool (hmac.New costs more than the hash of a canonical string).
func (s hmacSigner) mac(c, dst []byte) []byte {
	m, _ := s.macs.Get().(hash.Hash)
	if m == nil {
		m = hmac.New(sha256.New, s.secret)
	}
	m.Write(c)
	dst = m.Sum(dst)
	m.Reset()
	s.macs.Put(m)
	return dst
}

type ed25519Signer struct {
	id  string
	key ed25519.PrivateKey
}

// NewEd25519Signer signs with an Ed25519 private key.
func NewEd25519Signer(keyID string, key ed25519.PrivateKey) Signer { return ed25519Signer{keyID, key} }

func (s ed25519Signer) KeyID() string { return s.id }
func (s ed25519Signer) Sign(c string) (string, error) {
	return base64.StdEncoding.EncodeToString(ed25519.Sign(s.key, []byte(c))), nil
}

type sm2Signer struct {
	id  string
	key *sm2.PrivateKey
}

// NewSM2Signer signs with an SM2 private key (SM3 digest, default user id).
func NewSM2Signer(keyID string, key *sm2.PrivateKey) Signer { return sm2Signer{keyID, key} }

func (s sm2Signer) KeyID() string { return s.id }
func (s sm2Signer) Sign(c string) (string, error) {
	sig, err := s.key.Sign(rand.Reader, []byte(c), sm2.DefaultSM2SignerOpts)
	if err != nil {
		return "", fmt.Errorf("signature: sm2 sign: %w", err)
	}
	return base64.StdEncoding.EncodeToString(sig), nil
}

// ParsePublicKey parses a PKIX PEM public key of algorithm.
func ParsePublicKey(algorithm, pemText string) (crypto.PublicKey, error) {
	block, _ := pem.Decode([]byte(pemText))
	if block == nil || block.Type != "PUBLIC KEY" {
		return nil, errors.New("not a PEM \"PUBLIC KEY\" block")
	}
	switch algorithm {
	case Ed25519:
		k, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse ed25519 public key: %w", err)
		}
		ek, ok := k.(ed25519.PublicKey)
		if !ok {
			return nil, errors.New("public key is not ed25519")
		}
		return ek, nil
	case SM2:
		k, err := smx509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse sm2 public key: %w", err)
		}
		ek, ok := k.(*ecdsa.PublicKey)
		if !ok || ek.Curve != sm2.P256() {
			return nil, errors.New("public key is not on the SM2 curve")
		}
		return ek, nil
	}
	return nil, fmt.Errorf("unknown algorithm %q", algorithm)
}

// Verify checks sig (base64) over canonical with keyMaterial: the PKIX PEM
// public key for ed25519/sm2, the base64 secret for hmac-sha256.
func Verify(algorithm, keyMaterial, canonical, sig string) error {
	if _, err := base64.StdEncoding.DecodeString(sig); err != nil {
		return ErrBadSignature // before the key, as always
	}
	v, err := NewVerifier(algorithm, keyMaterial)
	if err != nil {
		return err
	}
	return v.Verify(canonical, sig)
}

// Verifier checks signatures made with one credential. Its key material
// is decoded once (a PEM public key, a base64 secret), so a verifier kept
// with a cached credential verifies each request without parsing it
// again. It is safe for concurrent use.
type Verifier struct {
	algorithm string
	hmac      hmacSigner        // hmac-sha256
	ed        ed25519.PublicKey // ed25519
	sm        *ecdsa.PublicKey  // sm2
}

// NewVerifier decodes keyMaterial for algorithm as Verify takes it.
func NewVerifier(algorithm, keyMaterial string) (*Verifier, error) {
	v := &Verifier{algorithm: algorithm}
	switch algorithm {
	case HMACSHA256:
		s, err := NewHMACSigner("", keyMaterial)
		if err != nil {
			return nil, err
		}
		v.hmac = s.(hmacSigner)
	case Ed25519, SM2:
		pub, err := ParsePublicKey(algorithm, keyMaterial)
		if err != nil {
			return nil, err
		}
		if algorithm == Ed25519 {
			v.ed = pub.(ed25519.PublicKey)
		} else {
			v.sm = pub.(*ecdsa.PublicKey)
		}
	default:
		return nil, fmt.Errorf("unknown algorithm %q", algorithm)
	}
	return v, nil
}

// Verify checks sig (base64, standard and padded) over canonical.
func (v *Verifier) Verify(canonical, sig string) error {
	var buf [96]byte // every signature of these algorithms fits (SM2 DER is at most 72 bytes)
	if base64.StdEncoding.DecodedLen(len(sig)) > len(buf) {
		return ErrBadSignature
	}
	n, err := base64.StdEncoding.Decode(buf[:], []byte(sig))
	if err != nil {
		return ErrBadSignature
	}
	raw := buf[:n]
	switch v.algorithm {
	case HMACSHA256:
		var sum [sha256.Size]byte
		if !hmac.Equal(raw, v.hmac.mac([]byte(canonical), sum[:0])) {
			return ErrBadSignature
		}
		return nil
	case Ed25519:
		if !ed25519.Verify(v.ed, []byte(canonical), raw) {
			return ErrBadSignature
		}
		return nil
	case SM2:
		if !sm2.VerifyASN1WithSM2(v.sm, nil, []byte(canonical), raw) {
			return ErrBadSignature
		}
		return nil
	}
	return fmt.Errorf("unknown algorithm %q", v.algorithm)
}

// MarshalPublicKey returns the PKIX PEM form of an ed25519 or SM2 public key.
func MarshalPublicKey(pub crypto.PublicKey) (string, error) {
	var der []byte
	var err error
	switch k := pub.(type) {
	case ed25519.PublicKey:
		der, err = x509.MarshalPKIXPublicKey(k)
	case *ecdsa.PublicKey:
		der, err = smx509.MarshalPKIXPublicKey(k)
	default:
		return "", fmt.Errorf("signature: unsupported public key %T", pub)
	}
	if err != nil {
		return "", err
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})), nil
}
