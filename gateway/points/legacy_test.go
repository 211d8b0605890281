package points_test

import (
	"errors"
	"testing"

	"github.com/lianmeng/lianmeng/gateway/ledger"
	"github.com/lianmeng/lianmeng/gateway/points"
	"github.com/lianmeng/lianmeng/gateway/points/pointstest"
)

// An import issues available lots from the funded budget, keeps the
// original dates but never expires sooner than the alliance minimum, runs
// again without importing a row twice, and is refused whole when the
// budget does not cover it or a row is bad.
func TestImportLegacyPoints(t *testing.T) {
	s := &points.Service{Policy: policy()}
	tx := pointstest.NewTx(t0, merchants()...)
	run := func(r points.ImportRequest) (points.ImportResult, error) {
		return pointstest.Run(tx, func(tx points.Tx) (points.ImportResult, error) { return s.Import(tx, r) })
	}
	if _, err := pointstest.Run(tx, func(tx points.Tx) (points.FundResult, error) {
		return s.Fund(tx, points.FundRequest{MerchantID: "m1", AmountFen: 1000 * face, ExternalRef: "f"})
	}); err != nil {
		t.Fatal(err)
	}
	rows := []points.ImportRow{
		{Line: 2, Member: ident("alice"), Points: 300, EarnedAt: t0.AddDate(-1, 0, 0), ExpiresAt: t0.AddDate(1, 0, 0)},
		{Line: 3, Member: ident("bob"), Points: 200, EarnedAt: t0.AddDate(0, -1, 0), ExpiresAt: t0.Add(2 * day)}, // raised to the minimum
	}
	req := points.ImportRequest{MerchantID: "m1", ImportID: "imp1", Rows: rows, MinValidity: 30 * day}
	res, err := run(req)
	if err != nil || res.Imported != 2 || res.Points != 500 {
		t.Fatalf("import: %+v %v", res, err)
	}
	if res, err := run(req); err != nil || res.Imported != 0 || res.Skipped != 2 {
		t.Fatalf("second run: %+v %v", res, err)
	}
	if b, _ := tx.Balance(ledger.MerchantBudget("m1")); b != 500 {
		t.Fatalf("budget %d, want 500", b)
	}
	var lots []*ledger.Lot
	for _, who := range []string{"alice", "bob"} {
		mid, err := tx.Member("m1", ident(who), false)
		if err != nil {
			t.Fatal(err)
		}
		l, _ := tx.Lots(mid, ledger.LotAvailable)
		lots = append(lots, l...)
		if b, _ := tx.Balance(ledger.MemberAvailable(mid)); b != l[0].Points {
			t.Fatalf("%s available %d", who, b)
		}
	}
	if !lots[0].ExpiresAt.Equal(rows[0].ExpiresAt) || !lots[0].EarnedAt.Equal(rows[0].EarnedAt) {
		t.Fatalf("alice's lot %+v lost its dates", lots[0])
	}
	if !lots[1].ExpiresAt.Equal(t0.Add(30 * day)) {
		t.Fatalf("bob's lot expires %v, want the minimum %v", lots[1].ExpiresAt, t0.Add(30*day))
	}
	// More than the budget: nothing of the chunk is imported.
	big := points.ImportRequest{MerchantID: "m1", ImportID: "imp2", MinValidity: 30 * day, Rows: []points.ImportRow{
		{Line: 1, Member: ident("alice"), Points: 400, EarnedAt: t0.AddDate(0, -1, 0), ExpiresAt: t0.AddDate(1, 0, 0)},
		{Line: 2, Member: ident("bob"), Points: 400, EarnedAt: t0.AddDate(0, -1, 0), ExpiresAt: t0.AddDate(1, 0, 0)},
	}}
	var pe *points.Error
	if _, err := run(big); !errors.As(err, &pe) || pe.Code != points.CodeInsufficientBudget {
		t.Fatalf("import beyond the budget: %v", err)
	}
	if b, _ := tx.Balance(ledger.MerchantBudget("m1")); b != 500 {
		t.Fatalf("budget %d after the refused import", b)
	}
	for _, c := range []struct {
		row  points.ImportRow
		code string
	}{
		{points.ImportRow{Member: points.Identity{Kind: "email", Value: "a@b"}, Points: 1, EarnedAt: t0.Add(-day), ExpiresAt: t0.Add(day)}, points.CodeInvalidIdentity},
		{points.ImportRow{Member: ident("alice"), Points: -5, EarnedAt: t0.Add(-day), ExpiresAt: t0.Add(day)}, points.CodeInvalidPoints},
		{points.ImportRow{Member: ident("alice"), Points: 100_001, EarnedAt: t0.Add(-day), ExpiresAt: t0.Add(day)}, points.CodeInvalidPoints},
		{points.ImportRow{Member: ident("alice"), Points: 5, EarnedAt: t0.Add(-2 * day), ExpiresAt: t0.Add(-day)}, points.CodeImportExpired},
		{points.ImportRow{Member: ident("alice"), Points: 5, EarnedAt: t0.Add(day), ExpiresAt: t0.Add(2 * day)}, points.CodeImportDates},
		{points.ImportRow{Member: ident("alice"), Points: 5}, points.CodeImportDates},
	} {
		if err := s.CheckImportRow(c.row, t0); !errors.As(err, &pe) || pe.Code != c.code {
			t.Errorf("%+v: %v, want %s", c.row, err, c.code)
		}
		c.row.Line = 9
		if _, err := run(points.ImportRequest{MerchantID: "m1", ImportID: "imp3", Rows: []points.ImportRow{c.row}}); err == nil {
			t.Errorf("%+v imported", c.row)
		}
	}
	if err := tx.CheckInvariants(face); err != nil {
		t.Fatal(err)
	}
}
