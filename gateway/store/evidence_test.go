package store_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/gateway/evidence"
	"github.com/lianmeng/lianmeng/gateway/internal/eventually"
	"github.com/lianmeng/lianmeng/gateway/merchant"
	"github.com/lianmeng/lianmeng/gateway/points"
	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
	sdk "github.com/lianmeng/lianmeng/sdk/evidence"
)

// evClock is a settable test clock.
type evClock struct {
	mu sync.Mutex
	t  time.Time
}

func newEvClock() *evClock { return &evClock{t: time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)} }

func (c *evClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *evClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

var evSigner = sync.OnceValue(func() *evidence.Signer {
	k, err := evidence.GenerateKey()
	if err != nil {
		panic(err)
	}
	s, err := evidence.NewSigner(k)
	if err != nil {
		panic(err)
	}
	return s
})

func evNewSealer(t testing.TB, db *store.DB, clk *evClock, holder string) *evidence.Sealer {
	t.Helper()
	s, err := evidence.NewSealer(db.Evidence(), evSigner(), evidence.SealerOptions{
		Origin: "test.example/lianmeng", Holder: holder, Now: clk.Now, Batch: 3, CheckpointEvery: 4,
		CheckpointInterval: time.Second, StragglerEvery: 10 * time.Second, LeaseTTL: 15 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// evInsertTx writes a balanced ledger transaction directly, with the given
// id and time, as a batch of the writer would.
func evInsertTx(t testing.TB, db *store.DB, id int64, at time.Time, amount int64) {
	t.Helper()
	tx := db.W.MustBegin()
	tx.MustExec(`INSERT INTO ledger_transactions (id, kind, ref, reverses, created_at) VALUES (?, 'fund', ?, 0, ?)`, id, fmt.Sprintf("fund:m1:%d", id), store.Micros(at))
	tx.MustExec(`INSERT INTO postings (tx_id, seq, account, asset, amount) VALUES (?, 0, 'merchant:m1:budget', 'PTS', ?), (?, 1, 'alliance:mint', 'PTS', ?)`,
		id, amount, id, -amount)
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

func evSealOnce(t testing.TB, s *evidence.Sealer) bool {
	t.Helper()
	leader, err := s.SealOnce(context.Background())
	if err != nil {
		t.Fatalf("seal: %v", err)
	}
	return leader
}

func evLeafRefs(t testing.TB, db *store.DB) []evidence.EntryRef {
	t.Helper()
	ls, err := db.Evidence().Leaves(context.Background(), 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var out []evidence.EntryRef
	for i, l := range ls {
		if l.Index != uint64(i) {
			t.Fatalf("leaf %d has index %d", i, l.Index)
		}
		out = append(out, l.Ref)
	}
	return out
}

func evVerify(t testing.TB, db *store.DB, clk *evClock) []string {
	t.Helper()
	out, err := evidence.Verify(context.Background(), db.Evidence(), evidence.VerifyOptions{PublicKey: evSigner().PublicKey(), Now: clk.Now})
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	return out
}

func evTxRef(id int64) evidence.EntryRef { return evidence.EntryRef{Type: evidence.EntryTx, ID: id} }

// TestSealerOutOfOrderCommits commits ledger transactions whose ids and
// times are out of commit order, including one that commits after a later
// transaction was sealed, and checks that each is sealed exactly once.
func TestSealerOutOfOrderCommits(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clk := newEvClock()
		t0 := clk.Now()
		s := evNewSealer(t, db, clk, "a")
		if !evSealOnce(t, s) {
			t.Fatal("first sealer did not take the lease")
		}
		cp, err := db.Evidence().LatestCheckpoint(ctx)
		if err != nil || cp.Signed.Size != 0 {
			t.Fatalf("empty log checkpoint: %+v %v", cp, err)
		}
		evInsertTx(t, db, 5000, t0, 10)
		evInsertTx(t, db, 5001, t0, 11)
		evInsertTx(t, db, 9000, t0.Add(time.Second), 12)
		evInsertTx(t, db, 4000, t0.Add(1500*time.Millisecond), 13) // lower id, later time
		clk.Add(2200 * time.Millisecond)                           // 9000 and 4000 are not settled yet
		evSealOnce(t, s)
		if got := evLeafRefs(t, db); len(got) != 2 || got[0] != evTxRef(5000) || got[1] != evTxRef(5001) {
			t.Fatalf("after first seal: %v", got)
		}
		clk.Add(2 * time.Second)
		evSealOnce(t, s)
		if got := evLeafRefs(t, db); len(got) != 4 || got[2] != evTxRef(9000) || got[3] != evTxRef(4000) {
			t.Fatalf("after second seal: %v", got)
		}
		// A straggler: a batch that took its time commits a transaction
		// created before the last sealed one, with a lower id.
		evInsertTx(t, db, 4500, t0.Add(900*time.Millisecond), 14)
		// And one that commits on time.
		evInsertTx(t, db, 9100, clk.Now().Add(-2500*time.Millisecond), 15)
		evSealOnce(t, s) // main scan: 9100 only
		got := evLeafRefs(t, db)
		if len(got) != 5 || got[4] != evTxRef(9100) {
			t.Fatalf("after third seal: %v", got)
		}
		if out := evVerify(t, db, clk); len(out) != 1 || !strings.Contains(out[0], "ledger transaction 4500") || !strings.Contains(out[0], "not sealed") {
			t.Fatalf("verify before the straggler check: %q", out)
		}
		clk.Add(11 * time.Second) // straggler check due
		evSealOnce(t, s)
		got = evLeafRefs(t, db)
		if len(got) != 6 || got[5] != evTxRef(4500) {
			t.Fatalf("straggler not sealed: %v", got)
		}
		clk.Add(2 * time.Second)
		evSealOnce(t, s)
		if out := evVerify(t, db, clk); len(out) != 0 {
			t.Fatalf("verify: %q", out)
		}
		cp, err = db.Evidence().LatestCheckpoint(ctx)
		if err != nil || cp.Signed.Size != 6 {
			t.Fatalf("latest checkpoint %d, %v", cp.Signed.Size, err)
		}

		// Proofs verify with the SDK alone.
		pemKey, err := evSigner().PublicKeyPEM()
		if err != nil {
			t.Fatal(err)
		}
		pub, err := sdk.ParsePublicKeyPEM(pemKey)
		if err != nil {
			t.Fatal(err)
		}
		proofs := evidence.NewProofs(db.Evidence(), pemKey, evSigner().KeyID())
		for _, id := range []int64{5000, 5001, 9000, 4000, 9100, 4500} {
			p, err := proofs.Inclusion(ctx, evTxRef(id))
			if err != nil {
				t.Fatalf("inclusion %d: %v", id, err)
			}
			if err := sdk.VerifyCheckpoint(pub, p.Checkpoint); err != nil {
				t.Fatal(err)
			}
			if err := sdk.VerifyCheckpointInclusion(p.Data, p.Index, p.Proof, p.Checkpoint.Checkpoint); err != nil {
				t.Fatalf("inclusion %d does not verify: %v", id, err)
			}
			dec, err := sdk.DecodeEntry(p.Data)
			if err != nil || dec.(*sdk.TxRecord).ID != id {
				t.Fatalf("entry bytes decode to %v, %v", dec, err)
			}
		}
		cps, err := db.Evidence().Checkpoints(ctx, -1, 100)
		if err != nil || len(cps) < 3 {
			t.Fatalf("checkpoints: %d %v", len(cps), err)
		}
		for i := range cps {
			for j := i; j < len(cps); j++ {
				c, err := proofs.Consistency(ctx, cps[i].Signed.Size, cps[j].Signed.Size)
				if err != nil {
					t.Fatal(err)
				}
				if err := sdk.VerifyConsistency(cps[i].Signed.Checkpoint, c.ToCheckpoint.Checkpoint, c.Proof); err != nil {
					t.Fatalf("consistency %d→%d: %v", cps[i].Signed.Size, cps[j].Signed.Size, err)
				}
			}
		}
		if _, err := proofs.Inclusion(ctx, evTxRef(1)); err != evidence.ErrNotFound {
			t.Fatalf("unknown tx: %v", err)
		}
	})
}

// TestSealerLeaseAndRestart runs two sealers: one seals at a time; the
// other takes over when the first's lease lapses, resumes from the stored
// state, and the first then stands down.
func TestSealerLeaseAndRestart(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		clk := newEvClock()
		a := evNewSealer(t, db, clk, "a")
		b := evNewSealer(t, db, clk, "b")
		for i := range 5 {
			evInsertTx(t, db, int64(7000+i), clk.Now().Add(-time.Minute), 1)
		}
		if !evSealOnce(t, a) || evSealOnce(t, b) {
			t.Fatal("want a leader, b standing by")
		}
		clk.Add(5 * time.Second)
		if !evSealOnce(t, a) || evSealOnce(t, b) {
			t.Fatal("a renews, b stands by")
		}
		// a stops (crash: no release); rows keep coming.
		for i := range 4 {
			evInsertTx(t, db, int64(8000+i), clk.Now().Add(-time.Minute+time.Duration(i)), 1)
		}
		clk.Add(16 * time.Second)
		if !evSealOnce(t, b) {
			t.Fatal("b did not take over an expired lease")
		}
		if evSealOnce(t, a) {
			t.Fatal("a still leader after b took over")
		}
		if n := len(evLeafRefs(t, db)); n != 9 {
			t.Fatalf("leaves %d, want 9", n)
		}
		// An audit event (merchant creation) is sealed too.
		m, _ := merchant.NewMerchant("Tea House", "restaurant", clk.Now().Add(-time.Minute))
		if err := db.Merchants().CreateMerchant(context.Background(), m, "operator"); err != nil {
			t.Fatal(err)
		}
		clk.Add(3 * time.Second)
		evSealOnce(t, b)
		refs := evLeafRefs(t, db)
		if last := refs[len(refs)-1]; last.Type != evidence.EntryAudit {
			t.Fatalf("last leaf %v, want the audit event", last)
		}
		clk.Add(3 * time.Second)
		evSealOnce(t, b)
		if out := evVerify(t, db, clk); len(out) != 0 {
			t.Fatalf("verify: %q", out)
		}
	})
}

// evSealed prepares a database with 6 sealed transactions and a checkpoint.
func evSealed(t *testing.T, db *store.DB) *evClock {
	clk := newEvClock()
	s := evNewSealer(t, db, clk, "a")
	for i := range 6 {
		evInsertTx(t, db, int64(100+i), clk.Now().Add(time.Duration(i)*time.Millisecond), int64(10+i))
	}
	clk.Add(3 * time.Second)
	evSealOnce(t, s)
	clk.Add(3 * time.Second)
	evSealOnce(t, s)
	if out := evVerify(t, db, clk); len(out) != 0 {
		t.Fatalf("clean database: %q", out)
	}
	return clk
}

func evWantFinding(t *testing.T, out []string, parts ...string) {
	t.Helper()
	if len(out) == 0 {
		t.Fatal("tampering not detected")
	}
	for _, p := range parts {
		if !strings.Contains(out[0], p) {
			t.Fatalf("first finding %q does not mention %q (all: %q)", out[0], p, out)
		}
	}
	t.Logf("verify: %q", out)
}

func TestVerifyDetectsTampering(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Run("clean", func(t *testing.T) {
			evSealed(t, storetest.Open(t, db.Dialect))
		})
		t.Run("amount", func(t *testing.T) {
			db := storetest.Open(t, db.Dialect)
			clk := evSealed(t, db)
			db.W.MustExec(`UPDATE postings SET amount = amount + 1 WHERE tx_id = 103 AND seq = 0`)
			evWantFinding(t, evVerify(t, db, clk), "leaf 3 ", "ledger transaction 103", "leaf hash differs")
		})
		t.Run("delete posting", func(t *testing.T) {
			db := storetest.Open(t, db.Dialect)
			clk := evSealed(t, db)
			db.W.MustExec(`DELETE FROM postings WHERE tx_id = 102 AND seq = 1`)
			evWantFinding(t, evVerify(t, db, clk), "leaf 2 ", "ledger transaction 102", "leaf hash differs")
		})
		t.Run("delete transaction", func(t *testing.T) {
			db := storetest.Open(t, db.Dialect)
			clk := evSealed(t, db)
			db.W.MustExec(`DELETE FROM postings WHERE tx_id = 104`)
			db.W.MustExec(`DELETE FROM ledger_transactions WHERE id = 104`)
			evWantFinding(t, evVerify(t, db, clk), "leaf 4 ", "ledger transaction 104", "missing")
		})
		t.Run("malformed leaf hash", func(t *testing.T) {
			// A corrupted hash column is reported, not a crash.
			db := storetest.Open(t, db.Dialect)
			clk := evSealed(t, db)
			db.W.MustExec(`UPDATE evidence_leaves SET leaf_hash = 'zz' WHERE idx = 2`)
			evWantFinding(t, evVerify(t, db, clk), "leaf 2 ", "malformed")
		})
		t.Run("swap leaves", func(t *testing.T) {
			db := storetest.Open(t, db.Dialect)
			clk := evSealed(t, db)
			db.W.MustExec(`UPDATE evidence_leaves SET entry_id = -1 WHERE idx = 1`)
			db.W.MustExec(`UPDATE evidence_leaves SET entry_id = 101 WHERE idx = 2`)
			db.W.MustExec(`UPDATE evidence_leaves SET entry_id = 102 WHERE idx = 1`)
			evWantFinding(t, evVerify(t, db, clk), "leaf 1 ", "ledger transaction 102")
		})
		t.Run("swap leaves with hashes", func(t *testing.T) {
			// The attacker also swaps the leaf hashes: the chain breaks.
			db := storetest.Open(t, db.Dialect)
			clk := evSealed(t, db)
			ls, _ := db.Evidence().Leaves(context.Background(), 1, 2)
			db.W.MustExec(`UPDATE evidence_leaves SET entry_id = -1 WHERE idx = 1`)
			db.W.MustExec(`UPDATE evidence_leaves SET entry_id = 101, leaf_hash = ? WHERE idx = 2`, ls[0].LeafHash)
			db.W.MustExec(`UPDATE evidence_leaves SET entry_id = 102, leaf_hash = ? WHERE idx = 1`, ls[1].LeafHash)
			evWantFinding(t, evVerify(t, db, clk), "leaf 1 ", "chain hash differs")
		})
		t.Run("swap postings", func(t *testing.T) {
			db := storetest.Open(t, db.Dialect)
			clk := evSealed(t, db)
			db.W.MustExec(`UPDATE postings SET tx_id = -1 WHERE tx_id = 101`)
			db.W.MustExec(`UPDATE postings SET tx_id = 101 WHERE tx_id = 105`)
			db.W.MustExec(`UPDATE postings SET tx_id = 105 WHERE tx_id = -1`)
			evWantFinding(t, evVerify(t, db, clk), "leaf 1 ", "ledger transaction 101", "leaf hash differs")
		})
		t.Run("truncate", func(t *testing.T) {
			db := storetest.Open(t, db.Dialect)
			clk := evSealed(t, db)
			db.W.MustExec(`DELETE FROM evidence_leaves WHERE idx = 5`)
			out := evVerify(t, db, clk)
			evWantFinding(t, out, "checkpoint of size 6 exceeds the log")
			if !strings.Contains(strings.Join(out, "\n"), "ledger transaction 105") {
				t.Fatalf("unsealed transaction not listed: %q", out)
			}
		})
		t.Run("forged checkpoint", func(t *testing.T) {
			db := storetest.Open(t, db.Dialect)
			clk := evSealed(t, db)
			db.W.MustExec(`UPDATE evidence_checkpoints SET signed = REPLACE(signed, 'time 2026', 'time 2027') WHERE size = 6`)
			evWantFinding(t, evVerify(t, db, clk), "checkpoint of size 6")
		})
	})
}

