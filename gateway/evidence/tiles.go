package evidence

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"slices"

	sdk "github.com/lianmeng/lianmeng/sdk/evidence"
)

// tileWriter turns the nodes a Log reports while appending into tiles
// (docs/evidence.md §12). It keeps only the rightmost tile of each level,
// at most 256 hashes per level, so memory is constant in the log size; the
// tiles to the left are complete and already stored.
type tileWriter struct {
	last  []*Tile             // rightmost tile per level
	dirty map[[2]uint64]*Tile // changed since take
	err   error
}

// newTileWriter resumes from the rightmost stored tiles (LastTiles).
func newTileWriter(last []Tile) *tileWriter {
	w := &tileWriter{dirty: map[[2]uint64]*Tile{}}
	for _, t := range last {
		for len(w.last) <= int(t.Level) {
			w.last = append(w.last, nil)
		}
		w.last[t.Level] = &Tile{Level: t.Level, Index: t.Index, Hashes: bytes.Clone(t.Hashes)}
	}
	return w
}

// size returns the number of leaves the tiles cover.
func (w *tileWriter) size() uint64 {
	if len(w.last) == 0 || w.last[0] == nil {
		return 0
	}
	return w.last[0].Index*sdk.TileWidth + uint64(w.last[0].Width())
}

// visit is the callback of Log.AppendLeafHashNodes.
func (w *tileWriter) visit(height uint, index uint64, h []byte) {
	if height%sdk.TileHeight != 0 || w.err != nil {
		return
	}
	level := height / sdk.TileHeight
	if level > sdk.MaxTileLevel {
		w.err = fmt.Errorf("evidence: node at height %d is beyond the last tile level", height)
		return
	}
	for len(w.last) <= int(level) {
		w.last = append(w.last, nil)
	}
	n, pos := index/sdk.TileWidth, index%sdk.TileWidth
	t := w.last[level]
	if t == nil || t.Index != n {
		// A new tile; the previous one (full) stays in dirty as it was.
		t = &Tile{Level: uint8(level), Index: n}
		w.last[level] = t
	}
	if uint64(t.Width()) != pos {
		w.err = fmt.Errorf("evidence: tile %s has %d hashes, node %d/%d does not follow", sdk.TilePath(uint8(level), n, sdk.TileWidth), t.Width(), height, index)
		return
	}
	t.Hashes = append(t.Hashes, h...)
	w.dirty[[2]uint64{uint64(level), n}] = t
}

// take returns copies of the tiles changed since the last take, lowest
// level and index first.
func (w *tileWriter) take() ([]Tile, error) {
	if w.err != nil {
		return nil, w.err
	}
	out := make([]Tile, 0, len(w.dirty))
	for _, t := range w.dirty {
		out = append(out, Tile{Level: t.Level, Index: t.Index, Hashes: bytes.Clone(t.Hashes)})
	}
	slices.SortFunc(out, func(a, b Tile) int {
		if a.Level != b.Level {
			return int(a.Level) - int(b.Level)
		}
		return cmp.Compare(a.Index, b.Index)
	})
	clear(w.dirty)
	return out, nil
}

// reader serves TileHashes from the rightmost tiles only: enough for the
// compact range and the root at w.size().
func (w *tileWriter) reader(_ context.Context, level uint8, index uint64, width int) ([]byte, error) {
	if int(level) < len(w.last) && w.last[level] != nil && w.last[level].Index == index && w.last[level].Width() >= width {
		return w.last[level].Hashes[:width*hashSize], nil
	}
	return nil, fmt.Errorf("%w: tile %s", ErrNotFound, sdk.TilePath(level, index, width))
}

// tileCache keeps recently read full tiles (which never change) for
// Proofs, bounded to max tiles (8 KiB each), oldest evicted first.
type tileCache struct {
	max   int
	m     map[[2]uint64][]byte
	order [][2]uint64
}

func (c *tileCache) get(k [2]uint64) ([]byte, bool) {
	b, ok := c.m[k]
	return b, ok
}

func (c *tileCache) put(k [2]uint64, b []byte) {
	if c.m == nil {
		c.m = map[[2]uint64][]byte{}
	}
	if _, ok := c.m[k]; ok {
		return
	}
	if len(c.order) >= c.max {
		delete(c.m, c.order[0])
		c.order = c.order[1:]
	}
	c.m[k] = b
	c.order = append(c.order, k)
}
