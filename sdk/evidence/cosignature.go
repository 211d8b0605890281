package evidence

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Witness cosignatures (C2SP tlog-cosignature, docs/evidence.md §14): a
// witness that has verified a checkpoint extends the last one it saw signs,
// with Ed25519, the message
//
//	cosignature/v1
//	time <seconds since the epoch>
//	<checkpoint body>
//
// and answers a signed-note signature line
//
//	— <witness name> base64(key hash[4] || u64(seconds) || signature[64])
//
// where key hash = SHA-256(name || 0x0A || 0x04 || public key)[:4]. Its
// verifier key is published as "<name>+<hex key hash>+base64(0x04 || public key)".

// cosignatureAlg is the signed-note signature type of cosignature/v1.
const cosignatureAlg = 0x04

// WitnessKey is a witness's public key with its name.
type WitnessKey struct {
	Name string
	Pub  ed25519.PublicKey
}

func witnessKeyHash(name string, pub ed25519.PublicKey) [4]byte {
	h := sha256.New()
	h.Write([]byte(name))
	h.Write([]byte{0x0a, cosignatureAlg})
	h.Write(pub)
	var out [4]byte
	copy(out[:], h.Sum(nil))
	return out
}

// String returns the verifier key: name+hex key hash+base64(0x04||key).
func (k WitnessKey) String() string {
	kh := witnessKeyHash(k.Name, k.Pub)
	return fmt.Sprintf("%s+%x+%s", k.Name, kh[:], base64.StdEncoding.EncodeToString(append([]byte{cosignatureAlg}, k.Pub...)))
}

// ParseWitnessKey parses a verifier key written by WitnessKey.String.
func ParseWitnessKey(vkey string) (WitnessKey, error) {
	parts := strings.SplitN(vkey, "+", 3) // the base64 key may contain "+"
	if len(parts) != 3 || !validNoteName(parts[0]) {
		return WitnessKey{}, errors.New("evidence: witness key: want <name>+<hex key hash>+<base64 key>")
	}
	raw, err := base64.StdEncoding.DecodeString(parts[2])
	if err != nil || len(raw) != 1+ed25519.PublicKeySize || raw[0] != cosignatureAlg {
		return WitnessKey{}, errors.New("evidence: witness key: not a cosignature/v1 Ed25519 key")
	}
	k := WitnessKey{Name: parts[0], Pub: ed25519.PublicKey(raw[1:])}
	kh := witnessKeyHash(k.Name, k.Pub)
	if parts[1] != fmt.Sprintf("%x", kh[:]) {
		return WitnessKey{}, errors.New("evidence: witness key: key hash does not match the key")
	}
	return k, nil
}

// validNoteName: a signed-note key name is non-empty, with no spaces, no
// "+" and no control characters.
func validNoteName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r <= ' ' || r == '+' || r == 0x7f {
			return false
		}
	}
	return true
}

func cosignedMessage(body []byte, t uint64) []byte {
	var b bytes.Buffer
	b.WriteString("cosignature/v1\ntime ")
	b.WriteString(strconv.FormatUint(t, 10))
	b.WriteByte('\n')
	b.Write(body)
	return b.Bytes()
}

// Cosign returns the cosignature line ("— name base64\n") of a witness
// with key priv, named name, over checkpoint body at time t (whole seconds).
func Cosign(name string, priv ed25519.PrivateKey, body []byte, t time.Time) (string, error) {
	if !validNoteName(name) {
		return "", fmt.Errorf("evidence: cosign: invalid witness name %q", name)
	}
	secs := uint64(t.Unix())
	sig := ed25519.Sign(priv, cosignedMessage(body, secs))
	kh := witnessKeyHash(name, priv.Public().(ed25519.PublicKey))
	raw := append(kh[:], binary.BigEndian.AppendUint64(nil, secs)...)
	raw = append(raw, sig...)
	return sigPrefix + name + " " + base64.StdEncoding.EncodeToString(raw) + "\n", nil
}

// ErrBadCosignature: the line is not a valid cosignature by that witness
// over that checkpoint body.
var ErrBadCosignature = errors.New("evidence: cosignature does not verify")

// VerifyCosignature checks one cosignature line ("— name base64", with or
// without the final newline) by witness k over checkpoint body, and
// returns the time the witness cosigned it.
func VerifyCosignature(k WitnessKey, body []byte, line string) (time.Time, error) {
	rest, ok := strings.CutPrefix(strings.TrimSuffix(line, "\n"), sigPrefix)
	if !ok {
		return time.Time{}, fmt.Errorf("%w: not a signature line", ErrBadCosignature)
	}
	name, b64, ok := strings.Cut(rest, " ")
	if !ok || name != k.Name {
		return time.Time{}, fmt.Errorf("%w: not signed by %s", ErrBadCosignature, k.Name)
	}
	raw, err := base64.StdEncoding.Strict().DecodeString(b64)
	if err != nil || len(raw) != 4+8+ed25519.SignatureSize {
		return time.Time{}, fmt.Errorf("%w: malformed", ErrBadCosignature)
	}
	if kh := witnessKeyHash(k.Name, k.Pub); !bytes.Equal(raw[:4], kh[:]) {
		return time.Time{}, fmt.Errorf("%w: another key of %s", ErrBadCosignature, k.Name)
	}
	secs := binary.BigEndian.Uint64(raw[4:12])
	if secs > 1<<62 || !ed25519.Verify(k.Pub, cosignedMessage(body, secs), raw[12:]) {
		return time.Time{}, ErrBadCosignature
	}
	return time.Unix(int64(secs), 0).UTC(), nil
}