// evFundOp returns a writer operation that funds merchant m.
func evFundOp(svc *points.Service, m string, ref string) *store.Op {
	return &store.Op{Command: svc.FundCommand(points.FundRequest{MerchantID: m, AmountFen: 100, ExternalRef: ref})}
}

func evPolicy() points.Policy {
	return points.Policy{FaceValueFen: 1, ReleaseDelay: time.Hour, Validity: 24 * time.Hour, ExpiryPolicy: "breakage", MaxPointsPerEarn: 1e6, MaxAmountFen: 1e9}
}

// TestSealerWithWriter seals transactions written by the batching writer
// while it runs, and verifies.
func TestSealerWithWriter(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		m, _ := merchant.NewMerchant("Noodles", "restaurant", time.Now())
		if err := db.Merchants().CreateMerchant(ctx, m, "operator"); err != nil {
			t.Fatal(err)
		}
		w := db.NewWriter(store.WriterOptions{})
		defer w.Close()
		s, err := evidence.NewSealer(db.Evidence(), evSigner(), evidence.SealerOptions{Origin: "test", Settle: evidence.NoSettle, Poll: 5 * time.Millisecond, Batch: 50})
		if err != nil {
			t.Fatal(err)
		}
		rctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { s.Run(rctx); close(done) }()
		svc := &points.Service{Policy: evPolicy()}
		var wg sync.WaitGroup
		var n atomic.Int64
		for g := range 8 {
			wg.Go(func() {
				for i := range 40 {
					r := w.Submit(ctx, evFundOp(svc, m.ID, fmt.Sprintf("g%d-%d", g, i)))
					if r.Err != nil {
						t.Error(r.Err)
						return
					}
					n.Add(1)
				}
			})
		}
		wg.Wait()
		// Wait until everything is sealed and checkpointed.
		eventually.NoError(t, 30*time.Second, "sealing", func() error {
			cp, err := db.Evidence().LatestCheckpoint(ctx)
			if err != nil {
				return err
			}
			if want := uint64(n.Load()) + 1; cp.Signed.Size != want { // +1: the merchant's audit event
				return fmt.Errorf("checkpoint covers %d of %d entries", cp.Signed.Size, want)
			}
			return nil
		})
		cancel()
		<-done
		out, err := evidence.Verify(ctx, db.Evidence(), evidence.VerifyOptions{PublicKey: evSigner().PublicKey()})
		if err != nil || len(out) != 0 {
			t.Fatalf("verify: %q %v", out, err)
		}
	})
}

