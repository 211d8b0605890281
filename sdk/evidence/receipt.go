package evidence

import (
	"bytes"
	"crypto/ecdsa"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/emmansun/gmsm/sm2"
)

// A receipt (docs/evidence.md §15) is the log key's signed promise, given
// with the answer to a ledger write, that the transaction with this entry
// (its leaf hash) will be in a checkpoint by Promise, like a Certificate
// Transparency SCT. A merchant who keeps receipts can later show any
// omission: a signed receipt whose transaction no checkpoint after Promise
// includes.
//
// Body, seven lines each ending in "\n":
//
//	lianmeng.evidence.receipt/v1
//	<origin>
//	tx <transaction id>
//	leaf <base64 leaf hash, SM3(0x00 || canonical entry §2.1)>
//	time <TimeLayout>
//	promise <TimeLayout>
//	key <key id>
//
// signed with SM2 like a checkpoint (§5.2); transport form as §5.3: body,
// empty line, "— <key id> <base64 signature>\n". On an HTTP answer it is
// the header Lianmeng-Receipt, the base64 of the transport form.
type Receipt struct {
	Origin   string
	TxID     int64
	LeafHash []byte
	Time     time.Time // when issued
	Promise  time.Time // the latest time a checkpoint will include it
	KeyID    string
}

// SignedReceipt is a receipt with its SM2 signature over Body.
type SignedReceipt struct {
	Receipt
	Signature []byte
}

const receiptTag = "lianmeng.evidence.receipt/v1"

// ReceiptHeader is the HTTP header that carries a receipt.
const ReceiptHeader = "Lianmeng-Receipt"

// Body returns the signed text.
func (r Receipt) Body() ([]byte, error) {
	if err := checkToken("origin", r.Origin); err != nil {
		return nil, err
	}
	if err := checkToken("key id", r.KeyID); err != nil {
		return nil, err
	}
	if r.TxID <= 0 || len(r.LeafHash) != HashSize || r.Time.IsZero() || r.Promise.Before(r.Time) {
		return nil, errors.New("evidence: receipt: needs a transaction id > 0, an SM3 leaf hash, a time and a promise not before it")
	}
	var b strings.Builder
	b.WriteString(receiptTag + "\n")
	b.WriteString(r.Origin + "\n")
	b.WriteString("tx " + strconv.FormatInt(r.TxID, 10) + "\n")
	b.WriteString("leaf " + base64.StdEncoding.EncodeToString(r.LeafHash) + "\n")
	b.WriteString("time " + r.Time.UTC().Truncate(time.Microsecond).Format(TimeLayout) + "\n")
	b.WriteString("promise " + r.Promise.UTC().Truncate(time.Microsecond).Format(TimeLayout) + "\n")
	b.WriteString("key " + r.KeyID + "\n")
	return []byte(b.String()), nil
}

// Marshal returns the transport form.
func (s SignedReceipt) Marshal() ([]byte, error) {
	body, err := s.Body()
	if err != nil {
		return nil, err
	}
	if len(s.Signature) == 0 {
		return nil, errors.New("evidence: signed receipt has no signature")
	}
	out := append(body, '\n')
	return append(out, sigPrefix+s.KeyID+" "+base64.StdEncoding.EncodeToString(s.Signature)+"\n"...), nil
}

// Header returns the Lianmeng-Receipt header value: base64 of Marshal.
func (s SignedReceipt) Header() (string, error) {
	b, err := s.Marshal()
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(b), nil
}

// ParseReceiptHeader parses a Lianmeng-Receipt header value.
func ParseReceiptHeader(v string) (SignedReceipt, error) {
	b, err := base64.StdEncoding.Strict().DecodeString(v)
	if err != nil {
		return SignedReceipt{}, errors.New("evidence: receipt header is not base64")
	}
	return ParseSignedReceipt(b)
}

