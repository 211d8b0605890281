package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/lianmeng/lianmeng/gateway/ledger"
)

// Leaving the alliance and winding it down (gateway/lifecycle, issue 16).
// Every change here writes its audit event in the same transaction, so the
// evidence log records each step. The money moves only through the
// batching writer (funding refunds, payouts, the wind-down commands).

// Exit and wind-down states.
const (
	ExitAnnounced = "announced"
	ExitDone      = "done"
	ExitCancelled = "cancelled"

	WindDownAnnounced = "announced"
	WindDownDone      = "done"
)

// Errors of the lifecycle store.
var (
	ErrExitNotFound     = errors.New("store: no exit announced for this merchant")
	ErrExitExists       = errors.New("store: an exit is already announced for this merchant")
	ErrWindDownNotFound = errors.New("store: no wind-down announced")
	ErrWindDownExists   = errors.New("store: a wind-down is already announced")
)

// MerchantExit is a merchant's announced exit.
type MerchantExit struct {
	MerchantID  string     `db:"merchant_id" json:"merchant_id"`
	AnnouncedAt time.Time  `db:"-" json:"announced_at"`
	EffectiveAt time.Time  `db:"-" json:"effective_at"`
	Reason      string     `db:"reason" json:"reason,omitempty"`
	State       string     `db:"state" json:"state"`
	RefundID    string     `db:"refund_id" json:"refund_id,omitempty"`
	PayoutID    string     `db:"payout_id" json:"payout_id,omitempty"`
	Note        string     `db:"note" json:"note,omitempty"`
	AnnouncedBy string     `db:"announced_by" json:"-"`
	DoneAt      *time.Time `db:"-" json:"done_at,omitempty"`
}

type exitRow struct {
	MerchantExit
	Announced int64 `db:"announced_at"`
	Effective int64 `db:"effective_at"`
	Done      int64 `db:"done_at"`
}

func (r exitRow) exit() MerchantExit {
	e := r.MerchantExit
	e.AnnouncedAt, e.EffectiveAt = FromMicros(r.Announced), FromMicros(r.Effective)
	if r.Done != 0 {
		d := FromMicros(r.Done)
		e.DoneAt = &d
	}
	return e
}

const exitCols = `merchant_id, announced_at, effective_at, reason, state, refund_id, payout_id, note, announced_by, done_at`

// AnnounceExit stores an exit and audits it. A merchant with an exit
// announced (and not cancelled) answers ErrExitExists.
func (db *DB) AnnounceExit(ctx context.Context, e MerchantExit) error {
	err := db.inTx(ctx, func(tx *sqlx.Tx) error {
		var state string
		err := tx.GetContext(ctx, &state, `SELECT state FROM merchant_exits WHERE merchant_id = ?`, e.MerchantID)
		switch {
		case err == nil && state != ExitCancelled:
			return ErrExitExists
		case err == nil:
			if _, err := tx.ExecContext(ctx, `DELETE FROM merchant_exits WHERE merchant_id = ?`, e.MerchantID); err != nil {
				return err
			}
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO merchant_exits (`+exitCols+`) VALUES (?, ?, ?, ?, ?, '', '', '', ?, 0)`,
			e.MerchantID, Micros(e.AnnouncedAt), Micros(e.EffectiveAt), e.Reason, ExitAnnounced, e.AnnouncedBy); err != nil {
			return err
		}
		return insertAudit(ctx, tx, "merchant.exit_announced", e.AnnouncedBy, e.MerchantID, map[string]any{
			"merchant_id": e.MerchantID, "effective_at": e.EffectiveAt.UTC().Format(time.RFC3339), "reason": e.Reason}, e.AnnouncedAt)
	})
	if errors.Is(err, ErrExitExists) {
		return err
	}
	if err != nil {
		return fmt.Errorf("announce exit: %w", err)
	}
	return nil
}

// MerchantExit reads a merchant's exit.
func (db *DB) MerchantExit(ctx context.Context, merchantID string) (MerchantExit, error) {
	var r exitRow
	err := db.W.GetContext(ctx, &r, `SELECT `+exitCols+` FROM merchant_exits WHERE merchant_id = ?`, merchantID)
	if errors.Is(err, sql.ErrNoRows) {
		return MerchantExit{}, ErrExitNotFound
	}
	if err != nil {
		return MerchantExit{}, fmt.Errorf("merchant exit: %w", err)
	}
	return r.exit(), nil
}

// MerchantExits lists exits, newest first; with due set, only announced
// exits whose date has come.
func (db *DB) MerchantExits(ctx context.Context, due bool, now time.Time) ([]MerchantExit, error) {
	q, args := `SELECT `+exitCols+` FROM merchant_exits`, []any{}
	if due {
		q += ` WHERE state = ? AND effective_at <= ?`
		args = append(args, ExitAnnounced, Micros(now))
	}
	q += ` ORDER BY announced_at DESC, merchant_id`
	var rows []exitRow
	if err := db.W.SelectContext(ctx, &rows, q, args...); err != nil {
		return nil, fmt.Errorf("merchant exits: %w", err)
	}
	out := make([]MerchantExit, len(rows))
	for i, r := range rows {
		out[i] = r.exit()
	}
	return out, nil
}

// UpdateExit records an exit's progress and audits it as kind.
func (db *DB) UpdateExit(ctx context.Context, e MerchantExit, kind, actor string, now time.Time) error {
	return db.inTx(ctx, func(tx *sqlx.Tx) error {
		done := int64(0)
		if e.DoneAt != nil {
			done = Micros(*e.DoneAt)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE merchant_exits SET state = ?, refund_id = ?, payout_id = ?, note = ?, done_at = ? WHERE merchant_id = ?`,
			e.State, e.RefundID, e.PayoutID, e.Note, done, e.MerchantID); err != nil {
			return fmt.Errorf("update exit: %w", err)
		}
		return insertAudit(ctx, tx, kind, actor, e.MerchantID, map[string]any{"merchant_id": e.MerchantID, "state": e.State,
			"refund_id": e.RefundID, "payout_id": e.PayoutID, "note": e.Note}, now)
	})
}

