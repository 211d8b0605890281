package store

import (
	"context"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/jmoiron/sqlx"

	"github.com/lianmeng/lianmeng/gateway/merchant"
	"github.com/lianmeng/lianmeng/gateway/pii"
	"github.com/lianmeng/lianmeng/sdk/signature"
)

// Credential secrets at rest (docs/evidence.md §11).
//
// The secret of an hmac-sha256 credential signs the merchant's requests:
// whoever reads it can forge them. With a keyring set (SetPII; serve always
// sets one) it is stored sealed with the personal-data keyring,
//
//	key_sealed   = base64(SM4-GCM(secret, ad = "api_key:" + merchant_id + ":" + id))
//	key_material = ''
//
// and opened on lookup (GetCredential, ListCredentials), so the API and its
// credential cache see the secret while the database holds none. The public
// keys of ed25519 and sm2 credentials are not secret and stay in
// key_material. A row whose secret is still in key_material (written before
// migration 00035, or by a store without a keyring) is a plaintext row: it
// still verifies; SealPlaintextCredentials (serve, at start) and
// ReencryptCredentials (lianmeng reencrypt) seal it, and
// CredentialsNeedingReencryption counts it.

// credentialAD is the associated data of a sealed credential secret: it
// binds the ciphertext to its row (the merchant and the key id, neither of
// which ever changes; ids contain no ':'), so a sealed secret copied onto
// another credential does not open.
func credentialAD(merchantID, id string) []byte {
	return []byte("api_key:" + merchantID + ":" + id)
}

// sealsSecret reports whether the key material of algorithm is a secret.
func sealsSecret(algorithm string) bool { return algorithm == signature.HMACSHA256 }

// credentialKey returns the key_material and key_sealed columns that store
// c's key material: sealed for a secret when a keyring is set.
func (db *DB) credentialKey(c merchant.Credential) (material string, sealed sql.NullString) {
	k := db.PII()
	if k == nil || !sealsSecret(c.Algorithm) {
		return c.KeyMaterial, sql.NullString{}
	}
	ct := k.Encrypt([]byte(c.KeyMaterial), credentialAD(c.MerchantID, c.ID))
	return "", sql.NullString{String: base64.StdEncoding.EncodeToString(ct), Valid: true}
}

// openCredentialKey returns the key material of a credential row: the
// opened secret of a sealed row, else key_material. Errors never include
// key material.
func (db *DB) openCredentialKey(r credentialRow) (string, error) {
	if !r.KeySealed.Valid {
		return r.KeyMaterial, nil
	}
	k := db.PII()
	if k == nil {
		return "", fmt.Errorf("credential %s: the secret is sealed: %w", r.ID, ErrNoKeyring)
	}
	pt, err := openCredentialSecret(k, r.MerchantID, r.ID, r.KeySealed.String)
	if err != nil {
		return "", fmt.Errorf("credential %s: %w", r.ID, err)
	}
	return string(pt), nil
}

func openCredentialSecret(k *pii.Keyring, merchantID, id, sealed string) ([]byte, error) {
	ct, err := base64.StdEncoding.DecodeString(sealed)
	if err != nil {
		return nil, errors.New("sealed secret is not base64")
	}
	return k.Decrypt(ct, credentialAD(merchantID, id))
}

// secretRow is an hmac-sha256 api_keys row, sealed or not.
type secretRow struct {
	ID          string         `db:"id"`
	MerchantID  string         `db:"merchant_id"`
	KeyMaterial string         `db:"key_material"`
	KeySealed   sql.NullString `db:"key_sealed"`
}

// plaintext reports whether the row's secret is still stored in plaintext.
func (r secretRow) plaintext() bool { return !r.KeySealed.Valid && r.KeyMaterial != "" }

// CredentialReencryptStats counts what ReencryptCredentials did.
type CredentialReencryptStats struct {
	// Scanned counts hmac-sha256 credentials (revoked ones too: their
	// secret is sealed all the same).
	Scanned int64
	// Sealed counts plaintext secrets sealed for the first time.
	Sealed int64
	// Reencrypted counts sealed secrets re-sealed under the active key.
	Reencrypted int64
	// Remaining counts, by a full scan after the pass, the secrets still in
	// plaintext or not under the active key (written or changed during the
	// pass, e.g. by an instance still sealing with an older key). Only when
	// it is 0 (and ReencryptStats.Remaining is 0) can older keys go.
	Remaining int64
}

// SealPlaintextCredentials seals every hmac-sha256 secret still stored in
// plaintext under the active key and returns how many it sealed; serve runs
// it at start, so a database upgraded from plaintext secrets holds none
// once a gateway has started on it. Each row is updated only if unchanged
// since read; running it again changes nothing. (Copies of the old
// plaintext can outlive the update where the database engine keeps them:
// free space in the SQLite file until VACUUM, MySQL's logs, backups.
// Credentials whose secret was ever stored in plaintext should be
// re-issued if the database may have been read.)
func (db *DB) SealPlaintextCredentials(ctx context.Context) (int64, error) {
	st, err := db.sealCredentials(ctx, false)
	return st.Sealed, err
}

