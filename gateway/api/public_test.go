package api

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/gateway/rules"
	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
	"github.com/lianmeng/lianmeng/sdk/client"
)

// The public merchant list shows each merchant's current earning terms,
// pages by cursor, refuses a bad limit, and shows nothing private.
func TestPublicMerchants(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		g := ptsStart(t, db, nil)
		a := g.merchant(t, 150, 100000)
		b := g.merchant(t, 300, 0)
		anon := client.NewOperator(g.base, "")
		ctx := context.Background()

		var first publicMerchantList
		if err := anon.Do(ctx, "GET", "/v1/public/merchants?limit=1", nil, &first); err != nil {
			t.Fatal(err)
		}
		if len(first.Merchants) != 1 || first.NextCursor == "" {
			t.Fatalf("first page = %+v, want one merchant and a cursor", first)
		}
		var rest publicMerchantList
		if err := anon.Do(ctx, "GET", "/v1/public/merchants?cursor="+first.NextCursor, nil, &rest); err != nil {
			t.Fatal(err)
		}
		if len(rest.Merchants) != 1 || rest.NextCursor != "" {
			t.Fatalf("second page = %+v, want the other merchant and no cursor", rest)
		}
		got := map[string]int64{}
		for _, m := range append(first.Merchants, rest.Merchants...) {
			got[m.ID] = m.Earning.RateBP
			if m.Status != "active" || m.Name != "Shop" {
				t.Errorf("merchant %+v: want an active Shop", m)
			}
		}
		if got[a.ID] != 150 || got[b.ID] != 300 {
			t.Fatalf("rates = %v, want %s:150 %s:300", got, a.ID, b.ID)
		}

		// A favourable change shows at once (the cache is dropped on change;
		// a less favourable one would wait for the notice period).
		if err := g.op.Do(ctx, "PUT", "/v1/operator/merchants/"+a.ID+"/earning", map[string]any{"rate_bp": 500, "max_points": 0}, nil); err != nil {
			t.Fatal(err)
		}
		var all publicMerchantList
		if err := anon.Do(ctx, "GET", "/v1/public/merchants", nil, &all); err != nil {
			t.Fatal(err)
		}
		for _, m := range all.Merchants {
			if m.ID == a.ID && (m.Earning.RateBP != 500 || m.Earning.MaxPoints != 0) {
				t.Fatalf("after the change: %+v", m.Earning)
			}
		}

		var raw map[string]any
		if err := anon.Do(ctx, "GET", "/v1/public/merchants", nil, &raw); err != nil {
			t.Fatal(err)
		}
		for _, m := range raw["merchants"].([]any) {
			for k := range m.(map[string]any) {
				if !strings.Contains(" id name industry status earning scheduled changes ", " "+k+" ") {
					t.Errorf("public merchant shows %q", k)
				}
			}
		}
		// A less favourable version scheduled after the notice period shows
		// with its date and what changes.
		var d rules.Version
		if err := g.op.Do(ctx, "POST", "/v1/operator/merchants/"+b.ID+"/rules/drafts", map[string]any{"rate_bp": 100}, &d); err != nil {
			t.Fatal(err)
		}
		at := g.clock.Now().UTC().Truncate(time.Second).Add(rules.DefaultNotice + time.Hour)
		if err := g.op.Do(ctx, "POST", fmt.Sprintf("/v1/operator/merchants/%s/rules/drafts/%d/publish", b.ID, d.ID), map[string]any{"effective_at": at}, nil); err != nil {
			t.Fatal(err)
		}
		if err := anon.Do(ctx, "GET", "/v1/public/merchants", nil, &all); err != nil {
			t.Fatal(err)
		}
		for _, m := range all.Merchants {
			switch {
			case m.ID == b.ID && (m.Scheduled == nil || !m.Scheduled.EffectiveAt.Equal(at) || m.Scheduled.Terms.RateBP != 100 || !hasLessFavourable(m.Changes, "rate_bp") || m.Earning.RateBP != 300):
				t.Errorf("merchant with a scheduled change: %+v scheduled %+v changes %+v", m, m.Scheduled, m.Changes)
			case m.ID == a.ID && (m.Scheduled != nil || len(m.Changes) != 0):
				t.Errorf("merchant without a scheduled change shows one: %+v", m)
			}
		}

		if code := apiCode(t, anon.Do(ctx, "GET", "/v1/public/merchants?limit=501", nil, nil)); code != CodeValidation {
			t.Fatalf("limit=501: code %q, want %s", code, CodeValidation)
		}
	})
}
