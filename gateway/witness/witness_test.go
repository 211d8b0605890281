package witness_test

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/gateway/evidence"
	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
	"github.com/lianmeng/lianmeng/gateway/witness"
	sdk "github.com/lianmeng/lianmeng/sdk/evidence"
)

const origin = "witness.test/lianmeng"

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

var logSigner = sync.OnceValue(func() *evidence.Signer {
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

func insertTx(t *testing.T, db *store.DB, id int64, at time.Time) {
	t.Helper()
	tx := db.W.MustBegin()
	tx.MustExec(`INSERT INTO ledger_transactions (id, kind, ref, reverses, created_at) VALUES (?, 'fund', ?, 0, ?)`, id, fmt.Sprint("r", id), store.Micros(at))
	tx.MustExec(`INSERT INTO postings (tx_id, seq, account, asset, amount) VALUES (?, 0, 'merchant:m1:budget', 'PTS', 5), (?, 1, 'alliance:mint', 'PTS', -5)`, id, id)
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

func sealer(t *testing.T, db *store.DB, clk *clock, holder string) *evidence.Sealer {
	t.Helper()
	s, err := evidence.NewSealer(db.Evidence(), logSigner(), evidence.SealerOptions{Origin: origin, Holder: holder, Now: clk.Now,
		CheckpointInterval: time.Second, LeaseTTL: 15 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func seal(t *testing.T, s *evidence.Sealer, clk *clock) {
	t.Helper()
	for range 2 {
		clk.Add(3 * time.Second)
		if _, err := s.SealOnce(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
}

func newWitness(t *testing.T, dir string) (*witness.Witness, *httptest.Server, sdk.WitnessKey) {
	t.Helper()
	key := ed25519.NewKeyFromSeed(make([]byte, 32))
	w, err := witness.New("association.example/w", key, []witness.Log{{Origin: origin, Key: logSigner().PublicKey()}}, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(w.Handler(slog.New(slog.DiscardHandler)))
	t.Cleanup(srv.Close)
	vk, err := sdk.ParseWitnessKey(w.VerifierKey())
	if err != nil {
		t.Fatal(err)
	}
	return w, srv, vk
}

// The witness half of issue 14's "done means": a witness that cosigned the
// size-23 checkpoint refuses the truncated log (it never cosigns a smaller
// one, and says so to the gateway, which alarms) and refuses the log grown
// again past 23 as inconsistent, across a restart of the witness; its saved
// checkpoint makes verify --checkpoint name the first missing index.
func TestWitnessDetectsTruncation(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clk := &clock{t: time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)}
		dir := t.TempDir()
		_, srv, vk := newWitness(t, dir)
		proofs := evidence.NewProofs(db.Evidence(), nil, logSigner().KeyID())
		sub := witness.NewSubmitter(db.Evidence(), proofs, []witness.Remote{{URL: srv.URL, Key: vk}}, 1, nil, nil)
		a := sealer(t, db, clk, "a")
		for i := range 21 {
			insertTx(t, db, int64(100+i), clk.Now().Add(time.Duration(i)*time.Millisecond))
		}
		seal(t, a, clk)
		if err := sub.SubmitOnce(ctx); err != nil {
			t.Fatal(err)
		}
		for i := range 2 {
			insertTx(t, db, int64(200+i), clk.Now().Add(time.Duration(i)*time.Millisecond))
		}
		seal(t, a, clk)
		if err := sub.SubmitOnce(ctx); err != nil {
			t.Fatal(err)
		}
		cp, _ := db.Evidence().LatestCheckpoint(ctx)
		cos, err := db.Evidence().Cosignatures(ctx, cp.Signed.Size)
		if err != nil || cp.Signed.Size != 23 || len(cos) != 1 {
			t.Fatalf("checkpoint %d with %d cosignatures (%v), want 23 with 1", cp.Signed.Size, len(cos), err)
		}
		body, _ := cp.Signed.Body()
		if _, err := sdk.VerifyCosignature(vk, body, cos[0].Line); err != nil {
			t.Fatalf("stored cosignature: %v", err)
		}
		if cos21, _ := db.Evidence().Cosignatures(ctx, 21); len(cos21) != 1 {
			t.Fatal("size 21 not cosigned")
		}
		if err := sub.Quorum(ctx); err != nil {
			t.Fatalf("quorum: %v", err)
		}

		// The truncation of the issue, tiles rebuilt by a sealer without memory.
		db.W.MustExec(`DELETE FROM postings WHERE tx_id IN (200, 201)`)
		db.W.MustExec(`DELETE FROM ledger_transactions WHERE id IN (200, 201)`)
		db.W.MustExec(`DELETE FROM evidence_leaves WHERE idx >= 21`)
		db.W.MustExec(`DELETE FROM evidence_checkpoints WHERE size > 21`)
		db.W.MustExec(`DELETE FROM evidence_cosignatures WHERE size > 21`)
		db.W.MustExec(`DELETE FROM evidence_tiles`)
		clk.Add(16 * time.Second)
		seal(t, sealer(t, db, clk, "x"), clk)
		// The gateway goes on writing: a checkpoint of size 22 follows.
		insertTx(t, db, 250, clk.Now())
		seal(t, sealer(t, db, clk, "x"), clk)
		// A fresh submitter (another instance, or a restart) learns the
		// witness's size from its 409 and stops: the log was cut back.
		fresh := witness.NewSubmitter(db.Evidence(), proofs, []witness.Remote{{URL: srv.URL, Key: vk}}, 1, nil, nil)
		if err := fresh.SubmitOnce(ctx); err == nil || !strings.Contains(err.Error(), "holds size 23") {
			t.Fatalf("submitting the truncated log: %v", err)
		}
		// A sealer that reads its memory from the witness (the local file
		// lost with the database) refuses to seal on.
		clk.Add(16 * time.Second)
		rs, err := evidence.NewSealer(db.Evidence(), logSigner(), evidence.SealerOptions{Origin: origin, Holder: "y", Now: clk.Now,
			CheckpointInterval: time.Second, LeaseTTL: 15 * time.Second,
			Memory: evidence.Memories{witness.RemoteMemory{URL: srv.URL, Origin: origin, Key: logSigner().PublicKey()}}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := rs.SealOnce(ctx); err == nil || !strings.Contains(err.Error(), "published a checkpoint of size 23") {
			t.Fatalf("sealer remembering through the witness: %v", err)
		}
		clk.Add(16 * time.Second) // its lease lapses
		// The witness's checkpoint, saved by anyone, fails verify.
		resp, err := http.Get(srv.URL + "/checkpoint?origin=" + origin)
		if err != nil {
			t.Fatal(err)
		}
		text, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		saved, err := sdk.ParseSignedCheckpoint(text)
		if err != nil || saved.Size != 23 {
			t.Fatalf("witness checkpoint %q: %v", text, err)
		}
		out, err := evidence.Verify(ctx, db.Evidence(), evidence.VerifyOptions{PublicKey: logSigner().PublicKey(), Now: clk.Now, Saved: []sdk.SignedCheckpoint{saved}})
		if err != nil || len(out) == 0 || !strings.Contains(out[0], "saved checkpoint of size 23") || !strings.Contains(out[0], "not contained in the database's log") {
			t.Fatalf("verify with the witness's checkpoint: %q %v", out, err)
		}

		// Grown again past 23: a fork, refused as inconsistent (422), also
		// by the witness restarted from its state directory.
		for i := range 3 {
			insertTx(t, db, int64(300+i), clk.Now().Add(time.Duration(i)*time.Millisecond))
		}
		seal(t, sealer(t, db, clk, "x"), clk)
		if cp, _ := db.Evidence().LatestCheckpoint(ctx); cp.Signed.Size != 25 {
			t.Fatalf("regrown log at %d, want 25", cp.Signed.Size)
		}
		srv.Close()
		_, srv2, _ := newWitness(t, dir)
		sub2 := witness.NewSubmitter(db.Evidence(), proofs, []witness.Remote{{URL: srv2.URL, Key: vk}}, 1, nil, nil)
		if err := sub2.SubmitOnce(ctx); err == nil || !strings.Contains(err.Error(), "inconsistent") {
			t.Fatalf("submitting the fork: %v", err)
		}
		if cos, _ := db.Evidence().Cosignatures(ctx, 25); len(cos) != 0 {
			t.Fatal("the fork was cosigned")
		}
		refused, _ := os.ReadDir(filepath.Join(dir, "refused"))
		if len(refused) != 1 {
			t.Fatalf("refused requests kept: %d, want 1", len(refused))
		}
		sub2.Grace = 0
		if err := sub2.Quorum(ctx); err == nil {
			t.Fatal("a checkpoint without its quorum is not reported")
		}
	})
}

// The protocol's refusals, each with its status.
func TestWitnessProtocol(t *testing.T) {
	w, srv, vk := newWitness(t, t.TempDir())
	_ = w
	post := func(body []byte) (int, string) {
		resp, err := http.Post(srv.URL+"/add-checkpoint", "text/plain", strings.NewReader(string(body)))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	l := evidence.NewLog()
	for i := range 5 {
		l.Append([]byte{byte(i)})
	}
	at := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	sign := func(o string, l *evidence.Log, s *evidence.Signer) []byte {
		sc, err := s.Sign(evidence.Checkpoint{Origin: o, Size: l.Size(), Root: l.Root(), ChainHead: l.ChainHead(), Time: at})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := sc.Marshal()
		return b
	}
	cp5 := sign(origin, l, logSigner())
	if st, b := post(sdk.FormatAddCheckpoint(3, nil, cp5)); st != 409 || b != "0\n" {
		t.Fatalf("wrong old size: %d %q", st, b)
	}
	if st, _ := post(sdk.FormatAddCheckpoint(0, nil, sign("other/log", l, logSigner()))); st != 404 {
		t.Fatalf("unknown origin: %d", st)
	}
	k2, _ := evidence.GenerateKey()
	s2, _ := evidence.NewSigner(k2)
	if st, _ := post(sdk.FormatAddCheckpoint(0, nil, sign(origin, l, s2))); st != 403 {
		t.Fatalf("other key: %d", st)
	}
	if st, _ := post(sdk.FormatAddCheckpoint(6, nil, cp5)); st != 400 {
		t.Fatalf("old > size: %d", st)
	}
	if st, _ := post([]byte("old 0\n")); st != 400 {
		t.Fatalf("malformed: %d", st)
	}
	st, line := post(sdk.FormatAddCheckpoint(0, nil, cp5))
	sc, _ := sdk.ParseSignedCheckpoint(cp5)
	body, _ := sc.Body()
	if _, err := sdk.VerifyCosignature(vk, body, line); st != 200 || err != nil {
		t.Fatalf("first checkpoint: %d %q %v", st, line, err)
	}
	// The same again is cosigned again; a smaller one is a 409 (never
	// cosigned); a larger one with a wrong proof is 422.
	if st, _ := post(sdk.FormatAddCheckpoint(5, nil, cp5)); st != 200 {
		t.Fatalf("same checkpoint again: %d", st)
	}
	small := evidence.NewLog()
	small.Append([]byte{0})
	if st, b := post(sdk.FormatAddCheckpoint(0, nil, sign(origin, small, logSigner()))); st != 409 || b != "5\n" {
		t.Fatalf("smaller checkpoint: %d %q", st, b)
	}
	l.Append([]byte{9})
	if st, _ := post(sdk.FormatAddCheckpoint(5, [][]byte{make([]byte, 32)}, sign(origin, l, logSigner()))); st != 422 {
		t.Fatalf("bad proof: %d", st)
	}
}
