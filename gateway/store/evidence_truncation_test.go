package store_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/gateway/evidence"
	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
)

func evMemorySealer(t testing.TB, db *store.DB, clk *evClock, holder string, mem evidence.Memory) *evidence.Sealer {
	t.Helper()
	s, err := evidence.NewSealer(db.Evidence(), evSigner(), evidence.SealerOptions{
		Origin: "test.example/lianmeng", Holder: holder, Now: clk.Now, Batch: 100, CheckpointEvery: 1000,
		CheckpointInterval: time.Second, LeaseTTL: 15 * time.Second, Memory: mem,
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// The reproduction of issue 14: on a sealed database, the last two
// transactions are deleted with their leaves and the checkpoints after
// them, and the tiles are rebuilt for the shorter log. The database alone
// then verifies; a checkpoint saved earlier does not, naming the first
// missing index, and the sealer that published it refuses to continue. A
// log then grown again to past the saved size is a fork: also caught.
func TestTruncationDetected(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clk := newEvClock()
		mem := evidence.FileMemory{Path: filepath.Join(t.TempDir(), "published-checkpoint")}
		a := evMemorySealer(t, db, clk, "a", mem)
		seal := func(s *evidence.Sealer) {
			t.Helper()
			clk.Add(3 * time.Second)
			evSealOnce(t, s)
			clk.Add(3 * time.Second)
			evSealOnce(t, s)
		}
		for i := range 21 {
			evInsertTx(t, db, int64(100+i), clk.Now().Add(time.Duration(i)*time.Millisecond), 5)
		}
		seal(a)
		for i := range 2 {
			evInsertTx(t, db, int64(200+i), clk.Now().Add(time.Duration(i)*time.Millisecond), 5)
		}
		seal(a)
		saved, err := db.Evidence().LatestCheckpoint(ctx)
		if err != nil || saved.Signed.Size != 23 {
			t.Fatalf("latest checkpoint %d, %v; want 23", saved.Signed.Size, err)
		}
		if m, err := mem.Load(); err != nil || m == nil || m.Size != 23 {
			t.Fatalf("sealer memory %+v, %v; want the checkpoint of size 23", m, err)
		}

		// The truncation, done carefully.
		db.W.MustExec(`DELETE FROM postings WHERE tx_id IN (200, 201)`)
		db.W.MustExec(`DELETE FROM ledger_transactions WHERE id IN (200, 201)`)
		db.W.MustExec(`DELETE FROM evidence_leaves WHERE idx >= 21`)
		db.W.MustExec(`DELETE FROM evidence_checkpoints WHERE size > 21`)
		db.W.MustExec(`DELETE FROM evidence_tiles`)
		clk.Add(16 * time.Second)
		evil := evMemorySealer(t, db, clk, "x", nil) // rebuilds the tiles of 21 leaves
		evSealOnce(t, evil)
		if cp, _ := db.Evidence().LatestCheckpoint(ctx); cp.Signed.Size != 21 {
			t.Fatalf("latest checkpoint after truncation %d, want 21", cp.Signed.Size)
		}
		if out := evVerify(t, db, clk); len(out) != 0 {
			t.Fatalf("the database alone should not show the truncation (the point of the issue): %q", out)
		}

		// verify -checkpoint FILE.
		out, err := evidence.Verify(ctx, db.Evidence(), evidence.VerifyOptions{PublicKey: evSigner().PublicKey(), Now: clk.Now,
			Saved: []evidence.SignedCheckpoint{saved.Signed}})
		if err != nil {
			t.Fatal(err)
		}
		evWantFinding(t, out, "saved checkpoint of size 23", "first missing index is 21")

		// The sealer that published size 23 refuses to seal on.
		clk.Add(16 * time.Second)
		if _, err := evMemorySealer(t, db, clk, "a2", mem).SealOnce(ctx); err == nil || !strings.Contains(err.Error(), "cut off at index 21") {
			t.Fatalf("sealer with its memory over a truncated log: %v", err)
		}

		// The attacker grows the log again past 23: a fork.
		for i := range 4 {
			evInsertTx(t, db, int64(300+i), clk.Now().Add(time.Duration(i)*time.Millisecond), 7)
		}
		clk.Add(16 * time.Second)
		evil = evMemorySealer(t, db, clk, "x2", nil)
		seal(evil)
		if cp, _ := db.Evidence().LatestCheckpoint(ctx); cp.Signed.Size != 25 {
			t.Fatalf("latest checkpoint after regrowth %d, want 25", cp.Signed.Size)
		}
		out, err = evidence.Verify(ctx, db.Evidence(), evidence.VerifyOptions{PublicKey: evSigner().PublicKey(), Now: clk.Now,
			Saved: []evidence.SignedCheckpoint{saved.Signed}})
		if err != nil {
			t.Fatal(err)
		}
		evWantFinding(t, out, "saved checkpoint of size 23", "differs from the database's log")
		clk.Add(16 * time.Second)
		if _, err := evMemorySealer(t, db, clk, "a3", mem).SealOnce(ctx); err == nil || !strings.Contains(err.Error(), "not consistent with the checkpoint of size 23") {
			t.Fatalf("sealer with its memory over a forked log: %v", err)
		}
		if m, _ := mem.Load(); m.Size != 23 {
			t.Fatalf("memory overwritten with size %d", m.Size)
		}
	})
}
