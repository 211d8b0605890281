package evidence

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"testing"
)

func TestTilePaths(t *testing.T) {
	for _, tc := range []struct {
		level uint8
		index uint64
		width int
		path  string
	}{
		{0, 0, 256, "tile/0/000"},
		{0, 0, 1, "tile/0/000.p/1"},
		{1, 67, 255, "tile/1/067.p/255"},
		{0, 1234067, 256, "tile/0/x001/x234/067"},
		{2, 1000, 17, "tile/2/x001/000.p/17"},
	} {
		if got := TilePath(tc.level, tc.index, tc.width); got != tc.path {
			t.Errorf("TilePath(%d, %d, %d) = %q, want %q", tc.level, tc.index, tc.width, got, tc.path)
		}
		l, i, w, err := ParseTilePath(tc.path[len("tile/"):])
		if err != nil || l != tc.level || i != tc.index || w != tc.width {
			t.Errorf("ParseTilePath(%q) = %d, %d, %d, %v", tc.path, l, i, w, err)
		}
	}
	for _, bad := range []string{"", "0", "0/", "0/1", "0/0000", "0/x000/001", "0/001/002", "8/000", "00/000",
		"0/000.p/0", "0/000.p/256", "0/000.p/01", "0/000.p", "-1/000", "0/x001", "0/000/", "0/00a"} {
		if _, _, _, err := ParseTilePath(bad); !errors.Is(err, ErrTilePath) {
			t.Errorf("ParseTilePath(%q) accepted", bad)
		}
	}
}

func TestTileWidthAt(t *testing.T) {
	for _, tc := range []struct {
		level     uint8
		index     uint64
		size      uint64
		wantWidth int
	}{
		{0, 0, 0, 0}, {0, 0, 1, 1}, {0, 0, 256, 256}, {0, 1, 256, 0}, {0, 1, 300, 44},
		{1, 0, 255, 0}, {1, 0, 256, 1}, {1, 0, 70000, 256}, {1, 1, 70000, 17}, {2, 0, 65536, 1},
	} {
		if got := TileWidthAt(tc.level, tc.index, tc.size); got != tc.wantWidth {
			t.Errorf("TileWidthAt(%d, %d, %d) = %d, want %d", tc.level, tc.index, tc.size, got, tc.wantWidth)
		}
	}
}

// memTiles builds tiles the way an appender does: from the nodes a Log
// reports, keeping those whose height is a multiple of 8.
type memTiles map[[2]uint64][]byte

func (m memTiles) visit(height uint, index uint64, h []byte) {
	if height%TileHeight != 0 {
		return
	}
	k := [2]uint64{uint64(height / TileHeight), index / TileWidth}
	if uint64(len(m[k])) != (index%TileWidth)*HashSize {
		panic("tile hashes out of order")
	}
	m[k] = append(m[k], h...)
}

func (m memTiles) read(_ context.Context, level uint8, index uint64, width int) ([]byte, error) {
	b := m[[2]uint64{uint64(level), index}]
	if len(b) < width*HashSize {
		return nil, errors.New("no such tile")
	}
	return b[:width*HashSize], nil
}

func testLeaf(i uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], i)
	return LeafHash(b[:])
}

// Proofs built from tiles verify against the roots a Log computes, for sizes
// on and around tile boundaries of levels 0, 1 and 2.
func TestProofsFromTiles(t *testing.T) {
	ctx := context.Background()
	tiles := memTiles{}
	l := NewLog()
	roots := map[uint64][]byte{0: l.Root()}
	sizes := []uint64{1, 2, 3, 255, 256, 257, 511, 512, 1000, 65535, 65536, 65537, 70001}
	for _, s := range sizes {
		for l.Size() < s {
			l.AppendLeafHashNodes(testLeaf(l.Size()), tiles.visit)
		}
		roots[s] = l.Root()
		th := NewTileHashes(tiles.read, s)
		root, err := th.Root(ctx)
		if err != nil {
			t.Fatalf("size %d: root: %v", s, err)
		}
		if string(root) != string(roots[s]) {
			t.Fatalf("size %d: root from tiles differs from the log's", s)
		}
		rng, err := th.Range(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if rl, err := RestoreLog(LogState{Size: s, ChainHead: l.ChainHead(), Hashes: rng}); err != nil || string(rl.Root()) != string(root) {
			t.Fatalf("size %d: compact range from tiles does not restore the log: %v", s, err)
		}
		for _, idx := range []uint64{0, s / 2, s - 1} {
			p, err := th.InclusionProof(ctx, idx)
			if err != nil {
				t.Fatalf("size %d: inclusion %d: %v", s, idx, err)
			}
			if err := VerifyInclusion(testLeaf(idx), idx, s, p, root); err != nil {
				t.Fatalf("size %d: inclusion %d does not verify: %v", s, idx, err)
			}
			if err := VerifyInclusion(testLeaf(idx+1), idx, s, p, root); err == nil {
				t.Fatalf("size %d: inclusion of a wrong leaf verified", s)
			}
		}
		for old, oldRoot := range roots {
			if old > s {
				continue
			}
			p, err := th.ConsistencyProof(ctx, old)
			if err != nil {
				t.Fatalf("consistency %d→%d: %v", old, s, err)
			}
			if err := VerifyConsistencyRoots(old, s, p, oldRoot, root); err != nil {
				t.Fatalf("consistency %d→%d does not verify: %v", old, s, err)
			}
		}
	}
	// A tile altered by a mirror gives proofs that do not verify.
	k := [2]uint64{0, 3}
	bad := append([]byte(nil), tiles[k]...)
	bad[5] ^= 1
	orig := tiles[k]
	tiles[k] = bad
	th := NewTileHashes(tiles.read, 70001)
	p, err := th.InclusionProof(ctx, 3*256+7)
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifyInclusion(testLeaf(3*256+7), 3*256+7, 70001, p, roots[70001]); err == nil {
		t.Fatal("a proof from a tampered tile verified")
	}
	tiles[k] = orig
	// A node beyond the size is refused, not read.
	if _, err := NewTileHashes(tiles.read, 5).InclusionProof(ctx, 5); err == nil {
		t.Fatal("inclusion beyond the size accepted")
	}
}

// The tile vector of docs/evidence.md §12: the §8 log of two entries has
// one tile, tile/0/000.p/2, its two leaf hashes.
func TestTileVectors(t *testing.T) {
	leaves := []string{
		"3701e622fccd733573927e10bce4cca83b0351fd4285a03023305a3b1a5494a3",
		"19ee4a613a655439a994202c16a469d40bf9e147bfe7862be8cbec112e515458",
	}
	tiles := memTiles{}
	l := NewLog()
	for _, h := range leaves {
		l.AppendLeafHashNodes(unhex(t, h), tiles.visit)
	}
	if len(tiles) != 1 || hex.EncodeToString(tiles[[2]uint64{0, 0}]) != leaves[0]+leaves[1] {
		t.Fatalf("tiles %x", tiles)
	}
	if p := TilePath(0, 0, TileWidthAt(0, 0, l.Size())); p != "tile/0/000.p/2" {
		t.Fatalf("path %s", p)
	}
	root, err := NewTileHashes(tiles.read, 2).Root(context.Background())
	if err != nil || hex.EncodeToString(root) != "b7473b404f2a81e7e1b118f58d2cc5b3b5e71b1fdeccb88b7c05a67aa502d4d7" {
		t.Fatalf("root %x %v", root, err)
	}
}