// WindDown is the alliance's announced wind-down.
type WindDown struct {
	AnnouncedAt time.Time  `db:"-" json:"announced_at"`
	EffectiveAt time.Time  `db:"-" json:"effective_at"`
	Reason      string     `db:"reason" json:"reason,omitempty"`
	State       string     `db:"state" json:"state"`
	AnnouncedBy string     `db:"announced_by" json:"-"`
	DoneAt      *time.Time `db:"-" json:"done_at,omitempty"`
	// Report is the per-merchant report (JSON) once done.
	Report string `db:"report" json:"-"`
}

type windDownRow struct {
	WindDown
	ID        int64 `db:"id"`
	Announced int64 `db:"announced_at"`
	Effective int64 `db:"effective_at"`
	Done      int64 `db:"done_at"`
}

// AnnounceWindDown stores the wind-down (once) and audits it.
func (db *DB) AnnounceWindDown(ctx context.Context, w WindDown) error {
	err := db.inTx(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO alliance_wind_down (id, announced_at, effective_at, reason, state, announced_by, done_at, report) VALUES (1, ?, ?, ?, ?, ?, 0, '')`,
			Micros(w.AnnouncedAt), Micros(w.EffectiveAt), w.Reason, WindDownAnnounced, w.AnnouncedBy); err != nil {
			return err
		}
		return insertAudit(ctx, tx, "alliance.wind_down_announced", w.AnnouncedBy, "alliance", map[string]any{
			"effective_at": w.EffectiveAt.UTC().Format(time.RFC3339), "reason": w.Reason}, w.AnnouncedAt)
	})
	if IsDuplicate(err) {
		return ErrWindDownExists
	}
	if err != nil {
		return fmt.Errorf("announce wind-down: %w", err)
	}
	return nil
}

// GetWindDown reads the wind-down (ErrWindDownNotFound before any).
func (db *DB) GetWindDown(ctx context.Context) (WindDown, error) {
	var r windDownRow
	err := db.R.GetContext(ctx, &r, `SELECT id, announced_at, effective_at, reason, state, announced_by, done_at, report FROM alliance_wind_down WHERE id = 1`)
	if errors.Is(err, sql.ErrNoRows) {
		return WindDown{}, ErrWindDownNotFound
	}
	if err != nil {
		return WindDown{}, fmt.Errorf("wind-down: %w", err)
	}
	w := r.WindDown
	w.AnnouncedAt, w.EffectiveAt = FromMicros(r.Announced), FromMicros(r.Effective)
	if r.Done != 0 {
		d := FromMicros(r.Done)
		w.DoneAt = &d
	}
	return w, nil
}

// FinishWindDown records the report and audits the end, with the report.
func (db *DB) FinishWindDown(ctx context.Context, report string, summary any, now time.Time) error {
	return db.inTx(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE alliance_wind_down SET state = ?, done_at = ?, report = ? WHERE id = 1`, WindDownDone, Micros(now), report); err != nil {
			return fmt.Errorf("finish wind-down: %w", err)
		}
		return insertAudit(ctx, tx, "alliance.wound_down", "lifecycle", "alliance", summary, now)
	})
}