// BenchmarkWriterWithSealer measures fund throughput through the batching
// writer on SQLite with and without a sealer running beside it. Compare the
// two ns/op figures (go test -run ^$ -bench WriterWithSealer ./gateway/store/).
func BenchmarkWriterWithSealer(b *testing.B) {
	for _, withSealer := range []bool{false, true} {
		b.Run(fmt.Sprintf("sealer=%v", withSealer), func(b *testing.B) {
			ctx := context.Background()
			db := storetest.Open(b, store.SQLite)
			m, _ := merchant.NewMerchant("Bench", "restaurant", time.Now())
			if err := db.Merchants().CreateMerchant(ctx, m, "operator"); err != nil {
				b.Fatal(err)
			}
			w := db.NewWriter(store.WriterOptions{BatchWait: time.Millisecond})
			defer w.Close()
			if withSealer {
				s, err := evidence.NewSealer(db.Evidence(), evSigner(), evidence.SealerOptions{Origin: "bench", Settle: evidence.NoSettle})
				if err != nil {
					b.Fatal(err)
				}
				rctx, cancel := context.WithCancel(ctx)
				done := make(chan struct{})
				go func() { s.Run(rctx); close(done) }()
				defer func() { cancel(); <-done }()
			}
			svc := &points.Service{Policy: evPolicy()}
			var seq atomic.Int64
			b.SetParallelism(64)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					r := w.Submit(ctx, evFundOp(svc, m.ID, fmt.Sprint(seq.Add(1))))
					if r.Err != nil {
						b.Error(r.Err)
						return
					}
				}
			})
			b.StopTimer()
			if withSealer {
				var n int64
				db.R.Get(&n, `SELECT COUNT(*) FROM evidence_leaves`)
				b.ReportMetric(float64(n)/float64(b.N), "sealed/op")
			}
		})
	}
}

