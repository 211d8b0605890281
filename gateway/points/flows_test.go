package points_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/gateway/ledger"
	"github.com/lianmeng/lianmeng/gateway/points"
	"github.com/lianmeng/lianmeng/gateway/points/pointstest"
)

// The flows of DESIGN §4, one table case each: a setup of requests that
// must succeed, the request under test, and the exact result (or refusal
// code), balances, open debts and, where they matter, lots afterwards.
// Every step runs all or nothing against an in-memory ledger and is
// followed by the invariant check.

var t0 = time.Date(2025, 3, 1, 2, 0, 0, 0, time.UTC)

const (
	day      = 24 * time.Hour
	validity = 30 * day
	face     = 10 // fen per point: unlike 1, it catches points and fen mixed up
	// set marks an id the ledger assigned; results are compared with every
	// non-zero id replaced by set, so the tests pin which ids exist, not
	// their values.
	set = -1
)

func policy() points.Policy {
	return points.Policy{FaceValueFen: face, ReleaseDelay: day, Validity: validity, ExpiryPolicy: "return_to_merchant",
		MaxPointsPerEarn: 100_000, MaxAmountFen: 100_000_000}
}

func merchants() []points.Merchant {
	return []points.Merchant{
		{ID: "m1", Active: true, Earning: points.Earning{RateBP: 1000}}, // 10% back
		{ID: "m2", Active: true, Earning: points.Earning{RateBP: 500}},  // 5% back
		{ID: "cap", Active: true, Earning: points.Earning{RateBP: 1000, MaxPoints: 50}},
		{ID: "off", Active: false, Earning: points.Earning{RateBP: 1000}},
	}
}

// members are the identities the cases name by alias; customer ids are
// scoped by the merchant after the @.
var members = map[string]struct {
	merchant string
	id       points.Identity
}{
	"alice": {"", points.Identity{Kind: points.IdentityPhone, Value: "13800000001"}},
	"bob":   {"", points.Identity{Kind: points.IdentityWeChatOpenID, Value: "wx-bob"}},
	"c1@m1": {"m1", points.Identity{Kind: points.IdentityCustomer, Value: "c1"}},
	"c1@m2": {"m2", points.Identity{Kind: points.IdentityCustomer, Value: "c1"}},
}

func ident(alias string) points.Identity {
	m, ok := members[alias]
	if !ok {
		panic("no member alias " + alias)
	}
	return m.id
}

// ---- steps

type op struct {
	desc string
	do   func(s *points.Service, tx *pointstest.Tx) (any, error)
}

// request applies one domain call all or nothing, as the store's writer
// applies each request of a batch.
func request[R any](desc string, f func(s *points.Service, tx points.Tx) (R, error)) op {
	return op{desc, func(s *points.Service, tx *pointstest.Tx) (any, error) {
		r, err := pointstest.Run(tx, func(tx points.Tx) (R, error) { return f(s, tx) })
		return r, err
	}}
}

func fund(m string, fen int64, ref string) op {
	return request(fmt.Sprintf("fund %s %d fen (%s)", m, fen, ref), func(s *points.Service, tx points.Tx) (points.FundResult, error) {
		return s.Fund(tx, points.FundRequest{MerchantID: m, AmountFen: fen, ExternalRef: ref})
	})
}

// earn earns at the merchant's flat rate.
func earn(m, order, who string, fen int64) op {
	return earnReq(points.EarnRequest{MerchantID: m, OrderID: order, Member: ident(who), AmountFen: fen})
}

// earnPts earns an explicit award.
func earnPts(m, order, who string, fen, pts int64) op {
	return earnReq(points.EarnRequest{MerchantID: m, OrderID: order, Member: ident(who), AmountFen: fen, Points: &pts})
}

func earnReq(r points.EarnRequest) op {
	desc := fmt.Sprintf("earn %s/%s %s %d fen", r.MerchantID, r.OrderID, r.Member.Value, r.AmountFen)
	if r.Points != nil {
		desc += fmt.Sprintf(" (%d points)", *r.Points)
	}
	return request(desc, func(s *points.Service, tx points.Tx) (points.EarnResult, error) { return s.Earn(tx, r) })
}

// redeem spends who's points with a fresh redemption code of theirs; fen 0
// pays for a purchase worth exactly the points.
func redeem(m, order, who string, pts, fen int64) op {
	if fen == 0 {
		fen = pts * face
	}
	return redeemReq(points.RedeemRequest{MerchantID: m, OrderID: order, Member: ident(who), Points: pts, AmountFen: fen})
}

// redeemReq redeems with r.Code, or, when it is empty, a fresh app code of
// r.Member's.
func redeemReq(r points.RedeemRequest) op {
	return request(fmt.Sprintf("redeem %s/%s %s %d points", r.MerchantID, r.OrderID, r.Member.Value, r.Points),
		func(s *points.Service, tx points.Tx) (points.RedeemResult, error) {
			if r.Code == "" {
				r.Code = tx.(*pointstest.Tx).RedemptionCode(r.MerchantID, r.Member, 0)
			}
			return s.Redeem(tx, r)
		})
}

func refundEarn(m, order string, fen int64) op {
	return request(fmt.Sprintf("refund earn %s/%s %d fen", m, order, fen), func(s *points.Service, tx points.Tx) (points.RefundEarnResult, error) {
		return s.RefundEarn(tx, points.RefundEarnRequest{MerchantID: m, OrderID: order, AmountFen: fen})
	})
}

func refundRedeem(m, order string, pts int64) op {
	return request(fmt.Sprintf("refund redeem %s/%s %d points", m, order, pts), func(s *points.Service, tx points.Tx) (points.RefundRedeemResult, error) {
		return s.RefundRedeem(tx, points.RefundRedeemRequest{MerchantID: m, OrderID: order, Points: pts})
	})
}

func release(limit int) op {
	return request(fmt.Sprintf("release %d", limit), func(s *points.Service, tx points.Tx) (int, error) { return s.Release(tx, limit) })
}

func expire(limit int) op {
	return request(fmt.Sprintf("expire %d", limit), func(s *points.Service, tx points.Tx) (int, error) { return s.Expire(tx, limit) })
}

func advance(d time.Duration) op {
	return op{"advance " + d.String(), func(_ *points.Service, tx *pointstest.Tx) (any, error) { tx.Advance(d); return nil, nil }}
}

// setValidity changes the policy's validity for points earned from now on.
func setValidity(d time.Duration) op {
	return op{"validity " + d.String(), func(s *points.Service, _ *pointstest.Tx) (any, error) { s.Policy.Validity = d; return nil, nil }}
}