// AuditLifecycle writes an audit event of a lifecycle step that has no row
// of its own (a merchant's budget returned at the wind-down).
func (db *DB) AuditLifecycle(ctx context.Context, kind, subject string, detail any, now time.Time) error {
	return db.inTx(ctx, func(tx *sqlx.Tx) error { return insertAudit(ctx, tx, kind, "lifecycle", subject, detail, now) })
}

// MerchantsWithBudget lists merchants whose budget is not empty.
func (db *DB) MerchantsWithBudget(ctx context.Context) ([]string, error) {
	var names []string
	if err := db.W.SelectContext(ctx, &names, `SELECT name FROM accounts WHERE kind = 'budget' AND balance <> 0 ORDER BY name`); err != nil {
		return nil, fmt.Errorf("budgets: %w", err)
	}
	return names, nil
}

// OpenLots counts lots not yet closed.
func (db *DB) OpenLots(ctx context.Context) (int64, error) {
	var n int64
	if err := db.W.GetContext(ctx, &n, `SELECT COUNT(*) FROM lots WHERE state <> 'closed'`); err != nil {
		return 0, fmt.Errorf("open lots: %w", err)
	}
	return n, nil
}

// WindDownLine is what the wind-down returned to one merchant.
type WindDownLine struct {
	MerchantID string `json:"merchant_id"`
	// LotsFen is the cash behind the open points it had issued; BudgetFen
	// its unissued budget; both went to its payable.
	LotsFen   int64 `json:"lots_fen"`
	BudgetFen int64 `json:"budget_fen"`
	TotalFen  int64 `json:"total_fen"`
}

// WindDownReturns sums, per merchant, what the wind-down postings moved
// to its payable (from the ledger, so the report is what was posted).
func (db *DB) WindDownReturns(ctx context.Context, budgetKind string) ([]WindDownLine, error) {
	var rows []struct {
		Account string `db:"account"`
		Kind    string `db:"kind"`
		Fen     int64  `db:"fen"`
	}
	if err := db.W.SelectContext(ctx, &rows, `SELECT p.account AS account, t.kind AS kind, SUM(p.amount) AS fen
		FROM ledger_transactions t JOIN postings p ON p.tx_id = t.id JOIN accounts a ON a.name = p.account
		WHERE a.kind = 'payable' AND ((t.kind = 'expire' AND t.ref LIKE 'lot:%:winddown') OR t.kind = ?)
		GROUP BY p.account, t.kind ORDER BY p.account`, budgetKind); err != nil {
		return nil, fmt.Errorf("wind-down returns: %w", err)
	}
	var out []WindDownLine
	idx := map[string]int{}
	for _, r := range rows {
		i, ok := idx[r.Account]
		if !ok {
			i = len(out)
			idx[r.Account] = i
			out = append(out, WindDownLine{MerchantID: ledger.ParseAccount(r.Account).Owner})
		}
		if r.Kind == budgetKind {
			out[i].BudgetFen += r.Fen
		} else {
			out[i].LotsFen += r.Fen
		}
		out[i].TotalFen += r.Fen
	}
	return out, nil
}

// WindDownMarketingReturned is the cash the wind-down's closing of the
// marketing budget (transactions of kind) moved to the alliance's
// breakage, read from the ledger so a re-run reports what was posted.
func (db *DB) WindDownMarketingReturned(ctx context.Context, kind string) (int64, error) {
	var fen int64
	if err := db.W.GetContext(ctx, &fen, `SELECT COALESCE(SUM(p.amount), 0) FROM ledger_transactions t
		JOIN postings p ON p.tx_id = t.id WHERE t.kind = ? AND p.account = ?`, kind, ledger.Breakage); err != nil {
		return 0, fmt.Errorf("wind-down marketing return: %w", err)
	}
	return fen, nil
}
