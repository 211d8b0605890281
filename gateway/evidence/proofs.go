package evidence

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
)

// Errors from Proofs.
var (
	// ErrNotSealed: the entry exists but no checkpoint covers it yet.
	ErrNotSealed = errors.New("evidence: entry not yet covered by a checkpoint")
	// ErrRange: a consistency request outside the published checkpoints.
	ErrRange = errors.New("evidence: sizes out of range")
	// ErrMismatch: the database no longer matches the sealed leaf.
	ErrMismatch = errors.New("evidence: stored entry does not match its sealed leaf hash")
)

// Proofs serves checkpoints, inclusion and consistency proofs from the
// stored log. It keeps a Tree of every leaf hash in memory (about 64 bytes
// per entry), loaded from the store on first use and extended as new
// checkpoints appear, whichever instance sealed them. Safe for concurrent
// use.
type Proofs struct {
	st     Store
	pubPEM []byte
	keyID  string

	mu   sync.Mutex // serialises tree loading
	tree *Tree
}

// NewProofs returns a proof service over st; pubPEM and keyID describe the
// signing key that clients verify checkpoints with.
func NewProofs(st Store, pubPEM []byte, keyID string) *Proofs {
	return &Proofs{st: st, pubPEM: pubPEM, keyID: keyID, tree: NewTree()}
}

// PublicKey returns the checkpoint verification key as PEM and its id.
func (p *Proofs) PublicKey() (pem []byte, keyID string) { return p.pubPEM, p.keyID }

// Checkpoint returns the latest signed checkpoint (ErrNotFound before the
// sealer has written one).
func (p *Proofs) Checkpoint(ctx context.Context) (SignedCheckpoint, error) {
	cp, err := p.st.LatestCheckpoint(ctx)
	if err != nil {
		return SignedCheckpoint{}, err
	}
	return cp.Signed, nil
}

// ConsistencyProof is the answer to a consistency request.
type ConsistencyProof struct {
	From, To uint64
	Proof    [][]byte
	// FromCheckpoint and ToCheckpoint are the signed checkpoints of those
	// sizes, when they exist (To always does).
	FromCheckpoint *SignedCheckpoint
	ToCheckpoint   SignedCheckpoint
}

// Consistency proves that the log at size to extends the log at size from.
// to must be the size of a published checkpoint; from ≤ to.
func (p *Proofs) Consistency(ctx context.Context, from, to uint64) (ConsistencyProof, error) {
	if from > to {
		return ConsistencyProof{}, fmt.Errorf("%w: from %d is after to %d", ErrRange, from, to)
	}
	toCP, err := p.st.CheckpointAt(ctx, to)
	if errors.Is(err, ErrNotFound) {
		return ConsistencyProof{}, fmt.Errorf("%w: no checkpoint of size %d", ErrRange, to)
	} else if err != nil {
		return ConsistencyProof{}, err
	}
	out := ConsistencyProof{From: from, To: to, ToCheckpoint: toCP.Signed}
	if fromCP, err := p.st.CheckpointAt(ctx, from); err == nil {
		out.FromCheckpoint = &fromCP.Signed
	} else if !errors.Is(err, ErrNotFound) {
		return ConsistencyProof{}, err
	}
	t, err := p.treeAt(ctx, toCP.Signed.Checkpoint)
	if err != nil {
		return ConsistencyProof{}, err
	}
	if out.Proof, err = t.ConsistencyProof(from, to); err != nil {
		return ConsistencyProof{}, err
	}
	if out.Proof == nil {
		out.Proof = [][]byte{}
	}
	return out, nil
}

// InclusionProof is the answer to an inclusion request.
type InclusionProof struct {
	Index, TreeSize uint64
	Proof           [][]byte
	Data            []byte // the entry's canonical bytes
	Entry           Entry
	Checkpoint      SignedCheckpoint // of size TreeSize
}

// Inclusion proves that an entry is in the latest checkpoint. Errors:
// ErrNotFound (no such row), ErrNotSealed (not sealed, or no checkpoint
// covers it yet), ErrMismatch (the row changed after sealing). Whenever the
// row exists, the result carries it (Entry), errors included, so that a
// caller can check who may see it before revealing which error it was.
func (p *Proofs) Inclusion(ctx context.Context, ref EntryRef) (InclusionProof, error) {
	rows, err := p.st.Entries(ctx, []EntryRef{ref})
	if err != nil {
		return InclusionProof{}, err
	}
	e, ok := rows[ref]
	if !ok {
		return InclusionProof{}, ErrNotFound
	}
	leaf, err := p.st.LeafOf(ctx, ref)
	if errors.Is(err, ErrNotFound) {
		return InclusionProof{Entry: e}, ErrNotSealed
	} else if err != nil {
		return InclusionProof{}, err
	}
	// From here on errors carry the entry, so callers can authorise first.
	data, err := e.Encode()
	if err != nil {
		return InclusionProof{Entry: e}, err
	}
	if !bytes.Equal(LeafHash(data), leaf.LeafHash) {
		return InclusionProof{Entry: e}, fmt.Errorf("%w: %s at leaf %d", ErrMismatch, ref, leaf.Index)
	}
	cp, err := p.st.LatestCheckpoint(ctx)
	if errors.Is(err, ErrNotFound) || err == nil && cp.Signed.Size <= leaf.Index {
		return InclusionProof{Entry: e}, ErrNotSealed
	} else if err != nil {
		return InclusionProof{Entry: e}, err
	}
	t, err := p.treeAt(ctx, cp.Signed.Checkpoint)
	if err != nil {
		return InclusionProof{Entry: e}, err
	}
	proof, err := t.InclusionProof(leaf.Index, cp.Signed.Size)
	if err != nil {
		return InclusionProof{Entry: e}, err
	}
	if proof == nil {
		proof = [][]byte{}
	}
	return InclusionProof{Index: leaf.Index, TreeSize: cp.Signed.Size, Proof: proof, Data: data, Entry: e, Checkpoint: cp.Signed}, nil
}

// treeAt returns the tree once it holds at least cp.Size leaves, loading
// new leaves from the store, after checking its root against cp's: a proof
// from a tree that does not match the checkpoint would not verify anyway.
func (p *Proofs) treeAt(ctx context.Context, cp Checkpoint) (*Tree, error) {
	t, err := p.load(ctx, cp.Size)
	if err != nil {
		return nil, err
	}
	root, err := t.RootAt(cp.Size)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(root, cp.Root) {
		return nil, fmt.Errorf("%w: stored leaves do not give the root of checkpoint %d", ErrMismatch, cp.Size)
	}
	return t, nil
}

func (p *Proofs) load(ctx context.Context, size uint64) (*Tree, error) {
	if p.tree.Size() >= size {
		return p.tree, nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.tree.Size() < size {
		leaves, err := p.st.Leaves(ctx, p.tree.Size(), 10000)
		if err != nil {
			return nil, err
		}
		if len(leaves) == 0 {
			return nil, fmt.Errorf("evidence: log has %d leaves, checkpoint needs %d", p.tree.Size(), size)
		}
		for _, l := range leaves {
			if l.Index != p.tree.Size() {
				return nil, fmt.Errorf("evidence: leaf %d missing", p.tree.Size())
			}
			if err := p.tree.AppendLeafHash(l.LeafHash); err != nil {
				return nil, err
			}
		}
	}
	return p.tree, nil
}
