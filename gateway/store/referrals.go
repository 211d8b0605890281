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
)

// Referrals (migration 00064): the unit of work implements
// points.ReferralTx, caching what it read and buffering what it writes like
// the rest of the batch (one commit, undone with a refused command).

var _ points.ReferralTx = (*uow)(nil)

type rewardKey struct {
	purchase int64
	level    int
}

// referralState is the batch's cache of referrals.
type referralState struct {
	referrers  map[string]string // member -> referrer ("" known none)
	codes      map[string]string // member -> code ("" known none)
	codeOwners map[string]string // code -> member ("" known none)
	rewards    map[int64][]points.ReferralReward
	newRefs    []points.Referral
	newCodes   [][2]string // member, code
	dirty      map[rewardKey]points.ReferralReward
}

func (u *uow) refs() *referralState {
	if u.referrals == nil {
		u.referrals = &referralState{referrers: map[string]string{}, codes: map[string]string{}, codeOwners: map[string]string{},
			rewards: map[int64][]points.ReferralReward{}, dirty: map[rewardKey]points.ReferralReward{}}
	}
	return u.referrals
}

// lookup reads one string column by key once per batch.
func (u *uow) lookup(cache map[string]string, key, q string) (string, error) {
	if v, ok := cache[key]; ok {
		if v == "" {
			return "", points.ErrNotFound
		}
		return v, nil
	}
	var v string
	err := u.get(&v, q, key)
	if errors.Is(err, sql.ErrNoRows) {
		cache[key] = ""
		return "", points.ErrNotFound
	}
	if err != nil {
		return "", err
	}
	cache[key] = v
	return v, nil
}

func (u *uow) Referrer(memberID string) (string, error) {
	v, err := u.lookup(u.refs().referrers, memberID, `SELECT referrer_id FROM referrals WHERE member_id = ?`)
	if err != nil && !errors.Is(err, points.ErrNotFound) {
		return "", fmt.Errorf("load referrer: %w", err)
	}
	return v, err
}

func (u *uow) SaveReferral(r points.Referral) error {
	rs := u.refs()
	prev, had := rs.referrers[r.MemberID]
	rs.referrers[r.MemberID] = r.ReferrerID
	rs.newRefs = append(rs.newRefs, r)
	n := len(rs.newRefs) - 1
	u.onUndo(func() {
		if had {
			rs.referrers[r.MemberID] = prev
		} else {
			delete(rs.referrers, r.MemberID)
		}
		rs.newRefs = rs.newRefs[:n]
	})
	return nil
}

func (u *uow) ReferralCode(memberID string) (string, error) {
	v, err := u.lookup(u.refs().codes, memberID, `SELECT code FROM referral_codes WHERE member_id = ?`)
	if err != nil && !errors.Is(err, points.ErrNotFound) {
		return "", fmt.Errorf("load referral code: %w", err)
	}
	return v, err
}

func (u *uow) ReferralCodeOwner(code string) (string, error) {
	v, err := u.lookup(u.refs().codeOwners, code, `SELECT member_id FROM referral_codes WHERE code = ?`)
	if err != nil && !errors.Is(err, points.ErrNotFound) {
		return "", fmt.Errorf("load referral code: %w", err)
	}
	return v, err
}

func (u *uow) SaveReferralCode(memberID, code string) error {
	rs := u.refs()
	pc, hadC := rs.codes[memberID]
	po, hadO := rs.codeOwners[code]
	rs.codes[memberID], rs.codeOwners[code] = code, memberID
	rs.newCodes = append(rs.newCodes, [2]string{memberID, code})
	n := len(rs.newCodes) - 1
	u.onUndo(func() {
		restore(rs.codes, memberID, pc, hadC)
		restore(rs.codeOwners, code, po, hadO)
		rs.newCodes = rs.newCodes[:n]
	})
	return nil
}

func restore(m map[string]string, k, v string, had bool) {
	if had {
		m[k] = v
	} else {
		delete(m, k)
	}
}

