package api

import (
	"context"
	"strings"
	"testing"

	"github.com/lianmeng/lianmeng/gateway/staff"
	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
)

// Staff accounts over HTTP on both databases: created with a hash that is
// never shown and that verifies the password; a taken login is 409, bad
// input 400, and neither writes anything.
func TestStaffRoutes(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		g := ptsStart(t, db, nil)
		m := g.merchant(t, 100, 0)
		ctx := context.Background()
		base := "/v1/operator/merchants/" + m.ID + "/staff"

		var raw map[string]any
		if err := g.op.Do(ctx, "POST", base, map[string]string{"login": "alice", "role": "owner", "password": "long enough password"}, &raw); err != nil {
			t.Fatal(err)
		}
		for k := range raw {
			if !strings.Contains(" id merchant_id login role created_at ", " "+k+" ") {
				t.Errorf("the staff account shows %q", k)
			}
		}
		st, err := db.StaffByLogin(ctx, m.ID, "alice")
		if err != nil || st.Role != staff.RoleOwner || !staff.VerifyPassword(st.PasswordHash, "long enough password") {
			t.Fatalf("stored account %+v %v", st, err)
		}
		count := func() int { return fndCount(t, db, "staff") }
		for name, body := range map[string]map[string]string{
			"taken login":    {"login": "alice", "role": "cashier", "password": "long enough password"},
			"unknown role":   {"login": "bob", "role": "admin", "password": "long enough password"},
			"short password": {"login": "bob", "role": "cashier", "password": "short"},
			"bad login":      {"login": "Bob!", "role": "cashier", "password": "long enough password"},
		} {
			want := CodeValidation
			if name == "taken login" {
				want = CodeStaffLoginTaken
			}
			before := count()
			if code := apiCode(t, g.op.Do(ctx, "POST", base, body, nil)); code != want {
				t.Errorf("%s: %q, want %s", name, code, want)
			}
			if count() != before {
				t.Errorf("%s wrote an account", name)
			}
		}
		var list staffList
		if err := g.op.Do(ctx, "GET", base, nil, &list); err != nil || len(list.Staff) != 1 || list.Staff[0].Login != "alice" {
			t.Fatalf("list: %+v %v", list, err)
		}
		if code := apiCode(t, g.op.Do(ctx, "GET", "/v1/operator/merchants/mch_nope/staff", nil, nil)); code != CodeNotFound && code != "merchant_not_found" {
			t.Errorf("unknown merchant: %q", code)
		}
	})
}
