package store_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/gateway/evidence"
	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
	sdk "github.com/lianmeng/lianmeng/sdk/evidence"
)

func evTileSealer(t testing.TB, db *store.DB, clk *evClock, holder string) *evidence.Sealer {
	t.Helper()
	s, err := evidence.NewSealer(db.Evidence(), evSigner(), evidence.SealerOptions{
		Origin: "test.example/lianmeng", Holder: holder, Now: clk.Now, Batch: 250, CheckpointEvery: 100,
		CheckpointInterval: time.Second, LeaseTTL: 15 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// evAllTiles reads every stored tile of the tree of size n.
func evAllTiles(t testing.TB, db *store.DB, n uint64) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for level := uint8(0); level <= sdk.MaxTileLevel; level++ {
		for idx := uint64(0); sdk.TileWidthAt(level, idx, n) > 0; idx++ {
			b, err := db.Evidence().Tile(context.Background(), level, idx)
			if err != nil {
				t.Fatalf("tile %d/%d: %v", level, idx, err)
			}
			out[sdk.TilePath(level, idx, sdk.TileWidthAt(level, idx, n))] = b
		}
	}
	return out
}

// The sealer writes tiles with the leaves; a log without tiles (sealed
// before they existed) gets them from its leaves at the sealer's start,
// identical; verify and the proof service catch an edited tile.
func TestEvidenceTiles(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clk := newEvClock()
		s := evTileSealer(t, db, clk, "a")
		for i := range 600 {
			evInsertTx(t, db, int64(10000+i), clk.Now().Add(time.Duration(i)*time.Microsecond), 1)
		}
		clk.Add(3 * time.Second)
		evSealOnce(t, s)
		clk.Add(3 * time.Second)
		evSealOnce(t, s)
		cp, err := db.Evidence().LatestCheckpoint(ctx)
		if err != nil || cp.Signed.Size != 600 {
			t.Fatalf("latest checkpoint %d, %v; want 600", cp.Signed.Size, err)
		}
		tiles := evAllTiles(t, db, 600)
		if len(tiles) != 4 || len(tiles["tile/0/000"]) != 256*32 || len(tiles["tile/0/002.p/88"]) != 88*32 || len(tiles["tile/1/000.p/2"]) != 2*32 {
			t.Fatalf("tiles %d", len(tiles))
		}
		root, err := sdk.NewTileHashes(func(ctx context.Context, l uint8, i uint64, w int) ([]byte, error) {
			b, err := db.Evidence().Tile(ctx, l, i)
			return b[:min(len(b), w*32)], err
		}, 600).Root(ctx)
		if err != nil || !bytes.Equal(root, cp.Signed.Root) {
			t.Fatalf("root from stored tiles differs from the checkpoint's (%v)", err)
		}
		if out := evVerify(t, db, clk); len(out) != 0 {
			t.Fatalf("verify: %q", out)
		}

		// An upgraded database: leaves, no tiles. Verify says so (not as
		// tampering); the next sealer to take the lease writes them.
		db.W.MustExec(`DELETE FROM evidence_tiles`)
		if out := evVerify(t, db, clk); len(out) != 1 || !strings.HasPrefix(out[0], "not sealed: no tiles") {
			t.Fatalf("verify without tiles: %q", out)
		}
		clk.Add(16 * time.Second)
		if !evSealOnce(t, evTileSealer(t, db, clk, "b")) {
			t.Fatal("b did not take the lease")
		}
		again := evAllTiles(t, db, 600)
		for p, b := range tiles {
			if !bytes.Equal(again[p], b) {
				t.Fatalf("%s written from the leaves differs from the sealer's", p)
			}
		}
		if out := evVerify(t, db, clk); len(out) != 0 {
			t.Fatalf("verify after backfill: %q", out)
		}

		// An edited full tile: verify names it, proofs through it are
		// refused (never served wrong), and a sealer that reloads still
		// starts (only rightmost tiles are read) but verify keeps failing.
		bad := bytes.Clone(tiles["tile/0/000"])
		bad[3*32] ^= 1
		db.W.MustExec(`UPDATE evidence_tiles SET hashes = ? WHERE level = 0 AND idx = 0`, bad)
		evWantFinding(t, evVerify(t, db, clk), "tile/0/000", "edited")
		proofs := evidence.NewProofs(db.Evidence(), nil, evSigner().KeyID())
		leaf3, err := db.Evidence().Leaves(ctx, 2, 1)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := proofs.Inclusion(ctx, leaf3[0].Ref); !errors.Is(err, evidence.ErrMismatch) {
			t.Fatalf("inclusion through an edited tile: %v, want ErrMismatch", err)
		}
		if _, err := proofs.Tile(ctx, 0, 0, 256); err != nil {
			t.Fatalf("tile: %v", err)
		}
		// An edited rightmost tile stops the sealer at its next load.
		db.W.MustExec(`UPDATE evidence_tiles SET hashes = ? WHERE level = 0 AND idx = 0`, tiles["tile/0/000"])
		last := bytes.Clone(tiles["tile/0/002.p/88"])
		last[0] ^= 1
		db.W.MustExec(`UPDATE evidence_tiles SET hashes = ? WHERE level = 0 AND idx = 2`, last)
		clk.Add(16 * time.Second)
		if _, err := evTileSealer(t, db, clk, "c").SealOnce(ctx); err == nil || !strings.Contains(err.Error(), "tiles do not give the root") {
			t.Fatalf("sealer over an edited tile: %v", err)
		}
	})
}
