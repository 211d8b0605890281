package api

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/lianmeng/lianmeng/gateway/evidence"
)

// EvidenceProvider serves checkpoints and proofs (*evidence.Proofs).
type EvidenceProvider interface {
	// Checkpoint returns the latest signed checkpoint (evidence.ErrNotFound
	// before the first).
	Checkpoint(ctx context.Context) (evidence.SignedCheckpoint, error)
	// PublicKey returns the checkpoint verification key (PEM) and its id.
	PublicKey() (pem []byte, keyID string)
	// Consistency proves the log at size to extends the log at size from.
	Consistency(ctx context.Context, from, to uint64) (evidence.ConsistencyProof, error)
	// Inclusion proves an entry is in the latest checkpoint.
	Inclusion(ctx context.Context, ref evidence.EntryRef) (evidence.InclusionProof, error)
	// Tile returns the first width hashes of a tile of the tree of the
	// latest checkpoint (evidence.ErrNotFound if it has fewer).
	Tile(ctx context.Context, level uint8, index uint64, width int) ([]byte, error)
	// Cosignatures returns the witnesses' cosignatures of the checkpoint
	// of size.
	Cosignatures(ctx context.Context, size uint64) ([]evidence.Cosignature, error)
}

// witnessQuorum is implemented by an EvidenceProvider whose checkpoints go
// to witnesses: an error when the latest checkpoint lacks its quorum of
// cosignatures (wrapping ErrDegraded for a degraded /readyz).
type witnessQuorum interface {
	WitnessQuorum(ctx context.Context) error
}

// Evidence error codes.
const (
	CodeEvidencePending  = "evidence_pending"
	CodeEvidenceRange    = "evidence_range"
	CodeEvidenceMismatch = "evidence_mismatch"
)

// evidenceMismatch answers a request whose evidence no longer verifies: the
// ledger rows (or the stored leaves) differ from what was sealed. It is a
// known state with its own code, never a bare 500, and an alarm for the
// operator (lianmeng verify reports it too).
func (s *Server) evidenceMismatch(c *fiber.Ctx, what string, err error) error {
	s.log.Error("evidence does not verify", "request_id", requestID(c), "what", what, "err", err)
	return Errorf(fiber.StatusConflict, CodeEvidenceMismatch,
		"the stored ledger no longer matches the sealed evidence log for %s; no proof can be given (the operator has been alerted; quote the request id)", what)
}

// routesEvidence registers the evidence routes: the checkpoint, key and
// consistency proofs are public (anyone may audit the log); inclusion proofs
// are for the merchant or member whose account the transaction touches.
func (s *Server) routesEvidence() {
	public := s.limitByAddress("public")
	s.handle(fiber.MethodGet, "/v1/evidence/checkpoint", public, s.evidenceCheckpoint)
	s.handle(fiber.MethodGet, "/v1/evidence/public-key", public, s.evidencePublicKey)
	s.handle(fiber.MethodGet, "/v1/evidence/consistency", public, s.evidenceConsistency)
	s.handle(fiber.MethodGet, "/v1/evidence/tile/*", public, s.evidenceTile)
	if q, ok := s.evidence.(witnessQuorum); ok {
		s.ready = append(s.ready, ReadyCheck{Name: "evidence_witnesses", Check: q.WitnessQuorum})
	}
	s.handle(fiber.MethodGet, "/v1/merchant/evidence/transactions/:tx", s.merchantAuth, s.limitCredential, s.requireScope, s.merchantTxProof)
	s.handle(fiber.MethodGet, "/v1/member/evidence/transactions/:tx", s.memberAuth, s.memberTxProof)
}

func (s *Server) evidenceProvider() (EvidenceProvider, error) {
	if s.evidence == nil {
		return nil, &Error{Status: fiber.StatusServiceUnavailable, Code: CodeUnavailable, Message: "the evidence log is not available on this gateway", RetryAfter: 30}
	}
	return s.evidence, nil
}

