package merchant

import (
	"errors"
	"slices"
	"testing"
	"time"
)

func TestParseScopes(t *testing.T) {
	got, err := ParseScopes([]string{"read", "earn", "read", "finance"})
	if err != nil || !slices.Equal(got, []string{ScopeEarn, ScopeRead, ScopeFinance}) {
		t.Fatalf("ParseScopes = %v, %v; want canonical order without duplicates", got, err)
	}
	for _, bad := range [][]string{nil, {}, {"admin"}, {"earn", "Earn"}, {""}} {
		if _, err := ParseScopes(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseScopes(%q) = %v, want ErrInvalid", bad, err)
		}
	}
}

func TestNewCredentialDefaultScopes(t *testing.T) {
	c, _, err := NewCredential("mch_1", "hmac-sha256", "", "POS", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.Scopes, []string{ScopeEarn, ScopeRefund, ScopeRedeem, ScopeRead}) || c.HasScope(ScopeFinance) || !c.HasScope(ScopeRedeem) {
		t.Fatalf("default scopes %v: want earn, refund, redeem, read (no finance)", c.Scopes)
	}
}
