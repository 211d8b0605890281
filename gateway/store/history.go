package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/lianmeng/lianmeng/gateway/ledger"
	"github.com/lianmeng/lianmeng/gateway/points"
)

// The daily snapshots of the alliance's published history
// (points.DaySnapshot): the store reads the ledger's movements of a day
// and keeps the rows; the domain decides what they mean.

const snapshotCols = `day, reserve_fen, budget_points, pending_points, available_points, marketing_points, payable_fen,
	burned_points, expired_points, minted_points, funded_fen, breakage_fen, outstanding_points, face_value_fen,
	coverage_bp, covered, issued_points, redeemed_points, expired_today_points, funded_today_fen`

// DayMovements sums the postings of the transactions recorded in [from,
// to) by account family and transaction kind (the family is the account's
// kind for merchants' and members' accounts, else its name, as in Totals).
func (db *DB) DayMovements(ctx context.Context, from, to time.Time) ([]points.Movement, error) {
	var ms []points.Movement
	err := db.R.SelectContext(ctx, &ms, `SELECT CASE WHEN a.kind IN (?, ?, ?, ?) THEN a.kind ELSE a.name END AS family,
		t.kind AS tx_kind, SUM(p.amount) AS amount
		FROM ledger_transactions t JOIN postings p ON p.tx_id = t.id JOIN accounts a ON a.name = p.account
		WHERE t.created_at >= ? AND t.created_at < ? GROUP BY family, tx_kind ORDER BY family, tx_kind`,
		string(ledger.KindBudget), string(ledger.KindPayable), string(ledger.KindPending), string(ledger.KindAvailable),
		Micros(from), Micros(to))
	if err != nil {
		return nil, fmt.Errorf("day movements: %w", err)
	}
	return ms, nil
}

// FirstTransactionAt is when the ledger's first transaction was recorded
// (ok false on an empty ledger).
func (db *DB) FirstTransactionAt(ctx context.Context) (at time.Time, ok bool, err error) {
	var us sql.NullInt64
	if err := db.R.GetContext(ctx, &us, `SELECT MIN(created_at) FROM ledger_transactions`); err != nil {
		return time.Time{}, false, fmt.Errorf("first transaction: %w", err)
	}
	if !us.Valid {
		return time.Time{}, false, nil
	}
	return FromMicros(us.Int64), true, nil
}

// LastSnapshot is the latest day's snapshot (ok false before the first).
func (db *DB) LastSnapshot(ctx context.Context) (s points.DaySnapshot, ok bool, err error) {
	err = db.R.GetContext(ctx, &s, `SELECT `+snapshotCols+` FROM daily_snapshots ORDER BY day DESC LIMIT 1`)
	if errors.Is(err, sql.ErrNoRows) {
		return s, false, nil
	}
	if err != nil {
		return s, false, fmt.Errorf("last snapshot: %w", err)
	}
	return s, true, nil
}

