package points_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/lianmeng/lianmeng/gateway/ledger"
	"github.com/lianmeng/lianmeng/gateway/points"
	"github.com/lianmeng/lianmeng/gateway/points/pointstest"
)

// A merchant funds its budget, a member earns points on a purchase there,
// the points are released after the return window, and the member spends
// them at another merchant of the alliance. The in-memory Tx stands in for
// the store's unit of work (which applies each call all or nothing).
func Example() {
	svc := &points.Service{Policy: points.Policy{
		FaceValueFen: 1, // 1 point = 1 fen
		ReleaseDelay: 7 * 24 * time.Hour,
		Validity:     365 * 24 * time.Hour,
		ExpiryPolicy: "return_to_merchant", MaxPointsPerEarn: 1_000_000, MaxAmountFen: 100_000_000,
	}}
	tx := pointstest.NewTx(time.Date(2025, 1, 6, 9, 0, 0, 0, time.UTC),
		points.Merchant{ID: "teahouse", Active: true, Earning: points.Earning{RateBP: 500}}, // 5% back
		points.Merchant{ID: "noodles", Active: true})
	svc.Reader = tx
	check := func(err error) {
		if err != nil {
			panic(err)
		}
	}

	// The teahouse pays 100 yuan into the reserve: 10000 points of budget.
	f, err := svc.Fund(tx, points.FundRequest{MerchantID: "teahouse", AmountFen: 100_00, ExternalRef: "wx-4200001"})
	check(err)
	fmt.Println("funded:", f.Points, "points")

	// Alice spends 38 yuan at the teahouse and earns 5%.
	alice := points.Identity{Kind: points.IdentityPhone, Value: "13800138000"}
	e, err := svc.Earn(tx, points.EarnRequest{MerchantID: "teahouse", OrderID: "T-1001", Member: alice, AmountFen: 38_00})
	check(err)
	fmt.Println("earned:", e.Points, "points, pending until", e.ReleaseAt.Format(time.DateOnly))

	// A week later the return window has closed.
	tx.Advance(7 * 24 * time.Hour)
	n, err := svc.Release(tx, 100)
	check(err)
	fmt.Println("released lots:", n)

	// She pays 1.50 yuan of a noodle bill with points: her app shows a
	// redemption code (her consent), which the cashier scans.
	code := tx.RedemptionCode("noodles", alice, 0)
	r, err := svc.Redeem(tx, points.RedeemRequest{MerchantID: "noodles", OrderID: "N-77", Code: code, Points: 150, AmountFen: 25_00})
	check(err)
	fmt.Println("redeemed:", r.Points, "points worth", r.ValueFen, "fen; available", r.Available)

	// More than she has is refused with a stable code.
	code = tx.RedemptionCode("noodles", alice, 0)
	_, err = svc.Redeem(tx, points.RedeemRequest{MerchantID: "noodles", OrderID: "N-78", Code: code, Points: 100, AmountFen: 25_00})
	var refusal *points.Error
	if errors.As(err, &refusal) {
		fmt.Println("refused:", refusal.Code)
	}

	for _, account := range []string{ledger.Reserve, ledger.MerchantBudget("teahouse"), ledger.MerchantPayable("noodles")} {
		b, err := tx.Balance(account)
		check(err)
		fmt.Println(account, b)
	}
	c, err := svc.Coverage(context.Background())
	check(err)
	fmt.Println("coverage:", c.BasisPoints, "bp; invariants:", tx.CheckInvariants(svc.Policy.FaceValueFen))
	// Output:
	// funded: 10000 points
	// earned: 190 points, pending until 2025-01-13
	// released lots: 1
	// redeemed: 150 points worth 150 fen; available 40
	// refused: insufficient_points
	// alliance:reserve 9850
	// merchant:teahouse:budget 9810
	// merchant:noodles:payable 150
	// coverage: 10000 bp; invariants: <nil>
}
