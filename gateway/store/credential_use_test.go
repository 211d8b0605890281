package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/gateway/merchant"
	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
)

// A credential's last use: none at first; recorded; a use within the
// minute after is not written, a later one is; it never moves backwards;
// another key is untouched; several keys are recorded in one write.
func TestTouchCredential(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx, repo := context.Background(), db.Merchants()
		t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
		m, err := merchant.NewMerchant("Tea", "restaurant", t0)
		if err != nil {
			t.Fatal(err)
		}
		if err := repo.CreateMerchant(ctx, m, "test"); err != nil {
			t.Fatal(err)
		}
		var ids []string
		for i := 0; i < 2; i++ {
			c, _, err := merchant.NewCredential(m.ID, "hmac-sha256", "", "till", t0)
			if err != nil {
				t.Fatal(err)
			}
			if err := repo.CreateCredential(ctx, c, "test"); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, c.ID)
		}
		last := func(id string) *time.Time {
			t.Helper()
			c, err := repo.GetCredential(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			return c.LastUsedAt
		}
		if l := last(ids[0]); l != nil {
			t.Fatalf("new key last used %v", l)
		}
		for _, step := range []struct {
			at   time.Time
			want time.Time
		}{
			{t0.Add(time.Second), t0.Add(time.Second)},
			{t0.Add(50 * time.Second), t0.Add(time.Second)}, // within the minute: not written
			{t0.Add(2 * time.Minute), t0.Add(2 * time.Minute)},
			{t0, t0.Add(2 * time.Minute)}, // earlier: never backwards
		} {
			if err := repo.TouchCredentials(ctx, map[string]time.Time{ids[0]: step.at}); err != nil {
				t.Fatal(err)
			}
			if l := last(ids[0]); l == nil || !l.Equal(step.want) {
				t.Errorf("after a use at %s: last used %v, want %s", step.at, l, step.want)
			}
		}
		list, err := repo.ListCredentials(ctx, m.ID)
		if err != nil || len(list) != 2 || list[0].LastUsedAt == nil && list[1].LastUsedAt == nil {
			t.Fatalf("list: %+v %v", list, err)
		}
		if l := last(ids[1]); l != nil {
			t.Errorf("the other key last used %v", l)
		}
		// Several keys in one write; nothing to write is no write.
		if err := repo.TouchCredentials(ctx, nil); err != nil {
			t.Fatal(err)
		}
		at := t0.Add(5 * time.Minute)
		if err := repo.TouchCredentials(ctx, map[string]time.Time{ids[0]: at, ids[1]: at.Add(time.Second)}); err != nil {
			t.Fatal(err)
		}
		if l0, l1 := last(ids[0]), last(ids[1]); l0 == nil || !l0.Equal(at) || l1 == nil || !l1.Equal(at.Add(time.Second)) {
			t.Errorf("after one write for both keys: last used %v and %v", l0, l1)
		}
	})
}
