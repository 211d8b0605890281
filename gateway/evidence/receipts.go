package evidence

import (
	"context"
	"encoding/base64"
	"fmt"
	"sync"
	"time"

	sdk "github.com/lianmeng/lianmeng/sdk/evidence"
)

// ReceiptWindow is the promise a receipt makes: its transaction will be in
// a checkpoint within this time of the receipt (the sealer's settle delay,
// poll and checkpoint interval are seconds; the rest is room for a sealer
// fail-over, whose lease lasts 15 s).
const ReceiptWindow = time.Minute

// Receipts issues signed receipts for ledger transactions (docs/evidence.md
// §15): each transaction's leaf hash, signed with the log key with a
// promise of inclusion within ReceiptWindow. The receipts of one writer
// batch share one signature over the root of their batch tree (IssueIn);
// a replayed answer's receipt is a batch of one, read back from the
// committed rows (Issue).
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

// Issue returns the signed receipt of ledger transaction txID, read from
// the database (ErrNotFound if there is no such committed transaction).
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
	if e.Tx == nil {
		return SignedReceipt{}, fmt.Errorf("%w: %s", ErrNotFound, ref)
	}
	return r.IssueIn(NewBatch(func() []TxRecord { return []TxRecord{*e.Tx} }), txID)
}

// Batch is the ledger transactions one writer batch committed. Their
// receipts are signed together, once, by the first request of the batch
// that asks (the writer itself never waits for a signature).
type Batch struct {
	records func() []TxRecord

	once     sync.Once
	index    map[int64]int
	receipts []SignedReceipt
	body     []byte // the signed body they share
	err      error
}

// NewBatch returns the batch of the transactions records returns; records
// is called at most once, when the first receipt is asked for.
func NewBatch(records func() []TxRecord) *Batch { return &Batch{records: records} }

// IssueIn returns the receipt of transaction txID of batch b, signing the
// batch's receipts on first use.
func (r *Receipts) IssueIn(b *Batch, txID int64) (SignedReceipt, error) {
	b.once.Do(func() { b.err = r.signBatch(b) })
	if b.err != nil {
		return SignedReceipt{}, b.err
	}
	i, ok := b.index[txID]
	if !ok {
		return SignedReceipt{}, fmt.Errorf("%w: transaction %d in this batch", ErrNotFound, txID)
	}
	return b.receipts[i], nil
}

// HeaderIn is IssueIn as the Lianmeng-Receipt header value.
func (r *Receipts) HeaderIn(b *Batch, txID int64) (string, error) {
	sr, err := r.IssueIn(b, txID)
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(sr.MarshalWithBody(b.body)), nil
}

func (r *Receipts) signBatch(b *Batch) error {
	recs := b.records()
	ids := make([]int64, len(recs))
	leaves := make([][]byte, len(recs))
	b.index = make(map[int64]int, len(recs))
	for i := range recs {
		data, err := EncodeTx(recs[i])
		if err != nil {
			return err
		}
		ids[i], leaves[i] = recs[i].ID, LeafHash(data)
		b.index[recs[i].ID] = i
	}
	tree, err := sdk.NewReceiptTree(ids, leaves)
	if err != nil {
		return err
	}
	now := r.now()
	b.receipts, b.body, err = r.signer.SignReceipts(r.origin, ids, leaves, tree, now, now.Add(ReceiptWindow))
	return err
}