// payout stands in for settlement paying a merchant's payable out.
func payout(m string, fen int64) op {
	return op{fmt.Sprintf("pay out %d fen to %s", fen, m), func(_ *points.Service, tx *pointstest.Tx) (any, error) {
		return nil, tx.Post(&ledger.Transaction{Kind: "payout", Ref: "payout:" + m, Postings: ledger.Move(ledger.MerchantPayable(m), ledger.Paid, fen)})
	}}
}

// ---- setups (each call builds a fresh slice)

// funded: m1 paid 10000 fen = 1000 points of budget.
func funded() []op { return []op{fund("m1", 10_000, "pay-1")} }

// earned: alice earned 100 points (10% of 10000 fen) at m1, pending.
func earned() []op { return append(funded(), earn("m1", "o1", "alice", 10_000)) }

// released: those 100 points are available, at t0 + 1 day.
func released() []op { return append(earned(), advance(day), release(10)) }

// redeemed: alice spent 40 of them at m2.
func redeemed() []op { return append(released(), redeem("m2", "r1", "alice", 40, 0)) }

// indebted: alice spent all 100 at m2, then m1 refunded o1: she owes m1 100.
func indebted() []op {
	return append(released(), redeem("m2", "r1", "alice", 100, 0), refundEarn("m1", "o1", 10_000))
}

// twoLots: alice has lot o1 (100 of 100, expiring t0+31d) and lot o2 (30 of
// 30, an hour later), both available, at t0 + 25h.
func twoLots() []op {
	return append(funded(), earn("m1", "o1", "alice", 10_000), advance(time.Hour), earnPts("m1", "o2", "alice", 10_000, 30), advance(day), release(10))
}

// mixedLots: alice's lot o1 has 10 of 100 left and o2 30 of 30 (both
// available, o2 earned second), and o3 20 of 20 is pending.
func mixedLots() []op {
	return append(funded(), earn("m1", "o1", "alice", 10_000), earnPts("m1", "o2", "alice", 10_000, 30), advance(day), release(10),
		redeem("m2", "r1", "alice", 90, 0), earnPts("m1", "o3", "alice", 10_000, 20))
}

func then(base []op, more ...op) []op { return append(base, more...) }

// ---- expected results

// earnRes is the result of an earn made at t0 + at.
func earnRes(member string, pts, pending, recovered int64, version string, at time.Duration) points.EarnResult {
	r := points.EarnResult{PurchaseID: set, MemberID: member, Points: pts, PendingPoints: pending, DebtRecovered: recovered,
		RuleVersion: version, ReleaseAt: t0.Add(at + day), ExpiresAt: t0.Add(at + day + validity)}
	if pending > 0 {
		r.LotID, r.TxID = set, set
	}
	return r
}

func redeemRes(member string, pts, valueFen, available int64) points.RedeemResult {
	return points.RedeemResult{PurchaseID: set, MemberID: member, Points: pts, ValueFen: valueFen, TxID: set, Available: available}
}

func refundEarnRes(member string, refundedFen, clawed, debt int64) points.RefundEarnResult {
	r := points.RefundEarnResult{PurchaseID: set, MemberID: member, RefundedFen: refundedFen, ClawedBack: clawed, NewDebt: debt}
	if clawed > 0 {
		r.TxID = set
	}
	return r
}

func refundRedeemRes(member string, restored, settled int64) points.RefundRedeemResult {
	return points.RefundRedeemResult{PurchaseID: set, MemberID: member, Restored: restored, DebtSettled: settled, TxID: set}
}

// classOf is the class each refusal code must come with (the API's status).
var classOf = map[string]points.Class{
	points.CodeInvalidAmount:   points.Invalid,
	points.CodeInvalidPoints:   points.Invalid,
	points.CodeInvalidOrder:    points.Invalid,
	points.CodeInvalidIdentity: points.Invalid,
	"invalid_external_ref":     points.Invalid,

	points.CodeUnknownMerchant: points.NotFound,
	points.CodeUnknownMember:   points.NotFound,
	points.CodeConsentRequired: points.Forbidden,
	points.CodeConsentUsed:     points.Forbidden,
	points.CodeConsentExpired:  points.Forbidden,
	points.CodeConsentMember:   points.Forbidden,
	points.CodeConsentMerchant: points.Forbidden,
	points.CodeConsentCap:      points.Forbidden,
	points.CodeInvalidCode:     points.Invalid,
	points.CodeUnknownPurchase: points.NotFound,

	points.CodeAlreadyFunded:   points.Conflict,
	points.CodeAlreadyEarned:   points.Conflict,
	points.CodeAlreadyRedeemed: points.Conflict,
	points.CodeAlreadyRefunded: points.Conflict,

	points.CodeMerchantInactive:   points.Unprocessable,
	points.CodeInsufficientBudget: points.Unprocessable,
	points.CodeInsufficientPoints: points.Unprocessable,
	points.CodeRefundExceeds:      points.Unprocessable,
	points.CodePayableShort:       points.Unprocessable,
}

// B is expected balances by short name: "reserve", "burned", "m1:budget",
// "m2:payable", "alice:pending"... Every non-zero account must be listed,
// except the external sources "funding" and "mint", compared only if listed.
type B map[string]int64

type flowCase struct {
	name   string
	policy func(*points.Policy)
	setup  []op
	req    op
	want   any    // the result, ids replaced by set, members by alias
	code   string // the refusal's points.Error code; "" for success
	bal    B
	debts  map[string]int64  // open debt points by "member>merchant owed"
	lots   map[string]string // open lots by member ("P20/20 A10/100": pending, then available, remaining/points), if not nil
	after  func(t *testing.T, tx *pointstest.Tx)
}