// CheckpointJSON is a signed checkpoint as the API returns it. Signed is
// the transport form (docs/evidence.md §5.3) that verifiers parse with
// ParseSignedCheckpoint; the other fields repeat its content for reading.
type CheckpointJSON struct {
	Origin    string    `json:"origin"`
	Size      uint64    `json:"size"`
	Root      string    `json:"root"`       // hex
	ChainHead string    `json:"chain_head"` // hex
	Time      time.Time `json:"time"`
	KeyID     string    `json:"key_id"`
	Signature string    `json:"signature"` // base64 DER
	Signed    string    `json:"signed"`
	// Cosignatures are the witnesses' (C2SP tlog-cosignature) of the latest
	// checkpoint, on GET /v1/evidence/checkpoint only.
	Cosignatures []CosignatureJSON `json:"cosignatures,omitempty"`
	// WitnessQuorum is how many witness cosignatures the alliance requires
	// (evidence.witness_quorum; 0: no witnesses are configured), on GET
	// /v1/evidence/checkpoint only, so anyone can see a checkpoint short of
	// its quorum.
	WitnessQuorum int `json:"witness_quorum,omitempty"`
}

// CosignatureJSON is one witness's cosignature of a checkpoint: Line is
// the signature line to verify with the witness's key (docs/evidence.md §14).
type CosignatureJSON struct {
	Witness string    `json:"witness"`
	Line    string    `json:"line"`
	Time    time.Time `json:"time"`
}

func checkpointJSON(sc evidence.SignedCheckpoint) (CheckpointJSON, error) {
	signed, err := sc.Marshal()
	if err != nil {
		return CheckpointJSON{}, err
	}
	return CheckpointJSON{Origin: sc.Origin, Size: sc.Size, Root: hex.EncodeToString(sc.Root), ChainHead: hex.EncodeToString(sc.ChainHead),
		Time: sc.Time.UTC(), KeyID: sc.KeyID, Signature: base64.StdEncoding.EncodeToString(sc.Signature), Signed: string(signed)}, nil
}

func (s *Server) evidenceCheckpoint(c *fiber.Ctx) error {
	p, err := s.evidenceProvider()
	if err != nil {
		return err
	}
	sc, err := p.Checkpoint(c.UserContext())
	if errors.Is(err, evidence.ErrNotFound) {
		return &Error{Status: fiber.StatusServiceUnavailable, Code: CodeEvidencePending, Message: "no checkpoint has been written yet", RetryAfter: 5}
	} else if err != nil {
		return err
	}
	out, err := checkpointJSON(sc)
	if err != nil {
		return err
	}
	cos, err := p.Cosignatures(c.UserContext(), sc.Size)
	if err != nil {
		return err
	}
	for _, co := range cos {
		out.Cosignatures = append(out.Cosignatures, CosignatureJSON{Witness: co.Witness, Line: co.Line, Time: co.Time.UTC()})
	}
	out.WitnessQuorum = s.cfg.Evidence.WitnessQuorum
	c.Set(fiber.HeaderCacheControl, "public, max-age=1")
	return c.JSON(out)
}

// PublicKeyJSON is the checkpoint verification key.
type PublicKeyJSON struct {
	KeyID        string `json:"key_id"`
	PublicKeyPEM string `json:"public_key_pem"`
	Algorithm    string `json:"algorithm"`
}

func (s *Server) evidencePublicKey(c *fiber.Ctx) error {
	p, err := s.evidenceProvider()
	if err != nil {
		return err
	}
	pem, id := p.PublicKey()
	c.Set(fiber.HeaderCacheControl, "public, max-age=300")
	return c.JSON(PublicKeyJSON{KeyID: id, PublicKeyPEM: string(pem), Algorithm: "SM2 with SM3, user id 1234567812345678"})
}

// ConsistencyJSON is a consistency proof between two log sizes.
type ConsistencyJSON struct {
	From           uint64          `json:"from"`
	To             uint64          `json:"to"`
	Proof          []string        `json:"proof"` // hex, bottom-up
	FromCheckpoint *CheckpointJSON `json:"from_checkpoint,omitempty"`
	ToCheckpoint   CheckpointJSON  `json:"to_checkpoint"`
}

func hexList(hs [][]byte) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = hex.EncodeToString(h)
	}
	return out
}

func querySize(c *fiber.Ctx, name string) (uint64, error) {
	v := c.Query(name)
	n, err := strconv.ParseUint(v, 10, 63)
	if err != nil {
		return 0, Errorf(fiber.StatusBadRequest, CodeValidation, "%s must be a log size (a non-negative integer)", name)
	}
	return n, nil
}

