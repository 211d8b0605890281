package client

import (
	"context"
	"crypto/ecdsa"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"

	"github.com/lianmeng/lianmeng/sdk/evidence"
)

// EvidenceStore keeps what a client needs to audit the gateway's evidence
// log later (docs/evidence.md §15): the receipts of its writes and the
// latest checkpoint it verified. Keep it where the integrator keeps its own
// records (a file, a table): its value is that the gateway's operator
// cannot change it. MemoryEvidence is one for tests.
type EvidenceStore interface {
	SaveReceipt(r evidence.SignedReceipt) error
	Receipts() ([]evidence.SignedReceipt, error)
	// DropReceipt forgets a receipt once its inclusion is proven (the
	// checkpoint kept then covers it).
	DropReceipt(txID int64) error
	SaveCheckpoint(sc evidence.SignedCheckpoint) error
	// Checkpoint returns the saved checkpoint, nil if none.
	Checkpoint() (*evidence.SignedCheckpoint, error)
}

// MemoryEvidence is an EvidenceStore in memory.
type MemoryEvidence struct {
	mu       sync.Mutex
	receipts map[int64]evidence.SignedReceipt
	cp       *evidence.SignedCheckpoint
}

func (m *MemoryEvidence) SaveReceipt(r evidence.SignedReceipt) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.receipts == nil {
		m.receipts = map[int64]evidence.SignedReceipt{}
	}
	m.receipts[r.TxID] = r
	return nil
}

func (m *MemoryEvidence) Receipts() ([]evidence.SignedReceipt, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]evidence.SignedReceipt, 0, len(m.receipts))
	for _, r := range m.receipts {
		out = append(out, r)
	}
	return out, nil
}

func (m *MemoryEvidence) DropReceipt(txID int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.receipts, txID)
	return nil
}

func (m *MemoryEvidence) SaveCheckpoint(sc evidence.SignedCheckpoint) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.cp = &sc
	return nil
}

func (m *MemoryEvidence) Checkpoint() (*evidence.SignedCheckpoint, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cp, nil
}

type evidenceKeeper struct {
	st  EvidenceStore
	pub *ecdsa.PublicKey
}

// WithEvidence makes the client keep the receipt of every write it makes
// (the Lianmeng-Receipt header, verified with the log's public key pub)
// and the checkpoints Audit verifies, in st.
func WithEvidence(st EvidenceStore, pub *ecdsa.PublicKey) Option {
	return func(c *Client) { c.evidence = &evidenceKeeper{st: st, pub: pub} }
}

// ErrBadReceipt: the gateway answered a write with a receipt that does not
// verify with the log's key. The write itself was accepted.
var ErrBadReceipt = errors.New("lianmeng: the write was accepted but its evidence receipt does not verify")

func (c *Client) keepReceipt(resp *http.Response) error {
	v := resp.Header.Get(evidence.ReceiptHeader)
	if c.evidence == nil || v == "" {
		return nil
	}
	sr, err := evidence.ParseReceiptHeader(v)
	if err == nil {
		err = evidence.VerifyReceipt(c.evidence.pub, sr)
	}
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadReceipt, err)
	}
	return c.evidence.st.SaveReceipt(sr)
}

// AuditReport is what Audit found.
type AuditReport struct {
	Checkpoint evidence.SignedCheckpoint // the latest, verified
	Included   []int64                   // receipted transactions proven in it (receipts dropped)
	Pending    []int64                   // promise not yet due, or not yet in a checkpoint
	// Missing are receipted transactions the log no longer has although
	// their promise is past: each receipt, with the checkpoint, proves the
	// omission.
	Missing []int64
	// Problems are other failures of the log: a checkpoint smaller than,
	// or inconsistent with, the one saved before; proofs that do not verify.
	Problems []string
}

// OK reports whether the audit found nothing wrong.
func (r AuditReport) OK() bool { return len(r.Missing) == 0 && len(r.Problems) == 0 }

type checkpointJSON struct {
	Signed string `json:"signed"`
}

