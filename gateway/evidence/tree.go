package evidence

import (
	"bytes"
	"fmt"
	"hash"
	"sync"

	"github.com/emmansun/gmsm/sm3"
	sdk "github.com/lianmeng/lianmeng/sdk/evidence"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
)

const hashSize = sdk.HashSize

// Tree keeps every complete node of the Merkle tree in memory, so that
// inclusion and consistency proofs for any size up to Size() cost O(log n)
// lookups and at most O(log n) hashes. The gateway no longer serves from it
// (Proofs reads tiles, whose memory does not grow with the log); it stays
// as the plain reference the tests compare tiles and proofs with, and for
// tools working on a bounded log.
//
// Memory is about 2·n·32 bytes (64 MB for 10^6 entries); building it from n
// leaf hashes costs n-1 node hashes (about 0.7 s for 2^20 leaves on one core
// of the reference machine). Append is amortised O(1); a proof costs a few
// microseconds. Safe for concurrent use: proofs may be
// served while the sealer appends.
type Tree struct {
	mu sync.RWMutex
	// levels[l] is the concatenation of the hashes of the complete nodes at
	// level l (level 0 = leaf hashes); it holds floor(n / 2^l) of them.
	levels [][]byte
	size   uint64
	h      hash.Hash // reused under mu, so appends do not allocate
}

// NewTree returns an empty tree.
func NewTree() *Tree { return &Tree{} }

// BuildTree loads n leaf hashes through leafHash(0..n-1), in order, into a
// new Tree. leafHash is typically a cursor over the stored entries.
func BuildTree(n uint64, leafHash func(index uint64) ([]byte, error)) (*Tree, error) {
	t := NewTree()
	for l := uint64(0); n>>l > 0; l++ { // exact capacity: no regrowth copies
		t.levels = append(t.levels, make([]byte, 0, (n>>l)*hashSize))
	}
	for i := range n {
		h, err := leafHash(i)
		if err != nil {
			return nil, fmt.Errorf("evidence: build tree: leaf %d: %w", i, err)
		}
		if err := t.AppendLeafHash(h); err != nil {
			return nil, fmt.Errorf("evidence: build tree: leaf %d: %w", i, err)
		}
	}
	return t, nil
}

// Size returns the number of leaves.
func (t *Tree) Size() uint64 {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.size
}

// AppendLeafHash appends one leaf hash (sdk LeafHash of the entry bytes).
func (t *Tree) AppendLeafHash(h []byte) error {
	if len(h) != hashSize {
		return fmt.Errorf("evidence: leaf hash is %d bytes, want %d", len(h), hashSize)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.levels) == 0 {
		t.levels = append(t.levels, nil)
	}
	t.levels[0] = append(t.levels[0], h...)
	t.size++
	// Each time a level gets an even count, its last two nodes complete a parent.
	for l := 0; ; l++ {
		lv := t.levels[l]
		n := len(lv) / hashSize
		if n%2 != 0 {
			break
		}
		if l+1 == len(t.levels) {
			t.levels = append(t.levels, nil)
		}
		if t.h == nil {
			t.h = sm3.New()
		}
		// SM3(0x01 || left || right), as sdk.Hasher.HashChildren.
		t.h.Reset()
		t.h.Write(nodePrefix)
		t.h.Write(lv[(n-2)*hashSize:])
		t.levels[l+1] = t.h.Sum(t.levels[l+1])
	}
	return nil
}

// node returns the hash of a complete node; the caller holds t.mu.
func (t *Tree) node(id compact.NodeID) ([]byte, error) {
	if int(id.Level) >= len(t.levels) {
		return nil, fmt.Errorf("evidence: node %d/%d not in tree of size %d", id.Level, id.Index, t.size)
	}
	lv := t.levels[id.Level]
	if id.Index >= uint64(len(lv)/hashSize) {
		return nil, fmt.Errorf("evidence: node %d/%d not in tree of size %d", id.Level, id.Index, t.size)
	}
	return bytes.Clone(lv[id.Index*hashSize : (id.Index+1)*hashSize]), nil
}

func (t *Tree) nodes(ids []compact.NodeID) ([][]byte, error) {
	hs := make([][]byte, len(ids))
	for i, id := range ids {
		h, err := t.node(id)
		if err != nil {
			return nil, err
		}
		hs[i] = h
	}
	return hs, nil
}

// RootAt returns the Merkle root of the first size leaves.
func (t *Tree) RootAt(size uint64) ([]byte, error) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if size > t.size {
		return nil, fmt.Errorf("evidence: root at size %d: tree has only %d leaves", size, t.size)
	}
	if size == 0 {
		return sdk.SM3Hasher.EmptyRoot(), nil
	}
	hs, err := t.nodes(compact.RangeNodes(0, size, nil))
	if err != nil {
		return nil, err
	}
	// Fold the perfect subtrees right to left, as RFC 6962 pairs them.
	root := hs[len(hs)-1]
	for i := len(hs) - 2; i >= 0; i-- {
		root = sdk.SM3Hasher.HashChildren(hs[i], root)
	}
	return root, nil
}

// InclusionProof returns the RFC 6962 audit path for leaf index in the tree
// of the given size (index < size <= Size()).
func (t *Tree) InclusionProof(index, size uint64) ([][]byte, error) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if size > t.size {
		return nil, fmt.Errorf("evidence: inclusion proof at size %d: tree has only %d leaves", size, t.size)
	}
	ns, err := proof.Inclusion(index, size)
	if err != nil {
		return nil, fmt.Errorf("evidence: inclusion proof: %w", err)
	}
	return t.rehash(ns)
}

// ConsistencyProof returns the RFC 6962 consistency proof between the trees
// of size1 and size2 (size1 <= size2 <= Size()).
func (t *Tree) ConsistencyProof(size1, size2 uint64) ([][]byte, error) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if size2 > t.size {
		return nil, fmt.Errorf("evidence: consistency proof to size %d: tree has only %d leaves", size2, t.size)
	}
	ns, err := proof.Consistency(size1, size2)
	if err != nil {
		return nil, fmt.Errorf("evidence: consistency proof: %w", err)
	}
	return t.rehash(ns)
}

func (t *Tree) rehash(ns proof.Nodes) ([][]byte, error) {
	hs, err := t.nodes(ns.IDs)
	if err != nil {
		return nil, err
	}
	out, err := ns.Rehash(hs, sdk.SM3Hasher.HashChildren)
	if err != nil {
		return nil, fmt.Errorf("evidence: rehash proof: %w", err)
	}
	return out, nil
}

// InclusionProofFromLeaves computes an inclusion proof without keeping a
// Tree: it reads leaf hashes 0..size-1 through leafHash and costs O(size)
// time and memory. Use a long-lived Tree when serving many proofs.
func InclusionProofFromLeaves(index, size uint64, leafHash func(uint64) ([]byte, error)) ([][]byte, error) {
	t, err := BuildTree(size, leafHash)
	if err != nil {
		return nil, err
	}
	return t.InclusionProof(index, size)
}

// ConsistencyProofFromLeaves is InclusionProofFromLeaves for a consistency
// proof between size1 and size2; it reads leaves 0..size2-1.
func ConsistencyProofFromLeaves(size1, size2 uint64, leafHash func(uint64) ([]byte, error)) ([][]byte, error) {
	t, err := BuildTree(size2, leafHash)
	if err != nil {
		return nil, err
	}
	return t.ConsistencyProof(size1, size2)
}

// nodePrefix is RFC 6962's interior-node prefix, as a slice so writing it
// does not allocate.
var nodePrefix = []byte{0x01}