// ParseSignedReceipt parses the transport form, accepting only the exact
// bytes Marshal produces. It does not verify the signature.
func ParseSignedReceipt(text []byte) (SignedReceipt, error) {
	bad := errors.New("evidence: not a signed receipt")
	body, sigLine, ok := bytes.Cut(text, []byte("\n\n"))
	if !ok {
		return SignedReceipt{}, bad
	}
	lines := strings.Split(string(body), "\n")
	if len(lines) != 7 || lines[0] != receiptTag {
		return SignedReceipt{}, bad
	}
	var r Receipt
	r.Origin = lines[1]
	field := func(i int, name string) (string, bool) { return strings.CutPrefix(lines[i], name+" ") }
	v, ok1 := field(2, "tx")
	id, err := strconv.ParseInt(v, 10, 64)
	leaf, ok2 := field(3, "leaf")
	lh, err2 := base64.StdEncoding.Strict().DecodeString(leaf)
	t, ok3 := field(4, "time")
	tm, err3 := time.Parse(TimeLayout, t)
	p, ok4 := field(5, "promise")
	pm, err4 := time.Parse(TimeLayout, p)
	k, ok5 := field(6, "key")
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || errors.Join(err, err2, err3, err4) != nil {
		return SignedReceipt{}, bad
	}
	r.TxID, r.LeafHash, r.Time, r.Promise, r.KeyID = id, lh, tm, pm, k
	sl, ok := strings.CutSuffix(string(sigLine), "\n")
	rest, ok2b := strings.CutPrefix(sl, sigPrefix)
	kid, sigB64, ok3b := strings.Cut(rest, " ")
	sig, err := base64.StdEncoding.Strict().DecodeString(sigB64)
	if !ok || !ok2b || !ok3b || err != nil || kid != r.KeyID || len(sig) == 0 {
		return SignedReceipt{}, bad
	}
	sr := SignedReceipt{Receipt: r, Signature: sig}
	// One spelling only: re-encode and compare.
	if again, err := sr.Marshal(); err != nil || !bytes.Equal(again, text) {
		return SignedReceipt{}, bad
	}
	return sr, nil
}

// VerifyReceipt checks that sr names pub's key id and carries a valid SM2
// signature by pub over its body.
func VerifyReceipt(pub *ecdsa.PublicKey, sr SignedReceipt) error {
	id, err := KeyID(pub)
	if err != nil {
		return err
	}
	if sr.KeyID != id {
		return fmt.Errorf("evidence: receipt signed by key %q, verifying with key %q", sr.KeyID, id)
	}
	body, err := sr.Body()
	if err != nil {
		return err
	}
	if !sm2.VerifyASN1WithSM2(pub, nil, body, sr.Signature) {
		return fmt.Errorf("%w (receipt for transaction %d)", ErrBadSignature, sr.TxID)
	}
	return nil
}

// CheckReceiptInclusion checks that the entry data (canonical bytes, §2.1)
// is the receipt's transaction with the receipt's leaf hash, and that it is
// at index in checkpoint cp by the audit path. Signatures of the receipt
// and the checkpoint are the caller's to verify first.
func CheckReceiptInclusion(sr SignedReceipt, data []byte, index uint64, auditPath [][]byte, cp Checkpoint) error {
	if cp.Origin != sr.Origin {
		return fmt.Errorf("evidence: receipt of log %q, checkpoint of %q", sr.Origin, cp.Origin)
	}
	e, err := DecodeEntry(data)
	if err != nil {
		return err
	}
	tx, ok := e.(*TxRecord)
	if !ok || tx.ID != sr.TxID {
		return fmt.Errorf("evidence: the entry is not transaction %d", sr.TxID)
	}
	if !bytes.Equal(LeafHash(data), sr.LeafHash) {
		return fmt.Errorf("evidence: transaction %d in the log differs from the one receipted", sr.TxID)
	}
	return VerifyCheckpointInclusion(data, index, auditPath, cp)
}