// Audit checks the gateway's evidence log against what the client kept:
// the latest checkpoint must verify and extend the one saved before (a
// consistency proof), and every receipt whose promise is past must be in
// it (an inclusion proof, for a merchant client). The new checkpoint is
// saved only when it extends the old one. Errors are for failing to ask.
func (c *Client) Audit(ctx context.Context) (AuditReport, error) {
	var rep AuditReport
	if c.evidence == nil {
		return rep, errors.New("lianmeng: Audit needs WithEvidence")
	}
	var cj checkpointJSON
	if err := c.Do(ctx, "GET", "/v1/evidence/checkpoint", nil, &cj); err != nil {
		return rep, err
	}
	sc, err := evidence.ParseSignedCheckpoint([]byte(cj.Signed))
	if err == nil {
		err = evidence.VerifyCheckpoint(c.evidence.pub, sc)
	}
	if err != nil {
		rep.Problems = append(rep.Problems, "the latest checkpoint does not verify: "+err.Error())
		return rep, nil
	}
	rep.Checkpoint = sc
	extends := true
	prev, err := c.evidence.st.Checkpoint()
	if err != nil {
		return rep, err
	}
	if prev != nil {
		switch {
		case sc.Size < prev.Size:
			extends = false
			rep.Problems = append(rep.Problems, fmt.Sprintf("the log went back: the latest checkpoint has %d entries, the one saved before %d", sc.Size, prev.Size))
		default:
			var cons struct {
				Proof []string `json:"proof"`
			}
			err := c.Do(ctx, "GET", "/v1/evidence/consistency?from="+strconv.FormatUint(prev.Size, 10)+"&to="+strconv.FormatUint(sc.Size, 10), nil, &cons)
			var proof [][]byte
			if err == nil {
				proof, err = unhexAll(cons.Proof)
			}
			if err == nil {
				err = evidence.VerifyConsistency(prev.Checkpoint, sc.Checkpoint, proof)
			}
			if err != nil {
				extends = false
				rep.Problems = append(rep.Problems, fmt.Sprintf("the latest checkpoint (%d) is not shown to extend the one saved before (%d): %v", sc.Size, prev.Size, err))
			}
		}
	}
	if extends {
		if err := c.evidence.st.SaveCheckpoint(sc); err != nil {
			return rep, err
		}
	}
	receipts, err := c.evidence.st.Receipts()
	if err != nil {
		return rep, err
	}
	for _, r := range receipts {
		if c.merchantID == "" || r.Promise.After(sc.Time) {
			rep.Pending = append(rep.Pending, r.TxID)
			continue
		}
		var p struct {
			LeafIndex  uint64   `json:"leaf_index"`
			Proof      []string `json:"proof"`
			Entry      string   `json:"entry"`
			Checkpoint struct {
				Signed string `json:"signed"`
			} `json:"checkpoint"`
		}
		err := c.Do(ctx, "GET", "/v1/merchant/evidence/transactions/"+strconv.FormatInt(r.TxID, 10), nil, &p)
		var ae *APIError
		switch {
		case errors.As(err, &ae) && ae.Status == http.StatusNotFound:
			rep.Missing = append(rep.Missing, r.TxID)
			continue
		case errors.As(err, &ae) && ae.Status == http.StatusServiceUnavailable:
			rep.Pending = append(rep.Pending, r.TxID)
			continue
		case err != nil:
			return rep, err
		}
		if err := checkInclusion(c.evidence.pub, r, p.LeafIndex, p.Proof, p.Entry, p.Checkpoint.Signed); err != nil {
			rep.Problems = append(rep.Problems, fmt.Sprintf("transaction %d: %v", r.TxID, err))
			continue
		}
		rep.Included = append(rep.Included, r.TxID)
		if extends {
			if err := c.evidence.st.DropReceipt(r.TxID); err != nil {
				return rep, err
			}
		}
	}
	return rep, nil
}

func checkInclusion(pub *ecdsa.PublicKey, r evidence.SignedReceipt, index uint64, proofHex []string, entryB64, signed string) error {
	cp, err := evidence.ParseSignedCheckpoint([]byte(signed))
	if err != nil {
		return err
	}
	if err := evidence.VerifyCheckpoint(pub, cp); err != nil {
		return err
	}
	data, err := base64.StdEncoding.DecodeString(entryB64)
	if err != nil {
		return err
	}
	proof, err := unhexAll(proofHex)
	if err != nil {
		return err
	}
	return evidence.CheckReceiptInclusion(r, data, index, proof, cp.Checkpoint)
}

func unhexAll(hs []string) ([][]byte, error) {
	out := make([][]byte, len(hs))
	for i, h := range hs {
		b, err := hex.DecodeString(h)
		if err != nil {
			return nil, fmt.Errorf("proof hash %d: %w", i, err)
		}
		out[i] = b
	}
	return out, nil
}
