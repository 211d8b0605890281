package evidence

import (
	"crypto/ecdsa"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/smx509"

	"github.com/lianmeng/lianmeng/gateway/internal/keyfile"
	sdk "github.com/lianmeng/lianmeng/sdk/evidence"
)

// Key file names used by LoadOrCreateKey.
const (
	PrivateKeyFile = "checkpoint-sm2.key" // PKCS#8 PEM, mode 0600
	PublicKeyFile  = "checkpoint-sm2.pub" // PKIX PEM, for publication
)

// GenerateKey returns a new SM2 signing key.
func GenerateKey() (*sm2.PrivateKey, error) {
	k, err := sm2.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("evidence: generate SM2 key: %w", err)
	}
	return k, nil
}

// MarshalPrivateKeyPEM encodes key as a PKCS#8 "PRIVATE KEY" PEM block.
func MarshalPrivateKeyPEM(key *sm2.PrivateKey) ([]byte, error) {
	der, err := smx509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("evidence: marshal SM2 private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// ParsePrivateKeyPEM decodes a PKCS#8 "PRIVATE KEY" PEM block holding an SM2
// key. Errors never include key material.
func ParsePrivateKeyPEM(data []byte) (*sm2.PrivateKey, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("evidence: parse private key: no PEM block found (want PKCS#8 \"PRIVATE KEY\")")
	}
	if block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("evidence: parse private key: PEM block is %q, want PKCS#8 \"PRIVATE KEY\"", block.Type)
	}
	key, err := smx509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("evidence: parse private key: %w", err)
	}
	k, ok := key.(*sm2.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("evidence: parse private key: %T is not an SM2 key", key)
	}
	return k, nil
}

