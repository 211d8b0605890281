package ledger

import (
	"errors"
	"math"
	"testing"
)

func TestValidate(t *testing.T) {
	ok := Transaction{Kind: KindFund, Postings: append(Move(Funding, Reserve, 100), Move(Mint, MerchantBudget("m"), 100)...)}
	if err := ok.Validate(); err != nil {
		t.Fatalf("balanced fund: %v", err)
	}
	cases := map[string]Transaction{
		"no kind":         {Postings: Move(Funding, Reserve, 1)},
		"one posting":     {Kind: KindEarn, Postings: []Posting{{Account: Reserve, Asset: CNY, Amount: 1}}},
		"zero amount":     {Kind: KindEarn, Postings: Move(MerchantBudget("m"), MemberPending("u"), 0)},
		"wrong asset":     {Kind: KindEarn, Postings: []Posting{{Account: Reserve, Asset: PTS, Amount: 1}, {Account: Funding, Asset: PTS, Amount: -1}}},
		"unbalanced":      {Kind: KindEarn, Postings: []Posting{{Account: MemberPending("u"), Asset: PTS, Amount: 2}, {Account: MerchantBudget("m"), Asset: PTS, Amount: -1}}},
		"cross-asset sum": {Kind: KindEarn, Postings: []Posting{{Account: Reserve, Asset: CNY, Amount: 1}, {Account: MerchantBudget("m"), Asset: PTS, Amount: -1}}},
		"overflow": {Kind: KindEarn, Postings: []Posting{{Account: MemberPending("u"), Asset: PTS, Amount: math.MaxInt64},
			{Account: MemberPending("v"), Asset: PTS, Amount: math.MaxInt64}, {Account: MerchantBudget("m"), Asset: PTS, Amount: -2}}},
	}
	for name, tx := range cases {
		if err := tx.Validate(); !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrUnbalanced) {
			t.Errorf("%s: %v, want invalid or unbalanced", name, err)
		}
	}
}

func TestCheckedArithmetic(t *testing.T) {
	if _, ok := AddChecked(math.MaxInt64, 1); ok {
		t.Error("MaxInt64+1 did not overflow")
	}
	if _, ok := AddChecked(math.MinInt64, -1); ok {
		t.Error("MinInt64-1 did not overflow")
	}
	if v, ok := AddChecked(-5, 3); !ok || v != -2 {
		t.Error("-5+3")
	}
	if _, ok := MulChecked(math.MaxInt64/2+1, 2); ok {
		t.Error("multiplication overflow missed")
	}
	if _, ok := MulChecked(-1, math.MinInt64); ok {
		t.Error("-1 × MinInt64 overflow missed")
	}
	if v, ok := MulChecked(1_000_000, 10_000); !ok || v != 10_000_000_000 {
		t.Error("1e6 × 1e4")
	}
}

func TestAccountClasses(t *testing.T) {
	for acct, want := range map[string]Asset{Reserve: CNY, MerchantPayable("m"): CNY, Breakage: CNY, MerchantBudget("m"): PTS, MemberAvailable("u"): PTS, Mint: PTS} {
		if got := AssetOf(acct); got != want {
			t.Errorf("AssetOf(%s) = %s, want %s", acct, got, want)
		}
	}
	if NonNegative(Mint) || NonNegative(Funding) || !NonNegative(MemberPending("u")) || !NonNegative(MerchantBudget("m")) {
		t.Error("NonNegative classes wrong")
	}
}

func TestParseAccount(t *testing.T) {
	cases := []struct {
		name    string
		kind    Kind
		owner   string
		asset   Asset
		guarded bool
	}{
		{MerchantBudget("m1"), KindBudget, "m1", PTS, true},
		{MerchantPayable("m1"), KindPayable, "m1", CNY, true},
		{MemberPending("u:x"), KindPending, "u:x", PTS, true},
		{MemberAvailable("u1"), KindAvailable, "u1", PTS, true},
		{Reserve, KindAlliance, "", CNY, true},
		{Marketing, KindAlliance, "", PTS, true},
		{Breakage, KindAlliance, "", CNY, false},
		{Mint, KindAlliance, "", PTS, false},
		{Burned, KindAlliance, "", PTS, false},
		{Funding, KindExternal, "", CNY, false},
		{Paid, KindExternal, "", CNY, false},
		{"merchant::budget", "", "", PTS, false},
		{"member:u1:other", "", "", PTS, false},
		{"something", "", "", PTS, false},
	}
	for _, c := range cases {
		a := ParseAccount(c.name)
		if a.Kind != c.kind || a.Owner != c.owner || a.Asset != c.asset || a.Guarded != c.guarded || a.Name != c.name {
			t.Errorf("ParseAccount(%q) = %+v, want kind %q owner %q asset %s guarded %v", c.name, a, c.kind, c.owner, c.asset, c.guarded)
		}
	}
	bad := Transaction{Kind: KindEarn, Postings: []Posting{{Account: "nowhere", Asset: PTS, Amount: 1}, {Account: MerchantBudget("m"), Asset: PTS, Amount: -1}}}
	if err := bad.Validate(); !errors.Is(err, ErrInvalid) {
		t.Errorf("posting to an unknown account: %v, want ErrInvalid", err)
	}
}
