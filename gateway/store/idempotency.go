package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/lianmeng/lianmeng/gateway/points"
)

// An idempotency record (table idempotency_records, migration 00084) is
// kept small: the key and the request as 16-byte hashes, and for an
// answer the store can rebuild byte for byte from the rows the write
// created (an earn: its purchase and lot, which never change in the
// fields the answer shows) only a reference to them. Any other answer
// keeps its body. Records written before 00084 stay in idempotency_keys,
// found and replayed as they are until they are purged by age.

// Forms of a record's answer.
const (
	idemBody = 0 // response holds the body
	idemEarn = 1 // rebuilt from purchase ref and its lot (earnAnswer)
)

// IdemRecord is an idempotency record as a replay sees it.
type IdemRecord struct {
	MerchantID string
	Key        string
	// RequestHash is, in the record a replay gets, the replayed request's
	// own hash when it matches the recorded one, and another value when it
	// does not: the caller compares it with the request's hash.
	RequestHash string
	Status      int
	// Response is the recorded answer, rebuilt when the record holds a
	// reference.
	Response  string
	CreatedAt int64

	keyHash, reqDigest [16]byte
	legacy             bool  // from idempotency_keys: RequestHash is the hash itself
	form               int   // idemBody or idemEarn
	ref                int64 // purchase id (idemEarn)
	lost               error // the rows a reference names are missing
}

// idemKeyHash names a record: scope (merchant or "operator") and key.
func idemKeyHash(scope, key string) (h [16]byte) {
	s := sha256.Sum256([]byte(scope + "\x00" + key))
	copy(h[:], s[:16])
	return h
}

// requestDigest is what a record keeps of the request hash. 128 bits of
// SHA-256 keep a different request from ever passing for the recorded one.
func requestDigest(hash string) (d [16]byte) {
	s := sha256.Sum256([]byte(hash))
	copy(d[:], s[:16])
	return d
}

// replayFor is the record as the request with hash gets it.
func (r *IdemRecord) replayFor(hash string) (*IdemRecord, error) {
	cp := *r
	if r.legacy {
		return &cp, nil // RequestHash is the recorded hash itself
	}
	if r.reqDigest != requestDigest(hash) {
		cp.RequestHash = hex.EncodeToString(r.reqDigest[:]) // never a 64-digit request hash
		return &cp, nil
	}
	if r.lost != nil {
		return nil, r.lost
	}
	cp.RequestHash = hash
	return &cp, nil
}

// newIdemRecord is the record of op's answer body (value's JSON).
func (u *uow) newIdemRecord(op *Op, value any, body []byte) IdemRecord {
	rec := IdemRecord{MerchantID: op.Idem.MerchantID, Key: op.Idem.Key, RequestHash: op.Idem.RequestHash, Status: op.Idem.Status,
		Response: string(body), CreatedAt: Micros(u.now),
		keyHash: idemKeyHash(op.Idem.MerchantID, op.Idem.Key), reqDigest: requestDigest(op.Idem.RequestHash)}
	rec.form, rec.ref = u.compactAnswer(value)
	return rec
}

// compactAnswer says how a record keeps value: as a reference when the
// answer rebuilt from the rows this batch writes is exactly value (so a
// replay answers the same bytes), else as its body.
func (u *uow) compactAnswer(value any) (form int, ref int64) {
	r, ok := value.(points.EarnResult)
	// A rule's breakdown and referral rewards live in other rows: those
	// answers keep their body.
	if !ok || r.Breakdown != nil || r.ReferralPoints != 0 || r.LotID == 0 {
		return idemBody, 0
	}
	p, l := u.dirtyPurch[r.PurchaseID], u.lots[r.LotID]
	if p == nil || !p.New || l == nil || !u.newLots[l.ID] || p.LotID != l.ID || l.PurchaseID != p.ID {
		return idemBody, 0
	}
	// As flushPurchases and flushLots store them.
	a := earnAnswer{PurchaseID: p.ID, MemberID: p.MemberID, Points: p.Points, LotID: p.LotID, TxID: p.TxID,
		RuleVersion: p.RuleVersion, LotPoints: l.Points, ReleaseAt: Micros(l.ReleaseAt), ExpiresAt: Micros(l.ExpiresAt)}
	if !sameEarnAnswer(a.result(), r) {
		return idemBody, 0
	}
	return idemEarn, p.ID
}

