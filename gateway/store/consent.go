package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/lianmeng/lianmeng/gateway/consent"
	"github.com/lianmeng/lianmeng/gateway/points"
)

// Member consent codes (points.Consent) and sign-in challenges. Codes are
// stored only as keys derived from them (points.RedemptionCodeKey,
// points.SMSConsentKey, and the sign-in code hash), so reading the
// database reveals no usable code.

type consentRow struct {
	Key        string `db:"code_key"`
	Kind       string `db:"kind"`
	MemberID   string `db:"member_id"`
	MerchantID string `db:"merchant_id"`
	MaxPoints  int64  `db:"max_points"`
	CreatedAt  int64  `db:"created_at"`
	ExpiresAt  int64  `db:"expires_at"`
	UsedAt     int64  `db:"used_at"`
	PurchaseID int64  `db:"purchase_id"`
}

const consentCols = `code_key, kind, member_id, merchant_id, max_points, created_at, expires_at, used_at, purchase_id`

func (r consentRow) domain() *points.Consent {
	c := &points.Consent{Key: r.Key, Kind: r.Kind, MemberID: r.MemberID, MerchantID: r.MerchantID, MaxPoints: r.MaxPoints,
		CreatedAt: FromMicros(r.CreatedAt), ExpiresAt: FromMicros(r.ExpiresAt), PurchaseID: r.PurchaseID}
	if r.UsedAt != 0 {
		c.UsedAt = FromMicros(r.UsedAt)
	}
	return c
}

// ---- inside a batch (points.Tx)

// Consent returns a consent by key, locked (MySQL) until the batch commits,
// so two batches cannot both use it.
func (u *uow) Consent(key string) (*points.Consent, error) {
	if _, ok := u.consents[key]; !ok {
		if err := u.loadConsents([]string{key}); err != nil {
			return nil, err
		}
	}
	c := u.consents[key]
	if c == nil {
		return nil, points.ErrNotFound
	}
	cp := *c
	return &cp, nil
}

func (u *uow) loadConsents(keys []string) error {
	want := unseen(u.consents, keys, self)
	if len(want) == 0 {
		return nil
	}
	in, args := u.inList("?", 1, toAny(want))
	var rows []consentRow
	if err := u.selectAll(&rows, `SELECT `+consentCols+` FROM member_consents WHERE code_key IN (`+in+`)`+u.forUpdate(), args...); err != nil {
		return fmt.Errorf("load consents: %w", err)
	}
	for _, r := range rows {
		u.consents[r.Key] = r.domain()
	}
	return nil
}

// SaveConsent marks a consent used (the only change a batch makes to one).
func (u *uow) SaveConsent(c *points.Consent) error {
	prev, ok := u.consents[c.Key]
	if !ok || prev == nil {
		return fmt.Errorf("save consent: %w", points.ErrNotFound)
	}
	cp := *c
	u.consents[c.Key] = &cp
	_, wasDirty := u.dirtyConsents[c.Key]
	u.dirtyConsents[c.Key] = &cp
	u.onUndo(func() {
		u.consents[c.Key] = prev
		if !wasDirty {
			delete(u.dirtyConsents, c.Key)
		}
	})
	return nil
}

// flushConsents writes the consents the batch used. The used_at guard makes
// a consent that another writer used meanwhile fail the batch (it is then
// retried and refused), should the row lock ever not hold.
func (u *uow) flushConsents() error {
	keys := make([]string, 0, len(u.dirtyConsents))
	for k := range u.dirtyConsents {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		c := u.dirtyConsents[k]
		res, err := u.exec(`UPDATE member_consents SET used_at = ?, purchase_id = ? WHERE code_key = ? AND used_at = 0`,
			Micros(c.UsedAt), c.PurchaseID, c.Key)
		if err != nil {
			return fmt.Errorf("use consent: %w", err)
		}
		if n, err := res.RowsAffected(); err == nil && n != 1 {
			return fmt.Errorf("use consent: %w", errConsentRace)
		}
	}
	return nil
}

var errConsentRace = errors.New("consent was used by another batch")

// ---- outside batches