// SaveSnapshot keeps a day's snapshot once: a day already kept (another
// instance, a rerun) keeps its row, which has the same figures.
func (db *DB) SaveSnapshot(ctx context.Context, s points.DaySnapshot, takenAt time.Time) error {
	ins := "INSERT OR IGNORE INTO"
	if db.Dialect == MySQL {
		ins = "INSERT IGNORE INTO"
	}
	_, err := db.W.ExecContext(ctx, ins+` daily_snapshots (`+snapshotCols+`, taken_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		s.Day, s.ReserveFen, s.BudgetPoints, s.PendingPoints, s.AvailablePoints, s.MarketingPoints, s.PayableFen,
		s.BurnedPoints, s.ExpiredPoints, s.MintedPoints, s.FundedFen, s.BreakageFen, s.OutstandingPoints, s.FaceValueFen,
		s.CoverageBP, s.Covered, s.IssuedPoints, s.RedeemedPoints, s.ExpiredToday, s.FundedTodayFen, Micros(takenAt))
	if err != nil {
		return fmt.Errorf("save snapshot %s: %w", s.Day, err)
	}
	return nil
}

// Snapshots lists the snapshots of the days from through to (DayLayout,
// inclusive), oldest first.
func (db *DB) Snapshots(ctx context.Context, from, to string) ([]points.DaySnapshot, error) {
	var ss []points.DaySnapshot
	if err := db.R.SelectContext(ctx, &ss, `SELECT `+snapshotCols+` FROM daily_snapshots WHERE day >= ? AND day <= ? ORDER BY day`, from, to); err != nil {
		return nil, fmt.Errorf("snapshots: %w", err)
	}
	return ss, nil
}

// TakeSnapshots keeps the snapshot of every finished day not yet kept,
// in order, up to the last day that ended at least settle before now (so
// the writer's last batch of the day has committed): from the day after
// the latest snapshot, or from the day of the ledger's first transaction.
// It returns how many days it kept.
func (db *DB) TakeSnapshots(ctx context.Context, now time.Time, settle time.Duration, faceValueFen int64) (int, error) {
	last, ok, err := db.LastSnapshot(ctx)
	if err != nil {
		return 0, err
	}
	var day string
	var prev points.Balances
	if ok {
		_, next, err := points.DayBounds(last.Day)
		if err != nil {
			return 0, fmt.Errorf("snapshot day %q: %w", last.Day, err)
		}
		day, prev = points.DayOf(next), last.Balances
	} else {
		first, any, err := db.FirstTransactionAt(ctx)
		if err != nil || !any {
			return 0, err
		}
		day = points.DayOf(first)
	}
	n := 0
	for ctx.Err() == nil {
		from, to, err := points.DayBounds(day)
		if err != nil {
			return n, err
		}
		if to.Add(settle).After(now) {
			break
		}
		moves, err := db.DayMovements(ctx, from, to)
		if err != nil {
			return n, err
		}
		s := points.NextSnapshot(day, prev, moves, faceValueFen)
		if err := db.SaveSnapshot(ctx, s, now); err != nil {
			return n, err
		}
		n++
		day, prev = points.DayOf(to), s.Balances
	}
	return n, ctx.Err()
}

// MemberPurchases reads the member's purchases among ids (others' are
// left out) with the merchant's name, the breakdown kept with each, and,
// for one without a breakdown earned under a numbered rule version, that
// version's terms (points.PurchaseDetails).
func (db *DB) MemberPurchases(ctx context.Context, memberID string, ids []int64) (map[int64]points.PurchaseDetail, error) {
	out := map[int64]points.PurchaseDetail{}
	if len(ids) == 0 {
		return out, nil
	}
	args := []any{memberID}
	for _, id := range ids {
		args = append(args, id)
	}
	ps, err := db.explainedPurchases(ctx, `p.member_id = ? AND p.id IN (`+placeholders(len(ids), "?")+`)`, "", args...)
	if err != nil {
		return nil, fmt.Errorf("member purchases: %w", err)
	}
	for _, p := range ps {
		out[p.ID] = p.PurchaseDetail
	}
	return out, nil
}

// MerchantPurchases is a page of the merchant's purchases (earns,
// redemptions, imports; kind "" for all of them), newest first, after the
// purchase before in that order (0: from the newest), each explained like a
// member's (points.MerchantPurchases). Newest first is by time, then id:
// the order of purchases_by_merchant_time, whose entries end with the id
// (ids come from per-instance blocks, so across gateway instances they only
// roughly follow time). A before that is not one of the merchant's
// purchases gives an empty page.
func (db *DB) MerchantPurchases(ctx context.Context, merchantID, kind string, before int64, limit int) ([]points.MerchantPurchase, error) {
	where, args := `p.merchant_id = ? AND p.kind IN (?, ?, ?)`, []any{merchantID, points.PurchaseEarn, points.PurchaseRedeem, points.PurchaseImport}
	if kind != "" {
		where, args = `p.merchant_id = ? AND p.kind = ?`, []any{merchantID, kind}
	}
	if before > 0 {
		var at int64
		err := db.R.GetContext(ctx, &at, `SELECT created_at FROM purchases WHERE id = ? AND merchant_id = ?`, before, merchantID)
		if errors.Is(err, sql.ErrNoRows) {
			return []points.MerchantPurchase{}, nil
		}
		if err != nil {
			return nil, fmt.Errorf("merchant purchases: cursor: %w", err)
		}
		where += ` AND (p.created_at < ? OR (p.created_at = ? AND p.id < ?))`
		args = append(args, at, at, before)
	}
	args = append(args, limit)
	ps, err := db.explainedPurchases(ctx, where, ` ORDER BY p.created_at DESC, p.id DESC LIMIT ?`, args...)
	if err != nil {
		return nil, fmt.Errorf("merchant purchases: %w", err)
	}
	return ps, nil
}

// explainedPurchases reads the purchases where says (p is purchases) with
// the merchant's name, the breakdown kept with each, and, for an earn
// without a breakdown under a numbered rule version, that version's terms:
// the one query behind the member's and the merchant's history.
func (db *DB) explainedPurchases(ctx context.Context, where, tail string, args ...any) ([]points.MerchantPurchase, error) {
	var rows []struct {
		points.MerchantPurchase
		CreatedAt int64          `db:"created_at"`
		Breakdown sql.NullString `db:"breakdown"`
	}
	if err := db.R.SelectContext(ctx, &rows, `SELECT p.id, p.kind, p.merchant_id, COALESCE(m.name, '') AS merchant_name, p.order_id,
		p.amount_fen, p.points, p.rule_version, p.member_id, p.store_id, p.refunded_fen, p.reversed_points, p.created_at, b.breakdown
		FROM purchases p LEFT JOIN merchants m ON m.id = p.merchant_id LEFT JOIN purchase_breakdowns b ON b.purchase_id = p.id
		WHERE `+where+tail, args...); err != nil {
		return nil, err
	}
	out := make([]points.MerchantPurchase, 0, len(rows))
	terms := map[string]*points.VersionTerms{} // merchant and version
	for _, r := range rows {
		d := r.MerchantPurchase
		d.CreatedAt = FromMicros(r.CreatedAt)
		if r.Breakdown.Valid {
			var b points.Breakdown
			if err := json.Unmarshal([]byte(r.Breakdown.String), &b); err != nil {
				return nil, fmt.Errorf("purchase %d breakdown: %w", d.ID, err)
			}
			d.Breakdown = &b
		} else if n := points.VersionNumber(d.RuleVersion); n > 0 && d.Kind == points.PurchaseEarn {
			k := fmt.Sprintf("%s\x00%d", d.MerchantID, n)
			t, seen := terms[k]
			if !seen {
				var v points.VersionTerms
				err := db.R.GetContext(ctx, &v, `SELECT version, rate_bp, max_points, rule_plugin FROM rule_versions WHERE merchant_id = ? AND version = ?`, d.MerchantID, n)
				if err != nil && !errors.Is(err, sql.ErrNoRows) {
					return nil, fmt.Errorf("rule version of purchase %d: %w", d.ID, err)
				}
				if err == nil {
					t = &v
				}
				terms[k] = t
			}
			d.Terms = t
		}
		out = append(out, d)
	}
	return out, nil
}
