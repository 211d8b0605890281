package store

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/jmoiron/sqlx"

	"github.com/lianmeng/lianmeng/gateway/pii"
	"github.com/lianmeng/lianmeng/gateway/points"
)

// Personal data at rest (DESIGN §9, docs/evidence.md §9).
//
// With a keyring set (SetPII), a phone identity is stored as
//
//	lookup = hex(HMAC-SM3(index_key, E.164 number))      blind index, for equality lookups
//	sealed = base64(SM4-GCM(E.164 number, ad="member_identity:phone:"+lookup))
//
// so the number itself is in no column, and "138-0013-8000" and
// "+86 138 0013 8000" are the same member. WeChat openids and Alipay user ids
// stay as they are: they are pseudonymous identifiers issued per application,
// meaningless outside it and needed verbatim to call those platforms; a
// merchant's customer id is the merchant's own pseudonym. Without a keyring
// (tests that do not set one) phone numbers are stored as given.

// identityAD is the associated data of a sealed identity: it binds the
// ciphertext to its row (kind and lookup, the primary key; for a phone the
// lookup is the blind index of the number), so a sealed value copied onto
// another member's row does not decrypt. Sealing, decrypting and
// re-encrypting all use it.
func identityAD(kind, lookup string) []byte {
	return []byte("member_identity:" + kind + ":" + lookup)
}

// legacyIdentityAD is the associated data of rows sealed before row binding
// (column only). They still decrypt; ReencryptIdentities re-seals them
// under identityAD.
func legacyIdentityAD(kind string) []byte { return []byte("member_identity:" + kind) }

// openIdentity decrypts a sealed identity of row (kind, lookup). legacy
// reports that it was sealed under legacyIdentityAD and must be re-sealed.
func openIdentity(k *pii.Keyring, kind, lookup, sealed string) (pt []byte, legacy bool, err error) {
	ct, err := base64.StdEncoding.DecodeString(sealed)
	if err != nil {
		return nil, false, errors.New("sealed value is not base64")
	}
	pt, err = k.Decrypt(ct, identityAD(kind, lookup))
	if err == nil {
		return pt, false, nil
	}
	if !errors.Is(err, pii.ErrDecrypt) {
		return nil, false, err
	}
	if pt, lerr := k.Decrypt(ct, legacyIdentityAD(kind)); lerr == nil {
		return pt, true, nil
	}
	return nil, false, err
}

// needsResealing reports whether a sealed identity should be re-sealed:
// not under the active key, or under the legacy associated data. A value
// that does not open at all is an error.
func needsResealing(k *pii.Keyring, kind, lookup, sealed string) (pt []byte, need bool, err error) {
	pt, legacy, err := openIdentity(k, kind, lookup, sealed)
	if err != nil {
		return nil, false, err
	}
	ct, _ := base64.StdEncoding.DecodeString(sealed) // decoded above
	return pt, legacy || k.NeedsRotation(ct), nil
}

// SetPII sets the keyring that encrypts and indexes members' phone numbers.
// Call it before the first write; nil turns protection off (tests only).
func (db *DB) SetPII(k *pii.Keyring) { db.pii.Store(k) }

// PII returns the keyring set with SetPII, or nil.
func (db *DB) PII() *pii.Keyring { return db.pii.Load() }

// invalidPhoneLookup is the lookup of a phone number that does not
// normalise: it matches no row, and creating a member with it fails in
// sealIdentity with a validation error.
const invalidPhoneLookup = "invalid"

// identityLookup returns the member_identities.lookup value of an identity:
// the value itself, scoped by merchant for merchant customer ids, or the
// blind index of a phone number when a keyring is set.
func (db *DB) identityLookup(merchantID string, id points.Identity) string {
	if id.Kind == points.IdentityCustomer {
		return merchantID + ":" + id.Value
	}
	if id.Kind == points.IdentityPhone {
		if k := db.PII(); k != nil {
			_, idx, err := k.IndexPhone(id.Value)
			if err != nil {
				return invalidPhoneLookup
			}
			return hex.EncodeToString(idx)
		}
	}
	return id.Value
}

// sealIdentity returns what member_identities.sealed stores for a new
// identity (NULL: nothing to seal), bound to the row's lookup.
func (db *DB) sealIdentity(merchantID string, id points.Identity) (sql.NullString, error) {
	k := db.PII()
	if k == nil || id.Kind != points.IdentityPhone {
		return sql.NullString{}, nil
	}
	e164, err := pii.NormalizePhone(id.Value)
	if err != nil {
		// The pii errors never repeat the number.
		return sql.NullString{}, &points.Error{Class: points.Invalid, Code: points.CodeInvalidIdentity, Message: "member.value: " + err.Error()}
	}
	ct := k.Encrypt([]byte(e164), identityAD(id.Kind, db.identityLookup(merchantID, id)))
	return sql.NullString{String: base64.StdEncoding.EncodeToString(ct), Valid: true}, nil
}

// ErrNoKeyring is returned by operations that need SetPII first.
var ErrNoKeyring = errors.New("store: no personal-data keyring set")