// ReencryptCredentials seals every hmac-sha256 secret still in plaintext
// and re-seals every sealed one that is not under the keyring's active key
// (key rotation, docs/evidence.md §11), each row updated only if unchanged
// since read; then it counts what still needs it (Remaining) with a full
// scan. A sealed secret that opens under no configured key is an error.
func (db *DB) ReencryptCredentials(ctx context.Context) (CredentialReencryptStats, error) {
	st, err := db.sealCredentials(ctx, true)
	if err != nil {
		return st, err
	}
	n, err := db.CredentialsNeedingReencryption(ctx)
	if err != nil {
		return st, err
	}
	st.Remaining = n
	return st, nil
}

// sealCredentials walks the hmac-sha256 credentials in id order, 500 at a
// time, sealing plaintext secrets and, if rotate, re-sealing secrets not
// under the active key.
func (db *DB) sealCredentials(ctx context.Context, rotate bool) (CredentialReencryptStats, error) {
	var st CredentialReencryptStats
	k := db.PII()
	if k == nil {
		return st, ErrNoKeyring
	}
	after := ""
	for {
		var rows []secretRow
		err := db.R.SelectContext(ctx, &rows, `SELECT id, merchant_id, key_material, key_sealed FROM api_keys
			WHERE algorithm = ? AND id > ? ORDER BY id LIMIT 500`, signature.HMACSHA256, after)
		if err != nil {
			return st, fmt.Errorf("list credential secrets: %w", err)
		}
		if len(rows) == 0 {
			return st, nil
		}
		after = rows[len(rows)-1].ID
		type upd struct {
			r      secretRow
			sealed string
		}
		var seal, reseal []upd
		for _, r := range rows {
			st.Scanned++
			ad := credentialAD(r.MerchantID, r.ID)
			switch {
			case r.plaintext():
				ct := k.Encrypt([]byte(r.KeyMaterial), ad)
				seal = append(seal, upd{r, base64.StdEncoding.EncodeToString(ct)})
			case rotate && r.KeySealed.Valid:
				pt, err := openCredentialSecret(k, r.MerchantID, r.ID, r.KeySealed.String)
				if err != nil {
					return st, fmt.Errorf("credential %s: %w", r.ID, err)
				}
				ct, _ := base64.StdEncoding.DecodeString(r.KeySealed.String) // decoded above
				if k.NeedsRotation(ct) {
					reseal = append(reseal, upd{r, base64.StdEncoding.EncodeToString(k.Encrypt(pt, ad))})
				}
			}
		}
		if len(seal)+len(reseal) == 0 {
			continue
		}
		err = db.inTx(ctx, func(tx *sqlx.Tx) error {
			for _, u := range seal {
				res, err := tx.ExecContext(ctx, `UPDATE api_keys SET key_sealed = ?, key_material = '' WHERE id = ? AND key_sealed IS NULL AND key_material = ?`,
					u.sealed, u.r.ID, u.r.KeyMaterial)
				if err != nil {
					return err
				}
				if n, _ := res.RowsAffected(); n == 1 {
					st.Sealed++
				}
			}
			for _, u := range reseal {
				res, err := tx.ExecContext(ctx, `UPDATE api_keys SET key_sealed = ? WHERE id = ? AND key_sealed = ?`,
					u.sealed, u.r.ID, u.r.KeySealed.String)
				if err != nil {
					return err
				}
				if n, _ := res.RowsAffected(); n == 1 {
					st.Reencrypted++
				}
			}
			return nil
		})
		if err != nil {
			return st, fmt.Errorf("seal credential secrets: %w", err)
		}
	}
}

// CredentialsNeedingReencryption counts, in one full scan, the hmac-sha256
// secrets still in plaintext, not under the active key, or opening under no
// configured key. Older keys can be removed only when it (and
// IdentitiesNeedingReencryption) returns 0.
func (db *DB) CredentialsNeedingReencryption(ctx context.Context) (int64, error) {
	k := db.PII()
	if k == nil {
		return 0, ErrNoKeyring
	}
	var rows []secretRow
	if err := db.R.SelectContext(ctx, &rows, `SELECT id, merchant_id, key_material, key_sealed FROM api_keys WHERE algorithm = ?`, signature.HMACSHA256); err != nil {
		return 0, fmt.Errorf("scan credential secrets: %w", err)
	}
	var n int64
	for _, r := range rows {
		if r.plaintext() {
			n++
			continue
		}
		if !r.KeySealed.Valid {
			continue
		}
		ct, err := base64.StdEncoding.DecodeString(r.KeySealed.String)
		if err != nil || k.NeedsRotation(ct) {
			n++
			continue
		}
		if _, err := k.Decrypt(ct, credentialAD(r.MerchantID, r.ID)); err != nil {
			n++
		}
	}
	return n, nil
}
