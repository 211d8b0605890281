package api

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/gateway/evidence"
	"github.com/lianmeng/lianmeng/gateway/points"
	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
	"github.com/lianmeng/lianmeng/sdk/client"
)

// The client half of issue 14's "done means", on both databases: every
// ledger write answers with a signed receipt, sdk/client keeps receipts
// and checkpoints and audits them; after the truncation (the last
// two transactions deleted with their leaves and the later checkpoints,
// the tiles rebuilt), a client holding the receipts of those two finds
// them missing, and a client that saved a later checkpoint finds that the
// log went back.
func TestReceiptsDetectTruncation(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		key, err := evidence.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		signer, _ := evidence.NewSigner(key)
		pubPEM, _ := signer.PublicKeyPEM()
		const origin = "receipts.test/lianmeng"
		proofs := evidence.NewProofs(db.Evidence(), pubPEM, signer.KeyID())
		proofs.Receipts = evidence.NewReceipts(db.Evidence(), signer, origin)
		var offset atomic.Int64 // the sealer's clock runs ahead, past the receipts' promise
		sealerNow := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
		newSealer := func(holder string) *evidence.Sealer {
			s, err := evidence.NewSealer(db.Evidence(), signer, evidence.SealerOptions{Origin: origin, Holder: holder, Settle: evidence.NoSettle,
				CheckpointInterval: time.Nanosecond, Now: sealerNow, LeaseTTL: 15 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
		seal := func(s *evidence.Sealer) {
			t.Helper()
			offset.Add(int64(2 * evidence.ReceiptWindow))
			for range 2 {
				if _, err := s.SealOnce(ctx); err != nil {
					t.Fatal(err)
				}
			}
		}

		g := &ptsGateway{db: db, clock: &ptsClock{}}
		g.clock.us.Store(time.Now().UnixMicro())
		g.writer = db.NewWriter(store.WriterOptions{BatchSize: 64, BatchWait: 200 * time.Microsecond, Now: g.clock.Now})
		t.Cleanup(g.writer.Close)
		cfg := fndConfig()
		g.srv = New(Deps{Config: cfg, DB: db, Log: fndLogger(), Now: g.clock.Now, Writer: g.writer,
			Points: &points.Service{Policy: cfg.Points.Policy()}, Evidence: proofs})
		g.base, _ = fndServe(t, g.srv)
		g.op = client.NewOperator(g.base, fndOperatorToken, client.WithClock(g.clock.Now))
		m := g.merchant(t, 100, 100_000)

		// Two clients of the merchant, each keeping its own evidence.
		var keptA, keptB client.MemoryEvidence
		a := client.NewMerchant(g.base, m.ID, m.C.Signer(), client.WithClock(g.clock.Now), client.WithEvidence(&keptA, signer.PublicKey()))
		b := client.NewMerchant(g.base, m.ID, m.C.Signer(), client.WithClock(g.clock.Now), client.WithEvidence(&keptB, signer.PublicKey()))
		earn := func(c *client.Client, order string) int64 {
			t.Helper()
			var res struct {
				TxID int64 `json:"tx_id"`
			}
			key := newKey()
			body := map[string]any{"order_id": order, "member": phone("13800138000"), "amount_fen": 10000}
			if err := c.Do(ctx, "POST", "/v1/merchant/earn", body, &res, client.IdempotencyKey(key)); err != nil {
				t.Fatal(err)
			}
			// A replay answers with a receipt of the same transaction.
			if err := c.Do(ctx, "POST", "/v1/merchant/earn", body, nil, client.IdempotencyKey(key)); err != nil {
				t.Fatal(err)
			}
			return res.TxID
		}
		tx1, tx2 := earn(a, "o-1"), earn(a, "o-2")
		rs, _ := keptA.Receipts()
		if len(rs) != 2 || rs[0].Origin != origin {
			t.Fatalf("client A kept %d receipts, want 2", len(rs))
		}
		s := newSealer("a")
		seal(s)
		rep, err := a.Audit(ctx)
		if err != nil || !rep.OK() || len(rep.Included) != 2 || !slices.Contains(rep.Included, tx1) || !slices.Contains(rep.Included, tx2) {
			t.Fatalf("audit of a clean log: %+v %v", rep, err)
		}
		// B makes the last two writes and keeps their receipts; A audits
		// after they are sealed, saving the larger checkpoint.
		tx3, tx4 := earn(b, "o-3"), earn(b, "o-4")
		seal(s)
		if rep, err := a.Audit(ctx); err != nil || !rep.OK() {
			t.Fatalf("A's second audit: %+v %v", rep, err)
		}
		saved, _ := keptA.Checkpoint()

		// The truncation.
		for _, id := range []int64{tx3, tx4} {
			db.W.MustExec(`DELETE FROM postings WHERE tx_id = ?`, id)
			db.W.MustExec(`DELETE FROM ledger_transactions WHERE id = ?`, id)
			db.W.MustExec(`DELETE FROM evidence_leaves WHERE entry_type = 'tx' AND entry_id = ?`, id)
		}
		var left int64
		if err := db.W.Get(&left, `SELECT COUNT(*) FROM evidence_leaves`); err != nil {
			t.Fatal(err)
		}
		db.W.MustExec(`DELETE FROM evidence_checkpoints WHERE size > ?`, left)
		db.W.MustExec(`DELETE FROM evidence_tiles`)
		offset.Add(int64(time.Minute))
		seal(newSealer("x"))
		if cp, _ := proofs.Checkpoint(ctx); cp.Size >= saved.Size {
			t.Fatalf("latest checkpoint %d after truncation, saved %d", cp.Size, saved.Size)
		}

		repB, err := b.Audit(ctx)
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(repB.Missing)
		if !slices.Equal(repB.Missing, []int64{tx3, tx4}) {
			t.Fatalf("client B's audit: missing %v, want %v (%+v)", repB.Missing, []int64{tx3, tx4}, repB)
		}
		repA, err := a.Audit(ctx)
		if err != nil || repA.OK() || !strings.Contains(strings.Join(repA.Problems, "\n"), "the log went back") {
			t.Fatalf("client A's audit: %+v %v", repA, err)
		}
		if again, _ := keptA.Checkpoint(); again.Size != saved.Size {
			t.Fatalf("client A saved the smaller checkpoint %d", again.Size)
		}
	})
}

// The receipts of one writer batch share one signature (docs/evidence.md
// §15, version 2), on both databases: concurrent earns answered from one
// batch carry receipts with the same signature over their batch root, each
// verifies on its own, a replayed answer gets a receipt of its own, and
// every receipted transaction is later proven in the log with the leaf
// hash the writer signed from memory.
func TestReceiptsSignedOncePerBatch(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		key, err := evidence.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		signer, _ := evidence.NewSigner(key)
		pubPEM, _ := signer.PublicKeyPEM()
		const origin = "batch.test/lianmeng"
		proofs := evidence.NewProofs(db.Evidence(), pubPEM, signer.KeyID())
		proofs.Receipts = evidence.NewReceipts(db.Evidence(), signer, origin)
		g := &ptsGateway{db: db, clock: &ptsClock{}}
		g.clock.us.Store(time.Now().UnixMicro())
		// A long batch wait so the concurrent earns meet in one batch.
		g.writer = db.NewWriter(store.WriterOptions{BatchSize: 64, BatchWait: 50 * time.Millisecond, Now: g.clock.Now})
		t.Cleanup(g.writer.Close)
		cfg := fndConfig()
		g.srv = New(Deps{Config: cfg, DB: db, Log: fndLogger(), Now: g.clock.Now, Writer: g.writer,
			Points: &points.Service{Policy: cfg.Points.Policy()}, Evidence: proofs})
		g.base, _ = fndServe(t, g.srv)
		g.op = client.NewOperator(g.base, fndOperatorToken, client.WithClock(g.clock.Now))
		m := g.merchant(t, 100, 100_000)
		var kept client.MemoryEvidence
		c := client.NewMerchant(g.base, m.ID, m.C.Signer(), client.WithClock(g.clock.Now), client.WithEvidence(&kept, signer.PublicKey()))

		const n = 8
		keys := make([]string, n)
		errs := make(chan error, n)
		for i := range n {
			keys[i] = newKey()
			go func() {
				body := map[string]any{"order_id": fmt.Sprintf("b-%d", i), "member": phone("13800138000"), "amount_fen": 10000}
				errs <- c.Do(ctx, "POST", "/v1/merchant/earn", body, nil, client.IdempotencyKey(keys[i]))
			}()
		}
		for range n {
			if err := <-errs; err != nil {
				t.Fatal(err) // a receipt that does not verify is client.ErrBadReceipt
			}
		}
		rs, _ := kept.Receipts()
		if len(rs) != n {
			t.Fatalf("kept %d receipts, want %d", len(rs), n)
		}
		bySig := map[string]int{}
		for _, r := range rs {
			if r.Batch == 0 || r.Index >= r.Batch {
				t.Fatalf("receipt of tx %d: batch %d index %d", r.TxID, r.Batch, r.Index)
			}
			if err := evidence.VerifyReceipt(signer.PublicKey(), r); err != nil {
				t.Fatal(err)
			}
			bySig[string(r.Signature)]++
		}
		shared := false
		for _, k := range bySig {
			shared = shared || k > 1
		}
		if !shared || len(bySig) >= n {
			t.Fatalf("%d signatures for %d receipts: none signed together", len(bySig), n)
		}
		// Changing a receipt's transaction, leaf or place breaks it.
		bad := rs[0]
		bad.TxID++
		if evidence.VerifyReceipt(signer.PublicKey(), bad) == nil {
			t.Fatal("a receipt with another transaction id verified")
		}
		bad = rs[0]
		bad.Index = (bad.Index + 1) % bad.Batch
		if bad.Batch > 1 && evidence.VerifyReceipt(signer.PublicKey(), bad) == nil {
			t.Fatal("a receipt moved in its batch verified")
		}

		// A replay's receipt: the same transaction, signed alone.
		var replayed client.MemoryEvidence
		c2 := client.NewMerchant(g.base, m.ID, m.C.Signer(), client.WithClock(g.clock.Now), client.WithEvidence(&replayed, signer.PublicKey()))
		if err := c2.Do(ctx, "POST", "/v1/merchant/earn", map[string]any{"order_id": "b-0", "member": phone("13800138000"), "amount_fen": 10000},
			nil, client.IdempotencyKey(keys[0])); err != nil {
			t.Fatal(err)
		}
		if rr, _ := replayed.Receipts(); len(rr) != 1 || rr[0].Batch != 1 || len(rr[0].Path) != 0 {
			t.Fatalf("replay receipt: %+v", rr)
		}

		s, err := evidence.NewSealer(db.Evidence(), signer, evidence.SealerOptions{Origin: origin, Holder: "a", Settle: evidence.NoSettle,
			CheckpointInterval: time.Nanosecond, Now: func() time.Time { return time.Now().Add(3 * evidence.ReceiptWindow) }, LeaseTTL: 15 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if _, err := s.SealOnce(ctx); err != nil {
				t.Fatal(err)
			}
		}
		rep, err := c.Audit(ctx)
		if err != nil || !rep.OK() || len(rep.Included) != n {
			t.Fatalf("audit: %+v %v", rep, err)
		}
	})
}
