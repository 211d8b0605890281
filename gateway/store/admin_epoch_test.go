package store_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/gateway/merchant"
	"github.com/lianmeng/lianmeng/gateway/rules"
	"github.com/lianmeng/lianmeng/gateway/staff"
	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
)

// Every administrative action is an audit event, but only a change to what
// the caches under the admin epoch hold (merchants, stores, credentials,
// rule versions, webhook endpoints, POS connections) increments the epoch,
// which clears those caches on every instance. An operator token, a staff
// account, a template or an exit record leaves it, and so the caches,
// alone.
func TestAdminEpochMovesOnlyForCachedChanges(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx, repo := context.Background(), db.Merchants()
		now := time.Now().UTC().Truncate(time.Microsecond)
		epoch := func() int64 {
			t.Helper()
			e, err := db.AdminEpoch(ctx)
			if err != nil {
				t.Fatal(err)
			}
			return e
		}
		events := func() int {
			t.Helper()
			evs, err := db.AuditEvents(ctx, 0, 1000)
			if err != nil {
				t.Fatal(err)
			}
			return len(evs)
		}
		step := func(name string, bumps bool, do func() error) {
			t.Helper()
			e0, n0 := epoch(), events()
			if err := do(); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if n := events(); n != n0+1 {
				t.Errorf("%s wrote %d audit events, want 1", name, n-n0)
			}
			if e := epoch(); bumps && e == e0 || !bumps && e != e0 {
				t.Errorf("%s: admin epoch %d -> %d, want a bump: %v", name, e0, e, bumps)
			}
		}
		m, err := merchant.NewMerchant("Tea", "restaurant", now)
		if err != nil {
			t.Fatal(err)
		}
		c, _, err := merchant.NewCredential(m.ID, "hmac-sha256", "", "till", now)
		if err != nil {
			t.Fatal(err)
		}
		// Changes the caches see.
		step("merchant created", true, func() error { return repo.CreateMerchant(ctx, m, "test") })
		step("credential issued", true, func() error { return repo.CreateCredential(ctx, c, "test") })
		step("merchant suspended", true, func() error {
			return repo.SetMerchantStatus(ctx, m.ID, merchant.StatusSuspended, now, "test")
		})
		step("credential revoked", true, func() error { return repo.RevokeCredential(ctx, m.ID, c.ID, now, "test") })
		// Changes they do not.
		step("operator token created", false, func() error {
			return db.CreateOperatorToken(ctx, store.OperatorToken{ID: "opt_0123456789abcdef", Label: "desk", Scopes: []string{"read"},
				SecretHash: strings.Repeat("ab", 32), CreatedBy: "operator:bootstrap", CreatedAt: now, ExpiresAt: now.Add(time.Hour)})
		})
		step("operator token revoked", false, func() error {
			return db.RevokeOperatorToken(ctx, "opt_0123456789abcdef", now, "operator:bootstrap")
		})
		step("staff created", false, func() error {
			a, err := staff.New("stf_a", m.ID, "alice", staff.RoleFinance, "long enough password", now)
			if err != nil {
				return err
			}
			return db.CreateStaff(ctx, a, "operator:test")
		})
		step("template set", false, func() error {
			return db.SetRuleTemplate(ctx, rules.Template{Industry: "restaurant", UpdatedBy: "operator:test", UpdatedAt: now,
				Terms: rules.Terms{RateBP: 100, ExcludedCategories: []string{}}})
		})
		step("exit announced", false, func() error {
			return db.AnnounceExit(ctx, store.MerchantExit{MerchantID: m.ID, AnnouncedAt: now, EffectiveAt: now.Add(30 * 24 * time.Hour),
				AnnouncedBy: "operator:test"})
		})
	})
}
