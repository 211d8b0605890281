package api

import (
	"context"
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
