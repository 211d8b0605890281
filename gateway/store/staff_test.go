package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/gateway/staff"
	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
)

// Staff accounts and sessions on both databases: one login per merchant,
// the same login at another merchant is another account, sessions are
// found by their token's hash only and end when deleted, and creating an
// account is an audit event.
func TestStaffAccountsAndSessions(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		now := time.Now().UTC().Truncate(time.Microsecond)
		a, err := staff.New("stf_a", "mch_1", "alice", staff.RoleFinance, "long enough password", now)
		if err != nil {
			t.Fatal(err)
		}
		epoch, _ := db.AdminEpoch(ctx)
		if err := db.CreateStaff(ctx, a, "operator:test"); err != nil {
			t.Fatal(err)
		}
		if evs, err := db.RecentAuditEvents(ctx, 0, 1); err != nil || len(evs) != 1 || evs[0].Kind != "staff.created" {
			t.Errorf("creating staff wrote no audit event: %+v %v", evs, err)
		}
		// Staff are not cached: the caches under the admin epoch stay.
		if e, _ := db.AdminEpoch(ctx); e != epoch {
			t.Errorf("creating staff moved the admin epoch %d -> %d", epoch, e)
		}
		dup := a
		dup.ID = "stf_b"
		if err := db.CreateStaff(ctx, dup, "operator:test"); !errors.Is(err, staff.ErrExists) {
			t.Fatalf("same login twice: %v", err)
		}
		other := a
		other.ID, other.MerchantID = "stf_c", "mch_2"
		if err := db.CreateStaff(ctx, other, "operator:test"); err != nil {
			t.Fatalf("same login at another merchant: %v", err)
		}
		got, err := db.StaffByLogin(ctx, "mch_1", "alice")
		if err != nil || got != a {
			t.Fatalf("StaffByLogin = %+v, %v; want %+v", got, err, a)
		}
		if _, err := db.StaffByLogin(ctx, "mch_1", "bob"); !errors.Is(err, staff.ErrNotFound) {
			t.Fatalf("unknown login: %v", err)
		}
		if got, err := staff.Authenticate(ctx, db, "mch_1", "alice", "long enough password"); err != nil || got.ID != "stf_a" {
			t.Fatalf("Authenticate: %+v %v", got, err)
		}
		for _, c := range [][3]string{{"mch_1", "alice", "wrong password!!"}, {"mch_1", "bob", "long enough password"}, {"mch_3", "alice", "long enough password"}} {
			if _, err := staff.Authenticate(ctx, db, c[0], c[1], c[2]); !errors.Is(err, staff.ErrNotFound) {
				t.Errorf("Authenticate%v: %v", c, err)
			}
		}

		tok, sess, err := staff.NewSession(a, now, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		sess.ExpiresAt = sess.ExpiresAt.Truncate(time.Microsecond)
		if err := db.CreateStaffSession(ctx, sess); err != nil {
			t.Fatal(err)
		}
		if got, err := db.StaffSession(ctx, staff.TokenHash(tok)); err != nil || got != sess {
			t.Fatalf("StaffSession = %+v, %v; want %+v", got, err, sess)
		}
		if _, err := db.StaffSession(ctx, tok); !errors.Is(err, staff.ErrNotFound) {
			t.Fatalf("a session found by its raw token: %v", err)
		}
		if err := db.DeleteStaffSession(ctx, sess.TokenHash); err != nil {
			t.Fatal(err)
		}
		if _, err := db.StaffSession(ctx, sess.TokenHash); !errors.Is(err, staff.ErrNotFound) {
			t.Fatalf("after delete: %v", err)
		}
		if list, err := db.ListStaff(ctx, "mch_1"); err != nil || len(list) != 1 || list[0].ID != "stf_a" {
			t.Fatalf("ListStaff = %+v, %v", list, err)
		}
	})
}