func TestFlows(t *testing.T) {
	cases := []flowCase{
		// ---- fund
		{name: "fund/mints face-value points into the budget", req: fund("m1", 10_000, "pay-1"),
			want: points.FundResult{TxID: set, Points: 1000, Budget: 1000},
			bal:  B{"reserve": 10_000, "m1:budget": 1000, "funding": -10_000, "mint": -1000}},
		{name: "fund/a second payment adds to the budget", setup: funded(), req: fund("m1", 2500, "pay-2"),
			want: points.FundResult{TxID: set, Points: 250, Budget: 1250},
			bal:  B{"reserve": 12_500, "m1:budget": 1250, "funding": -12_500, "mint": -1250}},
		{name: "fund/one payment funds once", setup: funded(), req: fund("m1", 10_000, "pay-1"),
			code: points.CodeAlreadyFunded, bal: B{"reserve": 10_000, "m1:budget": 1000, "funding": -10_000, "mint": -1000}},
		{name: "fund/amount not a multiple of the face value", req: fund("m1", 10_005, "pay-1"), code: points.CodeInvalidAmount, bal: B{}},
		{name: "fund/zero amount", req: fund("m1", 0, "pay-1"), code: points.CodeInvalidAmount, bal: B{}},
		{name: "fund/negative amount", req: fund("m1", -10, "pay-1"), code: points.CodeInvalidAmount, bal: B{}},
		{name: "fund/no payment reference", req: fund("m1", 100, ""), code: "invalid_external_ref", bal: B{}},
		{name: "fund/unknown merchant", req: fund("nope", 100, "pay-1"), code: points.CodeUnknownMerchant, bal: B{}},
		{name: "fund/inactive merchant", req: fund("off", 100, "pay-1"), code: points.CodeMerchantInactive, bal: B{}},

		// ---- earn
		{name: "earn/flat rate", setup: funded(), req: earn("m1", "o1", "alice", 10_000),
			want: earnRes("alice", 100, 100, 0, "flat:1000", 0),
			bal:  B{"reserve": 10_000, "m1:budget": 900, "alice:pending": 100}, lots: map[string]string{"alice": "P100/100"}},
		{name: "earn/flat rate rounds down", setup: funded(), req: earn("m1", "o1", "alice", 12_345),
			want: earnRes("alice", 123, 123, 0, "flat:1000", 0),
			bal:  B{"reserve": 10_000, "m1:budget": 877, "alice:pending": 123}},
		{name: "earn/flat rate below one point", setup: funded(), req: earn("m1", "o1", "alice", 99),
			want: earnRes("alice", 0, 0, 0, "flat:1000", 0), bal: B{"reserve": 10_000, "m1:budget": 1000}, lots: map[string]string{}},
		{name: "earn/explicit award", setup: funded(), req: earnPts("m1", "o1", "alice", 10_000, 7),
			want: earnRes("alice", 7, 7, 0, "explicit", 0), bal: B{"reserve": 10_000, "m1:budget": 993, "alice:pending": 7}},
		{name: "earn/explicit award of zero records the purchase only", setup: funded(), req: earnPts("m1", "o1", "alice", 10_000, 0),
			want: earnRes("alice", 0, 0, 0, "explicit", 0), bal: B{"reserve": 10_000, "m1:budget": 1000}, lots: map[string]string{}},
		{name: "earn/a zero award still uses up the order", setup: then(funded(), earnPts("m1", "o1", "alice", 10_000, 0)),
			req: earn("m1", "o1", "alice", 10_000), code: points.CodeAlreadyEarned, bal: B{"reserve": 10_000, "m1:budget": 1000}},
		{name: "earn/budget exactly enough", setup: []op{fund("m1", 1000, "pay-1")}, req: earn("m1", "o1", "alice", 10_000),
			want: earnRes("alice", 100, 100, 0, "flat:1000", 0), bal: B{"reserve": 1000, "alice:pending": 100}},
		{name: "earn/insufficient budget", setup: []op{fund("m1", 990, "pay-1")}, req: earn("m1", "o1", "alice", 10_000),
			code: points.CodeInsufficientBudget, bal: B{"reserve": 990, "m1:budget": 99},
			after: func(t *testing.T, tx *pointstest.Tx) {
				if _, err := tx.Member("m1", ident("alice"), false); !errors.Is(err, points.ErrNotFound) {
					t.Errorf("a refused earn created the member: %v", err)
				}
			}},
		{name: "earn/unfunded merchant", req: earn("m2", "o1", "alice", 10_000), code: points.CodeInsufficientBudget, bal: B{}},
		{name: "earn/merchant cap bounds the flat rate", setup: []op{fund("cap", 10_000, "pay-c")}, req: earn("cap", "o1", "alice", 100_000),
			want: earnRes("alice", 50, 50, 0, "flat:1000", 0), bal: B{"reserve": 10_000, "cap:budget": 950, "alice:pending": 50}},
		{name: "earn/explicit award over the merchant cap", setup: []op{fund("cap", 10_000, "pay-c")}, req: earnPts("cap", "o1", "alice", 100_000, 51),
			code: points.CodeInvalidPoints, bal: B{"reserve": 10_000, "cap:budget": 1000}},
		{name: "earn/explicit award over the policy maximum", setup: funded(), req: earnPts("m1", "o1", "alice", 100_000_000, 100_001),
			code: points.CodeInvalidPoints, bal: B{"reserve": 10_000, "m1:budget": 1000}},
		{name: "earn/negative award", setup: funded(), req: earnPts("m1", "o1", "alice", 10_000, -1),
			code: points.CodeInvalidPoints, bal: B{"reserve": 10_000, "m1:budget": 1000}},
		{name: "earn/award worth more than the purchase", setup: funded(), req: earnPts("m1", "o1", "alice", 100, 11),
			code: points.CodeInvalidPoints, bal: B{"reserve": 10_000, "m1:budget": 1000}},
		{name: "earn/award worth exactly the purchase", setup: funded(), req: earnPts("m1", "o1", "alice", 100, 10),
			want: earnRes("alice", 10, 10, 0, "explicit", 0), bal: B{"reserve": 10_000, "m1:budget": 990, "alice:pending": 10}},
		{name: "earn/duplicate order", setup: earned(), req: earn("m1", "o1", "alice", 10_000),
			code: points.CodeAlreadyEarned, bal: B{"reserve": 10_000, "m1:budget": 900, "alice:pending": 100}},
		{name: "earn/duplicate order with another member and amount", setup: earned(), req: earnPts("m1", "o1", "bob", 500, 1),
			code: points.CodeAlreadyEarned, bal: B{"reserve": 10_000, "m1:budget": 900, "alice:pending": 100}},
		{name: "earn/same order id at another merchant is another purchase", setup: then(earned(), fund("m2", 10_000, "pay-2")),
			req: earn("m2", "o1", "alice", 10_000), want: earnRes("alice", 50, 50, 0, "flat:500", 0),
			bal: B{"reserve": 20_000, "m1:budget": 900, "m2:budget": 950, "alice:pending": 150}, lots: map[string]string{"alice": "P100/100 P50/50"}},
		{name: "earn/customer ids are scoped by merchant", setup: then(funded(), fund("m2", 10_000, "pay-2"), earn("m1", "o1", "c1@m1", 10_000)),
			req:  earnReq(points.EarnRequest{MerchantID: "m2", OrderID: "o1", Member: ident("c1@m2"), AmountFen: 10_000}),
			want: earnRes("c1@m2", 50, 50, 0, "flat:500", 0),
			bal:  B{"reserve": 20_000, "m1:budget": 900, "m2:budget": 950, "c1@m1:pending": 100, "c1@m2:pending": 50}},
		{name: "earn/unknown merchant", setup: funded(), req: earn("nope", "o1", "alice", 10_000), code: points.CodeUnknownMerchant,
			bal: B{"reserve": 10_000, "m1:budget": 1000}},
		{name: "earn/inactive merchant", req: earn("off", "o1", "alice", 10_000), code: points.CodeMerchantInactive, bal: B{}},
		{name: "earn/zero amount", setup: funded(), req: earn("m1", "o1", "alice", 0), code: points.CodeInvalidAmount,
			bal: B{"reserve": 10_000, "m1:budget": 1000}},
		{name: "earn/negative amount", setup: funded(), req: earn("m1", "o1", "alice", -100), code: points.CodeInvalidAmount,
			bal: B{"reserve": 10_000, "m1:budget": 1000}},
		{name: "earn/amount over the policy maximum", setup: funded(), req: earn("m1", "o1", "alice", 100_000_001), code: points.CodeInvalidAmount,
			bal: B{"reserve": 10_000, "m1:budget": 1000}},
		{name: "earn/no order id", setup: funded(), req: earn("m1", "", "alice", 10_000), code: points.CodeInvalidOrder,
			bal: B{"reserve": 10_000, "m1:budget": 1000}},
		{name: "earn/unknown identity kind", setup: funded(),
			req:  earnReq(points.EarnRequest{MerchantID: "m1", OrderID: "o1", Member: points.Identity{Kind: "email", Value: "a@b.c"}, AmountFen: 10_000}),
			code: points.CodeInvalidIdentity, bal: B{"reserve": 10_000, "m1:budget": 1000}},
		{name: "earn/phone number with letters", setup: funded(),
			req:  earnReq(points.EarnRequest{MerchantID: "m1", OrderID: "o1", Member: points.Identity{Kind: points.IdentityPhone, Value: "1380013800O"}, AmountFen: 10_000}),
			code: points.CodeInvalidIdentity, bal: B{"reserve": 10_000, "m1:budget": 1000}},

		// ---- release
		{name: "release/not before the return window closes", setup: then(earned(), advance(day-time.Microsecond)), req: release(10),
			want: 0, bal: B{"reserve": 10_000, "m1:budget": 900, "alice:pending": 100}},
		{name: "release/when the return window closes", setup: then(earned(), advance(day)), req: release(10),
			want: 1, bal: B{"reserve": 10_000, "m1:budget": 900, "alice:available": 100}, lots: map[string]string{"alice": "A100/100"}},
		{name: "release/up to the limit, earliest first",
			setup: then(funded(), earn("m1", "o1", "alice", 10_000), advance(time.Hour), earnPts("m1", "o2", "alice", 10_000, 30), advance(day)),
			req:   release(1), want: 1,
			bal:  B{"reserve": 10_000, "m1:budget": 870, "alice:pending": 30, "alice:available": 100},
			lots: map[string]string{"alice": "P30/30 A100/100"}},
		{name: "release/only due lots", setup: then(funded(), earn("m1", "o1", "alice", 10_000), advance(time.Hour), earnPts("m1", "o2", "bob", 10_000, 30), advance(day-time.Minute)),
			req: release(10), want: 1,
			bal: B{"reserve": 10_000, "m1:budget": 870, "alice:available": 100, "bob:pending": 30}},

		// ---- redeem
		{name: "redeem/at another merchant, worth exactly the purchase", setup: released(), req: redeem("m2", "r1", "alice", 40, 400),
			want: redeemRes("alice", 40, 400, 60),
			bal:  B{"reserve": 9600, "m1:budget": 900, "alice:available": 60, "burned": 40, "m2:payable": 400},
			lots: map[string]string{"alice": "A60/100"}},
		{name: "redeem/everything, no purchase amount given", setup: released(), req: redeem("m1", "r1", "alice", 100, 0),
			want: redeemRes("alice", 100, 1000, 0),
			bal:  B{"reserve": 9000, "m1:budget": 900, "burned": 100, "m1:payable": 1000}, lots: map[string]string{}},
		{name: "redeem/first-expiring lot first",
			setup: then(funded(), earn("m1", "o1", "alice", 10_000), setValidity(10*day), advance(time.Hour), earnPts("m1", "o2", "alice", 10_000, 30),
				advance(day), release(10)),
			req: redeem("m2", "r1", "alice", 120, 0), want: redeemRes("alice", 120, 1200, 10),
			bal:  B{"reserve": 8800, "m1:budget": 870, "alice:available": 10, "burned": 120, "m2:payable": 1200},
			lots: map[string]string{"alice": "A10/100"}},
		{name: "redeem/same expiry: older lot first", setup: twoLots(), req: redeem("m2", "r1", "alice", 110, 0),
			want: redeemRes("alice", 110, 1100, 20),
			bal:  B{"reserve": 8900, "m1:budget": 870, "alice:available": 20, "burned": 110, "m2:payable": 1100},
			lots: map[string]string{"alice": "A20/30"}},
		{name: "redeem/pending points are not spendable", setup: earned(), req: redeem("m2", "r1", "alice", 1, 0),
			code: points.CodeInsufficientPoints, bal: B{"reserve": 10_000, "m1:budget": 900, "alice:pending": 100}},
		{name: "redeem/more than available", setup: released(), req: redeem("m2", "r1", "alice", 101, 0),
			code: points.CodeInsufficientPoints, bal: B{"reserve": 10_000, "m1:budget": 900, "alice:available": 100}},
		{name: "redeem/a microsecond before expiry", setup: then(released(), advance(validity-time.Microsecond)), req: redeem("m2", "r1", "alice", 100, 0),
			want: redeemRes("alice", 100, 1000, 0), bal: B{"reserve": 9000, "m1:budget": 900, "burned": 100, "m2:payable": 1000}},
		{name: "redeem/expired points are not spendable before the expiry job runs", setup: then(released(), advance(validity)),
			req: redeem("m2", "r1", "alice", 1, 0), code: points.CodeInsufficientPoints,
			bal: B{"reserve": 10_000, "m1:budget": 900, "alice:available": 100}},
		// A merchant cannot tell an unknown identity from a refused consent.
		{name: "redeem/unknown member", setup: released(), req: redeem("m2", "r1", "bob", 1, 0),
			code: points.CodeConsentRequired, bal: B{"reserve": 10_000, "m1:budget": 900, "alice:available": 100},
			after: func(t *testing.T, tx *pointstest.Tx) {
				if _, err := tx.Member("m2", ident("bob"), false); !errors.Is(err, points.ErrNotFound) {
					t.Errorf("a redemption created a member: %v", err)
				}
			}},
		{name: "redeem/another merchant's customer id is unknown", setup: then(funded(), earn("m1", "o1", "c1@m1", 10_000), advance(day), release(10)),
			req: redeem("m2", "r1", "c1@m2", 1, 0), code: points.CodeConsentRequired,
			bal: B{"reserve": 10_000, "m1:budget": 900, "c1@m1:available": 100}},
		{name: "redeem/duplicate order", setup: redeemed(), req: redeem("m2", "r1", "alice", 10, 0), code: points.CodeAlreadyRedeemed,
			bal: B{"reserve": 9600, "m1:budget": 900, "alice:available": 60, "burned": 40, "m2:payable": 400}},
		{name: "redeem/worth more than the purchase", setup: released(), req: redeem("m2", "r1", "alice", 40, 399), code: points.CodeInvalidPoints,
			bal: B{"reserve": 10_000, "m1:budget": 900, "alice:available": 100}},
		{name: "redeem/zero points", setup: released(), req: redeem("m2", "r1", "alice", 0, 0), code: points.CodeInvalidPoints,
			bal: B{"reserve": 10_000, "m1:budget": 900, "alice:available": 100}},
		{name: "redeem/negative points", setup: released(), req: redeem("m2", "r1", "alice", -5, 0), code: points.CodeInvalidPoints,
			bal: B{"reserve": 10_000, "m1:budget": 900, "alice:available": 100}},
		{name: "redeem/points over the policy maximum", setup: released(), req: redeem("m2", "r1", "alice", 100_001, 0), code: points.CodeInvalidPoints,
			bal: B{"reserve": 10_000, "m1:budget": 900, "alice:available": 100}},
		{name: "redeem/negative purchase amount", setup: released(), req: redeem("m2", "r1", "alice", 10, -1), code: points.CodeInvalidAmount,
			bal: B{"reserve": 10_000, "m1:budget": 900, "alice:available": 100}},
		{name: "redeem/no order id", setup: released(), req: redeem("m2", "", "alice", 10, 0), code: points.CodeInvalidOrder,
			bal: B{"reserve": 10_000, "m1:budget": 900, "alice:available": 100}},
		{name: "redeem/unknown merchant", setup: released(), req: redeem("nope", "r1", "alice", 10, 0), code: points.CodeUnknownMerchant,
			bal: B{"reserve": 10_000, "m1:budget": 900, "alice:available": 100}},
		{name: "redeem/inactive merchant", setup: released(), req: redeem("off", "r1", "alice", 10, 0), code: points.CodeMerchantInactive,
			bal: B{"reserve": 10_000, "m1:budget": 900, "alice:available": 100}},

		// ---- refund of an earning purchase
		{name: "refund earn/full, while pending", setup: earned(), req: refundEarn("m1", "o1", 10_000),
			want: refundEarnRes("alice", 10_000, 100, 0), bal: B{"reserve": 10_000, "m1:budget": 1000}, lots: map[string]string{},
			after: func(t *testing.T, tx *pointstest.Tx) {
				txs := tx.Transactions()
				last := txs[len(txs)-1]
				if last.Kind != ledger.KindClawback || last.Reverses != txs[1].ID {
					t.Errorf("clawback %+v does not reverse the earn %d", last, txs[1].ID)
				}
			}},
		{name: "refund earn/proportional", setup: earned(), req: refundEarn("m1", "o1", 2500),
			want: refundEarnRes("alice", 2500, 25, 0), bal: B{"reserve": 10_000, "m1:budget": 925, "alice:pending": 75},
			lots: map[string]string{"alice": "P75/100"}},
		{name: "refund earn/partial refunds add up to one full refund",
			setup: then(earned(), refundEarn("m1", "o1", 3333), refundEarn("m1", "o1", 3333)), req: refundEarn("m1", "o1", 3334),
			want: refundEarnRes("alice", 10_000, 34, 0), bal: B{"reserve": 10_000, "m1:budget": 1000}, lots: map[string]string{}},
		{name: "refund earn/too small to claw a point", setup: earned(), req: refundEarn("m1", "o1", 99),
			want: refundEarnRes("alice", 99, 0, 0), bal: B{"reserve": 10_000, "m1:budget": 900, "alice:pending": 100}},
		{name: "refund earn/from the purchase's own lot once available", setup: released(), req: refundEarn("m1", "o1", 5000),
			want: refundEarnRes("alice", 5000, 50, 0), bal: B{"reserve": 10_000, "m1:budget": 950, "alice:available": 50},
			lots: map[string]string{"alice": "A50/100"}},
		{name: "refund earn/own lot before earlier-expiring lots", setup: twoLots(), req: refundEarn("m1", "o2", 5000),
			want: refundEarnRes("alice", 5000, 15, 0), bal: B{"reserve": 10_000, "m1:budget": 885, "alice:available": 115},
			lots: map[string]string{"alice": "A100/100 A15/30"}},
		{name: "refund earn/own lot, then pending lots, then available", setup: mixedLots(), req: refundEarn("m1", "o1", 5000),
			want: refundEarnRes("alice", 5000, 50, 0),
			bal:  B{"reserve": 9100, "m1:budget": 900, "alice:available": 10, "burned": 90, "m2:payable": 900},
			lots: map[string]string{"alice": "A10/30"}},
		{name: "refund earn/shortfall becomes member debt", setup: mixedLots(), req: refundEarn("m1", "o1", 10_000),
			want:  refundEarnRes("alice", 10_000, 60, 40),
			bal:   B{"reserve": 9100, "m1:budget": 910, "burned": 90, "m2:payable": 900},
			debts: map[string]int64{"alice>m1": 40}, lots: map[string]string{},
			after: func(t *testing.T, tx *pointstest.Tx) {
				alice, _ := tx.Member("", ident("alice"), false)
				txs := tx.Transactions()
				last := txs[len(txs)-1]
				want := map[string]int64{ledger.MemberPending(alice): -20, ledger.MemberAvailable(alice): -40, ledger.MerchantBudget("m1"): 60}
				got := map[string]int64{}
				for _, p := range last.Postings {
					got[p.Account] += p.Amount
				}
				if last.Kind != ledger.KindClawback || len(last.Postings) != 3 || !maps.Equal(got, want) {
					t.Errorf("clawback %+v, want one posting per account %v", last, want)
				}
			}},
		{name: "refund earn/all points spent: all debt", setup: then(released(), redeem("m2", "r1", "alice", 100, 0)),
			req: refundEarn("m1", "o1", 10_000), want: refundEarnRes("alice", 10_000, 0, 100),
			bal:   B{"reserve": 9000, "m1:budget": 900, "burned": 100, "m2:payable": 1000},
			debts: map[string]int64{"alice>m1": 100}},
		{name: "refund earn/of a zero-point purchase", setup: then(funded(), earnPts("m1", "o1", "alice", 10_000, 0)),
			req: refundEarn("m1", "o1", 10_000), want: refundEarnRes("alice", 10_000, 0, 0), bal: B{"reserve": 10_000, "m1:budget": 1000}},
		{name: "refund earn/exceeding the purchase", setup: earned(), req: refundEarn("m1", "o1", 10_001), code: points.CodeRefundExceeds,
			bal: B{"reserve": 10_000, "m1:budget": 900, "alice:pending": 100}},
		{name: "refund earn/exceeding what is left to refund", setup: then(earned(), refundEarn("m1", "o1", 6000)), req: refundEarn("m1", "o1", 4001),
			code: points.CodeRefundExceeds, bal: B{"reserve": 10_000, "m1:budget": 960, "alice:pending": 40}},
		{name: "refund earn/already fully refunded", setup: then(earned(), refundEarn("m1", "o1", 10_000)), req: refundEarn("m1", "o1", 1),
			code: points.CodeAlreadyRefunded, bal: B{"reserve": 10_000, "m1:budget": 1000}},
		{name: "refund earn/zero amount", setup: earned(), req: refundEarn("m1", "o1", 0), code: points.CodeInvalidAmount,
			bal: B{"reserve": 10_000, "m1:budget": 900, "alice:pending": 100}},
		{name: "refund earn/negative amount", setup: earned(), req: refundEarn("m1", "o1", -1), code: points.CodeInvalidAmount,
			bal: B{"reserve": 10_000, "m1:budget": 900, "alice:pending": 100}},
		{name: "refund earn/unknown order", setup: earned(), req: refundEarn("m1", "o2", 100), code: points.CodeUnknownPurchase,
			bal: B{"reserve": 10_000, "m1:budget": 900, "alice:pending": 100}},
		{name: "refund earn/another merchant's order", setup: earned(), req: refundEarn("m2", "o1", 100), code: points.CodeUnknownPurchase,
			bal: B{"reserve": 10_000, "m1:budget": 900, "alice:pending": 100}},
		{name: "refund earn/a redemption's order", setup: redeemed(), req: refundEarn("m2", "r1", 100), code: points.CodeUnknownPurchase,
			bal: B{"reserve": 9600, "m1:budget": 900, "alice:available": 60, "burned": 40, "m2:payable": 400}},

		// ---- debt repaid by later earnings
		{name: "debt/repaid first by an earning at the same merchant", setup: indebted(), req: earn("m1", "o2", "alice", 5000),
			want: earnRes("alice", 50, 0, 50, "flat:1000", day),
			bal:  B{"reserve": 9000, "m1:budget": 900, "burned": 100, "m2:payable": 1000}, debts: map[string]int64{"alice>m1": 50}},
		{name: "debt/the rest of the earning is pending", setup: indebted(), req: earn("m1", "o2", "alice", 20_000),
			want: earnRes("alice", 200, 100, 100, "flat:1000", day),
			bal:  B{"reserve": 9000, "m1:budget": 800, "alice:pending": 100, "burned": 100, "m2:payable": 1000},
			lots: map[string]string{"alice": "P100/100"}},
		{name: "debt/repaid by an earning at another merchant, budget to budget", setup: then(indebted(), fund("m2", 10_000, "pay-2")),
			req: earn("m2", "o2", "alice", 30_000), want: earnRes("alice", 150, 50, 100, "flat:500", day),
			bal: B{"reserve": 19_000, "m1:budget": 1000, "m2:budget": 850, "alice:pending": 50, "burned": 100, "m2:payable": 1000},
			after: func(t *testing.T, tx *pointstest.Tx) {
				var rec []ledger.Transaction
				for _, x := range tx.Transactions() {
					if x.Kind == ledger.KindDebtRecovery {
						rec = append(rec, x)
					}
				}
				if len(rec) != 1 || !slices.Equal(rec[0].Postings, ledger.Move(ledger.MerchantBudget("m2"), ledger.MerchantBudget("m1"), 100)) {
					t.Errorf("debt recoveries %+v, want m2's budget to m1's, 100", rec)
				}
			}},
		{name: "debt/oldest debt first",
			setup: then(funded(), fund("m2", 10_000, "pay-2"), earnPts("m1", "o1", "alice", 10_000, 20), earnPts("m2", "o2", "alice", 10_000, 30),
				advance(day), release(10), redeem("m1", "r1", "alice", 50, 0), refundEarn("m1", "o1", 10_000), refundEarn("m2", "o2", 10_000)),
			req: earnPts("m2", "o3", "alice", 10_000, 40), want: earnRes("alice", 40, 0, 40, "explicit", day),
			bal:   B{"reserve": 19_500, "m1:budget": 1000, "m2:budget": 950, "burned": 50, "m1:payable": 500},
			debts: map[string]int64{"alice>m2": 10}},
		{name: "debt/an earning the budget cannot cover repays nothing", setup: then(indebted(), fund("m2", 1000, "pay-2")),
			req: earn("m2", "o2", "alice", 30_000), code: points.CodeInsufficientBudget,
			bal:   B{"reserve": 10_000, "m1:budget": 900, "m2:budget": 100, "burned": 100, "m2:payable": 1000},
			debts: map[string]int64{"alice>m1": 100}},

		// ---- refund of a redemption
		{name: "refund redeem/everything", setup: redeemed(), req: refundRedeem("m2", "r1", 0),
			want: refundRedeemRes("alice", 40, 0), bal: B{"reserve": 10_000, "m1:budget": 900, "alice:available": 100},
			lots: map[string]string{"alice": "A100/100"},
			after: func(t *testing.T, tx *pointstest.Tx) {
				txs := tx.Transactions()
				last, redemption := txs[len(txs)-1], txs[len(txs)-2]
				if last.Kind != ledger.KindRedeemReversal || redemption.Kind != ledger.KindRedeem || last.Reverses != redemption.ID {
					t.Errorf("reversal %+v does not reverse redemption %+v", last, redemption)
				}
			}},
		{name: "refund redeem/part", setup: redeemed(), req: refundRedeem("m2", "r1", 15),
			want: refundRedeemRes("alice", 15, 0), bal: B{"reserve": 9750, "m1:budget": 900, "alice:available": 75, "burned": 25, "m2:payable": 250}},
		{name: "refund redeem/the rest after a part", setup: then(redeemed(), refundRedeem("m2", "r1", 15)), req: refundRedeem("m2", "r1", 0),
			want: refundRedeemRes("alice", 25, 0), bal: B{"reserve": 10_000, "m1:budget": 900, "alice:available": 100}},
		{name: "refund redeem/back into the same lots, last consumed first", setup: then(twoLots(), redeem("m2", "r1", "alice", 120, 0)),
			req: refundRedeem("m2", "r1", 25), want: refundRedeemRes("alice", 25, 0),
			bal:  B{"reserve": 9050, "m1:budget": 870, "alice:available": 35, "burned": 95, "m2:payable": 950},
			lots: map[string]string{"alice": "A5/100 A30/30"}},
		{name: "refund redeem/the rest goes to the first lot", setup: then(twoLots(), redeem("m2", "r1", "alice", 120, 0), refundRedeem("m2", "r1", 25)),
			req: refundRedeem("m2", "r1", 0), want: refundRedeemRes("alice", 95, 0),
			bal:  B{"reserve": 10_000, "m1:budget": 870, "alice:available": 130},
			lots: map[string]string{"alice": "A100/100 A30/30"}},
		{name: "refund redeem/first repays open debts", setup: indebted(), req: refundRedeem("m2", "r1", 0),
			want: refundRedeemRes("alice", 100, 100), bal: B{"reserve": 10_000, "m1:budget": 1000}, lots: map[string]string{}},
		{name: "refund redeem/part repays part of the debt", setup: indebted(), req: refundRedeem("m2", "r1", 30),
			want: refundRedeemRes("alice", 30, 30), bal: B{"reserve": 9300, "m1:budget": 930, "burned": 70, "m2:payable": 700},
			debts: map[string]int64{"alice>m1": 70}, lots: map[string]string{}},
		{name: "refund redeem/into a lot that has expired since", setup: then(released(), redeem("m2", "r1", "alice", 100, 0), advance(validity)),
			req: refundRedeem("m2", "r1", 0), want: refundRedeemRes("alice", 100, 0),
			bal: B{"reserve": 10_000, "m1:budget": 900, "alice:available": 100}, lots: map[string]string{"alice": "A100/100"}},
		{name: "refund redeem/exceeding the redemption", setup: redeemed(), req: refundRedeem("m2", "r1", 41), code: points.CodeRefundExceeds,
			bal: B{"reserve": 9600, "m1:budget": 900, "alice:available": 60, "burned": 40, "m2:payable": 400}},
		{name: "refund redeem/exceeding what is left", setup: then(redeemed(), refundRedeem("m2", "r1", 15)), req: refundRedeem("m2", "r1", 26),
			code: points.CodeRefundExceeds, bal: B{"reserve": 9750, "m1:budget": 900, "alice:available": 75, "burned": 25, "m2:payable": 250}},
		{name: "refund redeem/already fully refunded", setup: then(redeemed(), refundRedeem("m2", "r1", 0)), req: refundRedeem("m2", "r1", 0),
			code: points.CodeAlreadyRefunded, bal: B{"reserve": 10_000, "m1:budget": 900, "alice:available": 100}},
		{name: "refund redeem/negative points", setup: redeemed(), req: refundRedeem("m2", "r1", -1), code: points.CodeInvalidPoints,
			bal: B{"reserve": 9600, "m1:budget": 900, "alice:available": 60, "burned": 40, "m2:payable": 400}},
		{name: "refund redeem/unknown order", setup: redeemed(), req: refundRedeem("m2", "r2", 0), code: points.CodeUnknownPurchase,
			bal: B{"reserve": 9600, "m1:budget": 900, "alice:available": 60, "burned": 40, "m2:payable": 400}},
		{name: "refund redeem/another merchant's order", setup: redeemed(), req: refundRedeem("m1", "r1", 0), code: points.CodeUnknownPurchase,
			bal: B{"reserve": 9600, "m1:budget": 900, "alice:available": 60, "burned": 40, "m2:payable": 400}},
		{name: "refund redeem/an earning's order", setup: redeemed(), req: refundRedeem("m1", "o1", 0), code: points.CodeUnknownPurchase,
			bal: B{"reserve": 9600, "m1:budget": 900, "alice:available": 60, "burned": 40, "m2:payable": 400}},
		{name: "refund redeem/payable already paid out", setup: then(redeemed(), payout("m2", 400)), req: refundRedeem("m2", "r1", 0),
			code: points.CodePayableShort, bal: B{"reserve": 9600, "m1:budget": 900, "alice:available": 60, "burned": 40, "paid": 400}},

		// ---- expire
		{name: "expire/cash back to the issuing merchant", setup: then(redeemed(), advance(validity)), req: expire(10),
			want: 1, bal: B{"reserve": 9000, "m1:budget": 900, "expired": 60, "burned": 40, "m1:payable": 600, "m2:payable": 400},
			lots: map[string]string{}},
		{name: "expire/cash to breakage", policy: func(p *points.Policy) { p.ExpiryPolicy = "breakage" },
			setup: then(redeemed(), advance(validity)), req: expire(10),
			want: 1, bal: B{"reserve": 9000, "m1:budget": 900, "expired": 60, "burned": 40, "breakage": 600, "m2:payable": 400}},
		{name: "expire/not before expiry", setup: then(redeemed(), advance(validity-time.Microsecond)), req: expire(10),
			want: 0, bal: B{"reserve": 9600, "m1:budget": 900, "alice:available": 60, "burned": 40, "m2:payable": 400}},
		{name: "expire/up to the limit, earliest first", setup: then(twoLots(), advance(validity)), req: expire(1),
			want: 1, bal: B{"reserve": 9000, "m1:budget": 870, "alice:available": 30, "expired": 100, "m1:payable": 1000},
			lots: map[string]string{"alice": "A30/30"}},
		{name: "expire/each issuing merchant gets its own cash",
			setup: then(funded(), fund("m2", 10_000, "pay-2"), earn("m1", "o1", "alice", 10_000), earn("m2", "o2", "alice", 10_000),
				advance(day), release(10), advance(validity)),
			req: expire(10), want: 2,
			bal: B{"reserve": 18_500, "m1:budget": 900, "m2:budget": 950, "expired": 150, "m1:payable": 1000, "m2:payable": 500}},
		{name: "expire/pending lots wait for release", setup: then(earned(), advance(day+validity)), req: expire(10),
			want: 0, bal: B{"reserve": 10_000, "m1:budget": 900, "alice:pending": 100}},
		{name: "expire/a lot released late still expires", setup: then(earned(), advance(day+validity), release(10)), req: expire(10),
			want: 1, bal: B{"reserve": 9000, "m1:budget": 900, "expired": 100, "m1:payable": 1000}},
		{name: "expire/points restored after their expiry", setup: then(released(), redeem("m2", "r1", "alice", 100, 0), advance(validity), refundRedeem("m2", "r1", 0)),
			req: expire(10), want: 1, bal: B{"reserve": 9000, "m1:budget": 900, "expired": 100, "m1:payable": 1000}},
	}
	names := map[string]bool{}
	for _, c := range cases {
		if names[c.name] {
			t.Fatalf("two cases named %q", c.name)
		}
		names[c.name] = true
		t.Run(c.name, func(t *testing.T) { runFlow(t, c) })
	}
}

