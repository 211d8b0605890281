package points_test

import (
	"errors"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/gateway/ledger"
	"github.com/lianmeng/lianmeng/gateway/points"
	"github.com/lianmeng/lianmeng/gateway/points/pointstest"
)

// The redemption code's format, as documented (README, Member consent).
func TestRedemptionCodeVector(t *testing.T) {
	const code = "612345678901234566"
	if points.RedemptionCodeFrom(code[1:17]) != code {
		t.Errorf("RedemptionCodeFrom(%s) does not give the vector", code[1:17])
	}
	if !points.ValidRedemptionCode(code) {
		t.Fatalf("%s: the documented vector is not valid", code)
	}
	if got := points.RedemptionCodeKey(code); got != "c92b920bdca145fc5e4d2cfd240aacf532c92304028e0119f68effd3558976c5" {
		t.Errorf("key of the vector: %s", got)
	}
	if got := points.SMSConsentKey("mem_01", "123456"); got != "75a4b1520952bdc65cec7254aeaf79802427202a6f2dd94506f820a43fc8744c" {
		t.Errorf("key of the phone-code vector: %s", got)
	}
	for _, bad := range []string{"612345678901234563", "512345678901234566", "61234567890123456", "6123456789012345660", "61234567890123456a", ""} {
		if points.ValidRedemptionCode(bad) {
			t.Errorf("%q accepted", bad)
		}
	}
	if points.LuhnDigit("7992739871") != '3' { // the classic Luhn example
		t.Errorf("Luhn of 7992739871 = %c, want 3", points.LuhnDigit("7992739871"))
	}
}

