package api

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/gateway/internal/eventually"
	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
	"github.com/lianmeng/lianmeng/sdk/client"
)

// keyUseGateway starts a gateway whose key-use flusher writes every every.
func keyUseGateway(t *testing.T, db *store.DB, every time.Duration) (*ptsGateway, func() error) {
	t.Helper()
	g := &ptsGateway{db: db, clock: &ptsClock{}}
	g.clock.us.Store(time.Now().UnixMicro())
	g.writer = db.NewWriter(store.WriterOptions{Now: g.clock.Now})
	t.Cleanup(g.writer.Close)
	g.srv = New(Deps{Config: fndConfig(), DB: db, Log: fndLogger(), Now: g.clock.Now, Writer: g.writer})
	g.srv.keyUseEvery = every
	var stop func() error
	g.base, stop = fndServe(t, g.srv)
	g.op = client.NewOperator(g.base, fndOperatorToken, client.WithClock(g.clock.Now))
	return g, stop
}

func lastUsed(t *testing.T, db *store.DB, keyID string) *time.Time {
	t.Helper()
	c, err := db.Merchants().GetCredential(context.Background(), keyID)
	if err != nil {
		t.Fatal(err)
	}
	return c.LastUsedAt
}

// A key's last use is never written inside the request: with no periodic
// flush due, the requests leave it unwritten, and stopping the server
// writes it (the time of the first use of the minute).
func TestKeyUseWrittenOffTheRequestAndAtShutdown(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		g, stop := keyUseGateway(t, db, time.Hour)
		m := g.merchant(t, 100, 0)
		kid := m.C.Signer().KeyID()
		used := g.clock.Now().Truncate(time.Microsecond)
		for range 3 {
			if err := m.C.Do(context.Background(), "GET", "/v1/merchant/me", nil, nil); err != nil {
				t.Fatal(err)
			}
		}
		if l := lastUsed(t, db, kid); l != nil {
			t.Fatalf("a request wrote the key's last use (%v)", l)
		}
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		if l := lastUsed(t, db, kid); l == nil || !l.Equal(used) {
			t.Fatalf("after shutdown the key was last used %v, want %v", l, used)
		}
	})
}

// The flusher writes uses while the server runs, and a use in a later
// minute is written again.
func TestKeyUseFlushedPeriodically(t *testing.T) {
	db := storetest.Open(t, store.SQLite)
	g, _ := keyUseGateway(t, db, 20*time.Millisecond)
	m := g.merchant(t, 100, 0)
	kid := m.C.Signer().KeyID()
	for _, step := range []time.Duration{0, 2 * time.Minute} {
		g.clock.Advance(step)
		want := g.clock.Now().Truncate(time.Microsecond)
		if err := m.C.Do(context.Background(), "GET", "/v1/merchant/me", nil, nil); err != nil {
			t.Fatal(err)
		}
		eventually.True(t, 10*time.Second, "the key's last use written", func() bool {
			l := lastUsed(t, db, kid)
			return l != nil && l.Equal(want)
		})
	}
}

// Uses wait in memory, bounded: a key noted this minute is not noted again,
// a later minute is; beyond keyUseMax keys the rest are left out (and
// counted) until the next flush, when they can be noted again.
func TestKeyUsesBounded(t *testing.T) {
	var k keyUses
	t0 := time.Date(2026, 12, 1, 10, 0, 5, 0, time.UTC)
	k.note("key_a", t0)
	k.note("key_a", t0.Add(30*time.Second)) // same minute: nothing to do
	if p, d := k.take(); len(p) != 1 || !p["key_a"].Equal(t0) || d != 0 {
		t.Fatalf("one key, one minute: %v, %d dropped", p, d)
	}
	k.note("key_a", t0.Add(time.Minute))
	if p, _ := k.take(); !p["key_a"].Equal(t0.Add(time.Minute)) {
		t.Fatalf("a later minute: %v", p)
	}
	for i := range keyUseMax + 5 {
		k.note(fmt.Sprintf("key_%d", i), t0)
	}
	p, d := k.take()
	if len(p) != keyUseMax || d != 5 {
		t.Fatalf("%d keys waiting, %d dropped; want %d and 5", len(p), d, keyUseMax)
	}
	k.note(fmt.Sprintf("key_%d", keyUseMax+4), t0) // left out before: noted now
	if p, d := k.take(); len(p) != 1 || d != 0 {
		t.Fatalf("after the flush: %v, %d dropped", p, d)
	}
}