func (s *Server) evidenceConsistency(c *fiber.Ctx) error {
	p, err := s.evidenceProvider()
	if err != nil {
		return err
	}
	from, err := querySize(c, "from")
	if err != nil {
		return err
	}
	to, err := querySize(c, "to")
	if err != nil {
		return err
	}
	cp, err := p.Consistency(c.UserContext(), from, to)
	if errors.Is(err, evidence.ErrRange) {
		return Errorf(fiber.StatusNotFound, CodeEvidenceRange, "%s", strings.TrimPrefix(err.Error(), "evidence: "))
	} else if errors.Is(err, evidence.ErrMismatch) {
		return s.evidenceMismatch(c, "this log range", err)
	} else if err != nil {
		return err
	}
	out := ConsistencyJSON{From: cp.From, To: cp.To, Proof: hexList(cp.Proof)}
	if out.ToCheckpoint, err = checkpointJSON(cp.ToCheckpoint); err != nil {
		return err
	}
	if cp.FromCheckpoint != nil {
		fc, err := checkpointJSON(*cp.FromCheckpoint)
		if err != nil {
			return err
		}
		out.FromCheckpoint = &fc
	}
	c.Set(fiber.HeaderCacheControl, "public, max-age=300")
	return c.JSON(out)
}

// InclusionJSON is an inclusion proof for a ledger transaction. Entry is the
// canonical bytes the leaf hashes (docs/evidence.md §2.1); Transaction is
// the same content decoded, for reading.
type InclusionJSON struct {
	TxID        int64              `json:"tx_id"`
	LeafIndex   uint64             `json:"leaf_index"`
	TreeSize    uint64             `json:"tree_size"`
	Proof       []string           `json:"proof"` // hex, bottom-up
	Entry       string             `json:"entry"` // base64
	Transaction *evidence.TxRecord `json:"transaction"`
	Checkpoint  CheckpointJSON     `json:"checkpoint"`
}

func (s *Server) merchantTxProof(c *fiber.Ctx) error {
	return s.txProof(c, "merchant:"+merchantID(c)+":")
}

func (s *Server) memberTxProof(c *fiber.Ctx) error {
	return s.txProof(c, "member:"+memberID(c)+":")
}

// txProof answers an inclusion proof for the transaction in the path if
// one of its postings is an account starting with prefix; otherwise it is
// not found, exactly as if it did not exist.
func (s *Server) txProof(c *fiber.Ctx, prefix string) error {
	p, err := s.evidenceProvider()
	if err != nil {
		return err
	}
	notFound := Errorf(fiber.StatusNotFound, CodeNotFound, "no such transaction")
	id, err := strconv.ParseInt(c.Params("tx"), 10, 64)
	if err != nil || id <= 0 || strings.Count(prefix, ":") != 2 || strings.HasSuffix(prefix, "::") {
		return notFound
	}
	proof, err := p.Inclusion(c.UserContext(), evidence.EntryRef{Type: evidence.EntryTx, ID: id})
	// Authorise before telling "not sealed yet" apart from "not found".
	if proof.Entry.Tx == nil || !touches(proof.Entry.Tx, prefix) {
		// Whatever went wrong (unknown id, not sealed, or a fault in the
		// evidence store), the caller learns nothing about a transaction
		// that is not theirs: the answer is the same 404. Faults are logged.
		if err != nil && !errors.Is(err, evidence.ErrNotFound) && !errors.Is(err, evidence.ErrNotSealed) {
			s.log.Warn("inclusion proof failed", "tx", id, "err", err)
		}
		return notFound
	}
	switch {
	case errors.Is(err, evidence.ErrNotSealed):
		return &Error{Status: fiber.StatusServiceUnavailable, Code: CodeEvidencePending,
			Message: "the transaction is not yet covered by a checkpoint; retry in a few seconds", RetryAfter: 5}
	case errors.Is(err, evidence.ErrMismatch):
		return s.evidenceMismatch(c, "transaction "+strconv.FormatInt(id, 10), err)
	case err != nil:
		return err
	}
	out := InclusionJSON{TxID: id, LeafIndex: proof.Index, TreeSize: proof.TreeSize, Proof: hexList(proof.Proof),
		Entry: base64.StdEncoding.EncodeToString(proof.Data), Transaction: proof.Entry.Tx}
	if out.Checkpoint, err = checkpointJSON(proof.Checkpoint); err != nil {
		return err
	}
	return c.JSON(out)
}

func touches(tx *evidence.TxRecord, prefix string) bool {
	for _, p := range tx.Postings {
		if strings.HasPrefix(p.Account, prefix) {
			return true
		}
	}
	return false
}
