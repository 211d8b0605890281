package evidence

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
)

// Tiles (C2SP tlog-tiles, docs/evidence.md §12): the Merkle tree is cut into
// tiles of height 8. The tile at level L, index N holds the hashes of the
// tree nodes at height 8·L with indices 256·N … 256·N+W-1, W ≤ 256 (at level
// 0, the leaf hashes). A tile of width 256 is full and never changes; a
// partial tile of width W is the first W hashes of what will be the full one.
const (
	TileHeight = 8
	TileWidth  = 1 << TileHeight
	// MaxTileLevel bounds L: 8·L must stay below 64.
	MaxTileLevel = 7
)

// TilePath returns the tlog-tiles path of a tile: "tile/<L>/<N>" for a full
// tile, "tile/<L>/<N>.p/<W>" for a partial one of width W < 256. N is written
// in groups of three digits, all but the last prefixed with "x"
// (1234067 → "x001/x234/067").
func TilePath(level uint8, index uint64, width int) string {
	var b strings.Builder
	b.WriteString("tile/")
	b.WriteString(strconv.Itoa(int(level)))
	b.WriteByte('/')
	b.WriteString(tileIndexPath(index))
	if width < TileWidth {
		b.WriteString(".p/")
		b.WriteString(strconv.Itoa(width))
	}
	return b.String()
}

func tileIndexPath(n uint64) string {
	groups := []string{fmt.Sprintf("%03d", n%1000)}
	for n /= 1000; n > 0; n /= 1000 {
		groups = append(groups, fmt.Sprintf("x%03d", n%1000))
	}
	for i, j := 0, len(groups)-1; i < j; i, j = i+1, j-1 {
		groups[i], groups[j] = groups[j], groups[i]
	}
	return strings.Join(groups, "/")
}

// ErrTilePath is returned by ParseTilePath for a path that is not exactly
// what TilePath produces.
var ErrTilePath = errors.New("evidence: not a tile path")

// ParseTilePath parses what follows "tile/" in a tile path, e.g.
// "0/x001/234.p/17", and accepts only the canonical spelling TilePath
// writes (so a tile has one address).
func ParseTilePath(p string) (level uint8, index uint64, width int, err error) {
	parts := strings.Split(p, "/")
	if len(parts) < 2 {
		return 0, 0, 0, ErrTilePath
	}
	l, err := strconv.ParseUint(parts[0], 10, 8)
	if err != nil || l > MaxTileLevel || strconv.FormatUint(l, 10) != parts[0] {
		return 0, 0, 0, ErrTilePath
	}
	width = TileWidth
	if n := len(parts); n >= 3 && strings.HasSuffix(parts[n-2], ".p") {
		w, err := strconv.Atoi(parts[n-1])
		if err != nil || w < 1 || w >= TileWidth || strconv.Itoa(w) != parts[n-1] {
			return 0, 0, 0, ErrTilePath
		}
		width = w
		parts[n-2] = strings.TrimSuffix(parts[n-2], ".p")
		parts = parts[:n-1]
	}
	for i, g := range parts[1:] {
		last := i == len(parts)-2
		if !last {
			if !strings.HasPrefix(g, "x") {
				return 0, 0, 0, ErrTilePath
			}
			g = g[1:]
		}
		if len(g) != 3 || strings.Trim(g, "0123456789") != "" {
			return 0, 0, 0, ErrTilePath
		}
		d, _ := strconv.ParseUint(g, 10, 16)
		if index > (1<<63)/1000 {
			return 0, 0, 0, ErrTilePath
		}
		index = index*1000 + d
	}
	if "tile/"+p != TilePath(uint8(l), index, width) {
		return 0, 0, 0, ErrTilePath // leading "x000" groups and the like
	}
	return uint8(l), index, width, nil
}

// TileWidthAt returns the width of tile (level, index) in the tree of the
// given size: 0 if the tile does not exist yet, 256 if it is full.
func TileWidthAt(level uint8, index, size uint64) int {
	if uint(level)*TileHeight >= 64 {
		return 0
	}
	nodes := size >> (uint(level) * TileHeight) // complete nodes at height 8·level
	if nodes <= index*TileWidth {
		return 0
	}
	return int(min(nodes-index*TileWidth, TileWidth))
}

// TileReader returns the first width hashes (width·32 bytes) of tile
// (level, index), e.g. by fetching TilePath(level, index, width) from a
// gateway's /v1/evidence/ endpoint. The tiles it returns are not trusted:
// proofs built from them verify against a signed checkpoint, or fail.
type TileReader func(ctx context.Context, level uint8, index uint64, width int) ([]byte, error)

// TileHashes builds proofs and roots for the tree of one size from tiles.
// It remembers the tiles it read, so build the proofs for one checkpoint
// with one TileHashes. Not safe for concurrent use.
type TileHashes struct {
	read  TileReader
	size  uint64
	cache map[[2]uint64][]byte
}

