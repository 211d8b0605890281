package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/gateway/rules"
	"github.com/lianmeng/lianmeng/gateway/store"
)

// publishFlatRate gives a new merchant a first rule version at a flat rate,
// in effect at once (a first version has nothing to be less favourable
// than).
func publishFlatRate(t testing.TB, db *store.DB, merchantID string, rate int64) {
	t.Helper()
	ctx := context.Background()
	// Effective long before any test clock.
	now := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	d, err := db.CreateRuleDraft(ctx, rules.Version{MerchantID: merchantID, CreatedBy: "test", CreatedAt: now,
		Terms: rules.Terms{RateBP: rate, ReleaseDelaySeconds: -1, ValiditySeconds: -1, ExcludedCategories: []string{}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.PublishRuleVersion(ctx, merchantID, d.ID, now, now, "test", func([]rules.Version) (any, error) { return nil, nil }); err != nil {
		t.Fatal(err)
	}
}