// earnAnswer is what an earn's answer is rebuilt from: its purchase and
// its lot as stored. None of these columns changes after the earn.
type earnAnswer struct {
	PurchaseID  int64  `db:"id"`
	MemberID    string `db:"member_id"`
	Points      int64  `db:"points"`
	LotID       int64  `db:"lot_id"`
	TxID        int64  `db:"tx_id"`
	RuleVersion string `db:"rule_version"`
	LotPoints   int64  `db:"lot_points"`
	ReleaseAt   int64  `db:"release_at"`
	ExpiresAt   int64  `db:"expires_at"`
}

// result is the earn's answer (points.Service.Earn): the lot holds what
// was not used to repay debts.
func (a earnAnswer) result() points.EarnResult {
	return points.EarnResult{PurchaseID: a.PurchaseID, MemberID: a.MemberID, Points: a.Points, PendingPoints: a.LotPoints,
		DebtRecovered: a.Points - a.LotPoints, LotID: a.LotID, TxID: a.TxID, RuleVersion: a.RuleVersion,
		ReleaseAt: FromMicros(a.ReleaseAt), ExpiresAt: FromMicros(a.ExpiresAt)}
}

// sameEarnAnswer says whether a and b encode to the same JSON: the same
// instants in the same location, and every other field equal (a field
// added to EarnResult is compared too, or stops this compiling).
func sameEarnAnswer(a, b points.EarnResult) bool {
	same := func(x, y time.Time) bool { return x.Equal(y) && x.Location() == y.Location() }
	if !same(a.ReleaseAt, b.ReleaseAt) || !same(a.ExpiresAt, b.ExpiresAt) {
		return false
	}
	a.ReleaseAt, a.ExpiresAt = b.ReleaseAt, b.ExpiresAt
	return a == b
}

