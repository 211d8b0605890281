package points_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/gateway/ledger"
	"github.com/lianmeng/lianmeng/gateway/points"
	"github.com/lianmeng/lianmeng/gateway/points/pointstest"
)

func refCode(t *testing.T, err error) string {
	t.Helper()
	var pe *points.Error
	if !errors.As(err, &pe) {
		t.Fatalf("want a refusal, got %v", err)
	}
	return pe.Code
}

// The referral programme end to end in the domain: codes, the once / self
// / cycle refusals, rewards at two levels (never a third), the monthly cap
// per referrer, the marketing budget as the only source, clawback on
// refund, and the debt left when the reward was spent.
func TestReferrals(t *testing.T) {
	if err := (points.ReferralTerms{LevelsPermille: []int64{100, 50, 25}, MonthlyCapPoints: 10}).Validate(); err == nil ||
		!strings.Contains(err.Error(), "at most 2 levels") {
		t.Fatalf("three levels: %v", err)
	}
	if err := (points.ReferralTerms{LevelsPermille: []int64{100}}).Validate(); err == nil {
		t.Fatal("a programme without a monthly cap was accepted")
	}
	terms := &points.ReferralTerms{LevelsPermille: []int64{500, 200}, MonthlyCapPoints: 300}
	if err := terms.Validate(); err != nil {
		t.Fatal(err)
	}
	p := policy()
	p.FaceValueFen = 1
	svc := &points.Service{Policy: p, Referral: terms}
	tx := pointstest.NewTx(t0, points.Merchant{ID: "m", Active: true, Earning: points.Earning{RateBP: 1000}})
	do := func(f func(points.Tx) error) error { return tx.Atomic(f) }
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(do(func(tx points.Tx) error {
		_, err := svc.Fund(tx, points.FundRequest{MerchantID: "m", AmountFen: 1_000_000, ExternalRef: "f"})
		return err
	}))
	earn := func(order, phone string, amount int64) points.EarnResult {
		t.Helper()
		var r points.EarnResult
		must(do(func(tx points.Tx) (err error) {
			r, err = svc.Earn(tx, points.EarnRequest{MerchantID: "m", OrderID: order, Member: points.Identity{Kind: points.IdentityPhone, Value: phone}, AmountFen: amount})
			return err
		}))
		return r
	}
	code := func(member string) string {
		t.Helper()
		var r points.ReferralCodeResult
		must(do(func(tx points.Tx) (err error) { r, err = svc.IssueReferralCode(tx, member); return err }))
		if len(r.Code) != points.ReferralCodeLength {
			t.Fatalf("code %q", r.Code)
		}
		return r.Code
	}
	refer := func(member, code string) error {
		return do(func(tx points.Tx) error { _, err := svc.Refer(tx, member, code); return err })
	}
	// Members A <- B <- C <- D (D referred by C, and so on).
	a, b, c, d := earn("a0", "1", 100).MemberID, earn("b0", "2", 100).MemberID, earn("c0", "3", 100).MemberID, earn("d0", "4", 100).MemberID
	ca := code(a)
	if again := code(a); again != ca {
		t.Fatalf("a second code %s, then %s", ca, again)
	}
	if got := refCode(t, refer(a, ca)); got != points.CodeReferralSelf {
		t.Fatalf("self: %s", got)
	}
	if got := refCode(t, refer(b, "ZZZZZZZZ")); got != points.CodeReferralUnknownCode {
		t.Fatalf("unknown code: %s", got)
	}
	must(refer(b, strings.ToLower(ca))) // codes are typed: case does not matter
	if got := refCode(t, refer(b, code(c))); got != points.CodeAlreadyReferred {
		t.Fatalf("twice: %s", got)
	}
	must(refer(c, code(b)))
	must(refer(d, code(c)))
	// A referred by D would close A <- B <- C <- D <- A.
	if got := refCode(t, refer(a, code(d))); got != points.CodeReferralCycle {
		t.Fatalf("cycle: %s", got)
	}
	// No marketing budget yet: the purchase earns, nobody is rewarded,
	// nothing is minted.
	if r := earn("d1", "4", 1000); r.Points != 100 || r.ReferralPoints != 0 {
		t.Fatalf("unfunded: %+v", r)
	}
	must(do(func(tx points.Tx) error {
		_, err := svc.FundMarketing(tx, points.FundRequest{AmountFen: 1000, ExternalRef: "mk1"})
		return err
	}))
	if err := do(func(tx points.Tx) error {
		_, err := svc.FundMarketing(tx, points.FundRequest{AmountFen: 1000, ExternalRef: "mk1"})
		return err
	}); refCode(t, err) != points.CodeAlreadyFunded {
		t.Fatalf("one payment funded twice: %v", err)
	}
	// D earns 100: C (level 1) gets 50, B (level 2) 20, A (level 3) nothing.
	r := earn("d2", "4", 1000)
	if r.ReferralPoints != 70 {
		t.Fatalf("rewards %d, want 70", r.ReferralPoints)
	}
	bal := tx.AllBalances()
	if bal[ledger.MemberPending(c)] != 10+50 || bal[ledger.MemberPending(b)] != 10+20 || bal[ledger.MemberPending(a)] != 10 || bal[ledger.Marketing] != 930 {
		t.Fatalf("balances after rewards: %v", bal)
	}
	// The monthly cap per referrer (300): C's level-1 rewards stop at 300.
	for i := range 8 {
		earn("dd"+string(rune('a'+i)), "4", 1000)
	}
	bal = tx.AllBalances()
	if got := bal[ledger.MemberPending(c)] - 10; got != 300 {
		t.Fatalf("C received %d in the month, cap 300", got)
	}
	// Refund D's purchase d2 in full: both of its rewards go back to the
	// marketing budget.
	before := tx.AllBalances()[ledger.Marketing]
	var rr points.RefundEarnResult
	must(do(func(tx points.Tx) (err error) {
		rr, err = svc.RefundEarn(tx, points.RefundEarnRequest{MerchantID: "m", OrderID: "d2", AmountFen: 1000})
		return err
	}))
	if rr.ReferralClawedBack != 70 || rr.ReferralDebt != 0 || tx.AllBalances()[ledger.Marketing] != before+70 {
		t.Fatalf("refund: %+v, marketing %d -> %d", rr, before, tx.AllBalances()[ledger.Marketing])
	}
	must(tx.CheckInvariants(p.FaceValueFen))
	// Drain the marketing budget: the next purchase pays what is left and
	// then nothing, never more.
	tx.Advance(31 * 24 * time.Hour) // a new month: the caps start again
	left := tx.AllBalances()[ledger.Marketing]
	for i := 0; tx.AllBalances()[ledger.Marketing] > 0 && i < 100; i++ {
		earn("c-more"+string(rune('a'+i%26))+string(rune('a'+i/26)), "3", 10_000) // C earns: B gets level 1, A level 2
	}
	if m := tx.AllBalances()[ledger.Marketing]; m != 0 || left == 0 {
		t.Fatalf("marketing %d (was %d)", m, left)
	}
	if r := earn("c-empty", "3", 10_000); r.Points != 1000 || r.ReferralPoints != 0 {
		t.Fatalf("empty marketing budget: %+v", r)
	}
	must(tx.CheckInvariants(p.FaceValueFen))
}

