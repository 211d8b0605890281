package evidence

import (
	"bytes"
	"crypto/ecdsa"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/sm3"
	"github.com/emmansun/gmsm/smx509"
)

// TimeLayout is the canonical checkpoint time: UTC, exactly six fractional
// digits (microseconds, the precision the database keeps).
const TimeLayout = "2006-01-02T15:04:05.000000Z"

// Checkpoint is a signed statement of the log's state: its first Size
// entries have Merkle root Root and hash-chain head ChainHead.
type Checkpoint struct {
	Origin    string    // identifies the log (e.g. "pay.example.com/lianmeng"); one line, no spaces
	Size      uint64    // number of entries
	Root      []byte    // RFC 6962 SM3 Merkle root of entries [0, Size)
	ChainHead []byte    // chain value after entry Size-1 (ChainGenesis if Size is 0)
	Time      time.Time // when sealed; the body carries it in UTC to the microsecond
	KeyID     string    // KeyID of the signing public key
}

// SignedCheckpoint is a checkpoint with its SM2 signature (ASN.1 DER) over
// the checkpoint body.
type SignedCheckpoint struct {
	Checkpoint
	Signature []byte
}

// Body returns the canonical text that is signed (see docs/evidence.md):
//
//	<origin>
//	<size, decimal>
//	<root, base64>
//	chain <chain head, base64>
//	time <TimeLayout>
//	key <key id>
//
// each line ending in "\n". The first three lines follow the C2SP
// tlog-checkpoint layout.
func (c Checkpoint) Body() ([]byte, error) {
	if err := checkToken("origin", c.Origin); err != nil {
		return nil, err
	}
	if err := checkToken("key id", c.KeyID); err != nil {
		return nil, err
	}
	if len(c.Root) != HashSize || len(c.ChainHead) != HashSize {
		return nil, fmt.Errorf("evidence: checkpoint: root and chain head must be %d bytes (got %d and %d)", HashSize, len(c.Root), len(c.ChainHead))
	}
	if c.Time.IsZero() {
		return nil, errors.New("evidence: checkpoint: zero time")
	}
	var b strings.Builder
	b.WriteString(c.Origin + "\n")
	b.WriteString(strconv.FormatUint(c.Size, 10) + "\n")
	b.WriteString(base64.StdEncoding.EncodeToString(c.Root) + "\n")
	b.WriteString("chain " + base64.StdEncoding.EncodeToString(c.ChainHead) + "\n")
	b.WriteString("time " + c.Time.UTC().Truncate(time.Microsecond).Format(TimeLayout) + "\n")
	b.WriteString("key " + c.KeyID + "\n")
	return []byte(b.String()), nil
}

func checkToken(what, s string) error {
	if s == "" {
		return fmt.Errorf("evidence: checkpoint: empty %s", what)
	}
	for _, r := range s {
		if r <= ' ' || r == 0x7f || r == '—' {
			return fmt.Errorf("evidence: checkpoint: %s %q contains whitespace or control characters", what, s)
		}
	}
	return nil
}

// ParseCheckpoint parses a checkpoint body. Only canonical bodies (those that
// Body would produce) are accepted.
func ParseCheckpoint(body []byte) (Checkpoint, error) {
	text := string(body)
	if !strings.HasSuffix(text, "\n") {
		return Checkpoint{}, errors.New("evidence: parse checkpoint: missing final newline")
	}
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if len(lines) != 6 {
		return Checkpoint{}, fmt.Errorf("evidence: parse checkpoint: %d lines, want 6", len(lines))
	}
	var c Checkpoint
	var err error
	c.Origin = lines[0]
	if c.Size, err = strconv.ParseUint(lines[1], 10, 64); err != nil {
		return Checkpoint{}, fmt.Errorf("evidence: parse checkpoint size: %w", err)
	}
	if c.Root, err = base64.StdEncoding.DecodeString(lines[2]); err != nil {
		return Checkpoint{}, fmt.Errorf("evidence: parse checkpoint root: %w", err)
	}
	field := func(i int, name string) (string, error) {
		v, ok := strings.CutPrefix(lines[i], name+" ")
		if !ok {
			return "", fmt.Errorf("evidence: parse checkpoint: line %d does not start with %q", i+1, name+" ")
		}
		return v, nil
	}
	v, err := field(3, "chain")
	if err != nil {
		return Checkpoint{}, err
	}
	if c.ChainHead, err = base64.StdEncoding.DecodeString(v); err != nil {
		return Checkpoint{}, fmt.Errorf("evidence: parse checkpoint chain head: %w", err)
	}
	if v, err = field(4, "time"); err != nil {
		return Checkpoint{}, err
	}
	if c.Time, err = time.Parse(TimeLayout, v); err != nil {
		return Checkpoint{}, fmt.Errorf("evidence: parse checkpoint time: %w", err)
	}
	if c.KeyID, err = field(5, "key"); err != nil {
		return Checkpoint{}, err
	}
	again, err := c.Body()
	if err != nil {
		return Checkpoint{}, fmt.Errorf("evidence: parse checkpoint: %w", err)
	}
	if !bytes.Equal(again, body) {
		return Checkpoint{}, errors.New("evidence: parse checkpoint: body is not canonical")
	}
	return c, nil
}

