package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/lianmeng/lianmeng/gateway/points"
	"github.com/lianmeng/lianmeng/gateway/rules"
)

// AuditEvent is one administrative action, sealed into the evidence log like
// ledger transactions.
type AuditEvent struct {
	ID        int64  `db:"id"`
	Kind      string `db:"kind"`
	Actor     string `db:"actor"`
	Subject   string `db:"subject"`
	Payload   string `db:"payload"`
	CreatedAt int64  `db:"created_at"`
}

// insertAudit records an administrative action inside tx, so the action and
// its record commit together. payload is marshalled as JSON (Go's encoder is
// deterministic for structs and sorts map keys). Unless kind is one of
// auditOnly, it also increments the admin epoch.
func insertAudit(ctx context.Context, tx *sqlx.Tx, kind, actor, subject string, payload any, at time.Time) error {
	b, err := json.Marshal(payload)
	if err != nil {
		return fmt.Errorf("audit payload: %w", err)
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO audit_events (kind, actor, subject, payload, created_at) VALUES (?, ?, ?, ?, ?)`,
		kind, actor, subject, string(b), Micros(at))
	if err != nil {
		return fmt.Errorf("insert audit event: %w", err)
	}
	if auditOnly[kind] {
		return nil
	}
	// Committed with the change, so a poller never sees the change without
	// the new epoch (see AdminEpoch).
	return bumpAdminEpoch(ctx, tx)
}

// auditOnly lists the administrative actions that change nothing the
// caches under the admin epoch hold, so they leave the epoch alone: every
// epoch bump clears those caches whole, on every instance (the API's
// api.lookups, the inbox's POS connections, the batch's merchantCache and
// endpointCache), and the next requests and batches read it all again.
// Those caches hold merchants, stores, credentials, rule versions, webhook
// endpoints and POS connections; every change to them, creation included,
// bumps the epoch. A kind not listed here bumps it too, so a new kind of
// change is safe by default.
var auditOnly = map[string]bool{
	"operator_token.created":       true, // operator tokens are read per request, uncached
	"operator_token.revoked":       true,
	"staff.created":                true, // console staff and sessions: uncached
	"inbox_event.replayed":         true, // an event's retry, not a connection
	"webhook_delivery.replayed":    true, // a delivery's retry, not an endpoint
	"funding_refund.requested":     true, // moves budget through the ledger (never cached)
	"merchant.exit_announced":      true, // the exit's own record; suspending is merchant.status_set
	"merchant.exited":              true,
	"alliance.wind_down_announced": true, // the issuance gate re-reads it on its own timer
	"alliance.wound_down":          true,
	rules.AuditTemplateSet:         true, // templates are read when adopted, uncached
	points.AuditReferralTerms:      true, // the referral schedule is fixed at start
}

// bumpAdminEpoch increments the admin epoch inside tx, so caches of what tx
// changes (merchantCache, the API's) reload once it commits.
func bumpAdminEpoch(ctx context.Context, tx *sqlx.Tx) error {
	if _, err := tx.ExecContext(ctx, `UPDATE admin_epoch SET epoch = epoch + 1 WHERE id = 1`); err != nil {
		return fmt.Errorf("bump admin epoch: %w", err)
	}
	return nil
}

// AuditEvents lists audit events with id > after in id order.
func (db *DB) AuditEvents(ctx context.Context, after int64, limit int) ([]AuditEvent, error) {
	var out []AuditEvent
	err := db.R.SelectContext(ctx, &out, `SELECT id, kind, actor, subject, payload, created_at FROM audit_events WHERE id > ? ORDER BY id LIMIT ?`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("list audit events: %w", err)
	}
	return out, nil
}

// inTx runs fn in a write transaction, committing on success.
//
// On SQLite the transaction commits with synchronous=FULL, so that it is
// durable before any reader can see it (an evidence checkpoint, say, must
// never be served and then lost). The writer connection otherwise runs
// with NORMAL for the batching writer's group commit (syncwal.go); holding
// the pool's single connection keeps the batching writer out meanwhile.
func (db *DB) inTx(ctx context.Context, fn func(tx *sqlx.Tx) error) error {
	if db.walPath == "" {
		return db.runTx(ctx, db.W.BeginTxx, fn)
	}
	if err := db.storageReady(ctx); err != nil {
		return err
	}
	return db.noteStorageFull(db.inSyncedTx(ctx, fn))
}

// inSyncedTx runs fn in a transaction on SQLite's writer connection that
// commits with synchronous=FULL.
func (db *DB) inSyncedTx(ctx context.Context, fn func(tx *sqlx.Tx) error) error {
	conn, err := db.W.Connx(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `PRAGMA synchronous=FULL`); err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	err = db.runTx(ctx, conn.BeginTxx, fn)
	if _, rerr := conn.ExecContext(context.WithoutCancel(ctx), `PRAGMA synchronous=NORMAL`); rerr != nil {
		// Left at FULL the writer stays correct, only slower.
		err = errors.Join(err, fmt.Errorf("restore synchronous=NORMAL: %w", rerr))
	}
	return err
}

func (db *DB) runTx(ctx context.Context, begin func(context.Context, *sql.TxOptions) (*sqlx.Tx, error), fn func(tx *sqlx.Tx) error) error {
	tx, err := begin(ctx, db.txOptions())
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// AdminEpoch returns a counter that every administrative change increments
// in its own transaction: caches compare it to notice changes made by other
// gateway instances.
func (db *DB) AdminEpoch(ctx context.Context) (int64, error) {
	var n int64
	if err := db.R.GetContext(ctx, &n, `SELECT epoch FROM admin_epoch WHERE id = 1`); err != nil {
		return 0, fmt.Errorf("admin epoch: %w", err)
	}
	return n, nil
}

// RecentAuditEvents lists audit events newest first, with ids below before
// (0: from the newest).
func (db *DB) RecentAuditEvents(ctx context.Context, before int64, limit int) ([]AuditEvent, error) {
	if before <= 0 {
		before = 1<<63 - 1
	}
	var out []AuditEvent
	err := db.R.SelectContext(ctx, &out, `SELECT id, kind, actor, subject, payload, created_at FROM audit_events WHERE id < ? ORDER BY id DESC LIMIT ?`, before, limit)
	if err != nil {
		return nil, fmt.Errorf("list recent audit events: %w", err)
	}
	return out, nil
}
