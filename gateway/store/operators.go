package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
)

// OperatorToken is a named operator credential. Its secret is never stored:
// SecretHash is the hex SHA-256 of the whole token, which starts with ID.
type OperatorToken struct {
	ID         string
	Label      string
	Scopes     []string // canonical order, chosen by the API
	SecretHash string
	CreatedBy  string // the actor that created it ("operator:bootstrap", "operator:<id>")
	CreatedAt  time.Time
	ExpiresAt  time.Time
	RevokedAt  time.Time // zero while not revoked
	RevokedBy  string
}

// Operator token errors.
var (
	ErrOperatorTokenNotFound = errors.New("store: no such operator token")
	ErrOperatorTokenRevoked  = errors.New("store: operator token already revoked")
)

type operatorTokenRow struct {
	ID         string `db:"id"`
	Label      string `db:"label"`
	Scopes     string `db:"scopes"`
	SecretHash string `db:"secret_hash"`
	CreatedBy  string `db:"created_by"`
	CreatedAt  int64  `db:"created_at"`
	ExpiresAt  int64  `db:"expires_at"`
	RevokedAt  int64  `db:"revoked_at"`
	RevokedBy  string `db:"revoked_by"`
}

const operatorTokenCols = `id, label, scopes, secret_hash, created_by, created_at, expires_at, revoked_at, revoked_by`

func (r operatorTokenRow) token() OperatorToken {
	t := OperatorToken{ID: r.ID, Label: r.Label, Scopes: strings.Fields(r.Scopes), SecretHash: r.SecretHash,
		CreatedBy: r.CreatedBy, CreatedAt: FromMicros(r.CreatedAt), ExpiresAt: FromMicros(r.ExpiresAt), RevokedBy: r.RevokedBy}
	if r.RevokedAt != 0 {
		t.RevokedAt = FromMicros(r.RevokedAt)
	}
	return t
}

// operatorTokenAudit is what the audit log (and so the evidence log)
// records of a token: never its hash.
type operatorTokenAudit struct {
	ID        string    `json:"id"`
	Label     string    `json:"label"`
	Scopes    []string  `json:"scopes"`
	ExpiresAt time.Time `json:"expires_at"`
}

// CreateOperatorToken stores t and audits its creation by t.CreatedBy in
// the same transaction.
func (db *DB) CreateOperatorToken(ctx context.Context, t OperatorToken) error {
	if t.ID == "" || len(t.SecretHash) != 64 || len(t.Scopes) == 0 || !t.ExpiresAt.After(t.CreatedAt) {
		return fmt.Errorf("store: incomplete operator token %q", t.ID)
	}
	return db.inTx(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO operator_tokens (`+operatorTokenCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, 0, '')`,
			t.ID, t.Label, strings.Join(t.Scopes, " "), t.SecretHash, t.CreatedBy, Micros(t.CreatedAt), Micros(t.ExpiresAt)); err != nil {
			return fmt.Errorf("insert operator token: %w", err)
		}
		return insertAudit(ctx, tx, "operator_token.created", t.CreatedBy, t.ID,
			operatorTokenAudit{ID: t.ID, Label: t.Label, Scopes: t.Scopes, ExpiresAt: t.ExpiresAt.UTC().Truncate(time.Microsecond)}, t.CreatedAt)
	})
}

// OperatorToken reads one token by id.
func (db *DB) OperatorToken(ctx context.Context, id string) (OperatorToken, error) {
	var r operatorTokenRow
	err := db.R.GetContext(ctx, &r, `SELECT `+operatorTokenCols+` FROM operator_tokens WHERE id = ?`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return OperatorToken{}, ErrOperatorTokenNotFound
	}
	if err != nil {
		return OperatorToken{}, fmt.Errorf("read operator token: %w", err)
	}
	return r.token(), nil
}

// OperatorTokens lists every token, revoked and expired ones included, in
// creation order.
func (db *DB) OperatorTokens(ctx context.Context) ([]OperatorToken, error) {
	var rows []operatorTokenRow
	if err := db.R.SelectContext(ctx, &rows, `SELECT `+operatorTokenCols+` FROM operator_tokens ORDER BY created_at, id`); err != nil {
		return nil, fmt.Errorf("list operator tokens: %w", err)
	}
	out := make([]OperatorToken, len(rows))
	for i, r := range rows {
		out[i] = r.token()
	}
	return out, nil
}

// RevokeOperatorToken revokes token id at at, audited as actor's action. A
// revoked token stays listed; revoking it again is ErrOperatorTokenRevoked.
func (db *DB) RevokeOperatorToken(ctx context.Context, id string, at time.Time, actor string) error {
	return db.inTx(ctx, func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE operator_tokens SET revoked_at = ?, revoked_by = ? WHERE id = ? AND revoked_at = 0`,
			Micros(at), actor, id)
		if err != nil {
			return fmt.Errorf("revoke operator token: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			var one int
			err := tx.GetContext(ctx, &one, `SELECT 1 FROM operator_tokens WHERE id = ?`, id)
			if errors.Is(err, sql.ErrNoRows) {
				return ErrOperatorTokenNotFound
			}
			if err != nil {
				return fmt.Errorf("revoke operator token: %w", err)
			}
			return ErrOperatorTokenRevoked
		}
		return insertAudit(ctx, tx, "operator_token.revoked", actor, id, map[string]string{"id": id}, at)
	})
}
