package store

import (
	"context"
	"fmt"
	"strings"

	"github.com/lianmeng/lianmeng/gateway/ledger"
	"github.com/lianmeng/lianmeng/gateway/points"
)

// Violation is one broken ledger invariant (DESIGN §4).
type Violation struct {
	Invariant int    // 1..5
	Subject   string // transaction, account, member or purchase
	Detail    string
}

func (v Violation) String() string {
	return fmt.Sprintf("invariant %d (%s): %s: %s", v.Invariant, invariantNames[v.Invariant], v.Subject, v.Detail)
}

var invariantNames = map[int]string{
	1: "transactions balance",
	2: "no negative balances",
	3: "reserve covers outstanding points",
	4: "one effect per purchase and key",
	5: "lots and postings sum to balances",
}

// invariantCheck is one named scan of the ledger. It reports what it finds
// through add and returns an error only when it cannot scan.
type invariantCheck struct {
	name string
	run  func(ctx context.Context, db *DB, faceValueFen int64, add addViolation) error
}

type addViolation func(invariant int, subject, format string, a ...any)

// invariantChecks are the scans CheckInvariants runs, in order.
var invariantChecks = []invariantCheck{
	{"transactions balance", checkBalanced},
	{"no negative balances", checkNegative},
	{"balances equal postings", checkBalancesMatchPostings},
	{"lots equal balances", checkLotsMatchBalances},
	{"coverage", checkCoverage},
	{"one effect per purchase", checkOneEffect},
	{"lot ranges", checkLotRanges},
}

// InvariantSteps is how many steps CheckInvariants reports progress over.
var InvariantSteps = len(invariantChecks)

// CheckInvariants scans the ledger and returns every violation found.
// progress, if set, is called after each check with its number (from 1)
// and name.
func (db *DB) CheckInvariants(ctx context.Context, faceValueFen int64, progress func(step int, name string)) ([]Violation, error) {
	var out []Violation
	add := func(inv int, subject, format string, a ...any) {
		out = append(out, Violation{Invariant: inv, Subject: subject, Detail: fmt.Sprintf(format, a...)})
	}
	for i, c := range invariantChecks {
		if err := c.run(ctx, db, faceValueFen, add); err != nil {
			return nil, fmt.Errorf("check %s: %w", c.name, err)
		}
		if progress != nil {
			progress(i+1, c.name)
		}
	}
	return out, nil
}

// checkBalanced: invariant 1, every transaction balances per asset, has at
// least two postings, and no posting lacks its transaction.
func checkBalanced(ctx context.Context, db *DB, _ int64, add addViolation) error {
	var unbalanced []struct {
		TxID  int64  `db:"tx_id"`
		Asset string `db:"asset"`
		Sum   int64  `db:"total"`
	}
	if err := db.R.SelectContext(ctx, &unbalanced, `SELECT tx_id, asset, SUM(amount) AS total FROM postings GROUP BY tx_id, asset HAVING SUM(amount) <> 0 ORDER BY tx_id`); err != nil {
		return err
	}
	for _, u := range unbalanced {
		add(1, fmt.Sprintf("transaction %d", u.TxID), "%s postings sum to %d, not 0", u.Asset, u.Sum)
	}
	var thin []struct {
		ID int64 `db:"id"`
		N  int64 `db:"n"`
	}
	if err := db.R.SelectContext(ctx, &thin, `SELECT t.id AS id, COUNT(p.tx_id) AS n FROM ledger_transactions t LEFT JOIN postings p ON p.tx_id = t.id
		GROUP BY t.id HAVING COUNT(p.tx_id) < 2 ORDER BY t.id`); err != nil {
		return err
	}
	for _, t := range thin {
		add(1, fmt.Sprintf("transaction %d", t.ID), "has %d postings", t.N)
	}
	var orphans []int64
	if err := db.R.SelectContext(ctx, &orphans, `SELECT DISTINCT p.tx_id FROM postings p LEFT JOIN ledger_transactions t ON t.id = p.tx_id WHERE t.id IS NULL ORDER BY p.tx_id`); err != nil {
		return err
	}
	for _, id := range orphans {
		add(1, fmt.Sprintf("transaction %d", id), "postings exist but the transaction row is missing")
	}
	return nil
}

// checkNegative: invariant 2, guarded accounts never negative.
func checkNegative(ctx context.Context, db *DB, _ int64, add addViolation) error {
	var neg []struct {
		Name    string `db:"name"`
		Balance int64  `db:"balance"`
	}
	if err := db.R.SelectContext(ctx, &neg, `SELECT name, balance FROM accounts WHERE balance < 0 ORDER BY name`); err != nil {
		return err
	}
	for _, n := range neg {
		if ledger.ParseAccount(n.Name).Guarded {
			add(2, "account "+n.Name, "balance is %d", n.Balance)
		}
	}
	return nil
}

