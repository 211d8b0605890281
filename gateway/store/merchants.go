package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/lianmeng/lianmeng/gateway/merchant"
)

// Merchants implements merchant.Repository.
type Merchants struct{ db *DB }

// Merchants returns the merchant repository.
func (db *DB) Merchants() *Merchants { return &Merchants{db} }

var _ merchant.Repository = (*Merchants)(nil)

type merchantRow struct {
	ID        string `db:"id"`
	Name      string `db:"name"`
	Industry  string `db:"industry"`
	Status    string `db:"status"`
	CreatedAt int64  `db:"created_at"`
}

func (r merchantRow) domain() merchant.Merchant {
	return merchant.Merchant{ID: r.ID, Name: r.Name, Industry: r.Industry, Status: r.Status, CreatedAt: FromMicros(r.CreatedAt)}
}

func (s *Merchants) CreateMerchant(ctx context.Context, m merchant.Merchant, actor string) error {
	return s.db.inTx(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO merchants (id, name, industry, status, created_at) VALUES (?, ?, ?, ?, ?)`,
			m.ID, m.Name, m.Industry, m.Status, Micros(m.CreatedAt)); err != nil {
			return fmt.Errorf("insert merchant: %w", err)
		}
		return insertAudit(ctx, tx, "merchant.created", actor, m.ID, m, m.CreatedAt)
	})
}

func (s *Merchants) GetMerchant(ctx context.Context, id string) (merchant.Merchant, error) {
	var r merchantRow
	err := s.db.R.GetContext(ctx, &r, `SELECT id, name, industry, status, created_at FROM merchants WHERE id = ?`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return merchant.Merchant{}, merchant.ErrNotFound
	}
	if err != nil {
		return merchant.Merchant{}, fmt.Errorf("get merchant: %w", err)
	}
	return r.domain(), nil
}

func (s *Merchants) ListMerchants(ctx context.Context, after string, limit int) ([]merchant.Merchant, error) {
	var rows []merchantRow
	if err := s.db.R.SelectContext(ctx, &rows, `SELECT id, name, industry, status, created_at FROM merchants WHERE id > ? ORDER BY id LIMIT ?`, after, limit); err != nil {
		return nil, fmt.Errorf("list merchants: %w", err)
	}
	out := make([]merchant.Merchant, len(rows))
	for i, r := range rows {
		out[i] = r.domain()
	}
	return out, nil
}

type storeRow struct {
	ID         string `db:"id"`
	MerchantID string `db:"merchant_id"`
	Name       string `db:"name"`
	CreatedAt  int64  `db:"created_at"`
}

func (r storeRow) domain() merchant.Store {
	return merchant.Store{ID: r.ID, MerchantID: r.MerchantID, Name: r.Name, CreatedAt: FromMicros(r.CreatedAt)}
}

func (s *Merchants) CreateStore(ctx context.Context, st merchant.Store, actor string) error {
	return s.db.inTx(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO stores (id, merchant_id, name, created_at) VALUES (?, ?, ?, ?)`,
			st.ID, st.MerchantID, st.Name, Micros(st.CreatedAt)); err != nil {
			return fmt.Errorf("insert store: %w", err)
		}
		return insertAudit(ctx, tx, "store.created", actor, st.MerchantID, st, st.CreatedAt)
	})
}

func (s *Merchants) ListStores(ctx context.Context, merchantID string) ([]merchant.Store, error) {
	var rows []storeRow
	if err := s.db.R.SelectContext(ctx, &rows, `SELECT id, merchant_id, name, created_at FROM stores WHERE merchant_id = ? ORDER BY id`, merchantID); err != nil {
		return nil, fmt.Errorf("list stores: %w", err)
	}
	out := make([]merchant.Store, len(rows))
	for i, r := range rows {
		out[i] = r.domain()
	}
	return out, nil
}

func (s *Merchants) GetStore(ctx context.Context, id string) (merchant.Store, error) {
	var r storeRow
	err := s.db.R.GetContext(ctx, &r, `SELECT id, merchant_id, name, created_at FROM stores WHERE id = ?`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return merchant.Store{}, merchant.ErrNotFound
	}
	if err != nil {
		return merchant.Store{}, fmt.Errorf("get store: %w", err)
	}
	return r.domain(), nil
}