// sigPrefix starts the signature line of a signed checkpoint, after the
// blank line that ends the body (the separator of signed notes).
const sigPrefix = "— "

// Marshal returns the transport form of a signed checkpoint: the body, an
// empty line, then "— <key id> <base64 signature>\n".
func (s SignedCheckpoint) Marshal() ([]byte, error) {
	body, err := s.Body()
	if err != nil {
		return nil, err
	}
	if len(s.Signature) == 0 {
		return nil, errors.New("evidence: signed checkpoint has no signature")
	}
	out := append(body, '\n')
	out = append(out, sigPrefix+s.KeyID+" "+base64.StdEncoding.EncodeToString(s.Signature)+"\n"...)
	return out, nil
}

// ParseSignedCheckpoint parses the form produced by SignedCheckpoint.Marshal.
// It does not verify the signature.
func ParseSignedCheckpoint(text []byte) (SignedCheckpoint, error) {
	body, sigLine, ok := bytes.Cut(text, []byte("\n\n"))
	if !ok {
		return SignedCheckpoint{}, errors.New("evidence: parse signed checkpoint: no blank line before signature")
	}
	body = append(body, '\n')
	cp, err := ParseCheckpoint(body)
	if err != nil {
		return SignedCheckpoint{}, err
	}
	line, ok := strings.CutSuffix(string(sigLine), "\n")
	if !ok {
		return SignedCheckpoint{}, errors.New("evidence: parse signed checkpoint: missing final newline")
	}
	rest, ok := strings.CutPrefix(line, sigPrefix)
	if !ok {
		return SignedCheckpoint{}, errors.New("evidence: parse signed checkpoint: signature line must start with \"— \"")
	}
	keyID, sig64, ok := strings.Cut(rest, " ")
	if !ok || keyID != cp.KeyID {
		return SignedCheckpoint{}, fmt.Errorf("evidence: parse signed checkpoint: signature line names key %q, body says %q", keyID, cp.KeyID)
	}
	sig, err := base64.StdEncoding.DecodeString(sig64)
	if err != nil || len(sig) == 0 {
		return SignedCheckpoint{}, fmt.Errorf("evidence: parse signed checkpoint signature: bad base64")
	}
	// The decoder skips '\r' and '\n' and ignores non-zero padding bits:
	// accept only the one encoding Marshal produces, so a signed checkpoint
	// has exactly one transport form.
	if base64.StdEncoding.EncodeToString(sig) != sig64 {
		return SignedCheckpoint{}, errors.New("evidence: parse signed checkpoint signature: not canonical base64")
	}
	return SignedCheckpoint{Checkpoint: cp, Signature: sig}, nil
}

// KeyID returns the identifier of an SM2 public key: the lowercase hex of the
// first 8 bytes of SM3 over its PKIX (SubjectPublicKeyInfo) DER encoding.
func KeyID(pub *ecdsa.PublicKey) (string, error) {
	der, err := smx509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("evidence: key id: marshal public key: %w", err)
	}
	h := sm3.Sum(der)
	return hex.EncodeToString(h[:8]), nil
}

// ParsePublicKeyPEM parses a PEM "PUBLIC KEY" block (PKIX) holding an SM2
// public key, as published by the operator.
func ParsePublicKeyPEM(data []byte) (*ecdsa.PublicKey, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("evidence: parse public key: no PEM block found")
	}
	if block.Type != "PUBLIC KEY" {
		return nil, fmt.Errorf("evidence: parse public key: PEM block is %q, want \"PUBLIC KEY\"", block.Type)
	}
	key, err := smx509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("evidence: parse public key: %w", err)
	}
	pub, ok := key.(*ecdsa.PublicKey)
	if !ok || !sm2.IsSM2PublicKey(pub) {
		return nil, fmt.Errorf("evidence: parse public key: %T is not an SM2 public key", key)
	}
	return pub, nil
}

// ErrBadSignature is returned (wrapped) when a checkpoint signature does not
// verify.
var ErrBadSignature = errors.New("evidence: checkpoint signature does not verify")

// VerifyCheckpoint checks that sc names pub's key id and carries a valid SM2
// signature (SM3, default user id) by pub over its body.
func VerifyCheckpoint(pub *ecdsa.PublicKey, sc SignedCheckpoint) error {
	id, err := KeyID(pub)
	if err != nil {
		return err
	}
	if sc.KeyID != id {
		return fmt.Errorf("evidence: checkpoint signed by key %q, verifying with key %q", sc.KeyID, id)
	}
	body, err := sc.Body()
	if err != nil {
		return err
	}
	if !sm2.VerifyASN1WithSM2(pub, nil, body, sc.Signature) {
		return fmt.Errorf("%w (size %d, key %s)", ErrBadSignature, sc.Size, id)
	}
	return nil
}