// A referrer who spent a reward owes it back when the purchase is refunded.
func TestReferralClawbackLeavesDebt(t *testing.T) {
	p := policy()
	p.FaceValueFen, p.ReleaseDelay = 1, 0
	svc := &points.Service{Policy: p, Referral: &points.ReferralTerms{LevelsPermille: []int64{1000}, MonthlyCapPoints: 1000}}
	tx := pointstest.NewTx(t0, points.Merchant{ID: "m", Active: true, Earning: points.Earning{RateBP: 1000}})
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(tx.Atomic(func(tx points.Tx) error {
		if _, err := svc.Fund(tx, points.FundRequest{MerchantID: "m", AmountFen: 100_000, ExternalRef: "f"}); err != nil {
			return err
		}
		_, err := svc.FundMarketing(tx, points.FundRequest{AmountFen: 1000, ExternalRef: "mk"})
		return err
	}))
	var a, b string
	must(tx.Atomic(func(tx points.Tx) error {
		ra, err := svc.Earn(tx, points.EarnRequest{MerchantID: "m", OrderID: "a", Member: points.Identity{Kind: "phone", Value: "1"}, AmountFen: 10})
		if err != nil {
			return err
		}
		rb, err := svc.Earn(tx, points.EarnRequest{MerchantID: "m", OrderID: "b", Member: points.Identity{Kind: "phone", Value: "2"}, AmountFen: 10})
		a, b = ra.MemberID, rb.MemberID
		return err
	}))
	must(tx.Atomic(func(tx points.Tx) error {
		c, err := svc.IssueReferralCode(tx, a)
		if err != nil {
			return err
		}
		_, err = svc.Refer(tx, b, c.Code)
		return err
	}))
	// B earns 100 at 10%: A is rewarded 100% of it, 10 points.
	must(tx.Atomic(func(tx points.Tx) error {
		_, err := svc.Earn(tx, points.EarnRequest{MerchantID: "m", OrderID: "b2", Member: points.Identity{Kind: "phone", Value: "2"}, AmountFen: 100})
		return err
	}))
	// Released (no delay) and spent by A.
	must(tx.Atomic(func(tx points.Tx) error { _, err := svc.Release(tx, 10); return err }))
	must(tx.Atomic(func(tx points.Tx) error {
		_, err := svc.Redeem(tx, points.RedeemRequest{MerchantID: "m", OrderID: "spend", Code: tx.(*pointstest.Tx).RedemptionCode("m", points.Identity{Kind: "phone", Value: "1"}, 0),
			Points: 11, AmountFen: 100})
		return err
	}))
	var rr points.RefundEarnResult
	must(tx.Atomic(func(tx points.Tx) (err error) {
		rr, err = svc.RefundEarn(tx, points.RefundEarnRequest{MerchantID: "m", OrderID: "b2", AmountFen: 100})
		return err
	}))
	if rr.ReferralClawedBack != 0 || rr.ReferralDebt != 10 {
		t.Fatalf("refund: %+v", rr)
	}
	debts := tx.AllDebts()
	if len(debts) != 1 || debts[0].MemberID != a || debts[0].MerchantID != points.ReferralIssuer || debts[0].Remaining != 10 {
		t.Fatalf("debts %+v", debts)
	}
	// A's next earn repays the marketing budget first.
	m0 := tx.AllBalances()[ledger.Marketing]
	must(tx.Atomic(func(tx points.Tx) error {
		_, err := svc.Earn(tx, points.EarnRequest{MerchantID: "m", OrderID: "a2", Member: points.Identity{Kind: "phone", Value: "1"}, AmountFen: 100})
		return err
	}))
	if got := tx.AllBalances()[ledger.Marketing] - m0; got != 10 {
		t.Fatalf("marketing repaid %d, want 10", got)
	}
	must(tx.CheckInvariants(p.FaceValueFen))
}
