package evidence

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/emmansun/gmsm/sm3"
	"github.com/transparency-dev/merkle/compact"
)

// chainGenesisLabel is hashed to give the chain value before the first entry.
const chainGenesisLabel = "lianmeng.evidence.chain.v1"

var chainGenesis = sm3.Sum([]byte(chainGenesisLabel))

// ChainGenesis returns the chain value of the empty log:
// SM3("lianmeng.evidence.chain.v1").
func ChainGenesis() []byte { return bytes.Clone(chainGenesis[:]) }

// ChainNext returns SM3(0x02 || prev || leafHash), the chain value after
// appending the entry whose Merkle leaf hash is leafHash.
func ChainNext(prev, leafHash []byte) []byte {
	var buf [1 + 2*HashSize]byte
	b := append(buf[:0], chainPrefix)
	b = append(b, prev...)
	b = append(b, leafHash...)
	h := sm3.Sum(b)
	return h[:]
}

var rangeFactory = &compact.RangeFactory{Hash: SM3Hasher.HashChildren}

// Log is the append-only state of the evidence log: its size, the hash-chain
// head and the compact Merkle range [0, size). It holds O(log size) hashes,
// so a sealer can persist it after every batch and resume without re-reading
// the leaves; a verifier can stream a whole log through it. Not safe for
// concurrent use.
type Log struct {
	chain []byte
	rng   *compact.Range
}

// LogState is the persistable form of a Log. Hashes are the roots of the
// minimal perfect subtrees covering [0, Size), left to right (one per set bit
// of Size), exactly as compact.Range.Hashes.
type LogState struct {
	Size      uint64
	ChainHead []byte
	Hashes    [][]byte
}

// NewLog returns an empty log.
func NewLog() *Log {
	return &Log{chain: ChainGenesis(), rng: rangeFactory.NewEmptyRange(0)}
}

// RestoreLog rebuilds a Log from a state saved with (*Log).State.
func RestoreLog(st LogState) (*Log, error) {
	if len(st.ChainHead) != HashSize {
		return nil, fmt.Errorf("evidence: restore log: chain head is %d bytes, want %d", len(st.ChainHead), HashSize)
	}
	for i, h := range st.Hashes {
		if len(h) != HashSize {
			return nil, fmt.Errorf("evidence: restore log: hash %d is %d bytes, want %d", i, len(h), HashSize)
		}
	}
	if st.Size == 0 && !bytes.Equal(st.ChainHead, chainGenesis[:]) {
		return nil, errors.New("evidence: restore log: empty log with non-genesis chain head")
	}
	hashes := make([][]byte, len(st.Hashes))
	for i, h := range st.Hashes {
		hashes[i] = bytes.Clone(h)
	}
	rng, err := rangeFactory.NewRange(0, st.Size, hashes)
	if err != nil {
		return nil, fmt.Errorf("evidence: restore log of size %d: %w", st.Size, err)
	}
	return &Log{chain: bytes.Clone(st.ChainHead), rng: rng}, nil
}

// State returns a copy of the log state for persistence.
func (l *Log) State() LogState {
	src := l.rng.Hashes()
	hashes := make([][]byte, len(src))
	for i, h := range src {
		hashes[i] = bytes.Clone(h)
	}
	return LogState{Size: l.rng.End(), ChainHead: bytes.Clone(l.chain), Hashes: hashes}
}

// Size returns the number of entries appended so far.
func (l *Log) Size() uint64 { return l.rng.End() }

// ChainHead returns the chain value after the last entry (ChainGenesis if
// empty).
func (l *Log) ChainHead() []byte { return bytes.Clone(l.chain) }

// Root returns the RFC 6962 Merkle root of the entries so far (EmptyRoot if
// none). Cost: O(log size) hashes.
func (l *Log) Root() []byte {
	root, err := l.rng.GetRootHash(nil)
	if err != nil { // cannot happen: the range always starts at 0
		panic(fmt.Sprintf("evidence: root of compact range: %v", err))
	}
	if root == nil {
		return SM3Hasher.EmptyRoot()
	}
	return root
}

// Append adds one entry, given by its canonical bytes, at index Size(). It
// returns the entry's leaf hash and the new chain value, both of which the
// sealer stores next to the entry.
func (l *Log) Append(data []byte) (leafHash, chain []byte) {
	leafHash = LeafHash(data)
	return leafHash, l.AppendLeafHash(leafHash)
}

// AppendLeafHash is Append for an entry whose leaf hash is already known.
// It returns the new chain value.
func (l *Log) AppendLeafHash(leafHash []byte) []byte {
	return l.AppendLeafHashNodes(leafHash, nil)
}

// AppendLeafHashNodes is AppendLeafHash that also reports, through visit if
// not nil, every tree node the append completes (the leaf itself at height
// 0 first), so an appender can write tiles without keeping the tree.
func (l *Log) AppendLeafHashNodes(leafHash []byte, visit func(height uint, index uint64, hash []byte)) []byte {
	if len(leafHash) != HashSize {
		panic(fmt.Sprintf("evidence: leaf hash of %d bytes", len(leafHash)))
	}
	var v compact.VisitFn
	if visit != nil {
		v = func(id compact.NodeID, h []byte) { visit(id.Level, id.Index, h) }
	}
	if err := l.rng.Append(bytes.Clone(leafHash), v); err != nil {
		panic(fmt.Sprintf("evidence: append to compact range: %v", err)) // cannot happen for an append at End
	}
	l.chain = ChainNext(l.chain, leafHash)
	return bytes.Clone(l.chain)
}

