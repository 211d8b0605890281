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
	"github.com/transparency-dev/merkle/proof"
)

// A receipt (docs/evidence.md §15) is the log key's signed promise, given
// with the answer to a ledger write, that the transaction with this entry
// (its leaf hash) will be in a checkpoint by Promise, like a Certificate
// Transparency SCT. A merchant who keeps receipts can later show any
// omission: a signed receipt whose transaction no checkpoint after Promise
// includes.
//
// The gateway signs the receipts of one writer batch together (version
// 2): the signed body names the root of a small Merkle tree (RFC 6962 with
// SM3, as the log's) whose leaves are the batch's transactions, and each
// receipt carries its transaction, its index and its audit path in that
// tree. Body, seven lines each ending in "\n":
//
//	lianmeng.evidence.receipt/v2
//	<origin>
//	batch <number of receipts signed together>
//	root <base64 batch root>
//	time <TimeLayout>
//	promise <TimeLayout>
//	key <key id>
//
// signed with SM2 like a checkpoint (§5.2); transport form: body, empty
// line, "— <key id> <base64 signature>\n", then the receipt's own four
// lines:
//
//	tx <transaction id>
//	leaf <base64 leaf hash, SM3(0x00 || canonical entry §2.1)>
//	index <index in the batch>
//	path[ <base64 hash>]...
//
// The batch tree's leaf for a transaction is SM3(0x00 || "tx <id>\nleaf
// <base64 leaf hash>\n"), its first two lines, so the signature covers the
// transaction id and its leaf hash. A version 1 receipt (one signature per
// transaction, body "lianmeng.evidence.receipt/v1", origin, tx, leaf, time,
// promise, key) still parses and verifies: receipts kept before version 2
// remain evidence. On an HTTP answer a receipt is the header
// Lianmeng-Receipt, the base64 of the transport form.
type Receipt struct {
	Origin   string
	TxID     int64
	LeafHash []byte
	Time     time.Time // when issued
	Promise  time.Time // the latest time a checkpoint will include it
	KeyID    string
	// Batch is how many receipts were signed together (version 2); 0 for
	// a version 1 receipt, signed alone.
	Batch uint64
	// Index and Path place this receipt's transaction in the batch tree.
	Index uint64
	Path  [][]byte
}

// SignedReceipt is a receipt with its SM2 signature over Body.
type SignedReceipt struct {
	Receipt
	Signature []byte
}

const (
	receiptTagV1 = "lianmeng.evidence.receipt/v1"
	receiptTagV2 = "lianmeng.evidence.receipt/v2"
)

// ReceiptHeader is the HTTP header that carries a receipt.
const ReceiptHeader = "Lianmeng-Receipt"

// ReceiptLeaf returns the batch tree's leaf hash of transaction txID with
// entry leaf hash leaf: SM3(0x00 || "tx <id>\nleaf <base64 leaf>\n").
func ReceiptLeaf(txID int64, leaf []byte) []byte {
	return SM3Hasher.HashLeaf([]byte(receiptLeafText(txID, leaf)))
}

func receiptLeafText(txID int64, leaf []byte) string {
	return "tx " + strconv.FormatInt(txID, 10) + "\nleaf " + base64.StdEncoding.EncodeToString(leaf) + "\n"
}

// BatchRoot returns the root the receipt's audit path leads to: the root
// of the batch tree its signature covers (version 2).
func (r Receipt) BatchRoot() ([]byte, error) {
	if r.Batch == 0 || r.Index >= r.Batch {
		return nil, errors.New("evidence: receipt: needs a batch size > 0 and an index inside it")
	}
	if err := checkHashes("receipt path", r.Path); err != nil {
		return nil, err
	}
	root, err := proof.RootFromInclusionProof(SM3Hasher, r.Index, r.Batch, ReceiptLeaf(r.TxID, r.LeafHash), r.Path)
	if err != nil {
		return nil, fmt.Errorf("evidence: receipt path: %w", err)
	}
	return root, nil
}

