package store

import (
	"context"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
)

// POS connection administration (disable, enable, rotate) and the log of
// refused webhooks (issue 12).

// ErrPOSConnectionUnchanged is returned when a status change finds the
// connection already in that status.
var ErrPOSConnectionUnchanged = errors.New("store: pos connection already in that status")

// SetPOSConnectionStatus disables or enables connection id (of merchantID
// when set) and audits the change in the same transaction. A disabled
// connection's webhooks are refused; events already in the inbox are still
// processed, since their POS was told they were taken.
func (db *DB) SetPOSConnectionStatus(ctx context.Context, id, merchantID, status, reason, actor string, at time.Time) error {
	if status != POSConnectionActive && status != POSConnectionDisabled {
		return fmt.Errorf("store: pos connection status %q", status)
	}
	if status == POSConnectionActive {
		reason = ""
	}
	return db.inTx(ctx, func(tx *sqlx.Tx) error {
		cur, err := db.posConnectionStatusTx(ctx, tx, id, merchantID)
		if err != nil {
			return err
		}
		if cur == status {
			return ErrPOSConnectionUnchanged
		}
		if _, err := tx.ExecContext(ctx, `UPDATE pos_connections SET status = ?, status_reason = ?, updated_at = ? WHERE id = ?`,
			status, clip(reason, 300), Micros(at), id); err != nil {
			return fmt.Errorf("pos connection status: %w", err)
		}
		kind := "pos_connection.enabled"
		if status == POSConnectionDisabled {
			kind = "pos_connection.disabled"
		}
		return insertAudit(ctx, tx, kind, actor, id, map[string]any{"id": id, "reason": reason}, at)
	})
}

// posConnectionStatusTx reads the status of id, locking its row on MySQL.
func (db *DB) posConnectionStatusTx(ctx context.Context, tx *sqlx.Tx, id, merchantID string) (string, error) {
	q, args := `SELECT status FROM pos_connections WHERE id = ?`, []any{id}
	if merchantID != "" {
		q += ` AND merchant_id = ?`
		args = append(args, merchantID)
	}
	if db.Dialect == MySQL {
		q += ` FOR UPDATE`
	}
	var status string
	if err := tx.GetContext(ctx, &status, q, args...); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return "", ErrPOSConnectionNotFound
		}
		return "", fmt.Errorf("read pos connection: %w", err)
	}
	return status, nil
}

// RotatePOSConnection replaces connection id's configuration (its
// secrets) with config, sealed. The replaced configuration keeps verifying
// webhooks until at+grace (a zero grace drops it at once), so the POS and
// the gateway need not change the secret at the same instant. The audit
// event says who rotated and the grace, never a secret.
func (db *DB) RotatePOSConnection(ctx context.Context, id, merchantID string, config []byte, grace time.Duration, actor string, at time.Time) error {
	k := db.PII()
	if k == nil {
		return fmt.Errorf("rotate pos connection: %w", ErrNoKeyring)
	}
	return db.inTx(ctx, func(tx *sqlx.Tx) error {
		if _, err := db.posConnectionStatusTx(ctx, tx, id, merchantID); err != nil {
			return err
		}
		var cur string
		if err := tx.GetContext(ctx, &cur, `SELECT config_sealed FROM pos_connections WHERE id = ?`, id); err != nil {
			return fmt.Errorf("read pos connection: %w", err)
		}
		ct, err := base64.StdEncoding.DecodeString(cur)
		if err != nil {
			return fmt.Errorf("pos connection %s: sealed configuration is not base64", id)
		}
		old, err := k.Decrypt(ct, posConnectionAD(id))
		if err != nil {
			return fmt.Errorf("pos connection %s: %w", id, err)
		}
		prev, until := "", int64(0)
		if grace > 0 {
			prev = base64.StdEncoding.EncodeToString(k.Encrypt(old, posConnectionPreviousAD(id)))
			until = Micros(at.Add(grace))
		}
		next := base64.StdEncoding.EncodeToString(k.Encrypt(config, posConnectionAD(id)))
		if _, err := tx.ExecContext(ctx, `UPDATE pos_connections SET config_sealed = ?, previous_config_sealed = ?, previous_until = ?, updated_at = ? WHERE id = ?`,
			next, prev, until, Micros(at), id); err != nil {
			return fmt.Errorf("rotate pos connection: %w", err)
		}
		return insertAudit(ctx, tx, "pos_connection.rotated", actor, id, map[string]any{"id": id, "grace_seconds": int64(grace / time.Second)}, at)
	})
}

// POSRejection is one refused webhook (or Repeats identical ones): never
// its body, which nothing verified.
type POSRejection struct {
	ID           int64     `db:"id"`
	ConnectionID string    `db:"connection_id"` // as requested, clipped
	MerchantID   string    `db:"merchant_id"`   // empty when the connection is unknown
	Code         string    `db:"code"`
	Reason       string    `db:"reason"`
	ReceivedAt   int64     `db:"received_at"`
	LastAt       int64     `db:"last_at"`
	Repeats      int64     `db:"repeats"`
	RemoteAddr   string    `db:"remote_addr"`
	UserAgent    string    `db:"user_agent"`
	BodySHA256   string    `db:"body_sha256"`
	BodyBytes    int64     `db:"body_bytes"`
	First, Last  time.Time `db:"-"`
}

