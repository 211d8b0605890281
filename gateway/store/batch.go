package store

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"runtime/debug"

	"github.com/lianmeng/lianmeng/gateway/ledger"
	"github.com/lianmeng/lianmeng/gateway/points"
)

// This file is what one batch attempt does inside its unit of work: load
// what the batch's commands declared they read, apply each command with its
// envelope (nonce, idempotency record), and keep a refused command's
// effects out. The Writer (writer.go) decides batching, retries and
// durability around it.

// idemKey names an idempotency record.
type idemKey struct{ Scope, Key string }

func (k idemKey) String() string { return k.Scope + "\x00" + k.Key }

// identityRow is a member identity as stored: its kind and its lookup
// value (the blind index of a phone, the merchant-scoped customer id, ...).
type identityRow struct{ Kind, Lookup string }

func (k identityRow) String() string { return k.Kind + "\x00" + k.Lookup }

// prefetch loads everything the batch's commands declared they read.
func (u *uow) prefetch(batch []*Op, excluded []bool) error {
	var merchants, accounts []string
	var idents []identityRow
	var purch []points.PurchaseKey
	var idem []idemKey
	var nonces []*Nonce
	var consents []string
	var counters, referrers []points.MemberKey
	for i, op := range batch {
		if excluded[i] {
			continue
		}
		r := op.Command.Reads
		merchants = append(merchants, r.Merchants...)
		accounts = append(accounts, r.Accounts...)
		for _, k := range r.Members {
			idents = append(idents, identityRow{k.Identity.Kind, u.db.identityLookup(k.MerchantID, k.Identity)})
		}
		purch = append(purch, r.Purchases...)
		consents = append(consents, r.Consents...)
		counters = append(counters, r.Counters...)
		referrers = append(referrers, r.Referrers...)
		if op.Idem != nil {
			idem = append(idem, idemKey{op.Idem.MerchantID, op.Idem.Key})
		}
		if op.Nonce != nil {
			nonces = append(nonces, op.Nonce)
		}
	}
	if err := u.loadMerchants(merchants); err != nil {
		return err
	}
	if len(accounts) > 0 {
		if _, err := u.lockAccounts(dedupe(accounts)); err != nil {
			return err
		}
	}
	if err := u.loadMembers(idents); err != nil {
		return err
	}
	var found []string
	for _, k := range idents {
		if m := u.members[k.String()]; m != "" {
			found = append(found, m)
		}
	}
	if err := u.loadDebts(dedupe(found)); err != nil {
		return err
	}
	if err := u.prefetchCounters(counters); err != nil {
		return err
	}
	if err := u.prefetchReferrers(referrers); err != nil {
		return err
	}
	if err := u.loadPurchases(purch); err != nil {
		return err
	}
	if err := u.loadConsents(consents); err != nil {
		return err
	}
	if err := u.loadIdem(idem); err != nil {
		return err
	}
	return u.loadNonces(nonces)
}

// apply runs one operation. A domain refusal is returned in the result; a
// returned error means the transaction is no longer usable.
func (u *uow) apply(op *Op) (res OpResult, fatal error) {
	var nh [16]byte
	if op.Nonce != nil {
		nh = nonceHash(op.Nonce.KeyID, op.Nonce.Nonce)
		if u.nonces[nh] {
			return OpResult{Err: ErrNonceReplayed}, nil
		}
	}
	consumeNonce := func() {
		if op.Nonce != nil {
			u.nonces[nh] = true
			u.newNonces = append(u.newNonces, nonceRow{nh, Micros(op.Nonce.Expires)})
		}
	}
	var ik idemKey
	if op.Idem != nil {
		ik = idemKey{op.Idem.MerchantID, op.Idem.Key}
		if rec := u.idem[ik.String()]; rec != nil {
			consumeNonce()
			r, err := rec.replayFor(op.Idem.RequestHash)
			if err != nil {
				return OpResult{Err: err}, nil
			}
			return OpResult{Replay: r}, nil
		}
	}
	if op.Command.Apply == nil { // a bare nonce consumption
		consumeNonce()
		return OpResult{}, nil
	}
	mark := u.mark()
	value, err := safeApply(op, u)
	var body []byte
	if err == nil && op.Idem != nil {
		if body, err = json.Marshal(value); err != nil {
			err = fmt.Errorf("store: encode %s result: %w", op.Command.Name, err)
		}
	}
	if err == nil && op.Audit != nil {
		err = u.recordAudit(op, value, body)
	}
	if err != nil {
		u.rollback(mark)
		if isDomainError(err) {
			// A refused request still used its nonce: replaying it later
			// (when it might succeed) must not work.
			consumeNonce()
			return OpResult{Err: err}, nil
		}
		return OpResult{}, err
	}
	consumeNonce()
	if op.Idem != nil {
		rec := u.newIdemRecord(op, value, body)
		u.idem[ik.String()] = &rec
		u.newIdem = append(u.newIdem, rec)
	}
	u.undo = u.undo[:mark] // committed within the batch
	return OpResult{Value: value, Body: body}, nil
}

func safeApply(op *Op, u *uow) (value any, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic in %s: %v\n%s", op.Command.Name, r, debug.Stack())
		}
	}()
	return op.Command.Apply(u)
}

func isDomainError(err error) bool {
	var pe *points.Error
	var ie *points.ErrInsufficient
	return errors.As(err, &pe) || errors.As(err, &ie) || errors.Is(err, ledger.ErrInvalid) || errors.Is(err, ledger.ErrUnbalanced)
}

func dedupe(s []string) []string {
	seen := make(map[string]bool, len(s))
	out := s[:0:0]
	for _, x := range s {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

// loadNonces marks which of nonces are used, in request_nonce_hashes or,
// used before migration 00085, in request_nonces, in one statement.
func (u *uow) loadNonces(nonces []*Nonce) error {
	if len(nonces) == 0 {
		return nil
	}
	// By (key, nonce) alone: a nonce is used once per key whatever the
	// timestamp it is signed with (the expiry only says when its row may
	// be purged).
	hashes := make([]any, 0, len(nonces))
	legacy := make([]any, 0, 2*len(nonces))
	for _, n := range nonces {
		h := nonceHash(n.KeyID, n.Nonce)
		hashes = append(hashes, h[:])
		legacy = append(legacy, n.KeyID, n.Nonce)
	}
	in, hashes := u.inList("?", 1, hashes)
	inLegacy, legacy := u.inList("(?, ?)", 2, legacy)
	rows, err := u.queryx(`SELECT hash, NULL AS key_id, NULL AS nonce FROM request_nonce_hashes WHERE hash IN (`+in+`)
		UNION ALL SELECT NULL, key_id, nonce FROM request_nonces WHERE (key_id, nonce) IN (`+inLegacy+`)`, append(hashes, legacy...)...)
	if err != nil {
		return fmt.Errorf("load nonces: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var h []byte
		var keyID, nonce sql.NullString
		if err := rows.Scan(&h, &keyID, &nonce); err != nil {
			return fmt.Errorf("load nonces: %w", err)
		}
		switch {
		case keyID.Valid:
			u.nonces[nonceHash(keyID.String, nonce.String)] = true
		case len(h) == 16:
			u.nonces[[16]byte(h)] = true
		default:
			return fmt.Errorf("load nonces: a hash of %d bytes", len(h))
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("load nonces: %w", err)
	}
	return nil
}
