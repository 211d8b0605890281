package api

import (
	"context"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
	"github.com/lianmeng/lianmeng/sdk/client"
)

// TestRevocationReachesOtherInstances: a key revoked through instance A is
// refused by instance B, which had it cached, once B's audit poll notices
// the change, without waiting for the cache's TTL; an unrelated
// administrative action through A does not clear B's cache.
func TestRevocationReachesOtherInstances(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := ptsStart(t, db, nil)
		b := ptsStart(t, db, nil)
		m := a.merchant(t, 100, 1000)
		ctx := context.Background()
		viaB := client.NewMerchant(b.base, m.ID, m.C.Signer(), client.WithClock(b.clock.Now))
		if err := viaB.Do(ctx, "GET", "/v1/merchant/me", nil, nil); err != nil {
			t.Fatalf("B before revocation: %v", err) // B now caches the key
		}
		// An administrative action that changes nothing B caches (a new
		// operator token, through A) leaves B's cache alone after its poll.
		gen := func() uint64 { b.srv.cache.mu.Lock(); defer b.srv.cache.mu.Unlock(); return b.srv.cache.gen }
		g0 := gen()
		if r := optReq(t, fndBootstrapToken, "POST", a.base+"/v1/operator/tokens", `{"label":"desk","scopes":["read"]}`); r.Status != 201 {
			t.Fatalf("create token: %s", r)
		}
		b.clock.Advance(auditPoll + time.Millisecond)
		if err := viaB.Do(ctx, "GET", "/v1/merchant/me", nil, nil); err != nil {
			t.Fatalf("B after an unrelated change: %v", err)
		}
		if g := gen(); g != g0 {
			t.Fatalf("an operator token dropped B's cache (generation %d -> %d)", g0, g)
		}
		var creds struct{ Credentials []struct{ ID string } }
		if err := a.op.Do(ctx, "GET", "/v1/operator/merchants/"+m.ID+"/credentials", nil, &creds); err != nil {
			t.Fatal(err)
		}
		if err := a.op.Do(ctx, "POST", "/v1/operator/merchants/"+m.ID+"/credentials/"+creds.Credentials[0].ID+"/revoke", nil, nil); err != nil {
			t.Fatal(err)
		}
		if err := m.C.Do(ctx, "GET", "/v1/merchant/me", nil, nil); apiCode(t, err) != CodeKeyRevoked {
			t.Fatalf("A after revocation: %v", err)
		}
		// Within the poll interval B still trusts its cache (this is the
		// window the design accepts)...
		if err := viaB.Do(ctx, "GET", "/v1/merchant/me", nil, nil); err != nil {
			t.Fatalf("B within the poll interval: %v", err)
		}
		// ...and after it, B notices.
		b.clock.Advance(auditPoll + time.Millisecond)
		if err := viaB.Do(ctx, "GET", "/v1/merchant/me", nil, nil); apiCode(t, err) != CodeKeyRevoked {
			t.Fatalf("B after its audit poll: %v, want key_revoked", err)
		}
	})
}
