package store_test

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/gateway/merchant"
	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
)

// Scopes are stored with the credential and read back in canonical order,
// by Get and List alike.
func TestCredentialScopesStored(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		repo := db.Merchants()
		now := time.Now()
		m, _ := merchant.NewMerchant("Scoped", "restaurant", now)
		if err := repo.CreateMerchant(ctx, m, "operator"); err != nil {
			t.Fatal(err)
		}
		pos, _, err := merchant.NewCredential(m.ID, "hmac-sha256", "", "POS", now)
		if err != nil {
			t.Fatal(err)
		}
		fin, _, err := merchant.NewCredential(m.ID, "hmac-sha256", "", "finance", now.Add(time.Second))
		if err != nil {
			t.Fatal(err)
		}
		fin.Scopes = []string{merchant.ScopeRead, merchant.ScopeFinance}
		for _, c := range []merchant.Credential{pos, fin} {
			if err := repo.CreateCredential(ctx, c, "operator"); err != nil {
				t.Fatal(err)
			}
		}
		got, err := repo.GetCredential(ctx, pos.ID)
		if err != nil || !slices.Equal(got.Scopes, merchant.DefaultScopes()) {
			t.Fatalf("GetCredential(pos).Scopes = %v, %v; want %v", got.Scopes, err, merchant.DefaultScopes())
		}
		list, err := repo.ListCredentials(ctx, m.ID)
		if err != nil || len(list) != 2 || !slices.Equal(list[1].Scopes, fin.Scopes) || !slices.Equal(list[0].Scopes, pos.Scopes) {
			t.Fatalf("ListCredentials = %+v, %v", list, err)
		}
		// The grant is part of the audited issuance.
		ev, err := db.AuditEvents(ctx, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		if last := ev[len(ev)-1]; last.Kind != "credential.issued" || !strings.Contains(last.Payload, `"scopes":"read finance"`) {
			t.Fatalf("last audit event %+v: want credential.issued naming its scopes", last)
		}
	})
}

// A credential issued before scopes existed keeps every route it could
// call: the migration gives it all five scopes, while new rows default to
// the POS set.
func TestCredentialScopesMigration(t *testing.T) {
	for _, dialect := range storetest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			ctx := context.Background()
			db := openBefore(t, dialect, "_credential_scopes.sql")
			now := strconv.FormatInt(time.Now().UnixMicro(), 10)
			for _, q := range []string{
				`INSERT INTO merchants (id, name, industry, status, created_at) VALUES ('mch_old', 'Old', 'restaurant', 'active', ` + now + `)`,
				`INSERT INTO api_keys (id, merchant_id, algorithm, key_material, label, status, created_at) VALUES ('key_old', 'mch_old', 'hmac-sha256', 'AAAA', 'old POS', 'active', ` + now + `)`,
			} {
				if _, err := db.W.ExecContext(ctx, q); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := db.Migrate(ctx, nil); err != nil {
				t.Fatal(err)
			}
			old, err := db.Merchants().GetCredential(ctx, "key_old")
			if err != nil || !slices.Equal(old.Scopes, merchant.Scopes) {
				t.Fatalf("migrated credential scopes %v, %v; want all of %v", old.Scopes, err, merchant.Scopes)
			}
			// A row written without naming scopes (an instance not yet
			// upgraded) gets the POS default, never finance.
			if _, err := db.W.ExecContext(ctx, `INSERT INTO api_keys (id, merchant_id, algorithm, key_material, label, status, created_at) VALUES ('key_new', 'mch_old', 'hmac-sha256', 'AAAA', 'new POS', 'active', `+now+`)`); err != nil {
				t.Fatal(err)
			}
			if c, err := db.Merchants().GetCredential(ctx, "key_new"); err != nil || !slices.Equal(c.Scopes, merchant.DefaultScopes()) {
				t.Fatalf("default scopes %v, %v; want %v", c.Scopes, err, merchant.DefaultScopes())
			}
		})
	}
}