// MemberPhone returns the phone number (E.164) of a member, decrypted, or
// ("", nil) if the member has no sealed phone identity.
func (db *DB) MemberPhone(ctx context.Context, memberID string) (string, error) {
	k := db.PII()
	if k == nil {
		return "", ErrNoKeyring
	}
	var r struct {
		Kind   string         `db:"kind"`
		Lookup string         `db:"lookup"`
		Sealed sql.NullString `db:"sealed"`
	}
	err := db.R.GetContext(ctx, &r, `SELECT kind, lookup, sealed FROM member_identities WHERE member_id = ? AND kind = ? AND sealed IS NOT NULL LIMIT 1`, memberID, points.IdentityPhone)
	if errors.Is(err, sql.ErrNoRows) || err == nil && !r.Sealed.Valid {
		return "", nil
	} else if err != nil {
		return "", fmt.Errorf("read member identity: %w", err)
	}
	pt, _, err := openIdentity(k, r.Kind, r.Lookup, r.Sealed.String)
	if err != nil {
		return "", fmt.Errorf("member %s: %w", memberID, err)
	}
	return string(pt), nil
}

// ReencryptStats counts what ReencryptIdentities did.
type ReencryptStats struct {
	Scanned, Reencrypted int64
	// Remaining counts, by a full scan after the pass, the rows that still
	// need re-sealing: rows written behind the pass's cursor while it ran
	// (by instances still sealing with an older key) or changed under it.
	// Only when it is 0 can older keys be removed.
	Remaining int64
}

// ReencryptIdentities re-seals every sealed identity that is not under the
// keyring's active key, or not yet bound to its row (key rotation,
// docs/evidence.md §9, §11), in small transactions, each row updated only
// if unchanged since read. progress, if set, is called after each page with
// rows done and the total. After the pass it counts what still needs
// re-sealing (ReencryptStats.Remaining) with a full scan.
func (db *DB) ReencryptIdentities(ctx context.Context, progress func(done, total int64)) (ReencryptStats, error) {
	var st ReencryptStats
	k := db.PII()
	if k == nil {
		return st, ErrNoKeyring
	}
	var total int64
	if err := db.R.GetContext(ctx, &total, `SELECT COUNT(*) FROM member_identities WHERE sealed IS NOT NULL`); err != nil {
		return st, fmt.Errorf("count sealed identities: %w", err)
	}
	var lastKind, lastLookup string
	for {
		var rows []sealedRow
		err := db.R.SelectContext(ctx, &rows, `SELECT kind, lookup, sealed FROM member_identities
			WHERE sealed IS NOT NULL AND (kind > ? OR (kind = ? AND lookup > ?)) ORDER BY kind, lookup LIMIT 500`, lastKind, lastKind, lastLookup)
		if err != nil {
			return st, fmt.Errorf("list sealed identities: %w", err)
		}
		if len(rows) == 0 {
			break
		}
		type upd struct{ kind, lookup, old, new string }
		var todo []upd
		for _, r := range rows {
			st.Scanned++
			pt, need, err := needsResealing(k, r.Kind, r.Lookup, r.Sealed)
			if err != nil {
				return st, fmt.Errorf("identity %s/%s: %w", r.Kind, r.Lookup, err)
			}
			if !need {
				continue
			}
			nct := k.Encrypt(pt, identityAD(r.Kind, r.Lookup))
			todo = append(todo, upd{r.Kind, r.Lookup, r.Sealed, base64.StdEncoding.EncodeToString(nct)})
		}
		if len(todo) > 0 {
			err := db.inTx(ctx, func(tx *sqlx.Tx) error {
				for _, u := range todo {
					res, err := tx.ExecContext(ctx, `UPDATE member_identities SET sealed = ? WHERE kind = ? AND lookup = ? AND sealed = ?`, u.new, u.kind, u.lookup, u.old)
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
				return st, fmt.Errorf("re-encrypt identities: %w", err)
			}
		}
		lastKind, lastLookup = rows[len(rows)-1].Kind, rows[len(rows)-1].Lookup
		if progress != nil {
			progress(st.Scanned, total)
		}
	}
	n, err := db.IdentitiesNeedingReencryption(ctx)
	if err != nil {
		return st, err
	}
	st.Remaining = n
	return st, nil
}

// sealedRow is a member_identities row with a sealed value.
type sealedRow struct {
	Kind   string `db:"kind"`
	Lookup string `db:"lookup"`
	Sealed string `db:"sealed"`
}

// IdentitiesNeedingReencryption counts, in one full scan (a single query,
// not pages behind a cursor), the sealed identities that are not under the
// active key or not bound to their row. Older keys can be removed from
// pii.keys only when it returns 0 after every instance runs with the new
// key first.
func (db *DB) IdentitiesNeedingReencryption(ctx context.Context) (int64, error) {
	k := db.PII()
	if k == nil {
		return 0, ErrNoKeyring
	}
	rows, err := db.R.QueryxContext(ctx, `SELECT kind, lookup, sealed FROM member_identities WHERE sealed IS NOT NULL`)
	if err != nil {
		return 0, fmt.Errorf("scan sealed identities: %w", err)
	}
	defer rows.Close()
	var n int64
	for rows.Next() {
		var r sealedRow
		if err := rows.StructScan(&r); err != nil {
			return 0, fmt.Errorf("scan sealed identities: %w", err)
		}
		_, need, err := needsResealing(k, r.Kind, r.Lookup, r.Sealed)
		if err != nil || need {
			// A value that does not open under any configured key needs
			// attention before any key is removed.
			n++
		}
	}
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("scan sealed identities: %w", err)
	}
	return n, nil
}
