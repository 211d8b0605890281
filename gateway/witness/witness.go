// Package witness is a transparency-log witness (C2SP tlog-witness,
// docs/evidence.md §14) for Lianmeng evidence logs: for each log it is
// configured with, it keeps the latest checkpoint it cosigned, durably, and
// cosigns a new checkpoint only if the log's key signed it and a
// consistency proof shows it extends that one. It never cosigns a smaller
// checkpoint, nor two that are inconsistent, across restarts too: a log
// cut off at the end or rewritten is refused here, whoever holds the log's
// database and key. Merchants, an industry association or a regulator can
// each run one (`lianmeng witness`); the gateway submits every checkpoint
// to the witnesses it is configured with and publishes their cosignatures.
package witness

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/lianmeng/lianmeng/gateway/evidence"
	sdk "github.com/lianmeng/lianmeng/sdk/evidence"
)

// Log is a log the witness follows: its origin and checkpoint key.
type Log struct {
	Origin string
	Key    *ecdsa.PublicKey
}

// Refusals, each answered with its tlog-witness status.
var (
	ErrUnknownLog = errors.New("witness: unknown log origin")                          // 404
	ErrNotSigned  = errors.New("witness: checkpoint not signed by the log")            // 403
	ErrMalformed  = errors.New("witness: malformed request")                           // 400
	ErrOldSize    = errors.New("witness: old size larger than the checkpoint")         // 400
	ErrBadProof   = errors.New("witness: checkpoint does not extend the one cosigned") // 422
)

// ConflictError: the request's old size is not the size this witness last
// cosigned (409); the client retries from Size.
type ConflictError struct{ Size uint64 }

func (e *ConflictError) Error() string {
	return fmt.Sprintf("witness: old size does not match the latest cosigned size %d", e.Size)
}

// Witness cosigns checkpoints. Safe for concurrent use.
type Witness struct {
	name string
	key  ed25519.PrivateKey
	logs map[string]Log
	dir  string
	now  func() time.Time

	mu sync.Mutex // one request at a time: check, persist, then cosign
}

// New returns a witness named name (its signed-note key name), signing
// with key, following logs, keeping its state in dir.
func New(name string, key ed25519.PrivateKey, logs []Log, dir string, now func() time.Time) (*Witness, error) {
	if _, err := sdk.Cosign(name, key, []byte("x\n"), time.Unix(0, 0)); err != nil {
		return nil, err
	}
	if now == nil {
		now = time.Now
	}
	w := &Witness{name: name, key: key, logs: map[string]Log{}, dir: dir, now: now}
	for _, l := range logs {
		if l.Origin == "" || l.Key == nil {
			return nil, errors.New("witness: a log needs an origin and a key")
		}
		w.logs[l.Origin] = l
	}
	if err := os.MkdirAll(filepath.Join(dir, "refused"), 0o700); err != nil {
		return nil, fmt.Errorf("witness: state directory: %w", err)
	}
	return w, nil
}

// VerifierKey returns the witness's verifier key (name+hash+key), which
// logs and clients configure to check its cosignatures.
func (w *Witness) VerifierKey() string {
	return sdk.WitnessKey{Name: w.name, Pub: w.key.Public().(ed25519.PublicKey)}.String()
}

// state is the durable latest cosigned checkpoint of one log.
func (w *Witness) state(origin string) evidence.FileMemory {
	h := sha256.Sum256([]byte(origin))
	return evidence.FileMemory{Path: filepath.Join(w.dir, "log-"+hex.EncodeToString(h[:8])+".checkpoint")}
}

// Latest returns the latest checkpoint cosigned for origin (nil if none).
func (w *Witness) Latest(origin string) (*sdk.SignedCheckpoint, error) {
	if _, ok := w.logs[origin]; !ok {
		return nil, ErrUnknownLog
	}
	return w.state(origin).Load()
}

// Add handles an add-checkpoint request body and returns the cosignature
// line. The new checkpoint is persisted (fsynced) before it is cosigned.
func (w *Witness) Add(body []byte) (string, error) {
	old, proof, signed, err := sdk.ParseAddCheckpoint(body)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	sc, err := sdk.ParseSignedCheckpoint(signed)
	if err != nil {
		return "", fmt.Errorf("%w: checkpoint: %v", ErrMalformed, err)
	}
	l, ok := w.logs[sc.Origin]
	if !ok {
		return "", fmt.Errorf("%w: %q", ErrUnknownLog, sc.Origin)
	}
	if err := sdk.VerifyCheckpoint(l.Key, sc); err != nil {
		return "", fmt.Errorf("%w: %v", ErrNotSigned, err)
	}
	if old > sc.Size {
		return "", fmt.Errorf("%w: old %d, checkpoint %d", ErrOldSize, old, sc.Size)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	st := w.state(sc.Origin)
	latest, err := st.Load()
	if err != nil {
		return "", err
	}
	var have uint64
	if latest != nil {
		have = latest.Size
	}
	if old != have {
		return "", &ConflictError{Size: have}
	}
	switch {
	case latest == nil:
		// First checkpoint of this log: nothing to extend (an empty log
		// must carry the empty root).
		if sc.Size == 0 && !bytes.Equal(sc.Root, sdk.SM3Hasher.EmptyRoot()) {
			return "", w.refuse(sc, body, fmt.Errorf("%w: a checkpoint of size 0 must have the empty root", ErrBadProof))
		}
		if len(proof) != 0 {
			return "", w.refuse(sc, body, fmt.Errorf("%w: a proof from size 0 must be empty", ErrBadProof))
		}
	default:
		if err := sdk.VerifyConsistency(latest.Checkpoint, sc.Checkpoint, proof); err != nil {
			return "", w.refuse(sc, body, fmt.Errorf("%w: %v", ErrBadProof, err))
		}
	}
	if latest == nil || sc.Size > latest.Size || !sc.Time.Before(latest.Time) {
		if err := st.Save(sc); err != nil {
			return "", fmt.Errorf("witness: persist state: %w", err)
		}
	}
	body2, err := sc.Body()
	if err != nil {
		return "", err
	}
	return sdk.Cosign(w.name, w.key, body2, w.now())
}

// refuse keeps a refused, log-signed request as evidence of the log's
// misbehaviour (a signed checkpoint that does not extend what the log
// signed before proves a fork), then returns err.
func (w *Witness) refuse(sc sdk.SignedCheckpoint, body []byte, err error) error {
	h := sha256.Sum256([]byte(sc.Origin))
	name := fmt.Sprintf("%x-%d-%d.txt", h[:8], sc.Size, w.now().UnixNano())
	if werr := os.WriteFile(filepath.Join(w.dir, "refused", name), body, 0o600); werr != nil {
		return fmt.Errorf("%w (and keeping the request failed: %v)", err, werr)
	}
	return err
}