const posRejectionCols = `id, connection_id, merchant_id, code, reason, received_at, last_at, repeats, remote_addr, user_agent, body_sha256, body_bytes`

// InsertPOSRejections stores refused webhooks in one transaction. They are
// diagnostics, not acknowledged data: written at the writer's usual
// durability, not synchronously per request.
func (db *DB) InsertPOSRejections(ctx context.Context, rs []POSRejection) error {
	if len(rs) == 0 {
		return nil
	}
	return db.runTx(ctx, db.W.BeginTxx, func(tx *sqlx.Tx) error {
		for _, r := range rs {
			if r.Repeats < 1 {
				r.Repeats = 1
			}
			if r.Last.IsZero() {
				r.Last = r.First
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO pos_rejections (connection_id, merchant_id, code, reason, received_at, last_at, repeats, remote_addr, user_agent, body_sha256, body_bytes)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, clip(r.ConnectionID, 64), r.MerchantID, clip(r.Code, 64), clip(r.Reason, 1000), Micros(r.First), Micros(r.Last),
				r.Repeats, clip(r.RemoteAddr, 64), clip(r.UserAgent, 200), r.BodySHA256, r.BodyBytes); err != nil {
				return fmt.Errorf("insert pos rejection: %w", err)
			}
		}
		return nil
	})
}

// RejectionFilter selects refused webhooks: of a merchant's connections, of
// one connection id (known or not), or all; newest first from the cursor
// Before (an id; 0 for the newest).
type RejectionFilter struct {
	MerchantID, ConnectionID string
	Before                   int64
	Limit                    int
}

// POSRejections lists refused webhooks, newest first.
func (db *DB) POSRejections(ctx context.Context, f RejectionFilter) ([]POSRejection, error) {
	var where []string
	var args []any
	if f.MerchantID != "" {
		where, args = append(where, "merchant_id = ?"), append(args, f.MerchantID)
	}
	if f.ConnectionID != "" {
		where, args = append(where, "connection_id = ?"), append(args, f.ConnectionID)
	}
	if f.Before > 0 {
		where, args = append(where, "id < ?"), append(args, f.Before)
	}
	if f.Limit <= 0 || f.Limit > 500 {
		f.Limit = 100
	}
	q := `SELECT ` + posRejectionCols + ` FROM pos_rejections`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	var out []POSRejection
	if err := db.R.SelectContext(ctx, &out, q+` ORDER BY id DESC LIMIT ?`, append(args, f.Limit)...); err != nil {
		return nil, fmt.Errorf("list pos rejections: %w", err)
	}
	for i := range out {
		out[i].First, out[i].Last = FromMicros(out[i].ReceivedAt), FromMicros(out[i].LastAt)
	}
	return out, nil
}

// PrunePOSRejections deletes refused webhooks received before cutoff, and
// beyond the newest perConnection rows of any connection id (an attacker
// trying many ids fills only its own rows, which age out). It returns how
// many rows it deleted.
func (db *DB) PrunePOSRejections(ctx context.Context, cutoff time.Time, perConnection int) (int64, error) {
	res, err := db.W.ExecContext(ctx, `DELETE FROM pos_rejections WHERE received_at < ?`, Micros(cutoff))
	if err != nil {
		return 0, fmt.Errorf("prune pos rejections: %w", err)
	}
	n, _ := res.RowsAffected()
	if perConnection <= 0 {
		return n, nil
	}
	var over []struct {
		ConnectionID string `db:"connection_id"`
		N            int    `db:"n"`
	}
	if err := db.R.SelectContext(ctx, &over, `SELECT connection_id, COUNT(*) AS n FROM pos_rejections GROUP BY connection_id HAVING COUNT(*) > ?`, perConnection); err != nil {
		return n, fmt.Errorf("prune pos rejections: %w", err)
	}
	for _, o := range over {
		var keep int64
		if err := db.R.GetContext(ctx, &keep, `SELECT id FROM pos_rejections WHERE connection_id = ? ORDER BY id DESC LIMIT 1 OFFSET ?`, o.ConnectionID, perConnection-1); err != nil {
			return n, fmt.Errorf("prune pos rejections: %w", err)
		}
		res, err := db.W.ExecContext(ctx, `DELETE FROM pos_rejections WHERE connection_id = ? AND id < ?`, o.ConnectionID, keep)
		if err != nil {
			return n, fmt.Errorf("prune pos rejections: %w", err)
		}
		d, _ := res.RowsAffected()
		n += d
	}
	return n, nil
}

// POSConnectionMerchant returns the merchant of connection id without
// opening its configuration.
func (db *DB) POSConnectionMerchant(ctx context.Context, id string) (string, error) {
	var m string
	err := db.R.GetContext(ctx, &m, `SELECT merchant_id FROM pos_connections WHERE id = ?`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", ErrPOSConnectionNotFound
	}
	if err != nil {
		return "", fmt.Errorf("read pos connection: %w", err)
	}
	return m, nil
}
