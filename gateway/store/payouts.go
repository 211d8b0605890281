package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
)

// Payouts (gateway/settlement, issue 13). The money moves only through the
// batching writer (payable -> alliance:payouts on request, then to
// external:paid on confirmation or back on failure); these rows are the
// state machine and the out-request numbers.

// Payout states.
const (
	PayoutRequested = "requested" // held, not yet sent to a channel
	PayoutSubmitted = "submitted" // a channel took it; waiting for its result
	PayoutUnknown   = "unknown"   // a channel may have taken it: query, never guess
	PayoutSucceeded = "succeeded"
	PayoutFailed    = "failed"
)

// ErrPayoutNotFound is returned for an unknown payout.
var ErrPayoutNotFound = errors.New("store: payout not found")

// ErrPayoutExists is returned when a merchant's idempotency key already
// names a payout.
var ErrPayoutExists = errors.New("store: payout exists")

// PayoutAccount is one place a merchant is paid.
type PayoutAccount struct {
	Position  int    `db:"position" json:"-"`
	Channel   string `db:"channel" json:"channel"`
	PayeeType string `db:"payee_type" json:"payee_type"`
	Account   string `db:"account" json:"account"`
	Name      string `db:"name" json:"name,omitempty"`
	Bank      string `db:"bank" json:"bank,omitempty"`
}

// SetPayoutAccounts replaces a merchant's payout accounts (in order of
// preference).
func (db *DB) SetPayoutAccounts(ctx context.Context, merchantID string, accts []PayoutAccount) error {
	return db.inTx(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM payout_accounts WHERE merchant_id = ?`, merchantID); err != nil {
			return fmt.Errorf("payout accounts: %w", err)
		}
		for i, a := range accts {
			if _, err := tx.ExecContext(ctx, `INSERT INTO payout_accounts (merchant_id, position, channel, payee_type, account, name, bank) VALUES (?, ?, ?, ?, ?, ?, ?)`,
				merchantID, i, a.Channel, a.PayeeType, a.Account, a.Name, a.Bank); err != nil {
				return fmt.Errorf("payout account %d: %w", i, err)
			}
		}
		return nil
	})
}

// PayoutAccounts lists a merchant's payout accounts, primary first.
func (db *DB) PayoutAccounts(ctx context.Context, merchantID string) ([]PayoutAccount, error) {
	var out []PayoutAccount
	if err := db.W.SelectContext(ctx, &out, `SELECT position, channel, payee_type, account, name, bank FROM payout_accounts WHERE merchant_id = ? ORDER BY position`, merchantID); err != nil {
		return nil, fmt.Errorf("payout accounts: %w", err)
	}
	return out, nil
}

// Payout is one payout and where it stands.
type Payout struct {
	ID         string    `db:"id" json:"id"`
	MerchantID string    `db:"merchant_id" json:"merchant_id"`
	IdemKey    string    `db:"idem_key" json:"-"`
	AmountFen  int64     `db:"amount_fen" json:"amount_fen"`
	State      string    `db:"state" json:"state"`
	Position   int       `db:"position" json:"position"`
	Channel    string    `db:"channel" json:"channel"`
	ChannelRef string    `db:"channel_ref" json:"channel_ref,omitempty"`
	Attempts   int       `db:"attempts" json:"attempts"`
	NextAt     time.Time `db:"-" json:"next_at"`
	Failure    string    `db:"failure" json:"failure,omitempty"`
	LedgerTxID int64     `db:"ledger_tx_id" json:"ledger_tx_id,omitempty"`
	CreatedAt  time.Time `db:"-" json:"created_at"`
	UpdatedAt  time.Time `db:"-" json:"updated_at"`
}

type payoutRow struct {
	Payout
	Next    int64 `db:"next_at"`
	Created int64 `db:"created_at"`
	Updated int64 `db:"updated_at"`
}

func (r payoutRow) payout() Payout {
	p := r.Payout
	p.NextAt, p.CreatedAt, p.UpdatedAt = FromMicros(r.Next), FromMicros(r.Created), FromMicros(r.Updated)
	return p
}

const payoutCols = `id, merchant_id, idem_key, amount_fen, state, position, channel, channel_ref, attempts, next_at, failure, ledger_tx_id, created_at, updated_at`

// InsertPayout stores a new payout durably. Its hold (payable ->
// alliance:payouts) is posted before, through the writer.
func (db *DB) InsertPayout(ctx context.Context, p Payout) error {
	err := db.inTx(ctx, func(tx *sqlx.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO payouts (`+payoutCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			p.ID, p.MerchantID, p.IdemKey, p.AmountFen, p.State, p.Position, p.Channel, p.ChannelRef, p.Attempts, Micros(p.NextAt),
			p.Failure, p.LedgerTxID, Micros(p.CreatedAt), Micros(p.CreatedAt))
		return err
	})
	if IsDuplicate(err) {
		return ErrPayoutExists
	}
	if err != nil {
		return fmt.Errorf("insert payout: %w", err)
	}
	return nil
}