func runFlow(t *testing.T, c flowCase) {
	s := &points.Service{Policy: policy()}
	if c.policy != nil {
		c.policy(&s.Policy)
	}
	tx := pointstest.NewTx(t0, merchants()...)
	for _, st := range c.setup {
		if _, err := st.do(s, tx); err != nil {
			t.Fatalf("setup %s: %v", st.desc, err)
		}
		checkLedger(t, tx, "after setup "+st.desc)
	}
	res, err := c.req.do(s, tx)
	switch {
	case c.code == "" && err != nil:
		t.Errorf("%s: %v", c.req.desc, err)
	case c.code != "":
		var pe *points.Error
		if !errors.As(err, &pe) {
			t.Errorf("%s: %v, want a refusal %s", c.req.desc, err, c.code)
			break
		}
		class, ok := classOf[c.code]
		if !ok {
			t.Fatalf("the test knows no class for %s", c.code)
		}
		if pe.Code != c.code || pe.Class != class {
			t.Errorf("%s: refused %s (class %d), want %s (class %d): %v", c.req.desc, pe.Code, pe.Class, c.code, class, err)
		}
	default:
		if got := normalize(res, aliases(tx)); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s:\n got %+v\nwant %+v", c.req.desc, got, c.want)
		}
	}
	checkLedger(t, tx, "after "+c.req.desc)
	checkBalances(t, tx, c.bal)
	checkDebts(t, tx, c.debts)
	if c.lots != nil {
		checkLots(t, tx, c.lots)
	}
	if c.after != nil {
		c.after(t, tx)
	}
}