type credentialRow struct {
	ID          string        `db:"id"`
	MerchantID  string        `db:"merchant_id"`
	Algorithm   string        `db:"algorithm"`
	KeyMaterial string        `db:"key_material"`
	Label       string        `db:"label"`
	Status      string        `db:"status"`
	CreatedAt   int64         `db:"created_at"`
	RevokedAt   sql.NullInt64 `db:"revoked_at"`
	Scopes      string        `db:"scopes"` // space separated
	// KeySealed is the sealed secret of an hmac-sha256 credential
	// (credentials_sealed.go); key_material is then empty.
	KeySealed sql.NullString `db:"key_sealed"`
	// LastUsed is when the key last signed an accepted request (TouchCredentials).
	LastUsed sql.NullInt64 `db:"last_used_at"`
}

func (r credentialRow) domain() merchant.Credential {
	c := merchant.Credential{ID: r.ID, MerchantID: r.MerchantID, Algorithm: r.Algorithm, KeyMaterial: r.KeyMaterial,
		Label: r.Label, Status: r.Status, CreatedAt: FromMicros(r.CreatedAt)}
	if r.RevokedAt.Valid {
		t := FromMicros(r.RevokedAt.Int64)
		c.RevokedAt = &t
	}
	if r.LastUsed.Valid {
		t := FromMicros(r.LastUsed.Int64)
		c.LastUsedAt = &t
	}
	c.Scopes = strings.Fields(r.Scopes)
	return c
}

const credentialCols = `id, merchant_id, algorithm, key_material, label, status, created_at, revoked_at, scopes, key_sealed`

// credentialRead is what a lookup reads: the stored columns and the last use.
const credentialRead = credentialCols + `, last_used_at`

// credential returns the credential of row r, its secret opened.
func (s *Merchants) credential(r credentialRow) (merchant.Credential, error) {
	c := r.domain()
	km, err := s.db.openCredentialKey(r)
	if err != nil {
		return merchant.Credential{}, err
	}
	c.KeyMaterial = km
	return c, nil
}

func (s *Merchants) CreateCredential(ctx context.Context, c merchant.Credential, actor string) error {
	return s.db.inTx(ctx, func(tx *sqlx.Tx) error {
		// An hmac-sha256 secret is stored sealed (credentials_sealed.go).
		material, sealed := s.db.credentialKey(c)
		if _, err := tx.ExecContext(ctx, `INSERT INTO api_keys (`+credentialCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, NULL, ?, ?)`,
			c.ID, c.MerchantID, c.Algorithm, material, c.Label, c.Status, Micros(c.CreatedAt), strings.Join(c.Scopes, " "), sealed); err != nil {
			return fmt.Errorf("insert credential: %w", err)
		}
		// The audit record names the key, never its material.
		return insertAudit(ctx, tx, "credential.issued", actor, c.MerchantID,
			map[string]string{"key_id": c.ID, "algorithm": c.Algorithm, "label": c.Label, "scopes": strings.Join(c.Scopes, " ")}, c.CreatedAt)
	})
}

func (s *Merchants) GetCredential(ctx context.Context, id string) (merchant.Credential, error) {
	var r credentialRow
	err := s.db.R.GetContext(ctx, &r, `SELECT `+credentialRead+` FROM api_keys WHERE id = ?`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return merchant.Credential{}, merchant.ErrNotFound
	}
	if err != nil {
		return merchant.Credential{}, fmt.Errorf("get credential: %w", err)
	}
	return s.credential(r)
}

func (s *Merchants) ListCredentials(ctx context.Context, merchantID string) ([]merchant.Credential, error) {
	var rows []credentialRow
	if err := s.db.R.SelectContext(ctx, &rows, `SELECT `+credentialRead+` FROM api_keys WHERE merchant_id = ? ORDER BY created_at, id`, merchantID); err != nil {
		return nil, fmt.Errorf("list credentials: %w", err)
	}
	out := make([]merchant.Credential, len(rows))
	for i, r := range rows {
		c, err := s.credential(r)
		if err != nil {
			return nil, fmt.Errorf("list credentials: %w", err)
		}
		out[i] = c
	}
	return out, nil
}

func (s *Merchants) RevokeCredential(ctx context.Context, merchantID, id string, at time.Time, actor string) error {
	return s.db.inTx(ctx, func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE api_keys SET status = ?, revoked_at = ? WHERE id = ? AND merchant_id = ? AND status = ?`,
			merchant.KeyRevoked, Micros(at), id, merchantID, merchant.KeyActive)
		if err != nil {
			return fmt.Errorf("revoke credential: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			var status string
			err := tx.GetContext(ctx, &status, `SELECT status FROM api_keys WHERE id = ? AND merchant_id = ?`, id, merchantID)
			if errors.Is(err, sql.ErrNoRows) {
				return merchant.ErrNotFound
			}
			if err != nil {
				return fmt.Errorf("revoke credential: %w", err)
			}
			return merchant.ErrAlreadyRevoked
		}
		return insertAudit(ctx, tx, "credential.revoked", actor, merchantID, map[string]string{"key_id": id}, at)
	})
}