// checkBalancesMatchPostings: invariant 5, every balance equals the sum of
// its postings, and every account with postings has a balance row.
func checkBalancesMatchPostings(ctx context.Context, db *DB, _ int64, add addViolation) error {
	var drift []struct {
		Name    string `db:"name"`
		Balance int64  `db:"balance"`
		Sum     int64  `db:"total"`
	}
	if err := db.R.SelectContext(ctx, &drift, `SELECT a.name AS name, a.balance AS balance, COALESCE(s.total, 0) AS total FROM accounts a
		LEFT JOIN (SELECT account, SUM(amount) AS total FROM postings GROUP BY account) s ON s.account = a.name
		WHERE a.balance <> COALESCE(s.total, 0) ORDER BY a.name`); err != nil {
		return err
	}
	for _, d := range drift {
		add(5, "account "+d.Name, "balance %d but postings sum to %d", d.Balance, d.Sum)
	}
	var missing []struct {
		Account string `db:"account"`
		Sum     int64  `db:"total"`
	}
	if err := db.R.SelectContext(ctx, &missing, `SELECT p.account AS account, SUM(p.amount) AS total FROM postings p LEFT JOIN accounts a ON a.name = p.account
		WHERE a.name IS NULL GROUP BY p.account`); err != nil {
		return err
	}
	for _, m := range missing {
		add(5, "account "+m.Account, "has postings summing to %d but no balance row", m.Sum)
	}
	return nil
}

// checkLotsMatchBalances: invariant 5, open lots sum to member balances,
// per state.
func checkLotsMatchBalances(ctx context.Context, db *DB, _ int64, add addViolation) error {
	for _, sk := range []struct {
		state string
		kind  ledger.Kind
	}{{ledger.LotPending, ledger.KindPending}, {ledger.LotAvailable, ledger.KindAvailable}} {
		state, kind := sk.state, sk.kind
		suffix := ":" + state
		var rows []struct {
			Member  string `db:"member_id"`
			Lots    int64  `db:"lots"`
			Balance int64  `db:"balance"`
		}
		q := `SELECT m.member_id AS member_id, m.lots AS lots, COALESCE(a.balance, 0) AS balance FROM
			(SELECT member_id, SUM(remaining) AS lots FROM lots WHERE state = ? GROUP BY member_id) m
			LEFT JOIN accounts a ON a.name = ` + concat(db.Dialect, "'member:'", "m.member_id", "'"+suffix+"'") + `
			WHERE COALESCE(a.balance, 0) <> m.lots
			UNION ALL
			SELECT a.name AS member_id, 0 AS lots, a.balance AS balance FROM accounts a
			WHERE a.kind = ? AND a.balance <> 0 AND NOT EXISTS (SELECT 1 FROM lots l WHERE l.state = ? AND l.remaining > 0 AND
				` + concat(db.Dialect, "'member:'", "l.member_id", "'"+suffix+"'") + ` = a.name)`
		if err := db.R.SelectContext(ctx, &rows, q, state, string(kind), state); err != nil {
			return err
		}
		for _, r := range rows {
			add(5, "member "+r.Member, "%s lots sum to %d but the balance is %d", state, r.Lots, r.Balance)
		}
	}
	return nil
}

// checkCoverage: invariant 3, the reserve covers every outstanding point.
func checkCoverage(ctx context.Context, db *DB, faceValueFen int64, add addViolation) error {
	t, err := db.Totals(ctx)
	if err != nil {
		return err
	}
	if !points.CoverageOf(t, faceValueFen).Covered {
		add(3, ledger.Reserve, "reserve %d fen does not cover %d outstanding points × %d fen", t.ReserveFen, t.OutstandingPts, faceValueFen)
	}
	return nil
}

// checkOneEffect: invariant 4, one earn, redeem or funding transaction per
// purchase, and each order recorded once.
func checkOneEffect(ctx context.Context, db *DB, _ int64, add addViolation) error {
	var dup []struct {
		Ref string `db:"ref"`
		N   int64  `db:"n"`
	}
	if err := db.R.SelectContext(ctx, &dup, `SELECT ref, COUNT(*) AS n FROM ledger_transactions WHERE kind IN (?, ?, ?)
		GROUP BY ref HAVING COUNT(*) > 1`, ledger.KindEarn, ledger.KindRedeem, ledger.KindFund); err != nil {
		return err
	}
	for _, d := range dup {
		add(4, d.Ref, "posted %d times", d.N)
	}
	var dupOrders []struct {
		Merchant string `db:"merchant_id"`
		Kind     string `db:"kind"`
		Order    string `db:"order_id"`
		N        int64  `db:"n"`
	}
	if err := db.R.SelectContext(ctx, &dupOrders, `SELECT merchant_id, kind, order_id, COUNT(*) AS n FROM purchases GROUP BY merchant_id, kind, order_id HAVING COUNT(*) > 1`); err != nil {
		return err
	}
	for _, d := range dupOrders {
		add(4, "order "+d.Merchant+"/"+d.Order, "%s recorded %d times", d.Kind, d.N)
	}
	return nil
}

// checkLotRanges: invariant 5, no lot holds more than it was issued with,
// or less than nothing.
func checkLotRanges(ctx context.Context, db *DB, _ int64, add addViolation) error {
	var badLots []struct {
		ID        int64 `db:"id"`
		Points    int64 `db:"points"`
		Remaining int64 `db:"remaining"`
	}
	if err := db.R.SelectContext(ctx, &badLots, `SELECT id, points, remaining FROM lots WHERE remaining < 0 OR remaining > points`); err != nil {
		return err
	}
	for _, l := range badLots {
		add(5, fmt.Sprintf("lot %d", l.ID), "remaining %d outside 0..%d", l.Remaining, l.Points)
	}
	return nil
}

// concat is string concatenation in the dialect's SQL.
func concat(dialect string, parts ...string) string {
	if dialect == MySQL {
		return "CONCAT(" + strings.Join(parts, ", ") + ")"
	}
	return strings.Join(parts, " || ")
}