// BatchBody is the signed text of a version 2 receipt batch: the origin,
// the number of receipts, the batch root, the time, the promise and the
// key id.
func BatchBody(origin string, size uint64, root []byte, at, promise time.Time, keyID string) ([]byte, error) {
	if err := checkToken("origin", origin); err != nil {
		return nil, err
	}
	if err := checkToken("key id", keyID); err != nil {
		return nil, err
	}
	if size == 0 || len(root) != HashSize || at.IsZero() || promise.Before(at) {
		return nil, errors.New("evidence: receipt batch: needs a size > 0, an SM3 root, a time and a promise not before it")
	}
	var b strings.Builder
	b.WriteString(receiptTagV2 + "\n")
	b.WriteString(origin + "\n")
	b.WriteString("batch " + strconv.FormatUint(size, 10) + "\n")
	b.WriteString("root " + base64.StdEncoding.EncodeToString(root) + "\n")
	b.WriteString("time " + at.UTC().Truncate(time.Microsecond).Format(TimeLayout) + "\n")
	b.WriteString("promise " + promise.UTC().Truncate(time.Microsecond).Format(TimeLayout) + "\n")
	b.WriteString("key " + keyID + "\n")
	return []byte(b.String()), nil
}

// Body returns the signed text: for version 2 the batch body, whose root
// is computed from the receipt's transaction, leaf hash, index and path.
func (r Receipt) Body() ([]byte, error) {
	if r.TxID <= 0 || len(r.LeafHash) != HashSize {
		return nil, errors.New("evidence: receipt: needs a transaction id > 0 and an SM3 leaf hash")
	}
	if r.Batch > 0 {
		root, err := r.BatchRoot()
		if err != nil {
			return nil, err
		}
		return BatchBody(r.Origin, r.Batch, root, r.Time, r.Promise, r.KeyID)
	}
	if err := checkToken("origin", r.Origin); err != nil {
		return nil, err
	}
	if err := checkToken("key id", r.KeyID); err != nil {
		return nil, err
	}
	if r.Time.IsZero() || r.Promise.Before(r.Time) {
		return nil, errors.New("evidence: receipt: needs a time and a promise not before it")
	}
	var b strings.Builder
	b.WriteString(receiptTagV1 + "\n")
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
	return s.MarshalWithBody(body), nil
}