// TouchCredentials records when credentials last signed an accepted
// request (key id -> time of its latest use), all in one transaction. A
// time only moves forward, and a stored use less than a minute older is
// kept, so another instance that recorded the same minute costs no write.
// The API calls it from a background flusher (api.keyUses), never inside
// a request.
func (s *Merchants) TouchCredentials(ctx context.Context, uses map[string]time.Time) error {
	if len(uses) == 0 {
		return nil
	}
	ids := make([]string, 0, len(uses))
	for id := range uses {
		ids = append(ids, id)
	}
	sort.Strings(ids) // one lock order for every instance (MySQL)
	return s.db.inTx(ctx, func(tx *sqlx.Tx) error {
		stmt, err := tx.PreparexContext(ctx, `UPDATE api_keys SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)`)
		if err != nil {
			return fmt.Errorf("touch credentials: %w", err)
		}
		defer stmt.Close()
		for _, id := range ids {
			us := Micros(uses[id])
			if _, err := stmt.ExecContext(ctx, us, id, us-int64(time.Minute/time.Microsecond)); err != nil {
				return fmt.Errorf("touch credential %s: %w", id, err)
			}
		}
		return nil
	})
}

// UseNonce records a (key, nonce) pair; it returns ErrReplay if it was seen
// before, whatever its expiry. The primary key of request_nonce_hashes
// (nonceHash) makes this single-use across every gateway instance sharing
// the database; a nonce used before migration 00085 is found in
// request_nonces, which nothing writes any more.
func (db *DB) UseNonce(ctx context.Context, keyID, nonce string, expires time.Time) error {
	// request_nonces is only read now, so a reader serves it: on SQLite
	// this keeps the probe off the batching writer's only connection.
	var legacy int
	if err := db.R.GetContext(ctx, &legacy, `SELECT COUNT(*) FROM request_nonces WHERE key_id = ? AND nonce = ?`, keyID, nonce); err != nil {
		return fmt.Errorf("record nonce: %w", err)
	}
	if legacy > 0 {
		return ErrReplay
	}
	h := nonceHash(keyID, nonce)
	_, err := db.W.ExecContext(ctx, `INSERT INTO request_nonce_hashes (hash, expires_at) VALUES (?, ?)`, h[:], Micros(expires))
	if IsDuplicate(err) {
		return ErrReplay
	}
	if err != nil {
		return fmt.Errorf("record nonce: %w", err)
	}
	return db.syncWAL()
}

// PurgeNonces deletes nonces whose timestamp window has passed, of both
// tables (each a range on its expiry): a request with such a nonce is
// refused as stale anyway.
func (db *DB) PurgeNonces(ctx context.Context, now time.Time) (int64, error) {
	var total int64
	for _, table := range []string{"request_nonces", "request_nonce_hashes"} {
		res, err := db.W.ExecContext(ctx, `DELETE FROM `+table+` WHERE expires_at < ?`, Micros(now))
		if err != nil {
			return total, fmt.Errorf("purge nonces: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, fmt.Errorf("purge nonces: %w", err)
		}
		total += n
	}
	return total, nil
}

// ErrReplay means a nonce was already used: the same error whether the
// nonce was recorded directly or by the batching writer.
var ErrReplay = ErrNonceReplayed

// SetMerchantStatus suspends or reactivates a merchant and audits it.
func (s *Merchants) SetMerchantStatus(ctx context.Context, id, status string, at time.Time, actor string) error {
	return s.db.inTx(ctx, func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE merchants SET status = ? WHERE id = ?`, status, id)
		if err != nil {
			return fmt.Errorf("set merchant status: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("set merchant status: %w", err)
		}
		if n == 0 { // unknown, or (MySQL) already in that status
			var one int
			err := tx.GetContext(ctx, &one, `SELECT 1 FROM merchants WHERE id = ?`, id)
			if errors.Is(err, sql.ErrNoRows) {
				return merchant.ErrNotFound
			}
			if err != nil {
				return fmt.Errorf("set merchant status: %w", err)
			}
		}
		return insertAudit(ctx, tx, "merchant.status_set", actor, id, map[string]string{"status": status}, at)
	})
}