// loadIdem loads the records of keys, current and pre-00084 ones in one
// statement, and rebuilds the answers held by reference.
func (u *uow) loadIdem(keys []idemKey) error {
	if len(keys) == 0 {
		return nil
	}
	byHash := make(map[[16]byte]idemKey, len(keys))
	hashes := make([]any, 0, len(keys))
	legacy := make([]any, 0, 2*len(keys))
	for _, k := range keys {
		h := idemKeyHash(k.Scope, k.Key)
		byHash[h] = k
		hashes = append(hashes, h[:])
		legacy = append(legacy, k.Scope, k.Key)
	}
	in, hashes := u.inList("?", 1, hashes)
	inLegacy, legacy := u.inList("(?, ?)", 2, legacy)
	// Each table's hash in a column of its own: MySQL would give a column
	// of both the widest type, padding the binary digest.
	q := `SELECT key_hash, request_hash, '' AS legacy_hash, status, form, ref, response, created_at, '' AS merchant_id, '' AS idem_key FROM idempotency_records WHERE key_hash IN (` + in + `)
		UNION ALL SELECT NULL, NULL, request_hash, status, 0, 0, response, created_at, merchant_id, idem_key FROM idempotency_keys WHERE (merchant_id, idem_key) IN (` + inLegacy + `)`
	rows, err := u.queryx(q, append(hashes, legacy...)...)
	if err != nil {
		return fmt.Errorf("load idempotency records: %w", err)
	}
	defer rows.Close()
	var refs []*IdemRecord
	for rows.Next() {
		var keyHash, reqHash []byte
		var resp sql.NullString
		var legacyHash, mid, key string
		var rec IdemRecord
		if err := rows.Scan(&keyHash, &reqHash, &legacyHash, &rec.Status, &rec.form, &rec.ref, &resp, &rec.CreatedAt, &mid, &key); err != nil {
			return fmt.Errorf("load idempotency records: %w", err)
		}
		rec.Response = resp.String
		if keyHash == nil { // idempotency_keys
			rec.MerchantID, rec.Key, rec.RequestHash, rec.legacy = mid, key, legacyHash, true
			rec.form = idemBody
		} else {
			if len(keyHash) != 16 || len(reqHash) != 16 {
				return fmt.Errorf("load idempotency records: hashes of %d and %d bytes", len(keyHash), len(reqHash))
			}
			copy(rec.keyHash[:], keyHash)
			copy(rec.reqDigest[:], reqHash)
			k, ok := byHash[rec.keyHash]
			if !ok {
				return fmt.Errorf("load idempotency records: unexpected key hash %x", keyHash)
			}
			rec.MerchantID, rec.Key = k.Scope, k.Key
		}
		r := &rec
		u.idem[idemKey{rec.MerchantID, rec.Key}.String()] = r
		if rec.form != idemBody {
			refs = append(refs, r)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("load idempotency records: %w", err)
	}
	rows.Close()
	return u.rebuildAnswers(refs)
}

// rebuildAnswers fills in the answers recs hold by reference.
func (u *uow) rebuildAnswers(recs []*IdemRecord) error {
	if len(recs) == 0 {
		return nil
	}
	ids := make([]any, 0, len(recs))
	for _, r := range recs {
		if r.form != idemEarn {
			return fmt.Errorf("idempotency record of %s: unknown form %d", r.Key, r.form)
		}
		ids = append(ids, r.ref)
	}
	in, ids := u.inList("?", 1, ids)
	var as []earnAnswer
	if err := u.selectAll(&as, `SELECT p.id, p.member_id, p.points, p.lot_id, p.tx_id, p.rule_version, l.points AS lot_points, l.release_at, l.expires_at
		FROM purchases p JOIN lots l ON l.id = p.lot_id WHERE p.id IN (`+in+`)`, ids...); err != nil {
		return fmt.Errorf("rebuild idempotent answers: %w", err)
	}
	byID := make(map[int64]earnAnswer, len(as))
	for _, a := range as {
		byID[a.PurchaseID] = a
	}
	for _, r := range recs {
		a, ok := byID[r.ref]
		if !ok {
			r.lost = fmt.Errorf("store: the idempotency record of key %q answers with purchase %d, which is missing", r.Key, r.ref)
			continue
		}
		body, err := json.Marshal(a.result())
		if err != nil {
			return fmt.Errorf("rebuild the answer of purchase %d: %w", r.ref, err)
		}
		r.Response = string(body)
	}
	return nil
}

// idemRows are the batch's new records as idempotency_records rows.
func idemRows(recs []IdemRecord) [][]any {
	rows := make([][]any, 0, len(recs))
	for i := range recs {
		r := &recs[i]
		var resp any
		if r.form == idemBody {
			resp = r.Response
		}
		rows = append(rows, []any{r.keyHash[:], r.reqDigest[:], r.Status, r.form, r.ref, resp, r.CreatedAt})
	}
	return rows
}

var idemColumns = []string{"key_hash", "request_hash", "status", "form", "ref", "response", "created_at"}

// IdempotencyRecorded says whether key is recorded in scope (a merchant
// or "operator").
func (db *DB) IdempotencyRecorded(ctx context.Context, scope, key string) (bool, error) {
	h := idemKeyHash(scope, key)
	var n int
	err := db.R.GetContext(ctx, &n, `SELECT (SELECT COUNT(*) FROM idempotency_records WHERE key_hash = ?)
		+ (SELECT COUNT(*) FROM idempotency_keys WHERE merchant_id = ? AND idem_key = ?)`, h[:], scope, key)
	if err != nil {
		return false, fmt.Errorf("read idempotency record: %w", err)
	}
	return n > 0, nil
}

// PurgeIdempotency deletes at most limit idempotency records created before
// before, oldest first, in short statements, and returns how many went.
// A caller purges everything due by calling it until it returns less than
// limit; each call holds its locks only for its own batch, so writes go on
// between them. After a record is purged its key may be used again for a
// new operation.
func (db *DB) PurgeIdempotency(ctx context.Context, before time.Time, limit int) (int64, error) {
	if limit <= 0 {
		return 0, fmt.Errorf("store: purge idempotency records: limit %d", limit)
	}
	// The records from before migration 00084 are older than every
	// current one: they go first.
	var total int64
	for _, table := range []string{"idempotency_keys", "idempotency_records"} {
		q := `DELETE FROM ` + table + ` WHERE created_at < ? ORDER BY created_at LIMIT ?`
		if db.Dialect == SQLite {
			// SQLite has DELETE ... LIMIT only in builds that enable it.
			q = `DELETE FROM ` + table + ` WHERE rowid IN (SELECT rowid FROM ` + table + ` WHERE created_at < ? ORDER BY created_at LIMIT ?)`
		}
		res, err := db.W.ExecContext(ctx, q, Micros(before), limit-int(total))
		if err != nil {
			return total, fmt.Errorf("purge idempotency records: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, fmt.Errorf("purge idempotency records: %w", err)
		}
		if total += n; total >= int64(limit) {
			break
		}
	}
	return total, nil
}
