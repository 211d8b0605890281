package points

import (
	"errors"
	"math"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/gateway/ledger"
)

func svc() *Service {
	return &Service{Policy: Policy{FaceValueFen: 1, ReleaseDelay: time.Hour, Validity: time.Hour, ExpiryPolicy: "breakage",
		MaxPointsPerEarn: 1_000_000, MaxAmountFen: 1_000_000_000}}
}

func code(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

func TestValidateEarn(t *testing.T) {
	s := svc()
	good := EarnRequest{MerchantID: "m", OrderID: "o", Member: Identity{Kind: IdentityPhone, Value: "+8613800138000"}, AmountFen: 100}
	if err := s.ValidateEarn(&good); err != nil {
		t.Fatal(err)
	}
	neg := int64(-1)
	big := int64(2_000_000)
	for name, c := range map[string]struct {
		mut  func(*EarnRequest)
		want string
	}{
		"zero amount":       {func(r *EarnRequest) { r.AmountFen = 0 }, CodeInvalidAmount},
		"max amount":        {func(r *EarnRequest) { r.AmountFen = math.MaxInt64 }, CodeInvalidAmount},
		"empty order":       {func(r *EarnRequest) { r.OrderID = "" }, CodeInvalidOrder},
		"control in order":  {func(r *EarnRequest) { r.OrderID = "a\nb" }, CodeInvalidOrder},
		"long order":        {func(r *EarnRequest) { r.OrderID = string(make([]byte, 65)) }, CodeInvalidOrder},
		"bad phone":         {func(r *EarnRequest) { r.Member.Value = "138-0013" }, CodeInvalidIdentity},
		"unknown identity":  {func(r *EarnRequest) { r.Member.Kind = "email" }, CodeInvalidIdentity},
		"negative points":   {func(r *EarnRequest) { r.Points = &neg }, CodeInvalidPoints},
		"too many points":   {func(r *EarnRequest) { r.Points = &big }, CodeInvalidPoints},
		"rule points large": {func(r *EarnRequest) { r.award = &Award{Points: big, RuleVersion: "r"} }, CodeInvalidPoints},
		"rule no version":   {func(r *EarnRequest) { r.award = &Award{Points: 1} }, CodeRuleUnavailable},
		"too many items":    {func(r *EarnRequest) { r.Items = make([]Item, MaxItems+1) }, CodeValidation},
		"negative item":     {func(r *EarnRequest) { r.Items = []Item{{AmountFen: -1}} }, CodeValidation},
		"empty attribute":   {func(r *EarnRequest) { r.Attributes = map[string]string{"": "x"} }, CodeValidation},
	} {
		r := good
		c.mut(&r)
		if got := code(s.ValidateEarn(&r)); got != c.want {
			t.Errorf("%s: %q, want %q", name, got, c.want)
		}
	}
}

func TestEarnPointsRounding(t *testing.T) {
	s := svc()
	m := Merchant{ID: "m", Active: true, Earning: Earning{RateBP: 150}} // 1.5%
	for _, c := range []struct{ amount, want int64 }{{99, 1}, {66, 0}, {100_00, 150}, {1_000_000_000, 1_000_000}} {
		got, v, err := s.earnPoints(m, EarnRequest{AmountFen: c.amount})
		if err != nil || got != c.want || v != "flat:150" {
			t.Errorf("amount %d: %d %q %v, want %d", c.amount, got, v, err, c.want)
		}
	}
	// The merchant cap bounds the flat rate; explicit awards over it are refused.
	m.MaxPoints = 10
	if got, _, _ := s.earnPoints(m, EarnRequest{AmountFen: 100_000}); got != 10 {
		t.Errorf("capped: %d", got)
	}
	p := int64(11)
	if _, _, err := s.earnPoints(m, EarnRequest{AmountFen: 100_000, Points: &p}); code(err) != CodeInvalidPoints {
		t.Errorf("explicit over cap: %v", err)
	}
	// Never more points than the purchase is worth, even from a rule.
	m.MaxPoints = 0
	rp := int64(101)
	if _, _, err := s.earnPoints(m, EarnRequest{AmountFen: 100, award: &Award{Points: rp, RuleVersion: "r"}}); code(err) != CodeInvalidPoints {
		t.Errorf("rule over value: %v", err)
	}
}

func TestMergePostings(t *testing.T) {
	ps := append(ledger.Move("member:u:pending", "merchant:m:budget", 3), ledger.Move("member:u:pending", "merchant:m:budget", 4)...)
	got := mergePostings(ps)
	if len(got) != 2 || got[0].Amount != -7 || got[1].Amount != 7 {
		t.Fatalf("merged %+v", got)
	}
}
