package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/jmoiron/sqlx"
)

// Polled POS connections (gateway/inbox Poll, issue 12). A poll stores the
// records it read and the cursor after them in one durable transaction
// (StorePOSPoll): a crash before the commit polls the same page again
// (its records deduplicated by their ids), a crash after it resumes past
// them; so no record is skipped or stored twice.

// ErrPollClaimLost is returned when a poll's claim lapsed and another
// instance claimed the connection meanwhile: nothing was stored.
var ErrPollClaimLost = errors.New("store: pos poll claim lost")

// POSPollState is a polled connection's position and health.
type POSPollState struct {
	ConnectionID string `db:"connection_id"`
	IntervalMs   int64  `db:"interval_ms"`
	Cursor       string `db:"poll_cursor"`
	NextAt       int64  `db:"next_at"`
	ClaimedUntil int64  `db:"claimed_until"`
	Failures     int    `db:"failures"`
	LastError    string `db:"last_error"`
	LastPolledAt int64  `db:"last_polled_at"`
	LastOKAt     int64  `db:"last_ok_at"`
	Records      int64  `db:"records"`
}

// Interval is how often the connection is polled.
func (p POSPollState) Interval() time.Duration { return time.Duration(p.IntervalMs) * time.Millisecond }

const pollCols = `connection_id, interval_ms, poll_cursor, next_at, claimed_until, failures, last_error, last_polled_at, last_ok_at, records`

func insertPollState(ctx context.Context, tx *sqlx.Tx, connID string, interval time.Duration, at time.Time) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO pos_poll_state (`+pollCols+`) VALUES (?, ?, '', ?, 0, 0, '', 0, 0, 0)`,
		connID, interval.Milliseconds(), Micros(at))
	if err != nil {
		return fmt.Errorf("insert pos poll state: %w", err)
	}
	return nil
}

// POSPollState reads connection id's poll state (ErrPOSConnectionNotFound
// when it is not polled).
func (db *DB) POSPollState(ctx context.Context, id string) (POSPollState, error) {
	var p POSPollState
	err := db.R.GetContext(ctx, &p, `SELECT `+pollCols+` FROM pos_poll_state WHERE connection_id = ?`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return p, ErrPOSConnectionNotFound
	}
	if err != nil {
		return p, fmt.Errorf("read pos poll state: %w", err)
	}
	return p, nil
}

// ClaimPOSPolls claims up to limit polled connections that are active and
// due at now, for lease; Token of each claim fences its StorePOSPoll or
// FailPOSPoll.
func (db *DB) ClaimPOSPolls(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]POSPollState, error) {
	n := Micros(now)
	var ids []string
	if err := db.R.SelectContext(ctx, &ids, `SELECT p.connection_id FROM pos_poll_state p JOIN pos_connections c ON c.id = p.connection_id
WHERE c.status = ? AND p.next_at <= ? AND p.claimed_until <= ? ORDER BY p.next_at LIMIT ?`, POSConnectionActive, n, n, limit); err != nil {
		return nil, fmt.Errorf("pos polls due: %w", err)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	token := Micros(now.Add(lease)) + rand.Int64N(1_000_000)
	q, args, err := sqlx.In(`UPDATE pos_poll_state SET claimed_until = ? WHERE connection_id IN (?) AND claimed_until <= ?`, token, ids, n)
	if err != nil {
		return nil, err
	}
	if _, err := db.W.ExecContext(ctx, q, args...); err != nil {
		return nil, fmt.Errorf("pos poll claim: %w", err)
	}
	var out []POSPollState
	q, args, err = sqlx.In(`SELECT `+pollCols+` FROM pos_poll_state WHERE connection_id IN (?) AND claimed_until = ? ORDER BY connection_id`, ids, token)
	if err != nil {
		return nil, err
	}
	if err := db.W.SelectContext(ctx, &out, q, args...); err != nil {
		return nil, fmt.Errorf("pos poll claimed: %w", err)
	}
	return out, nil
}

// StorePOSPoll stores a poll's records in the inbox and the cursor after
// them in one durable transaction (durableTx), while the claim (p.ClaimedUntil) still holds; the connection is
// due again at next. With keep set the claim is renewed until keep (to
// read the next page at once) and its new token returned in p. It returns
// how many records were new.
func (db *DB) StorePOSPoll(ctx context.Context, p *POSPollState, evs []InboxEvent, cursor string, next, now, keep time.Time) (int, error) {
	stored := 0
	token := int64(0)
	if !keep.IsZero() {
		token = Micros(keep) + rand.Int64N(1_000_000)
	}
	t := &txStmts{db: db, ctx: ctx}
	defer t.done()
	err := db.durableTx(ctx, func(tx *sqlx.Tx) error {
		t.tx = tx
		stored = 0
		res, err := tx.ExecContext(ctx, `UPDATE pos_poll_state SET poll_cursor = ?, next_at = ?, claimed_until = ?, failures = 0, last_error = '',
 last_polled_at = ?, last_ok_at = ?, records = records + ? WHERE connection_id = ? AND claimed_until = ?`,
			cursor, Micros(next), token, Micros(now), Micros(now), len(evs), p.ConnectionID, p.ClaimedUntil)
		if err != nil {
			return fmt.Errorf("store pos poll: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return ErrPollClaimLost
		}
		for _, e := range evs {
			_, dup, err := db.insertInbox(t, e)
			if err != nil {
				return err
			}
			if !dup {
				stored++
			}
		}
		return nil
	})
	if err == nil {
		p.Cursor, p.ClaimedUntil, p.Failures, p.LastError = cursor, token, 0, ""
	}
	return stored, err
}

// FailPOSPoll records a failed poll (the provider's error, an unavailable
// plugin): the cursor stays, the connection is due again at next.
func (db *DB) FailPOSPoll(ctx context.Context, p POSPollState, reason string, next, now time.Time) error {
	_, err := db.W.ExecContext(ctx, `UPDATE pos_poll_state SET next_at = ?, claimed_until = 0, failures = failures + 1, last_error = ?, last_polled_at = ?
 WHERE connection_id = ? AND claimed_until = ?`, Micros(next), clip(reason, 1000), Micros(now), p.ConnectionID, p.ClaimedUntil)
	if err != nil {
		return fmt.Errorf("fail pos poll: %w", err)
	}
	return nil
}