// NewTileHashes returns a TileHashes over the tree of size leaves.
func NewTileHashes(read TileReader, size uint64) *TileHashes {
	return &TileHashes{read: read, size: size, cache: map[[2]uint64][]byte{}}
}

// tile returns tile (level, index) at its width in the tree of t.size.
func (t *TileHashes) tile(ctx context.Context, level uint8, index uint64) ([]byte, error) {
	key := [2]uint64{uint64(level), index}
	if b, ok := t.cache[key]; ok {
		return b, nil
	}
	w := TileWidthAt(level, index, t.size)
	if w == 0 {
		return nil, fmt.Errorf("evidence: tile %s does not exist at size %d", TilePath(level, index, TileWidth), t.size)
	}
	b, err := t.read(ctx, level, index, w)
	if err != nil {
		return nil, fmt.Errorf("evidence: read %s: %w", TilePath(level, index, w), err)
	}
	if len(b) != w*HashSize {
		return nil, fmt.Errorf("evidence: %s has %d bytes, want %d", TilePath(level, index, w), len(b), w*HashSize)
	}
	t.cache[key] = b
	return b, nil
}

// Node returns the hash of the complete tree node id (height id.Level,
// index id.Index), computed from the one tile that holds its subtree: the
// node's descendants at height 8·⌊Level/8⌋ are consecutive hashes of one
// tile, hashed up Level mod 8 times.
func (t *TileHashes) Node(ctx context.Context, id compact.NodeID) ([]byte, error) {
	if id.Level >= 64 || id.Index >= t.size>>id.Level {
		return nil, fmt.Errorf("evidence: node %d/%d is not complete in the tree of size %d", id.Level, id.Index, t.size)
	}
	level := uint8(id.Level / TileHeight)
	r := id.Level % TileHeight
	first := id.Index << r // first descendant at height 8·level
	tile, err := t.tile(ctx, level, first/TileWidth)
	if err != nil {
		return nil, err
	}
	start := int(first % TileWidth)
	n := 1 << r
	hs := make([][]byte, n)
	for i := range n {
		off := (start + i) * HashSize
		hs[i] = tile[off : off+HashSize]
	}
	for len(hs) > 1 {
		next := make([][]byte, len(hs)/2)
		for i := range next {
			next[i] = SM3Hasher.HashChildren(hs[2*i], hs[2*i+1])
		}
		hs = next
	}
	return hs[0], nil
}

func (t *TileHashes) nodes(ctx context.Context, ids []compact.NodeID) ([][]byte, error) {
	out := make([][]byte, len(ids))
	for i, id := range ids {
		h, err := t.Node(ctx, id)
		if err != nil {
			return nil, err
		}
		out[i] = h
	}
	return out, nil
}

// Root returns the Merkle root of the tree of size t.size.
func (t *TileHashes) Root(ctx context.Context) ([]byte, error) {
	if t.size == 0 {
		return SM3Hasher.EmptyRoot(), nil
	}
	hs, err := t.nodes(ctx, compact.RangeNodes(0, t.size, nil))
	if err != nil {
		return nil, err
	}
	root := hs[len(hs)-1]
	for i := len(hs) - 2; i >= 0; i-- {
		root = SM3Hasher.HashChildren(hs[i], root)
	}
	return root, nil
}

// Range returns the compact range [0, t.size), the state a log appender
// resumes from (LogState.Hashes).
func (t *TileHashes) Range(ctx context.Context) ([][]byte, error) {
	return t.nodes(ctx, compact.RangeNodes(0, t.size, nil))
}

// InclusionProof returns the RFC 6962 audit path of leaf index in the tree
// of size t.size, bottom-up.
func (t *TileHashes) InclusionProof(ctx context.Context, index uint64) ([][]byte, error) {
	ns, err := proof.Inclusion(index, t.size)
	if err != nil {
		return nil, fmt.Errorf("evidence: inclusion proof: %w", err)
	}
	return t.rehash(ctx, ns)
}

// ConsistencyProof returns the RFC 6962 consistency proof from the tree of
// size1 to the tree of size t.size, bottom-up.
func (t *TileHashes) ConsistencyProof(ctx context.Context, size1 uint64) ([][]byte, error) {
	ns, err := proof.Consistency(size1, t.size)
	if err != nil {
		return nil, fmt.Errorf("evidence: consistency proof: %w", err)
	}
	return t.rehash(ctx, ns)
}

func (t *TileHashes) rehash(ctx context.Context, ns proof.Nodes) ([][]byte, error) {
	hs, err := t.nodes(ctx, ns.IDs)
	if err != nil {
		return nil, err
	}
	out, err := ns.Rehash(hs, SM3Hasher.HashChildren)
	if err != nil {
		return nil, fmt.Errorf("evidence: rehash proof: %w", err)
	}
	if out == nil {
		out = [][]byte{}
	}
	return out, nil
}