func (u *uow) ReferralRewards(purchaseID int64) ([]points.ReferralReward, error) {
	rs := u.refs()
	if r, ok := rs.rewards[purchaseID]; ok {
		return append([]points.ReferralReward(nil), r...), nil
	}
	var rows []struct {
		PurchaseID int64  `db:"purchase_id"`
		Level      int    `db:"level"`
		MemberID   string `db:"member_id"`
		LotID      int64  `db:"lot_id"`
		Points     int64  `db:"points"`
		Reversed   int64  `db:"reversed_points"`
	}
	if err := u.selectAll(&rows, `SELECT purchase_id, level, member_id, lot_id, points, reversed_points FROM referral_rewards
		WHERE purchase_id = ? ORDER BY level`+u.forUpdate(), purchaseID); err != nil {
		return nil, fmt.Errorf("load referral rewards: %w", err)
	}
	out := make([]points.ReferralReward, len(rows))
	for i, r := range rows {
		out[i] = points.ReferralReward{PurchaseID: r.PurchaseID, Level: r.Level, MemberID: r.MemberID, LotID: r.LotID, Points: r.Points, ReversedPoints: r.Reversed}
	}
	rs.rewards[purchaseID] = out
	return append([]points.ReferralReward(nil), out...), nil
}

func (u *uow) SaveReferralReward(r *points.ReferralReward) error {
	rs := u.refs()
	if !r.New {
		if _, err := u.ReferralRewards(r.PurchaseID); err != nil {
			return err
		}
	}
	prev, had := rs.rewards[r.PurchaseID]
	next := append([]points.ReferralReward(nil), prev...)
	cp := *r
	replaced := false
	for i := range next {
		if next[i].Level == r.Level {
			next[i], replaced = cp, true
		}
	}
	if !replaced {
		next = append(next, cp)
	}
	rs.rewards[r.PurchaseID] = next
	k := rewardKey{r.PurchaseID, r.Level}
	pd, hadD := rs.dirty[k]
	if hadD && pd.New {
		cp.New = true // still an insert
	}
	rs.dirty[k] = cp
	u.onUndo(func() {
		if had {
			rs.rewards[r.PurchaseID] = prev
		} else {
			delete(rs.rewards, r.PurchaseID)
		}
		if hadD {
			rs.dirty[k] = pd
		} else {
			delete(rs.dirty, k)
		}
	})
	return nil
}