// A sealer whose key differs from the latest checkpoint's refuses to seal
// (instances with different signing keys must not sign alternately), unless
// AllowKeyChange is set, which warns and continues.
func TestSealerRefusesAnotherSigningKey(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clk := evSealed(t, db) // checkpoints signed by evSigner, holder "a"
		k, err := evidence.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		other, err := evidence.NewSigner(k)
		if err != nil {
			t.Fatal(err)
		}
		newSealer := func(allow bool, logs *syncBuffer) *evidence.Sealer {
			s, err := evidence.NewSealer(db.Evidence(), other, evidence.SealerOptions{
				Origin: "test.example/lianmeng", Holder: "a", Now: clk.Now, Batch: 3, CheckpointEvery: 4,
				CheckpointInterval: time.Second, LeaseTTL: 15 * time.Second, AllowKeyChange: allow,
				Log: slog.New(slog.NewTextHandler(logs, nil)),
			})
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
		latest, err := db.Evidence().LatestCheckpoint(ctx)
		if err != nil {
			t.Fatal(err)
		}
		leaves, _ := db.Evidence().LeafCount(ctx)

		var logs syncBuffer
		s := newSealer(false, &logs)
		evInsertTx(t, db, 900, clk.Now().Add(-time.Minute), 5)
		clk.Add(3 * time.Second)
		for range 2 {
			if _, err := s.SealOnce(ctx); err == nil || !strings.Contains(err.Error(), other.KeyID()) || !strings.Contains(err.Error(), "allow_key_change") {
				t.Fatalf("sealing with another key: %v", err)
			}
		}
		if n := strings.Count(logs.String(), "level=ERROR"); n != 1 || !strings.Contains(logs.String(), evSigner().KeyID()) {
			t.Fatalf("want one error naming the checkpoint's key, log:\n%s", logs.String())
		}
		if n, _ := db.Evidence().LeafCount(ctx); n != leaves {
			t.Fatalf("leaves %d, want %d: the refusing sealer wrote", n, leaves)
		}
		if cp, _ := db.Evidence().LatestCheckpoint(ctx); cp.Signed.Size != latest.Signed.Size || cp.Signed.KeyID != evSigner().KeyID() {
			t.Fatalf("latest checkpoint %d by %s", cp.Signed.Size, cp.Signed.KeyID)
		}

		var warn syncBuffer
		s = newSealer(true, &warn)
		evSealOnce(t, s)
		clk.Add(3 * time.Second)
		evSealOnce(t, s)
		if !strings.Contains(warn.String(), "level=WARN") || !strings.Contains(warn.String(), "SIGNING KEY CHANGED") {
			t.Fatalf("no warning with allow_key_change, log:\n%s", warn.String())
		}
		cp, err := db.Evidence().LatestCheckpoint(ctx)
		if err != nil || cp.Signed.KeyID != other.KeyID() || cp.Signed.Size != uint64(leaves)+1 {
			t.Fatalf("after allowed key change: checkpoint %d by %s (%v)", cp.Signed.Size, cp.Signed.KeyID, err)
		}
	})
}