// SealedEntry is an entry as stored by the sealer: its canonical bytes and
// the chain value recorded after it.
type SealedEntry struct {
	Data  []byte
	Chain []byte
}

// DivergenceError reports the first log position where stored evidence and
// recomputation disagree.
type DivergenceError struct {
	Index  uint64 // 0-based position in the log
	Reason string
}

func (e *DivergenceError) Error() string {
	return fmt.Sprintf("evidence: log diverges at entry %d: %s", e.Index, e.Reason)
}

// Check appends the entry to l and compares the recomputed chain value with
// the stored one. A mismatch means this entry, or an earlier one, was
// changed, removed, inserted or reordered after sealing; the log still
// advances (with the recomputed value) so the caller may go on reporting.
func (l *Log) Check(e SealedEntry) error {
	idx := l.Size()
	_, chain := l.Append(e.Data)
	if !bytes.Equal(chain, e.Chain) {
		return &DivergenceError{Index: idx, Reason: fmt.Sprintf("stored chain %s, recomputed %s", short(e.Chain), short(chain))}
	}
	return nil
}

// CheckCheckpoint compares the log, which must have exactly cp.Size entries,
// with a checkpoint's root and chain head. It does not verify the signature
// (see VerifyCheckpoint).
func (l *Log) CheckCheckpoint(cp Checkpoint) error {
	if l.Size() != cp.Size {
		return fmt.Errorf("evidence: checkpoint of size %d checked against log of size %d", cp.Size, l.Size())
	}
	if root := l.Root(); !bytes.Equal(root, cp.Root) {
		return &DivergenceError{Index: cp.Size, Reason: fmt.Sprintf("checkpoint root %s, recomputed %s", short(cp.Root), short(root))}
	}
	if !bytes.Equal(l.chain, cp.ChainHead) {
		return &DivergenceError{Index: cp.Size, Reason: fmt.Sprintf("checkpoint chain head %s, recomputed %s", short(cp.ChainHead), short(l.chain))}
	}
	return nil
}

// VerifyChain recomputes the hash chain over entries, which start at the
// beginning of the log, and returns the index of the first entry whose stored
// chain value does not match, or -1 and nil if all match. Deleting the last
// entries is not visible here: compare the result with a signed checkpoint
// (Log.CheckCheckpoint) to detect truncation.
func VerifyChain(entries []SealedEntry) (firstBad int, err error) {
	l := NewLog()
	for i, e := range entries {
		if err := l.Check(e); err != nil {
			return i, err
		}
	}
	return -1, nil
}

func short(h []byte) string {
	if len(h) > 8 {
		return hex.EncodeToString(h[:8]) + "…"
	}
	return hex.EncodeToString(h)
}

// logStateVersion leads the binary form of a LogState.
const logStateVersion byte = 1

// MarshalBinary encodes the state as: version byte 0x01, size (uint64 big
// endian), chain head, then the compact-range hashes (one per set bit of
// size), for storage in a single column.
func (st LogState) MarshalBinary() ([]byte, error) {
	if len(st.ChainHead) != HashSize {
		return nil, fmt.Errorf("evidence: marshal log state: chain head is %d bytes", len(st.ChainHead))
	}
	if want := compact.RangeSize(0, st.Size); len(st.Hashes) != want {
		return nil, fmt.Errorf("evidence: marshal log state: %d hashes for size %d, want %d", len(st.Hashes), st.Size, want)
	}
	out := make([]byte, 0, 9+HashSize*(1+len(st.Hashes)))
	out = append(out, logStateVersion)
	out = binary.BigEndian.AppendUint64(out, st.Size)
	out = append(out, st.ChainHead...)
	for i, h := range st.Hashes {
		if len(h) != HashSize {
			return nil, fmt.Errorf("evidence: marshal log state: hash %d is %d bytes", i, len(h))
		}
		out = append(out, h...)
	}
	return out, nil
}

// UnmarshalBinary decodes the form written by MarshalBinary.
func (st *LogState) UnmarshalBinary(data []byte) error {
	if len(data) < 9+HashSize || data[0] != logStateVersion {
		return errors.New("evidence: unmarshal log state: bad header")
	}
	size := binary.BigEndian.Uint64(data[1:9])
	rest := data[9:]
	n := compact.RangeSize(0, size)
	if len(rest) != HashSize*(1+n) {
		return fmt.Errorf("evidence: unmarshal log state: %d bytes for size %d", len(data), size)
	}
	st.Size = size
	st.ChainHead = bytes.Clone(rest[:HashSize])
	st.Hashes = make([][]byte, n)
	for i := range n {
		st.Hashes[i] = bytes.Clone(rest[HashSize*(1+i) : HashSize*(2+i)])
	}
	return nil
}
