package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
)

// TestOperatorTokens: create, read, list and revoke named operator tokens;
// each change is an audit event attributed to its actor, naming the token
// but never its hash.
func TestOperatorTokens(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		t0 := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
		hash := strings.Repeat("ab", 32)
		tok := store.OperatorToken{ID: "opt_0123456789abcdef", Label: "finance desk", Scopes: []string{"funds:write", "read"},
			SecretHash: hash, CreatedBy: "operator:bootstrap", CreatedAt: t0, ExpiresAt: t0.Add(90 * 24 * time.Hour)}
		epoch0, err := db.AdminEpoch(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := db.CreateOperatorToken(ctx, tok); err != nil {
			t.Fatal(err)
		}
		if err := db.CreateOperatorToken(ctx, tok); err == nil {
			t.Fatal("a second token with the same id was stored")
		}
		bad := tok
		bad.ID, bad.SecretHash = "opt_x", "short"
		if err := db.CreateOperatorToken(ctx, bad); err == nil {
			t.Fatal("a token without a proper hash was stored")
		}
		got, err := db.OperatorToken(ctx, tok.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.ID != tok.ID || got.Label != tok.Label || strings.Join(got.Scopes, " ") != "funds:write read" || got.SecretHash != hash ||
			got.CreatedBy != tok.CreatedBy || !got.CreatedAt.Equal(t0) || !got.ExpiresAt.Equal(tok.ExpiresAt) || !got.RevokedAt.IsZero() {
			t.Fatalf("read back %+v", got)
		}
		if _, err := db.OperatorToken(ctx, "opt_nosuchtoken00000"); !errors.Is(err, store.ErrOperatorTokenNotFound) {
			t.Fatalf("unknown token: %v", err)
		}

		second := tok
		second.ID, second.Label, second.Scopes, second.CreatedBy, second.CreatedAt = "opt_fedcba9876543210", "ops", []string{"merchants:write"}, "operator:"+tok.ID, t0.Add(time.Hour)
		if err := db.CreateOperatorToken(ctx, second); err != nil {
			t.Fatal(err)
		}
		if err := db.RevokeOperatorToken(ctx, second.ID, t0.Add(2*time.Hour), "operator:"+tok.ID); err != nil {
			t.Fatal(err)
		}
		if err := db.RevokeOperatorToken(ctx, second.ID, t0.Add(3*time.Hour), "operator:"+tok.ID); !errors.Is(err, store.ErrOperatorTokenRevoked) {
			t.Fatalf("second revocation: %v", err)
		}
		if err := db.RevokeOperatorToken(ctx, "opt_nosuchtoken00000", t0, "operator:"+tok.ID); !errors.Is(err, store.ErrOperatorTokenNotFound) {
			t.Fatalf("revoking an unknown token: %v", err)
		}
		list, err := db.OperatorTokens(ctx)
		if err != nil || len(list) != 2 || list[0].ID != tok.ID || list[1].ID != second.ID {
			t.Fatalf("list: %+v %v", list, err)
		}
		if !list[1].RevokedAt.Equal(t0.Add(2*time.Hour)) || list[1].RevokedBy != "operator:"+tok.ID || !list[0].RevokedAt.IsZero() {
			t.Fatalf("revocation not recorded: %+v", list)
		}

		evs, err := db.AuditEvents(ctx, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		want := []struct{ kind, actor, subject string }{
			{"operator_token.created", "operator:bootstrap", tok.ID},
			{"operator_token.created", "operator:" + tok.ID, second.ID},
			{"operator_token.revoked", "operator:" + tok.ID, second.ID},
		}
		if len(evs) != len(want) {
			t.Fatalf("audit events: %+v", evs)
		}
		for i, w := range want {
			e := evs[i]
			if e.Kind != w.kind || e.Actor != w.actor || e.Subject != w.subject || !json.Valid([]byte(e.Payload)) || strings.Contains(e.Payload, hash) {
				t.Errorf("audit event %d = %+v, want %+v", i, e, w)
			}
		}
		// Operator tokens are read per request, never cached: the caches
		// under the admin epoch stay.
		if epoch, err := db.AdminEpoch(ctx); err != nil || epoch != epoch0 {
			t.Fatalf("admin epoch %d (was %d): %v", epoch, epoch0, err)
		}
	})
}