// MarshalWithBody is Marshal for the issuer of a batch, who has the
// signed body at hand (BatchBody) and need not compute it again from each
// receipt's path. It does not check that body is this receipt's.
func (s SignedReceipt) MarshalWithBody(body []byte) []byte {
	out := make([]byte, 0, len(body)+200+45*len(s.Path))
	out = append(out, body...)
	out = append(out, '\n')
	out = append(out, sigPrefix+s.KeyID+" "+base64.StdEncoding.EncodeToString(s.Signature)+"\n"...)
	if s.Batch == 0 {
		return out
	}
	out = append(out, receiptLeafText(s.TxID, s.LeafHash)...)
	out = append(out, "index "+strconv.FormatUint(s.Index, 10)+"\npath"...)
	for _, h := range s.Path {
		out = append(out, ' ')
		out = base64.StdEncoding.AppendEncode(out, h)
	}
	return append(out, '\n')
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

// ParseSignedReceipt parses the transport form (version 1 or 2), accepting
// only the exact bytes Marshal produces. It does not verify the signature.
func ParseSignedReceipt(text []byte) (SignedReceipt, error) {
	bad := errors.New("evidence: not a signed receipt")
	body, rest, ok := bytes.Cut(text, []byte("\n\n"))
	if !ok {
		return SignedReceipt{}, bad
	}
	lines := strings.Split(string(body), "\n")
	if len(lines) != 7 {
		return SignedReceipt{}, bad
	}
	field := func(i int, name string) (string, bool) { return strings.CutPrefix(lines[i], name+" ") }
	var r Receipt
	r.Origin = lines[1]
	t, ok3 := field(4, "time")
	tm, err3 := time.Parse(TimeLayout, t)
	p, ok4 := field(5, "promise")
	pm, err4 := time.Parse(TimeLayout, p)
	k, ok5 := field(6, "key")
	if !ok3 || !ok4 || !ok5 || errors.Join(err3, err4) != nil {
		return SignedReceipt{}, bad
	}
	r.Time, r.Promise, r.KeyID = tm, pm, k
	// The signature line, then (version 2) the receipt's own lines.
	sigLine, tail, _ := strings.Cut(string(rest), "\n")
	switch lines[0] {
	case receiptTagV1:
		v, ok1 := field(2, "tx")
		id, err := strconv.ParseInt(v, 10, 64)
		leaf, ok2 := field(3, "leaf")
		lh, err2 := base64.StdEncoding.Strict().DecodeString(leaf)
		if !ok1 || !ok2 || errors.Join(err, err2) != nil || tail != "" {
			return SignedReceipt{}, bad
		}
		r.TxID, r.LeafHash = id, lh
	case receiptTagV2:
		n, ok1 := field(2, "batch")
		size, err := strconv.ParseUint(n, 10, 64)
		if !ok1 || err != nil {
			return SignedReceipt{}, bad
		}
		own := strings.Split(strings.TrimSuffix(tail, "\n"), "\n")
		if len(own) != 4 {
			return SignedReceipt{}, bad
		}
		v, okT := strings.CutPrefix(own[0], "tx ")
		id, errT := strconv.ParseInt(v, 10, 64)
		leaf, okL := strings.CutPrefix(own[1], "leaf ")
		lh, errL := base64.StdEncoding.Strict().DecodeString(leaf)
		ix, okI := strings.CutPrefix(own[2], "index ")
		index, errI := strconv.ParseUint(ix, 10, 64)
		path, okP := strings.CutPrefix(own[3], "path")
		if !okT || !okL || !okI || !okP || errors.Join(errT, errL, errI) != nil {
			return SignedReceipt{}, bad
		}
		for _, h := range strings.Fields(path) {
			b, err := base64.StdEncoding.Strict().DecodeString(h)
			if err != nil {
				return SignedReceipt{}, bad
			}
			r.Path = append(r.Path, b)
		}
		r.TxID, r.LeafHash, r.Batch, r.Index = id, lh, size, index
	default:
		return SignedReceipt{}, bad
	}
	rest2, ok2b := strings.CutPrefix(sigLine, sigPrefix)
	kid, sigB64, ok3b := strings.Cut(rest2, " ")
	sig, err := base64.StdEncoding.Strict().DecodeString(sigB64)
	if !ok2b || !ok3b || err != nil || kid != r.KeyID || len(sig) == 0 {
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
// signature by pub over its body; for a version 2 receipt, that its
// transaction, leaf hash, index and path lead to the signed batch root.
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

// ReceiptTree is the batch tree of version 2 receipts: built once from
// the batch's (transaction id, leaf hash) pairs, it gives each receipt's
// path without hashing again.
type ReceiptTree struct {
	levels [][][]byte // levels[0]: the receipt leaves; the last: the root
}

// NewReceiptTree builds the batch tree over the given transactions and
// their entry leaf hashes (same length, at least one).
func NewReceiptTree(txIDs []int64, leaves [][]byte) (*ReceiptTree, error) {
	if len(txIDs) == 0 || len(txIDs) != len(leaves) {
		return nil, errors.New("evidence: receipt tree: needs one leaf hash per transaction, at least one")
	}
	level := make([][]byte, len(txIDs))
	for i, id := range txIDs {
		level[i] = ReceiptLeaf(id, leaves[i])
	}
	t := &ReceiptTree{levels: [][][]byte{level}}
	// RFC 6962's tree, built bottom-up: pairs are hashed left to right and
	// an unpaired last node moves up a level unchanged.
	for len(level) > 1 {
		next := make([][]byte, 0, (len(level)+1)/2)
		for i := 0; i+1 < len(level); i += 2 {
			next = append(next, SM3Hasher.HashChildren(level[i], level[i+1]))
		}
		if len(level)%2 == 1 {
			next = append(next, level[len(level)-1])
		}
		t.levels = append(t.levels, next)
		level = next
	}
	return t, nil
}

// Size is the number of receipts in the batch.
func (t *ReceiptTree) Size() uint64 { return uint64(len(t.levels[0])) }

// Root is the batch root the signed body names.
func (t *ReceiptTree) Root() []byte { return t.levels[len(t.levels)-1][0] }

// Path is the audit path of the receipt at index (RFC 6962 inclusion
// proof in the batch tree).
func (t *ReceiptTree) Path(index uint64) [][]byte {
	var path [][]byte
	i := int(index)
	for _, level := range t.levels[:len(t.levels)-1] {
		if sib := i ^ 1; sib < len(level) {
			path = append(path, level[sib])
		}
		i /= 2
	}
	return path
}