// Fencing: once sealer b took the lease over, a Seal call made under a's
// lease fails with ErrLeaseLost and writes nothing.
func TestEvidenceSealFencing(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clk := evSealed(t, db) // holder "a" sealed and holds the lease
		es := db.Evidence()
		leaves, err := es.LeafCount(ctx)
		if err != nil {
			t.Fatal(err)
		}
		leaseA := evidence.Lease{Name: "evidence-sealer", Holder: "a", TTL: 15 * time.Second}
		// The same call under a live lease is accepted (control): a
		// zero-leaf Seal only renews.
		if err := es.Seal(ctx, leaseA, clk.Now(), nil, nil, nil); err != nil {
			t.Fatalf("control: seal under a's own lease: %v", err)
		}
		clk.Add(16 * time.Second)
		b := evNewSealer(t, db, clk, "b")
		if !evSealOnce(t, b) {
			t.Fatal("b did not take the expired lease over")
		}
		if n, _ := es.LeafCount(ctx); n != leaves {
			t.Fatalf("b sealed %d new leaves, want none", n-leaves)
		}

		// What a paused a would write next: one leaf and a checkpoint.
		l := sdk.NewLog()
		lh, chain := l.Append([]byte("stale"))
		sc, err := evSigner().Sign(evidence.Checkpoint{Origin: "test.example/lianmeng", Size: 10_000, Root: l.Root(), ChainHead: l.ChainHead(), Time: clk.Now()})
		if err != nil {
			t.Fatal(err)
		}
		leaf := evidence.Leaf{Index: uint64(leaves), Ref: evTxRef(424242), Created: store.Micros(clk.Now()), LeafHash: lh, Chain: chain}
		err = es.Seal(ctx, leaseA, clk.Now(), []evidence.Leaf{leaf}, nil, &evidence.StoredCheckpoint{Signed: sc, State: l.State()})
		if !errors.Is(err, evidence.ErrLeaseLost) {
			t.Fatalf("seal under a lost lease: %v, want ErrLeaseLost", err)
		}
		if n, _ := es.LeafCount(ctx); n != leaves {
			t.Fatalf("leaves %d after a fenced seal, want %d", n, leaves)
		}
		if _, err := es.CheckpointAt(ctx, 10_000); !errors.Is(err, evidence.ErrNotFound) {
			t.Fatalf("checkpoint of the fenced seal: %v", err)
		}
		var holder string
		if err := db.R.Get(&holder, `SELECT holder FROM job_leases WHERE name = 'evidence-sealer'`); err != nil || holder != "b" {
			t.Fatalf("lease holder %q (%v), want b", holder, err)
		}
		if out := evVerify(t, db, clk); len(out) != 0 {
			t.Fatalf("verify: %q", out)
		}
	})
}
