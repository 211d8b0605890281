package evidence

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Entry tags. Each is the first field of an entry's canonical bytes, so bytes
// of one entry type can never be read as another type, nor as anything else
// hashed with SM3 elsewhere in the system.
const (
	TxTag    = "lianmeng.evidence.tx"
	AuditTag = "lianmeng.evidence.audit"
)

// EntryVersion is the version byte written after the tag. A future format
// gets a new version; old entries keep theirs, and so their hashes.
const EntryVersion byte = 1

// maxField bounds any single string or byte field, to keep a malformed entry
// from making a decoder allocate gigabytes.
const maxField = 1 << 20

// Posting is one leg of a ledger transaction.
type Posting struct {
	Account string `json:"account"`
	Asset   string `json:"asset"`
	Amount  int64  `json:"amount"`
}

// TxRecord is a ledger transaction as it enters the evidence log.
type TxRecord struct {
	ID        int64     `json:"id"`
	Kind      string    `json:"kind"`
	Ref       string    `json:"ref,omitempty"`      // external reference / idempotency scope, may be empty
	Reverses  int64     `json:"reverses,omitempty"` // ID of the transaction this one reverses, 0 if none
	CreatedAt time.Time `json:"created_at"`         // encoded as UTC microseconds
	Postings  []Posting `json:"postings"`
}

// AuditRecord is an administrative action (rule publication, merchant change,
// key rotation...) as it enters the evidence log.
type AuditRecord struct {
	ID        int64     `json:"id"`
	Kind      string    `json:"kind"`
	Actor     string    `json:"actor"`
	Subject   string    `json:"subject"`
	Payload   []byte    `json:"payload,omitempty"` // canonical JSON chosen by the caller; empty allowed
	CreatedAt time.Time `json:"created_at"`
}

// ComparePostings is the canonical posting order: Account, then Asset
// (bytewise), then Amount (numerically). Equal postings are interchangeable,
// so the order is total on the encoded bytes.
func ComparePostings(a, b Posting) int {
	if c := strings.Compare(a.Account, b.Account); c != 0 {
		return c
	}
	if c := strings.Compare(a.Asset, b.Asset); c != 0 {
		return c
	}
	switch {
	case a.Amount < b.Amount:
		return -1
	case a.Amount > b.Amount:
		return 1
	}
	return 0
}

// EncodeTx returns the canonical bytes of a ledger transaction (see
// docs/evidence.md). Postings are sorted by ComparePostings on a copy, so the
// caller's slice and the database's row order do not matter.
func EncodeTx(tx TxRecord) ([]byte, error) {
	if tx.ID <= 0 {
		return nil, fmt.Errorf("evidence: tx id %d: must be positive", tx.ID)
	}
	if tx.Kind == "" {
		return nil, fmt.Errorf("evidence: tx %d: empty kind", tx.ID)
	}
	if tx.Reverses < 0 {
		return nil, fmt.Errorf("evidence: tx %d: negative reverses %d", tx.ID, tx.Reverses)
	}
	if len(tx.Postings) > math.MaxUint32 {
		return nil, fmt.Errorf("evidence: tx %d: too many postings", tx.ID)
	}
	ps := slices.Clone(tx.Postings)
	slices.SortFunc(ps, ComparePostings)

	e := encoder{buf: make([]byte, 0, 64+len(tx.Kind)+len(tx.Ref)+len(ps)*48)}
	e.str(TxTag)
	e.byte(EntryVersion)
	e.i64(tx.ID)
	e.str(tx.Kind)
	e.str(tx.Ref)
	e.i64(tx.Reverses)
	e.i64(tx.CreatedAt.UnixMicro())
	e.u32(uint32(len(ps)))
	for _, p := range ps {
		e.str(p.Account)
		e.str(p.Asset)
		e.i64(p.Amount)
	}
	if e.err != nil {
		return nil, fmt.Errorf("evidence: tx %d: %w", tx.ID, e.err)
	}
	return e.buf, nil
}

// EncodeAudit returns the canonical bytes of an administrative action (see
// docs/evidence.md). Payload must be empty or valid JSON; it is hashed as
// given, so the caller must produce it canonically (e.g. sorted keys, no
// insignificant whitespace) if it ever needs to re-derive it.
func EncodeAudit(a AuditRecord) ([]byte, error) {
	if a.ID <= 0 {
		return nil, fmt.Errorf("evidence: audit id %d: must be positive", a.ID)
	}
	if a.Kind == "" {
		return nil, fmt.Errorf("evidence: audit %d: empty kind", a.ID)
	}
	if len(a.Payload) > 0 && !json.Valid(a.Payload) {
		return nil, fmt.Errorf("evidence: audit %d: payload is not valid JSON", a.ID)
	}
	e := encoder{buf: make([]byte, 0, 64+len(a.Kind)+len(a.Actor)+len(a.Subject)+len(a.Payload))}
	e.str(AuditTag)
	e.byte(EntryVersion)
	e.i64(a.ID)
	e.str(a.Kind)
	e.str(a.Actor)
	e.str(a.Subject)
	e.bytes(a.Payload)
	e.i64(a.CreatedAt.UnixMicro())
	if e.err != nil {
		return nil, fmt.Errorf("evidence: audit %d: %w", a.ID, e.err)
	}
	return e.buf, nil
}