// checkLedger checks the invariants and that the reserve is exactly the
// face value of the outstanding points, as it is with the flows of §4.
func checkLedger(t *testing.T, tx *pointstest.Tx, when string) {
	t.Helper()
	if err := tx.CheckInvariants(face); err != nil {
		t.Fatalf("%s: %v", when, err)
	}
	if tot, _ := tx.Totals(context.Background()); tot.ReserveFen != face*tot.OutstandingPts {
		t.Fatalf("%s: reserve %d fen for %d outstanding points of %d fen", when, tot.ReserveFen, tot.OutstandingPts, face)
	}
}

// aliases maps member ids to the aliases of the members table.
func aliases(tx *pointstest.Tx) func(string) string {
	byID := map[string]string{}
	for alias, m := range members {
		if id, err := tx.Member(m.merchant, m.id, false); err == nil {
			byID[id] = alias
		}
	}
	return func(id string) string {
		if a, ok := byID[id]; ok {
			return a
		}
		return id
	}
}

func norm(id int64) int64 {
	if id != 0 {
		return set
	}
	return 0
}

func normalize(res any, alias func(string) string) any {
	switch r := res.(type) {
	case points.FundResult:
		r.TxID = norm(r.TxID)
		return r
	case points.EarnResult:
		r.PurchaseID, r.LotID, r.TxID, r.MemberID = norm(r.PurchaseID), norm(r.LotID), norm(r.TxID), alias(r.MemberID)
		return r
	case points.RedeemResult:
		r.PurchaseID, r.TxID, r.MemberID = norm(r.PurchaseID), norm(r.TxID), alias(r.MemberID)
		return r
	case points.RefundEarnResult:
		r.PurchaseID, r.TxID, r.MemberID = norm(r.PurchaseID), norm(r.TxID), alias(r.MemberID)
		return r
	case points.RefundRedeemResult:
		r.PurchaseID, r.TxID, r.MemberID = norm(r.PurchaseID), norm(r.TxID), alias(r.MemberID)
		return r
	}
	return res
}