// MarshalPublicKeyPEM encodes pub as a PKIX "PUBLIC KEY" PEM block, the form
// the operator publishes and sdk/evidence.ParsePublicKeyPEM reads.
func MarshalPublicKeyPEM(pub *ecdsa.PublicKey) ([]byte, error) {
	der, err := smx509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("evidence: marshal SM2 public key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// LoadOrCreateKey reads dir/checkpoint-sm2.key, or, if it does not exist,
// generates a key, writes it there (0600, directory 0700) with its public
// key beside it, and returns generated=true so the caller can warn loudly:
// a development key on disk is not how a production signing key should be
// kept. Two processes racing here end up with the same key. A key file
// readable by group or others is refused.
func LoadOrCreateKey(dir string) (key *sm2.PrivateKey, generated bool, err error) {
	path := filepath.Join(dir, PrivateKeyFile)
	if key, err := loadKey(path); err == nil || !errors.Is(err, fs.ErrNotExist) {
		return key, false, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, false, fmt.Errorf("evidence: create key directory: %w", err)
	}
	key, err = GenerateKey()
	if err != nil {
		return nil, false, err
	}
	privPEM, err := MarshalPrivateKeyPEM(key)
	if err != nil {
		return nil, false, err
	}
	pubPEM, err := MarshalPublicKeyPEM(&key.PublicKey)
	if err != nil {
		return nil, false, err
	}
	won, err := keyfile.WriteExclusive(path, privPEM, 0o600)
	if err != nil {
		return nil, false, fmt.Errorf("evidence: %w", err)
	}
	if !won { // another process created it first: use theirs
		key, err := loadKey(path)
		return key, false, err
	}
	if err := keyfile.WriteFile(filepath.Join(dir, PublicKeyFile), pubPEM, 0o644); err != nil {
		return nil, false, fmt.Errorf("evidence: public key: %w", err)
	}
	return key, true, nil
}

func loadKey(path string) (*sm2.PrivateKey, error) {
	data, err := keyfile.ReadPrivate(path) // refuses a file group or others can read
	if err != nil {
		return nil, fmt.Errorf("evidence: signing key: %w", err)
	}
	key, err := ParsePrivateKeyPEM(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return key, nil
}

// Signer signs checkpoints and receipts with one SM2 key. Safe for
// concurrent use. The key itself may live elsewhere (NewSignerFunc).
type Signer struct {
	pub   *ecdsa.PublicKey
	keyID string
	sign  func(body []byte) ([]byte, error)
}

// NewSigner returns a Signer for key.
func NewSigner(key *sm2.PrivateKey) (*Signer, error) {
	if key == nil {
		return nil, errors.New("evidence: nil signing key")
	}
	return NewSignerFunc(&key.PublicKey, func(body []byte) ([]byte, error) {
		return key.Sign(rand.Reader, body, sm2.DefaultSM2SignerOpts)
	})
}

// NewSignerFunc returns a Signer whose private key stays outside the
// process (a KMS, an HSM, a signing service: docs/evidence.md §16): sign
// must return the SM2 signature (SM3 digest with the default user id
// 1234567812345678, ASN.1 DER) of body by the key of pub. The first
// signature is checked against pub, so a misconfigured signer fails at
// start, not at the first checkpoint.
func NewSignerFunc(pub *ecdsa.PublicKey, sign func(body []byte) ([]byte, error)) (*Signer, error) {
	if pub == nil || sign == nil {
		return nil, errors.New("evidence: a signer needs a public key and a signing function")
	}
	id, err := sdk.KeyID(pub)
	if err != nil {
		return nil, err
	}
	probe := []byte("lianmeng.evidence.signer-check\n")
	sig, err := sign(probe)
	if err != nil {
		return nil, fmt.Errorf("evidence: signer check: %w", err)
	}
	if !sm2.VerifyASN1WithSM2(pub, nil, probe, sig) {
		return nil, errors.New("evidence: signer check: the signing function's signature does not verify with the public key")
	}
	return &Signer{pub: pub, keyID: id, sign: sign}, nil
}

// KeyID returns the key id written into every checkpoint this signer signs.
func (s *Signer) KeyID() string { return s.keyID }

// PublicKey returns the verification key.
func (s *Signer) PublicKey() *ecdsa.PublicKey { return s.pub }

// PublicKeyPEM returns the verification key as PKIX PEM, for publication.
func (s *Signer) PublicKeyPEM() ([]byte, error) { return MarshalPublicKeyPEM(s.pub) }

// Sign sets cp.KeyID to the signer's key id and signs the checkpoint body
// with SM2 (SM3 digest with the default user id, ASN.1 DER signature).
func (s *Signer) Sign(cp Checkpoint) (SignedCheckpoint, error) {
	cp.KeyID = s.keyID
	body, err := cp.Body()
	if err != nil {
		return SignedCheckpoint{}, err
	}
	sig, err := s.sign(body)
	if err != nil {
		return SignedCheckpoint{}, fmt.Errorf("evidence: sign checkpoint of size %d: %w", cp.Size, err)
	}
	return SignedCheckpoint{Checkpoint: cp, Signature: sig}, nil
}

// SignReceipts signs the batch of receipts of tree (docs/evidence.md §15,
// version 2) as checkpoints are signed: one signature for all of them.
// Each returned receipt is the one of (txIDs[i], leaves[i]).
// The signed body is returned with them.
func (s *Signer) SignReceipts(origin string, txIDs []int64, leaves [][]byte, tree *sdk.ReceiptTree, at, promise time.Time) ([]SignedReceipt, []byte, error) {
	body, err := sdk.BatchBody(origin, tree.Size(), tree.Root(), at, promise, s.keyID)
	if err != nil {
		return nil, nil, err
	}
	sig, err := s.sign(body)
	if err != nil {
		return nil, nil, fmt.Errorf("evidence: sign a batch of %d receipts: %w", tree.Size(), err)
	}
	out := make([]SignedReceipt, len(txIDs))
	for i, id := range txIDs {
		out[i] = SignedReceipt{Receipt: Receipt{Origin: origin, TxID: id, LeafHash: leaves[i], Time: at, Promise: promise, KeyID: s.keyID,
			Batch: tree.Size(), Index: uint64(i), Path: tree.Path(uint64(i))}, Signature: sig}
	}
	return out, body, nil
}
