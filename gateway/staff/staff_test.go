package staff

import (
	"strings"
	"testing"
	"time"
)

func TestPasswordHash(t *testing.T) {
	h, err := HashPassword("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("hash %q is not a PHC argon2id string with the chosen parameters", h)
	}
	if !VerifyPassword(h, "correct horse battery") {
		t.Fatal("the right password is refused")
	}
	h2, _ := HashPassword("correct horse battery")
	if h2 == h {
		t.Fatal("two hashes of one password are equal: no random salt")
	}
	for _, bad := range []string{"correct horse batterY", "", "correct horse battery "} {
		if VerifyPassword(h, bad) {
			t.Errorf("%q accepted", bad)
		}
	}
	parts := strings.Split(h, "$")
	for _, broken := range []string{"", "plain", strings.Replace(h, "argon2id", "argon2i", 1), strings.Replace(h, "v=19", "v=16", 1),
		strings.Join(append(parts[:5:5], "AAAA"), "$"), strings.Replace(h, "m=19456", "m=0", 1), strings.Replace(h, "t=2", "t=99", 1)} {
		if VerifyPassword(broken, "correct horse battery") {
			t.Errorf("malformed hash %q accepted", broken)
		}
	}
}

func TestNewChecksInput(t *testing.T) {
	now := time.Now()
	if _, err := New("stf_1", "mch_1", "alice", RoleOwner, "long enough password", now); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string][3]string{
		"short login":    {"a", RoleOwner, "long enough password"},
		"upper login":    {"Alice", RoleOwner, "long enough password"},
		"unknown role":   {"alice", "admin", "long enough password"},
		"short password": {"alice", RoleCashier, "short"},
	} {
		if _, err := New("stf_1", "mch_1", c[0], c[1], c[2], now); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
}

func TestRolesSeeOnlyTheirViews(t *testing.T) {
	want := map[string][]string{
		RoleOwner:   {ViewToday, ViewFinance, ViewCredentials, ViewPurchases},
		RoleFinance: {ViewToday, ViewFinance, ViewPurchases},
		RoleCashier: {ViewToday, ViewPurchases},
	}
	for _, role := range append(Roles, "", "admin") {
		for _, view := range []string{ViewToday, ViewFinance, ViewCredentials, ViewPurchases, "other"} {
			exp := false
			for _, v := range want[role] {
				exp = exp || v == view
			}
			if Can(role, view) != exp {
				t.Errorf("Can(%q, %q) = %v", role, view, !exp)
			}
		}
	}
}

func TestSessionTokens(t *testing.T) {
	s := Staff{ID: "stf_1", MerchantID: "mch_1", Login: "alice", Role: RoleCashier}
	tok, sess, err := NewSession(s, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if sess.TokenHash != TokenHash(tok) || strings.Contains(sess.TokenHash, tok) || len(sess.CSRF) != 48 {
		t.Fatalf("session %+v for token %q", sess, tok)
	}
	if !sess.CheckCSRF(sess.CSRF) || sess.CheckCSRF("") || sess.CheckCSRF(sess.CSRF[:47]+"0") && sess.CSRF[47] != '0' {
		t.Fatal("CSRF check")
	}
}