// short names an account as the tables do: "reserve", "m1:budget",
// "alice:pending".
func short(account string, alias func(string) string) string {
	a := ledger.ParseAccount(account)
	switch a.Kind {
	case ledger.KindPending, ledger.KindAvailable:
		return alias(a.Owner) + ":" + string(a.Kind)
	case ledger.KindBudget, ledger.KindPayable:
		return a.Owner + ":" + string(a.Kind)
	}
	_, name, _ := strings.Cut(account, ":")
	return name
}

func checkBalances(t *testing.T, tx *pointstest.Tx, want B) {
	t.Helper()
	alias := aliases(tx)
	got := B{}
	for name, b := range tx.AllBalances() {
		if b != 0 {
			got[short(name, alias)] = b
		}
	}
	var diff []string
	for _, k := range slices.Sorted(maps.Keys(got)) {
		if _, listed := want[k]; !listed && (k == "funding" || k == "mint") {
			continue
		}
		if got[k] != want[k] {
			diff = append(diff, fmt.Sprintf("%s = %d, want %d", k, got[k], want[k]))
		}
	}
	for _, k := range slices.Sorted(maps.Keys(want)) {
		if _, ok := got[k]; !ok && want[k] != 0 {
			diff = append(diff, fmt.Sprintf("%s = 0, want %d", k, want[k]))
		}
	}
	if len(diff) > 0 {
		t.Errorf("balances: %s\n all: %v", strings.Join(diff, "; "), got)
	}
}