// DecodeEntry parses canonical entry bytes back into a *TxRecord or an
// *AuditRecord. It accepts only bytes that EncodeTx or EncodeAudit would
// produce (sorted postings, no trailing data), so decode+encode round-trips
// exactly. Times come back in UTC.
func DecodeEntry(data []byte) (any, error) {
	d := decoder{buf: data}
	tag := d.str()
	ver := d.byte()
	if d.err != nil {
		return nil, fmt.Errorf("evidence: decode entry header: %w", d.err)
	}
	if ver != EntryVersion {
		return nil, fmt.Errorf("evidence: decode entry: unsupported version %d", ver)
	}
	var out any
	switch tag {
	case TxTag:
		tx := &TxRecord{ID: d.i64(), Kind: d.str(), Ref: d.str(), Reverses: d.i64()}
		tx.CreatedAt = time.UnixMicro(d.i64()).UTC()
		n := d.u32()
		if d.err == nil && uint64(n)*12 > uint64(len(d.buf)) { // 12 = smallest encoded posting
			d.err = errors.New("posting count exceeds data")
		}
		if d.err == nil {
			tx.Postings = make([]Posting, 0, n)
			for i := uint32(0); i < n && d.err == nil; i++ {
				tx.Postings = append(tx.Postings, Posting{Account: d.str(), Asset: d.str(), Amount: d.i64()})
			}
		}
		if d.err == nil && !slices.IsSortedFunc(tx.Postings, ComparePostings) {
			d.err = errors.New("postings not in canonical order")
		}
		out = tx
	case AuditTag:
		a := &AuditRecord{ID: d.i64(), Kind: d.str(), Actor: d.str(), Subject: d.str(), Payload: d.bytes()}
		a.CreatedAt = time.UnixMicro(d.i64()).UTC()
		out = a
	default:
		return nil, fmt.Errorf("evidence: decode entry: unknown tag %q", tag)
	}
	if d.err == nil && len(d.buf) != 0 {
		d.err = fmt.Errorf("%d trailing bytes", len(d.buf))
	}
	if d.err != nil {
		return nil, fmt.Errorf("evidence: decode %s entry: %w", tag, d.err)
	}
	// Re-encoding catches every remaining non-canonical form (invalid UTF-8,
	// bad JSON payload, zero id) with the encoder's own rules.
	var again []byte
	var err error
	switch v := out.(type) {
	case *TxRecord:
		again, err = EncodeTx(*v)
	case *AuditRecord:
		again, err = EncodeAudit(*v)
	}
	if err != nil {
		return nil, fmt.Errorf("evidence: decode entry: %w", err)
	}
	if !bytes.Equal(again, data) {
		return nil, errors.New("evidence: decode entry: bytes are not canonical")
	}
	return out, nil
}

// encoder appends the primitive fields of the canonical format; the first
// error sticks.
type encoder struct {
	buf []byte
	err error
}

func (e *encoder) byte(b byte)  { e.buf = append(e.buf, b) }
func (e *encoder) u32(v uint32) { e.buf = binary.BigEndian.AppendUint32(e.buf, v) }
func (e *encoder) i64(v int64)  { e.buf = binary.BigEndian.AppendUint64(e.buf, uint64(v)) }

func (e *encoder) str(s string) {
	if e.err == nil && !utf8.ValidString(s) {
		e.err = fmt.Errorf("string %q is not valid UTF-8", s)
	}
	e.bytes([]byte(s))
}

func (e *encoder) bytes(b []byte) {
	if e.err == nil && len(b) > maxField {
		e.err = fmt.Errorf("field of %d bytes exceeds limit %d", len(b), maxField)
	}
	e.u32(uint32(len(b)))
	e.buf = append(e.buf, b...)
}

type decoder struct {
	buf []byte
	err error
}

func (d *decoder) take(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n > len(d.buf) {
		d.err = errors.New("truncated")
		return nil
	}
	b := d.buf[:n:n]
	d.buf = d.buf[n:]
	return b
}

func (d *decoder) byte() byte {
	if b := d.take(1); b != nil {
		return b[0]
	}
	return 0
}

func (d *decoder) u32() uint32 {
	if b := d.take(4); b != nil {
		return binary.BigEndian.Uint32(b)
	}
	return 0
}

func (d *decoder) i64() int64 {
	if b := d.take(8); b != nil {
		return int64(binary.BigEndian.Uint64(b))
	}
	return 0
}

func (d *decoder) bytes() []byte {
	n := d.u32()
	if d.err == nil && n > maxField {
		d.err = fmt.Errorf("field of %d bytes exceeds limit %d", n, maxField)
	}
	b := d.take(int(n))
	if d.err != nil || n == 0 {
		return nil
	}
	return slices.Clone(b)
}

func (d *decoder) str() string { return string(d.bytes()) }
