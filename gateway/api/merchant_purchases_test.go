package api

import (
	"context"
	"fmt"
	"testing"

	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
	"github.com/lianmeng/lianmeng/sdk/client"
	"github.com/lianmeng/lianmeng/sdk/signature"
)

// The merchant's purchase history on both databases: only its own
// purchases, newest first, cursor-paginated, each with how its points were
// computed (the breakdown kept with a CEL earn, the version's terms for a
// flat one), refunds shown; the read scope is needed; bad parameters 400.
func TestMerchantPurchasesOverHTTP(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		g := ptsStart(t, db, nil)
		ctx := context.Background()
		a := g.merchant(t, 100, 1_000_000) // 1% back
		b := g.merchant(t, 100, 1_000_000)
		earn := func(m ptsMerchant, order string, amount int64) {
			t.Helper()
			if err := m.C.Do(ctx, "POST", "/v1/merchant/earn", map[string]any{"order_id": order, "member": phone("13900000009"), "amount_fen": amount},
				nil, client.IdempotencyKey(newKey())); err != nil {
				t.Fatal(err)
			}
		}
		earn(a, "flat-1", 10000)
		earn(b, "b-1", 10000)
		var d struct{ ID int64 }
		if err := a.C.Do(ctx, "POST", "/v1/merchant/rules/drafts", map[string]any{"expression": "eligible_fen / 50"}, &d); err != nil {
			t.Fatal(err)
		}
		if err := a.C.Do(ctx, "POST", fmt.Sprintf("/v1/merchant/rules/drafts/%d/publish", d.ID), map[string]any{}, nil); err != nil {
			t.Fatal(err)
		}
		earn(a, "cel-1", 10000)
		if err := a.C.Do(ctx, "POST", "/v1/merchant/earn/refund", map[string]any{"order_id": "flat-1", "amount_fen": 5000}, nil,
			client.IdempotencyKey(newKey())); err != nil {
			t.Fatal(err)
		}
		var page merchantPurchaseList
		if err := a.C.Do(ctx, "GET", "/v1/merchant/purchases", nil, &page); err != nil || len(page.Purchases) != 2 || page.NextCursor != "" {
			t.Fatalf("a's purchases: %+v %v", page, err)
		}
		cel, flat := page.Purchases[0], page.Purchases[1]
		if cel.OrderID != "cel-1" || cel.Points != 200 || cel.Breakdown == nil || cel.Breakdown.BasePoints != 200 || cel.Breakdown.TotalPoints != 200 ||
			cel.MemberID == "" || cel.CreatedAt.IsZero() || cel.MerchantID != a.ID {
			t.Fatalf("the CEL earn: %+v", cel)
		}
		if flat.OrderID != "flat-1" || flat.Points != 100 || flat.RefundedFen != 5000 || flat.ReversedPoints != 50 ||
			(flat.Breakdown == nil && (flat.Terms == nil || flat.Terms.RateBP != 100)) {
			t.Fatalf("the flat earn: %+v (terms %+v)", flat, flat.Terms)
		}
		// Pages of one: newest first, then the older one, then none.
		page = merchantPurchaseList{}
		if err := a.C.Do(ctx, "GET", "/v1/merchant/purchases?limit=1", nil, &page); err != nil || len(page.Purchases) != 1 ||
			page.Purchases[0].OrderID != "cel-1" || page.NextCursor == "" {
			t.Fatalf("page 1: %+v %v", page, err)
		}
		next := page.NextCursor
		page = merchantPurchaseList{}
		if err := a.C.Do(ctx, "GET", "/v1/merchant/purchases?limit=1&cursor="+next, nil, &page); err != nil || len(page.Purchases) != 1 ||
			page.Purchases[0].OrderID != "flat-1" {
			t.Fatalf("page 2: %+v %v", page, err)
		}
		oldest := fmt.Sprint(page.Purchases[0].ID)
		page = merchantPurchaseList{}
		if err := a.C.Do(ctx, "GET", "/v1/merchant/purchases?cursor="+oldest, nil, &page); err != nil || len(page.Purchases) != 0 {
			t.Fatalf("past the end: %+v %v", page, err)
		}
		page = merchantPurchaseList{}
		if err := a.C.Do(ctx, "GET", "/v1/merchant/purchases?kind=redeem", nil, &page); err != nil || len(page.Purchases) != 0 {
			t.Fatalf("no redemptions: %+v %v", page, err)
		}
		// b sees its own only.
		page = merchantPurchaseList{}
		if err := b.C.Do(ctx, "GET", "/v1/merchant/purchases", nil, &page); err != nil || len(page.Purchases) != 1 || page.Purchases[0].OrderID != "b-1" {
			t.Fatalf("b's purchases: %+v %v", page, err)
		}
		for _, q := range []string{"?kind=fund", "?cursor=abc", "?cursor=0", "?limit=0", "?limit=501"} {
			if err := a.C.Do(ctx, "GET", "/v1/merchant/purchases"+q, nil, nil); apiCode(t, err) != CodeValidation {
				t.Fatalf("%s: %v", q, err)
			}
		}
		// A credential without the read scope is refused.
		var cred struct{ ID, Secret string }
		if err := g.op.Do(ctx, "POST", "/v1/operator/merchants/"+a.ID+"/credentials", map[string]any{"algorithm": "hmac-sha256", "scopes": []string{"earn"}}, &cred); err != nil {
			t.Fatal(err)
		}
		s, err := signature.NewHMACSigner(cred.ID, cred.Secret)
		if err != nil {
			t.Fatal(err)
		}
		if err := client.NewMerchant(g.base, a.ID, s, client.WithClock(g.clock.Now)).Do(ctx, "GET", "/v1/merchant/purchases", nil, nil); apiCode(t, err) != CodeScopeDenied {
			t.Fatalf("earn-only credential: %v", err)
		}
	})
}
