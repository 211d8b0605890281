package evidence

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"

	sdk "github.com/lianmeng/lianmeng/sdk/evidence"
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

// Proofs serves checkpoints, inclusion and consistency proofs and tiles
// from the stored log. Proofs are computed from the stored tiles (a few
// tile reads per proof), so memory does not grow with the log: it keeps at
// most proofTileCache full tiles (8 KiB each), which never change. Safe for
// concurrent use.
type Proofs struct {
	st     Store
	pubPEM []byte
	keyID  string

	mu    sync.Mutex // guards cache
	cache tileCache

	// Receipts, if set, signs a receipt for every ledger write's answer.
	Receipts *Receipts
}

// proofTileCache bounds the full tiles Proofs keeps (8 MiB).
const proofTileCache = 1024

// NewProofs returns a proof service over st; pubPEM and keyID describe the
// signing key that clients verify checkpoints with.
func NewProofs(st Store, pubPEM []byte, keyID string) *Proofs {
	return &Proofs{st: st, pubPEM: pubPEM, keyID: keyID, cache: tileCache{max: proofTileCache}}
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
	if out.Proof, err = t.ConsistencyProof(ctx, from); err != nil {
		return ConsistencyProof{}, err
	}
	// Check before serving: a damaged tile must be an alarm here, not a
	// proof that fails at the client.
	if out.FromCheckpoint != nil {
		if err := sdk.VerifyConsistency(out.FromCheckpoint.Checkpoint, toCP.Signed.Checkpoint, out.Proof); err != nil {
			return ConsistencyProof{}, fmt.Errorf("%w: consistency %d→%d from the stored tiles: %v", ErrMismatch, from, to, err)
		}
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
	proof, err := t.InclusionProof(ctx, leaf.Index)
	if err != nil {
		return InclusionProof{Entry: e}, err
	}
	if err := sdk.VerifyCheckpointInclusion(data, leaf.Index, proof, cp.Signed.Checkpoint); err != nil {
		return InclusionProof{Entry: e}, fmt.Errorf("%w: inclusion of %s at leaf %d from the stored tiles: %v", ErrMismatch, ref, leaf.Index, err)
	}
	if proof == nil {
		proof = [][]byte{}
	}
	return InclusionProof{Index: leaf.Index, TreeSize: cp.Signed.Size, Proof: proof, Data: data, Entry: e, Checkpoint: cp.Signed}, nil
}

// treeAt returns the tiles of the tree of cp's size after checking that
// they give cp's root: a proof from tiles that do not match the checkpoint
// would not verify anyway.
func (p *Proofs) treeAt(ctx context.Context, cp Checkpoint) (*sdk.TileHashes, error) {
	th := sdk.NewTileHashes(p.readTile, cp.Size)
	root, err := th.Root(ctx)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(root, cp.Root) {
		return nil, fmt.Errorf("%w: stored tiles do not give the root of checkpoint %d", ErrMismatch, cp.Size)
	}
	return th, nil
}

// readTile is the sdk.TileReader of the stored tiles.
func (p *Proofs) readTile(ctx context.Context, level uint8, index uint64, width int) ([]byte, error) {
	k := [2]uint64{uint64(level), index}
	p.mu.Lock()
	b, ok := p.cache.get(k)
	p.mu.Unlock()
	if !ok {
		var err error
		if b, err = p.st.Tile(ctx, level, index); err != nil {
			return nil, err
		}
		if len(b) == sdk.TileWidth*hashSize {
			p.mu.Lock()
			p.cache.put(k, b)
			p.mu.Unlock()
		}
	}
	if len(b) < width*hashSize || len(b)%hashSize != 0 {
		return nil, fmt.Errorf("%w: stored tile %s has %d bytes, %d hashes needed", ErrMismatch, sdk.TilePath(level, index, width), len(b), width)
	}
	return b[:width*hashSize], nil
}

// Tile returns the first width hashes of tile (level, index) as of the
// latest checkpoint (C2SP tlog-tiles): ErrNotFound if the tile does not
// have that width in the tree of the latest checkpoint's size (a full tile
// is asked for with width 256), so mirrors only ever see published trees.
func (p *Proofs) Tile(ctx context.Context, level uint8, index uint64, width int) ([]byte, error) {
	cp, err := p.st.LatestCheckpoint(ctx)
	if err != nil {
		return nil, err
	}
	w := sdk.TileWidthAt(level, index, cp.Signed.Size)
	if w == 0 || width > w {
		return nil, ErrNotFound
	}
	if width == sdk.TileWidth && w < sdk.TileWidth {
		return nil, ErrNotFound
	}
	return p.readTile(ctx, level, index, width)
}

// Cosignatures returns the witnesses' cosignatures of the checkpoint of
// size, as stored when they were obtained (docs/evidence.md §14).
func (p *Proofs) Cosignatures(ctx context.Context, size uint64) ([]Cosignature, error) {
	return p.st.Cosignatures(ctx, size)
}

// Receipt returns the Lianmeng-Receipt header value for ledger transaction
// txID, or "" when this gateway issues no receipts. With a batch (the
// writer's, for a write that applied now) the receipt is signed with the
// batch's others; without one (a replayed answer) the transaction is read
// back from the database.
func (p *Proofs) Receipt(ctx context.Context, b *Batch, txID int64) (string, error) {
	if p.Receipts == nil {
		return "", nil
	}
	if b != nil {
		return p.Receipts.HeaderIn(b, txID)
	}
	sr, err := p.Receipts.Issue(ctx, txID)
	if err != nil {
		return "", err
	}
	return sr.Header()
}