// GetPayout reads a payout by id.
func (db *DB) GetPayout(ctx context.Context, id string) (Payout, error) {
	var r payoutRow
	err := db.W.GetContext(ctx, &r, `SELECT `+payoutCols+` FROM payouts WHERE id = ?`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return Payout{}, ErrPayoutNotFound
	}
	if err != nil {
		return Payout{}, fmt.Errorf("payout %s: %w", id, err)
	}
	return r.payout(), nil
}

// PayoutByKey reads the payout a merchant's idempotency key made.
func (db *DB) PayoutByKey(ctx context.Context, merchantID, key string) (Payout, error) {
	var r payoutRow
	err := db.W.GetContext(ctx, &r, `SELECT `+payoutCols+` FROM payouts WHERE merchant_id = ? AND idem_key = ?`, merchantID, key)
	if errors.Is(err, sql.ErrNoRows) {
		return Payout{}, ErrPayoutNotFound
	}
	if err != nil {
		return Payout{}, fmt.Errorf("payout by key: %w", err)
	}
	return r.payout(), nil
}

// DuePayouts lists payouts not yet final whose next attempt is due.
func (db *DB) DuePayouts(ctx context.Context, now time.Time, limit int) ([]Payout, error) {
	var rows []payoutRow
	if err := db.W.SelectContext(ctx, &rows, `SELECT `+payoutCols+` FROM payouts WHERE state IN (?, ?, ?) AND next_at <= ? ORDER BY next_at, id LIMIT ?`,
		PayoutRequested, PayoutSubmitted, PayoutUnknown, Micros(now), limit); err != nil {
		return nil, fmt.Errorf("due payouts: %w", err)
	}
	out := make([]Payout, len(rows))
	for i, r := range rows {
		out[i] = r.payout()
	}
	return out, nil
}

// MerchantPayouts lists a merchant's payouts, newest first.
func (db *DB) MerchantPayouts(ctx context.Context, merchantID string, limit int) ([]Payout, error) {
	var rows []payoutRow
	if err := db.R.SelectContext(ctx, &rows, `SELECT `+payoutCols+` FROM payouts WHERE merchant_id = ? ORDER BY created_at DESC, id LIMIT ?`, merchantID, limit); err != nil {
		return nil, fmt.Errorf("payouts: %w", err)
	}
	out := make([]Payout, len(rows))
	for i, r := range rows {
		out[i] = r.payout()
	}
	return out, nil
}

// UpdatePayout records a step of the state machine. A final payout
// (succeeded, failed) never changes again.
func (db *DB) UpdatePayout(ctx context.Context, p Payout, now time.Time) error {
	_, err := db.W.ExecContext(ctx, `UPDATE payouts SET state = ?, position = ?, channel = ?, channel_ref = ?, attempts = ?, next_at = ?, failure = ?, ledger_tx_id = ?, updated_at = ?
		WHERE id = ? AND state NOT IN (?, ?)`, p.State, p.Position, p.Channel, p.ChannelRef, p.Attempts, Micros(p.NextAt), p.Failure, p.LedgerTxID,
		Micros(now), p.ID, PayoutSucceeded, PayoutFailed)
	if err != nil {
		return fmt.Errorf("update payout %s: %w", p.ID, err)
	}
	return nil
}