// prefetchReferrers loads, in one query, who referred the known members
// among reads (a new member was referred by nobody yet).
func (u *uow) prefetchReferrers(reads []points.MemberKey) error {
	if len(reads) == 0 {
		return nil
	}
	rs := u.refs()
	var ids []string
	for _, r := range reads {
		mid := u.members[identityRow{r.Identity.Kind, u.db.identityLookup(r.MerchantID, r.Identity)}.String()]
		if _, known := rs.referrers[mid]; mid != "" && !known {
			rs.referrers[mid] = "" // known none unless the query says otherwise
			ids = append(ids, mid)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	in, args := u.inList("?", 1, toAny(dedupe(ids)))
	rows, err := u.queryx(`SELECT member_id, referrer_id FROM referrals WHERE member_id IN (`+in+`)`, args...)
	if err != nil {
		return fmt.Errorf("load referrers: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var m, r string
		if err := rows.Scan(&m, &r); err != nil {
			return err
		}
		rs.referrers[m] = r
	}
	return rows.Err()
}

// flushReferrals writes the batch's codes, referrals and rewards.
func (u *uow) flushReferrals() error {
	rs := u.referrals
	if rs == nil {
		return nil
	}
	now := Micros(u.now)
	var codes, refs, ins [][]any
	for _, c := range rs.newCodes {
		codes = append(codes, []any{c[1], c[0], now})
	}
	for _, r := range rs.newRefs {
		refs = append(refs, []any{r.MemberID, r.ReferrerID, now})
	}
	if err := u.bulkInsert("referral_codes", []string{"code", "member_id", "created_at"}, codes, ""); err != nil {
		return err
	}
	if err := u.bulkInsert("referrals", []string{"member_id", "referrer_id", "created_at"}, refs, ""); err != nil {
		return err
	}
	for _, r := range rs.dirty {
		if r.New {
			ins = append(ins, []any{r.PurchaseID, r.Level, r.MemberID, r.LotID, r.Points, r.ReversedPoints, now})
			continue
		}
		if _, err := u.exec(`UPDATE referral_rewards SET reversed_points = ? WHERE purchase_id = ? AND level = ?`, r.ReversedPoints, r.PurchaseID, r.Level); err != nil {
			return fmt.Errorf("update referral reward: %w", err)
		}
	}
	return u.bulkInsert("referral_rewards", []string{"purchase_id", "level", "member_id", "lot_id", "points", "reversed_points", "created_at"}, ins, "")
}

// ReferralOf answers a member's referral standing: their code (if they
// have one) and who referred them ("" for nobody).
func (db *DB) ReferralOf(ctx context.Context, memberID string) (code, referredBy string, err error) {
	if err := db.R.GetContext(ctx, &code, `SELECT code FROM referral_codes WHERE member_id = ?`, memberID); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return "", "", fmt.Errorf("referral code: %w", err)
	}
	if err := db.R.GetContext(ctx, &referredBy, `SELECT referrer_id FROM referrals WHERE member_id = ?`, memberID); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return "", "", fmt.Errorf("referrer: %w", err)
	}
	return code, referredBy, nil
}

// PublishReferralTerms records the referral terms the gateway starts with
// (to take effect at effectiveFrom; zero: at once) as an audit event
// (sealed into the evidence log) when they differ from the terms in force
// and from the change scheduled, so every change of the programme is
// public and dated before it takes effect. points.PlanReferralTerms
// decides (and refuses less favourable terms without notice); the result
// is the recorded entry (nil: nothing changed) and the schedule to pay under.
func (db *DB) PublishReferralTerms(ctx context.Context, t *points.ReferralTerms, effectiveFrom, now time.Time, notice time.Duration) (*points.PublishedReferralTerms, points.ReferralSchedule, error) {
	now = now.UTC().Truncate(time.Microsecond)
	if !effectiveFrom.IsZero() {
		effectiveFrom = effectiveFrom.UTC().Truncate(time.Microsecond)
	}
	// Unchanged (the usual start): read only, so a start on a full disk
	// writes nothing.
	h, err := db.ReferralTermsHistory(ctx)
	if err != nil {
		return nil, points.ReferralSchedule{}, err
	}
	rec, sched, err := points.PlanReferralTerms(h, t, effectiveFrom, now, notice)
	if err != nil || rec == nil {
		return nil, sched, err
	}
	err = db.inTx(ctx, func(tx *sqlx.Tx) error {
		// Decide again on what the transaction reads: another gateway may
		// have published meanwhile.
		h, err := referralTermsHistory(ctx, tx)
		if err != nil {
			return err
		}
		if rec, sched, err = points.PlanReferralTerms(h, t, effectiveFrom, now, notice); err != nil || rec == nil {
			return err
		}
		return insertAudit(ctx, tx, points.AuditReferralTerms, "configuration", "alliance:referral", rec, rec.Since)
	})
	if err != nil {
		return nil, points.ReferralSchedule{}, err
	}
	return rec, sched, nil
}

// ReferralTermsHistory lists the recorded referral terms, oldest first.
func (db *DB) ReferralTermsHistory(ctx context.Context) ([]points.PublishedReferralTerms, error) {
	return referralTermsHistory(ctx, db.R)
}

func referralTermsHistory(ctx context.Context, q sqlx.QueryerContext) ([]points.PublishedReferralTerms, error) {
	var rows []string
	if err := sqlx.SelectContext(ctx, q, &rows, `SELECT payload FROM audit_events WHERE kind = ? ORDER BY id`, points.AuditReferralTerms); err != nil {
		return nil, fmt.Errorf("referral terms history: %w", err)
	}
	out := make([]points.PublishedReferralTerms, 0, len(rows))
	for _, r := range rows {
		var p points.PublishedReferralTerms
		if err := json.Unmarshal([]byte(r), &p); err != nil {
			return nil, fmt.Errorf("referral terms history: %w", err)
		}
		out = append(out, p)
	}
	return out, nil
}