// Only the member's consent spends the member's points: each way a code
// can be wrong is refused with its own code and changes nothing.
func TestRedeemConsent(t *testing.T) {
	alice := points.Identity{Kind: points.IdentityPhone, Value: "13800000001"}
	bob := points.Identity{Kind: points.IdentityPhone, Value: "13800000002"}
	setup := func(t *testing.T) (*points.Service, *pointstest.Tx, string) {
		t.Helper()
		tx := pointstest.NewTx(t0, merchants()...)
		svc := &points.Service{Policy: policy()}
		for _, m := range []string{"m1", "m2"} {
			if _, err := svc.Fund(tx, points.FundRequest{MerchantID: m, AmountFen: 100_000, ExternalRef: "f-" + m}); err != nil {
				t.Fatal(err)
			}
		}
		for i, who := range []points.Identity{alice, bob} {
			p := int64(100)
			if _, err := svc.Earn(tx, points.EarnRequest{MerchantID: "m1", OrderID: string(rune('a' + i)), Member: who, AmountFen: 10_000, Points: &p}); err != nil {
				t.Fatal(err)
			}
		}
		tx.Advance(day)
		if _, err := svc.Release(tx, 10); err != nil {
			t.Fatal(err)
		}
		mid, err := tx.Member("m2", alice, false)
		if err != nil {
			t.Fatal(err)
		}
		return svc, tx, mid
	}
	redeem := func(svc *points.Service, tx *pointstest.Tx, r points.RedeemRequest) error {
		_, err := pointstest.Run(tx, func(x points.Tx) (points.RedeemResult, error) { return svc.Redeem(x, r) })
		return err
	}
	codeOf := func(err error) string {
		var pe *points.Error
		if errors.As(err, &pe) {
			return pe.Code
		}
		if err != nil {
			return err.Error()
		}
		return ""
	}

	t.Run("a valid code redeems once", func(t *testing.T) {
		svc, tx, _ := setup(t)
		code := tx.RedemptionCode("m2", alice, 0)
		if err := redeem(svc, tx, points.RedeemRequest{MerchantID: "m2", OrderID: "r1", Code: code, Points: 30, AmountFen: 1000}); err != nil {
			t.Fatal(err)
		}
		before := tx.AllBalances()
		err := redeem(svc, tx, points.RedeemRequest{MerchantID: "m2", OrderID: "r2", Code: code, Points: 30, AmountFen: 1000})
		if codeOf(err) != points.CodeConsentUsed {
			t.Fatalf("second use: %v", err)
		}
		if after := tx.AllBalances(); !equalBalances(before, after) {
			t.Errorf("a refused redemption changed balances: %v -> %v", before, after)
		}
	})
	for _, c := range []struct {
		name string
		req  func(tx *pointstest.Tx, aliceID string) points.RedeemRequest
		want string
	}{
		{"no code", func(*pointstest.Tx, string) points.RedeemRequest {
			return points.RedeemRequest{MerchantID: "m2", OrderID: "r", Member: alice, Points: 10, AmountFen: 1000}
		}, points.CodeConsentRequired},
		{"a well-formed code nobody was given", func(*pointstest.Tx, string) points.RedeemRequest {
			return points.RedeemRequest{MerchantID: "m2", OrderID: "r", Code: "612345678901234566", Points: 10, AmountFen: 1000}
		}, points.CodeConsentRequired},
		{"a mistyped code", func(*pointstest.Tx, string) points.RedeemRequest {
			return points.RedeemRequest{MerchantID: "m2", OrderID: "r", Code: "612345678901234563", Points: 10, AmountFen: 1000}
		}, points.CodeInvalidCode},
		{"expired", func(tx *pointstest.Tx, _ string) points.RedeemRequest {
			code := tx.RedemptionCode("m2", alice, 0)
			tx.Advance(time.Minute)
			return points.RedeemRequest{MerchantID: "m2", OrderID: "r", Code: code, Points: 10, AmountFen: 1000}
		}, points.CodeConsentExpired},
		{"another member's code", func(tx *pointstest.Tx, _ string) points.RedeemRequest {
			return points.RedeemRequest{MerchantID: "m2", OrderID: "r", Code: tx.RedemptionCode("m2", bob, 0), Member: alice, Points: 10, AmountFen: 1000}
		}, points.CodeConsentMember},
		{"over the code's cap", func(tx *pointstest.Tx, _ string) points.RedeemRequest {
			return points.RedeemRequest{MerchantID: "m2", OrderID: "r", Code: tx.RedemptionCode("m2", alice, 20), Points: 21, AmountFen: 1000}
		}, points.CodeConsentCap},
		{"zero amount", func(tx *pointstest.Tx, _ string) points.RedeemRequest {
			return points.RedeemRequest{MerchantID: "m2", OrderID: "r", Code: tx.RedemptionCode("m2", alice, 0), Points: 10}
		}, points.CodeInvalidAmount},
		{"points worth more than the amount", func(tx *pointstest.Tx, _ string) points.RedeemRequest {
			return points.RedeemRequest{MerchantID: "m2", OrderID: "r", Code: tx.RedemptionCode("m2", alice, 0), Points: 10, AmountFen: 10*face - 1}
		}, points.CodeInvalidPoints},
		{"a phone code without the member", func(*pointstest.Tx, string) points.RedeemRequest {
			return points.RedeemRequest{MerchantID: "m2", OrderID: "r", Code: "123456", Points: 10, AmountFen: 1000}
		}, points.CodeInvalidCode},
		{"a phone code given to another merchant", func(tx *pointstest.Tx, id string) points.RedeemRequest {
			tx.AddConsent(points.Consent{Key: points.SMSConsentKey(id, "123456"), Kind: points.ConsentSMS, MemberID: id, MerchantID: "m1",
				MaxPoints: 10, CreatedAt: tx.Now(), ExpiresAt: tx.Now().Add(5 * time.Minute)})
			return points.RedeemRequest{MerchantID: "m2", OrderID: "r", Code: "123456", Member: alice, Points: 10, AmountFen: 1000}
		}, points.CodeConsentMerchant},
		{"a wrong phone code", func(tx *pointstest.Tx, id string) points.RedeemRequest {
			tx.AddConsent(points.Consent{Key: points.SMSConsentKey(id, "123456"), Kind: points.ConsentSMS, MemberID: id, MerchantID: "m2",
				MaxPoints: 10, CreatedAt: tx.Now(), ExpiresAt: tx.Now().Add(5 * time.Minute)})
			return points.RedeemRequest{MerchantID: "m2", OrderID: "r", Code: "123457", Member: alice, Points: 10, AmountFen: 1000}
		}, points.CodeConsentRequired},
		{"an identity that is no member", func(tx *pointstest.Tx, _ string) points.RedeemRequest {
			return points.RedeemRequest{MerchantID: "m2", OrderID: "r", Code: "123456",
				Member: points.Identity{Kind: points.IdentityPhone, Value: "13999999999"}, Points: 10, AmountFen: 1000}
		}, points.CodeConsentRequired},
	} {
		t.Run(c.name, func(t *testing.T) {
			svc, tx, id := setup(t)
			r := c.req(tx, id)
			before, txs := tx.AllBalances(), len(tx.Transactions())
			if err := redeem(svc, tx, r); codeOf(err) != c.want {
				t.Fatalf("got %v, want %s", err, c.want)
			}
			if !equalBalances(before, tx.AllBalances()) || len(tx.Transactions()) != txs {
				t.Errorf("a refused redemption wrote")
			}
		})
	}
	t.Run("a phone code at the merchant that asked", func(t *testing.T) {
		svc, tx, id := setup(t)
		tx.AddConsent(points.Consent{Key: points.SMSConsentKey(id, "123456"), Kind: points.ConsentSMS, MemberID: id, MerchantID: "m2",
			MaxPoints: 10, CreatedAt: tx.Now(), ExpiresAt: tx.Now().Add(5 * time.Minute)})
		if err := redeem(svc, tx, points.RedeemRequest{MerchantID: "m2", OrderID: "r", Code: "123456", Member: alice, Points: 10, AmountFen: 1000}); err != nil {
			t.Fatal(err)
		}
		if b := tx.AllBalances()[ledger.MemberAvailable(id)]; b != 90 {
			t.Errorf("alice has %d, want 90", b)
		}
	})
}

func equalBalances(a, b map[string]int64) bool {
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	for k, v := range b {
		if a[k] != v {
			return false
		}
	}
	return true
}