func checkDebts(t *testing.T, tx *pointstest.Tx, want map[string]int64) {
	t.Helper()
	alias := aliases(tx)
	got := map[string]int64{}
	for _, d := range tx.AllDebts() {
		if d.Remaining > 0 {
			got[alias(d.MemberID)+">"+d.MerchantID] += d.Remaining
		}
	}
	if len(want) == 0 && len(got) == 0 {
		return
	}
	if !maps.Equal(got, want) {
		t.Errorf("open debts %v, want %v", got, want)
	}
}

func checkLots(t *testing.T, tx *pointstest.Tx, want map[string]string) {
	t.Helper()
	alias := aliases(tx)
	open := map[string]bool{}
	for _, l := range tx.AllLots() {
		if l.State != ledger.LotClosed {
			open[l.MemberID] = true
		}
	}
	got := map[string]string{}
	for id := range open {
		var parts []string
		for _, state := range []string{ledger.LotPending, ledger.LotAvailable} {
			lots, err := tx.Lots(id, state)
			if err != nil {
				t.Fatal(err)
			}
			for _, l := range lots {
				parts = append(parts, fmt.Sprintf("%s%d/%d", strings.ToUpper(state[:1]), l.Remaining, l.Points))
			}
		}
		got[alias(id)] = strings.Join(parts, " ")
	}
	if !maps.Equal(got, want) {
		t.Errorf("open lots %v, want %v", got, want)
	}
}
