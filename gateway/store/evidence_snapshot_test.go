package store_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/gateway/evidence"
	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
)

// sealsMidway is an evidence store on which the sealer appends a round of
// leaves (and their tiles) just after verification read its first page of
// leaves, as a live gateway's sealer may.
type sealsMidway struct {
	evidence.Store
	once  sync.Once
	round func()
}

func (s *sealsMidway) Leaves(ctx context.Context, from uint64, limit int) ([]evidence.Leaf, error) {
	ls, err := s.Store.Leaves(ctx, from, limit)
	s.once.Do(s.round)
	return ls, err
}

// Verification reads one snapshot: while the sealer appends leaves and
// tiles, a verification reading the pool statement by statement sees
// tiles beyond its leaves and reports tampering that is not there; one
// reading through EvidenceSnapshot is clean.
func TestVerifyReadsOneSnapshot(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		clk := newEvClock()
		s := evTileSealer(t, db, clk, "a")
		next := int64(20000)
		sealMore := func(n int) {
			for i := 0; i < n; i++ {
				evInsertTx(t, db, next, clk.Now().Add(time.Duration(i)*time.Microsecond), 1)
				next++
			}
			clk.Add(3 * time.Second)
			evSealOnce(t, s)
		}
		sealMore(300)
		verify := func(st evidence.Store) []string {
			out, err := evidence.Verify(context.Background(), &sealsMidway{Store: st, round: func() { sealMore(300) }},
				evidence.VerifyOptions{PublicKey: evSigner().PublicKey(), Now: clk.Now})
			if err != nil {
				t.Fatalf("verify: %v", err)
			}
			return out
		}
		out := verify(db.Evidence())
		if len(out) == 0 {
			t.Fatal("reading statement by statement while the sealer appended found nothing: the test no longer shows the race")
		}
		t.Logf("statement by statement: %q", out)
		snap, release, err := db.EvidenceSnapshot(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		defer release()
		if out := verify(snap); len(out) != 0 {
			t.Fatalf("verify through one snapshot while the sealer appended: %q", out)
		}
		if out := evVerify(t, db, clk); len(out) != 0 {
			t.Fatalf("verify after the sealer stopped: %q", out)
		}
	})
}
