package api

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
	"github.com/lianmeng/lianmeng/sdk/signature"
)

// TestNonceOncePerKeyWhateverTheTimestamp: a nonce accepted once is
// refused again with the same key under any other timestamp in the window,
// through the direct path and the batching writer's; another key may use it.
func TestNonceOncePerKeyWhateverTheTimestamp(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		for _, withWriter := range []bool{false, true} {
			t.Run(fmt.Sprintf("writer=%v", withWriter), func(t *testing.T) {
				clock := newFndClock()
				d := Deps{Config: fndConfig(), DB: db, Log: fndLogger(), Now: clock.Now}
				if withWriter {
					w := db.NewWriter(store.WriterOptions{BatchSize: 8, BatchWait: 100 * time.Microsecond})
					t.Cleanup(w.Close)
					d.Writer = w
				}
				s := New(d)
				fndAddWriteRoute(s)
				base, _ := fndServe(t, s)
				g := &fndGateway{db: db, srv: s, base: base, clock: clock}
				mid := g.createMerchant(t, "Nonce Bar")
				key := g.createKey(t, mid, signature.Ed25519)
				other := g.createKey(t, mid, signature.HMACSHA256)
				body := []byte(`{"n":1}`)
				nonce := signature.NewNonce()
				at := func(d time.Duration) *http.Request {
					return g.signed(t, "POST", fndWriteRoute, body, mid, key, clock.Now().Add(d), nonce)
				}
				if r := fndSend(t, at(0)); r.Status != 201 {
					t.Fatalf("first use: %s", r)
				}
				for _, d := range []time.Duration{time.Second, -time.Second, 4 * time.Minute, -4 * time.Minute} {
					fndSend(t, at(d)).expectErr(t, 401, CodeNonceReplayed)
				}
				// Later, with the clock moved on: still the same nonce.
				clock.Add(4 * time.Minute)
				fndSend(t, at(0)).expectErr(t, 401, CodeNonceReplayed)
				if r := fndSend(t, g.signed(t, "POST", fndWriteRoute, body, mid, other, clock.Now(), nonce)); r.Status != 201 {
					t.Fatalf("same nonce, other key: %s", r)
				}
			})
		}
	})
}
