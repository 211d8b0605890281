package api

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/gateway/evidence"
	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
	sdk "github.com/lianmeng/lianmeng/sdk/evidence"
)

// fetchTile is an sdk/evidence.TileReader over the public tile route.
func (a *evAPI) fetchTile(_ context.Context, level uint8, index uint64, width int) ([]byte, error) {
	resp, err := a.srv.App().Test(httptest.NewRequest("GET", "/v1/evidence/"+sdk.TilePath(level, index, width), nil), -1)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("status %d: %s", resp.StatusCode, b)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/octet-stream" {
		return nil, fmt.Errorf("content type %q", ct)
	}
	return b, nil
}

// A mirror that fetches only the checkpoint and tiles computes inclusion
// and consistency proofs that sdk/evidence verifies against the signed
// checkpoints, and equal to those the gateway serves.
func TestEvidenceTilesAPI(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		a := evSetup(t, db, true)
		m := a.merchant("Tile House")
		var pk PublicKeyJSON
		a.get("/v1/evidence/public-key", &pk)
		pub, err := sdk.ParsePublicKeyPEM([]byte(pk.PublicKeyPEM))
		if err != nil {
			t.Fatal(err)
		}
		for i := range 100 {
			a.insertTx(int64(1000+i), "merchant:"+m+":budget", "member:1:pending")
		}
		a.seal()
		var cj1 CheckpointJSON
		if a.get("/v1/evidence/checkpoint", &cj1) != 200 {
			t.Fatal("no checkpoint")
		}
		cp1 := evCheckpoint(t, pub, cj1)
		for i := range 200 {
			a.insertTx(int64(2000+i), "merchant:"+m+":budget", "member:1:pending")
		}
		a.seal()
		var cj2 CheckpointJSON
		a.get("/v1/evidence/checkpoint", &cj2)
		cp2 := evCheckpoint(t, pub, cj2)
		if cp2.Size <= sdk.TileWidth || cp1.Size >= cp2.Size {
			t.Fatalf("checkpoints of sizes %d and %d: want the second past one full tile", cp1.Size, cp2.Size)
		}

		th := sdk.NewTileHashes(a.fetchTile, cp2.Size)
		root, err := th.Root(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(root, cp2.Root) {
			t.Fatal("tiles do not give the checkpoint's root")
		}
		// Inclusion: the gateway's proof for a transaction in the first
		// (full) tile and one in the partial tile, recomputed from tiles.
		for _, tx := range []int64{1003, 2150} {
			var p InclusionJSON
			if a.asMerchant(m, fmt.Sprint("/v1/merchant/evidence/transactions/", tx), &p) != 200 {
				t.Fatalf("no proof for %d", tx)
			}
			evVerifyInclusion(t, pub, p, tx)
			if p.TreeSize != cp2.Size {
				t.Fatalf("proof at size %d, latest checkpoint %d", p.TreeSize, cp2.Size)
			}
			mine, err := th.InclusionProof(ctx, p.LeafIndex)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(hexList(mine)) != fmt.Sprint(p.Proof) {
				t.Fatalf("tx %d: proof from tiles %v, gateway %v", tx, hexList(mine), p.Proof)
			}
			entry, _ := base64.StdEncoding.DecodeString(p.Entry)
			if err := sdk.VerifyCheckpointInclusion(entry, p.LeafIndex, mine, cp2.Checkpoint); err != nil {
				t.Fatalf("tx %d: proof from tiles does not verify: %v", tx, err)
			}
		}
		cons, err := th.ConsistencyProof(ctx, cp1.Size)
		if err != nil {
			t.Fatal(err)
		}
		if err := sdk.VerifyConsistency(cp1.Checkpoint, cp2.Checkpoint, cons); err != nil {
			t.Fatalf("consistency from tiles: %v", err)
		}

		// Only published trees, only canonical paths.
		full := sdk.TileWidthAt(0, 1, cp2.Size)
		for path, want := range map[string]int{
			"/v1/evidence/tile/0/000":                    200,
			"/v1/evidence/tile/0/000.p/7":                200,
			"/v1/evidence/" + sdk.TilePath(0, 1, full):   200,
			"/v1/evidence/" + sdk.TilePath(0, 1, full+1): 404,
			"/v1/evidence/tile/0/001":                    404, // partial at this size
			"/v1/evidence/tile/0/002.p/1":                404,
			"/v1/evidence/tile/1/000.p/1":                200,
			"/v1/evidence/tile/1/000.p/2":                404,
			"/v1/evidence/tile/0/0":                      404,
			"/v1/evidence/tile/0/x000/000":               404,
			"/v1/evidence/tile/9/000":                    404,
			"/v1/evidence/tile/entries/000":              404,
		} {
			if got := a.get(path, nil); got != want {
				t.Errorf("GET %s: %d, want %d", path, got, want)
			}
		}
		// Witnesses' cosignatures are published with the latest checkpoint.
		if len(cj2.Cosignatures) != 0 {
			t.Fatalf("cosignatures before any witness: %+v", cj2.Cosignatures)
		}
		at := time.Date(2026, 3, 1, 8, 30, 15, 0, time.UTC)
		if err := db.Evidence().AddCosignature(ctx, cp2.Size, evidence.Cosignature{Witness: "w.example/a", Line: "— w.example/a AAAA", Time: at}); err != nil {
			t.Fatal(err)
		}
		if err := db.Evidence().AddCosignature(ctx, cp2.Size, evidence.Cosignature{Witness: "w.example/a", Line: "— w.example/a BBBB", Time: at}); err != nil {
			t.Fatal(err) // the second of one witness is ignored
		}
		var cj3 CheckpointJSON
		a.get("/v1/evidence/checkpoint", &cj3)
		if len(cj3.Cosignatures) != 1 || cj3.Cosignatures[0].Line != "— w.example/a AAAA" || !cj3.Cosignatures[0].Time.Equal(at) {
			t.Fatalf("published cosignatures %+v", cj3.Cosignatures)
		}
		// A level-1 hash is the root of the first 256 leaves.
		l1, err := a.fetchTile(ctx, 1, 0, 1)
		if err != nil {
			t.Fatal(err)
		}
		n, err := sdk.NewTileHashes(a.fetchTile, 256).Root(ctx)
		if err != nil || !bytes.Equal(n, l1) {
			t.Fatalf("level-1 tile hash %s, root of 256 leaves %s (%v)", hex.EncodeToString(l1), hex.EncodeToString(n), err)
		}
	})
}
