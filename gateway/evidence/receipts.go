package evidence

import (
	"context"
	"fmt"
	"time"
)

// ReceiptWindow is the promise a receipt makes: its transaction will be in
// a checkpoint within this time of the receipt (the sealer's settle delay,
// poll and checkpoint interval are seconds; the rest is room for a sealer
// fail-over, whose lease lasts 15 s).
const ReceiptWindow = time.Minute

// Receipts issues signed receipts for ledger transactions (docs/evidence.md
// §15): the transaction's leaf hash, recomputed from the committed rows,
// signed with the log key with a promise of inclusion within
// ReceiptWindow.
type Receipts struct {
	st     Store
	signer *Signer
	origin string
	now    func() time.Time
}

// NewReceipts returns a receipt issuer for the log origin.
func NewReceipts(st Store, signer *Signer, origin string) *Receipts {
	return &Receipts{st: st, signer: signer, origin: origin, now: time.Now}
}

// Issue returns the signed receipt of ledger transaction txID (ErrNotFound
// if there is no such committed transaction).
func (r *Receipts) Issue(ctx context.Context, txID int64) (SignedReceipt, error) {
	ref := EntryRef{Type: EntryTx, ID: txID}
	rows, err := r.st.Entries(ctx, []EntryRef{ref})
	if err != nil {
		return SignedReceipt{}, err
	}
	e, ok := rows[ref]
	if !ok {
		return SignedReceipt{}, fmt.Errorf("%w: %s", ErrNotFound, ref)
	}
	data, err := e.Encode()
	if err != nil {
		return SignedReceipt{}, err
	}
	now := r.now()
	return r.signer.SignReceipt(Receipt{Origin: r.origin, TxID: txID, LeafHash: LeafHash(data), Time: now, Promise: now.Add(ReceiptWindow)})
}