// CreateConsent stores a new consent code (by its key).
func (db *DB) CreateConsent(ctx context.Context, c points.Consent) error {
	_, err := db.W.ExecContext(ctx, `INSERT INTO member_consents (`+consentCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, 0, 0)`,
		c.Key, c.Kind, c.MemberID, c.MerchantID, c.MaxPoints, Micros(c.CreatedAt), Micros(c.ExpiresAt))
	if err != nil {
		return fmt.Errorf("create consent: %w", err)
	}
	return nil
}

// LastConsentAt is when the newest consent of a member for a merchant
// ("" for app codes) was created (zero if none), for resend throttling.
func (db *DB) LastConsentAt(ctx context.Context, memberID, merchantID string) (time.Time, error) {
	var at sql.NullInt64
	err := db.R.GetContext(ctx, &at, `SELECT MAX(created_at) FROM member_consents WHERE member_id = ? AND merchant_id = ?`, memberID, merchantID)
	if err != nil {
		return time.Time{}, fmt.Errorf("last consent: %w", err)
	}
	if !at.Valid {
		return time.Time{}, nil
	}
	return FromMicros(at.Int64), nil
}

// PurgeConsents deletes consents that expired before cutoff (used or not):
// they can no longer be used, and the redemption keeps its own record.
func (db *DB) PurgeConsents(ctx context.Context, cutoff time.Time) (int64, error) {
	res, err := db.W.ExecContext(ctx, `DELETE FROM member_consents WHERE expires_at < ?`, Micros(cutoff))
	if err != nil {
		return 0, fmt.Errorf("purge consents: %w", err)
	}
	return res.RowsAffected()
}

type challengeRow struct {
	Kind      string `db:"kind"`
	Lookup    string `db:"lookup"`
	CodeHash  string `db:"code_hash"`
	SentAt    int64  `db:"sent_at"`
	ExpiresAt int64  `db:"expires_at"`
	Attempts  int    `db:"attempts"`
}

var _ consent.Store = (*DB)(nil)

// IdentityLookup is the stored lookup value of an identity (the blind
// index of a phone number), the key of sign-in challenges.
func (db *DB) IdentityLookup(id points.Identity) string { return db.identityLookup("", id) }

// SignIn returns the pending challenge for an identity (points.ErrNotFound).
func (db *DB) SignIn(ctx context.Context, kind, lookup string) (consent.Challenge, error) {
	var r challengeRow
	err := db.W.GetContext(ctx, &r, `SELECT kind, lookup, code_hash, sent_at, expires_at, attempts FROM member_signins WHERE kind = ? AND lookup = ?`, kind, lookup)
	if errors.Is(err, sql.ErrNoRows) {
		return consent.Challenge{}, points.ErrNotFound
	}
	if err != nil {
		return consent.Challenge{}, fmt.Errorf("sign-in challenge: %w", err)
	}
	return consent.Challenge{Kind: r.Kind, Lookup: r.Lookup, CodeHash: r.CodeHash, SentAt: FromMicros(r.SentAt),
		ExpiresAt: FromMicros(r.ExpiresAt), Attempts: r.Attempts}, nil
}

// PutSignIn replaces the identity's challenge with a new one.
func (db *DB) PutSignIn(ctx context.Context, c consent.Challenge) error {
	return db.inTx(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM member_signins WHERE kind = ? AND lookup = ?`, c.Kind, c.Lookup); err != nil {
			return fmt.Errorf("replace sign-in challenge: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO member_signins (kind, lookup, code_hash, sent_at, expires_at, attempts) VALUES (?, ?, ?, ?, ?, 0)`,
			c.Kind, c.Lookup, c.CodeHash, Micros(c.SentAt), Micros(c.ExpiresAt)); err != nil {
			return fmt.Errorf("store sign-in challenge: %w", err)
		}
		return nil
	})
}

// CountSignInAttempt records a wrong code; only an attempt on the challenge as it was read counts (codeHash), so a
// concurrent new challenge is not charged.
func (db *DB) CountSignInAttempt(ctx context.Context, kind, lookup, codeHash string) error {
	if _, err := db.W.ExecContext(ctx, `UPDATE member_signins SET attempts = attempts + 1 WHERE kind = ? AND lookup = ? AND code_hash = ?`,
		kind, lookup, codeHash); err != nil {
		return fmt.Errorf("count sign-in attempt: %w", err)
	}
	return nil
}

// ConsumeSignIn marks the challenge used (its code hash cleared; the row
// stays, so the resend interval still holds) if it is still the one with
// codeHash and has attempts left; it reports whether it did (so a code
// verifies once, even under concurrent attempts).
func (db *DB) ConsumeSignIn(ctx context.Context, kind, lookup, codeHash string, maxAttempts int) (bool, error) {
	res, err := db.W.ExecContext(ctx, `UPDATE member_signins SET code_hash = '' WHERE kind = ? AND lookup = ? AND code_hash = ? AND attempts < ?`,
		kind, lookup, codeHash, maxAttempts)
	if err != nil {
		return false, fmt.Errorf("consume sign-in challenge: %w", err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// ReadConsent reads a consent outside any batch.
func (db *DB) ReadConsent(ctx context.Context, key string) (points.Consent, error) {
	var r consentRow
	err := db.R.GetContext(ctx, &r, `SELECT `+consentCols+` FROM member_consents WHERE code_key = ?`, key)
	if errors.Is(err, sql.ErrNoRows) {
		return points.Consent{}, points.ErrNotFound
	}
	if err != nil {
		return points.Consent{}, fmt.Errorf("read consent: %w", err)
	}
	return *r.domain(), nil
}

// Related reports whether a member earned at a merchant (holds a lot it
// issued) or was given a consent for it.
func (db *DB) Related(ctx context.Context, memberID, merchantID string) (bool, error) {
	var n int
	err := db.R.GetContext(ctx, &n, `SELECT COUNT(*) FROM (SELECT 1 AS x FROM lots WHERE member_id = ? AND merchant_id = ?
		UNION ALL SELECT 1 AS x FROM member_consents WHERE member_id = ? AND merchant_id = ?) r`, memberID, merchantID, memberID, merchantID)
	if err != nil {
		return false, fmt.Errorf("member relationship: %w", err)
	}
	return n > 0, nil
}
