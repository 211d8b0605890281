package evidence

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/emmansun/gmsm/sm2"
)

// The receipt body of docs/evidence.md §15: the §8 transaction, issued at
// its creation time, promised within a minute.
const vecReceiptBody = "lianmeng.evidence.receipt/v1\nexample.org/lianmeng\ntx 42\nleaf NwHmIvzNczVzkn4QvOTMqDsDUf1ChaAwIzBaOxpUlKM=\ntime 2026-03-01T08:30:15.123456Z\npromise 2026-03-01T08:31:15.123456Z\nkey 0123456789abcdef\n"

func TestReceipt(t *testing.T) {
	at := time.Date(2026, 3, 1, 8, 30, 15, 123456789, time.UTC)
	tx := TxRecord{ID: 42, Kind: "earn", Ref: "m7:order-1", CreatedAt: at, Postings: []Posting{
		{Account: "merchant:7:budget", Asset: "PTS", Amount: -120}, {Account: "member:9:pending", Asset: "PTS", Amount: 120}}}
	data, err := EncodeTx(tx)
	if err != nil {
		t.Fatal(err)
	}
	r := Receipt{Origin: "example.org/lianmeng", TxID: 42, LeafHash: LeafHash(data), Time: at, Promise: at.Add(time.Minute), KeyID: "0123456789abcdef"}
	body, err := r.Body()
	if err != nil || string(body) != vecReceiptBody {
		t.Fatalf("body %q %v", body, err)
	}

	k, err := sm2.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := KeyID(&k.PublicKey)
	r.KeyID = id
	body, _ = r.Body()
	sig, err := k.Sign(rand.Reader, body, sm2.DefaultSM2SignerOpts)
	if err != nil {
		t.Fatal(err)
	}
	sr := SignedReceipt{Receipt: r, Signature: sig}
	h, err := sr.Header()
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseReceiptHeader(h)
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifyReceipt(&k.PublicKey, got); err != nil {
		t.Fatal(err)
	}
	other, _ := sm2.GenerateKey(rand.Reader)
	if err := VerifyReceipt(&other.PublicKey, got); err == nil {
		t.Fatal("verified with another key")
	}
	forged := got
	forged.TxID = 43
	if err := VerifyReceipt(&k.PublicKey, forged); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("forged receipt: %v", err)
	}
	text, _ := sr.Marshal()
	for _, bad := range []string{strings.Replace(string(text), "tx 42", "tx 042", 1), strings.Replace(string(text), "\n\n", "\n", 1), string(text) + "\n", strings.TrimSuffix(string(text), "\n")} {
		if _, err := ParseSignedReceipt([]byte(bad)); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}

	// Inclusion of the receipted transaction in a log of three entries.
	l := NewLog()
	l.Append([]byte("a"))
	l.Append(data)
	l.Append([]byte("c"))
	tiles := memTiles{}
	l2 := NewLog()
	for _, d := range [][]byte{[]byte("a"), data, []byte("c")} {
		l2.AppendLeafHashNodes(LeafHash(d), tiles.visit)
	}
	p, err := NewTileHashes(tiles.read, 3).InclusionProof(t.Context(), 1)
	if err != nil {
		t.Fatal(err)
	}
	cp := Checkpoint{Origin: r.Origin, Size: 3, Root: l.Root(), ChainHead: l.ChainHead(), Time: at, KeyID: id}
	if err := CheckReceiptInclusion(got, data, 1, p, cp); err != nil {
		t.Fatal(err)
	}
	tx.Postings[1].Amount, tx.Postings[0].Amount = 121, -121
	changed, _ := EncodeTx(tx)
	if err := CheckReceiptInclusion(got, changed, 1, p, cp); err == nil {
		t.Fatal("a changed transaction matched the receipt")
	}
	cp.Origin = "other/log"
	if err := CheckReceiptInclusion(got, data, 1, p, cp); err == nil {
		t.Fatal("a checkpoint of another log accepted")
	}
}

// The batch tree is RFC 6962's: every path verifies with the standard
// inclusion check, for every size and index.
func TestReceiptTree(t *testing.T) {
	for n := 1; n <= 70; n++ {
		ids := make([]int64, n)
		leaves := make([][]byte, n)
		for i := range n {
			ids[i] = int64(100 + i)
			leaves[i] = LeafHash([]byte{byte(i), byte(n)})
		}
		tree, err := NewReceiptTree(ids, leaves)
		if err != nil {
			t.Fatal(err)
		}
		l := NewLog()
		for i := range n {
			l.AppendLeafHashNodes(ReceiptLeaf(ids[i], leaves[i]), func(uint, uint64, []byte) {})
		}
		if !bytes.Equal(tree.Root(), l.Root()) {
			t.Fatalf("size %d: root differs from the log's", n)
		}
		for i := range n {
			if err := VerifyInclusion(ReceiptLeaf(ids[i], leaves[i]), uint64(i), uint64(n), tree.Path(uint64(i)), tree.Root()); err != nil {
				t.Fatalf("size %d index %d: %v", n, i, err)
			}
		}
	}
	if _, err := NewReceiptTree(nil, nil); err == nil {
		t.Fatal("an empty batch accepted")
	}
}

// Version 2 (docs/evidence.md §15): one signature for a batch; each
// receipt verifies alone, and changing any of its fields breaks it.
func TestReceiptBatch(t *testing.T) {
	at := time.Date(2026, 3, 1, 8, 30, 15, 123456789, time.UTC)
	tx := TxRecord{ID: 42, Kind: "earn", Ref: "m7:order-1", CreatedAt: at, Postings: []Posting{
		{Account: "merchant:7:budget", Asset: "PTS", Amount: -120}, {Account: "member:9:pending", Asset: "PTS", Amount: 120}}}
	data, err := EncodeTx(tx)
	if err != nil {
		t.Fatal(err)
	}
	// The vector: the §8 transaction and transaction 43 with an all-zero
	// leaf hash, signed together.
	ids := []int64{42, 43}
	leaves := [][]byte{LeafHash(data), make([]byte, HashSize)}
	tree, err := NewReceiptTree(ids, leaves)
	if err != nil {
		t.Fatal(err)
	}
	body, err := BatchBody("example.org/lianmeng", tree.Size(), tree.Root(), at, at.Add(time.Minute), "0123456789abcdef")
	if err != nil || string(body) != vecReceiptBatchBody {
		t.Fatalf("body %q %v", body, err)
	}
	if p := base64.StdEncoding.EncodeToString(tree.Path(0)[0]); p != vecReceiptPath0 {
		t.Fatalf("path of tx 42: %s", p)
	}

	k, err := sm2.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := KeyID(&k.PublicKey)
	body, _ = BatchBody("example.org/lianmeng", tree.Size(), tree.Root(), at, at.Add(time.Minute), id)
	sig, err := k.Sign(rand.Reader, body, sm2.DefaultSM2SignerOpts)
	if err != nil {
		t.Fatal(err)
	}
	var got []SignedReceipt
	for i := range ids {
		sr := SignedReceipt{Receipt: Receipt{Origin: "example.org/lianmeng", TxID: ids[i], LeafHash: leaves[i], Time: at, Promise: at.Add(time.Minute),
			KeyID: id, Batch: 2, Index: uint64(i), Path: tree.Path(uint64(i))}, Signature: sig}
		h, err := sr.Header()
		if err != nil {
			t.Fatal(err)
		}
		p, err := ParseReceiptHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		if err := VerifyReceipt(&k.PublicKey, p); err != nil {
			t.Fatal(err)
		}
		got = append(got, p)
	}
	other, _ := sm2.GenerateKey(rand.Reader)
	if err := VerifyReceipt(&other.PublicKey, got[0]); err == nil {
		t.Fatal("verified with another key")
	}
	tamper := map[string]func(r *SignedReceipt){
		"tx":      func(r *SignedReceipt) { r.TxID = 44 },
		"leaf":    func(r *SignedReceipt) { r.LeafHash = LeafHash([]byte("other")) },
		"index":   func(r *SignedReceipt) { r.Index = 1 },
		"path":    func(r *SignedReceipt) { r.Path = [][]byte{make([]byte, HashSize)} },
		"batch":   func(r *SignedReceipt) { r.Batch = 3 },
		"time":    func(r *SignedReceipt) { r.Time = r.Time.Add(time.Second) },
		"promise": func(r *SignedReceipt) { r.Promise = r.Promise.Add(time.Hour) },
		"origin":  func(r *SignedReceipt) { r.Origin = "other.org/log" },
		"signature": func(r *SignedReceipt) {
			r.Signature = append([]byte(nil), got[0].Signature[:len(got[0].Signature)-1]...)
		},
		"swap": func(r *SignedReceipt) { r.TxID, r.LeafHash = got[1].TxID, got[1].LeafHash },
	}
	for name, f := range tamper {
		r := got[0]
		r.Path = append([][]byte(nil), r.Path...)
		f(&r)
		if err := VerifyReceipt(&k.PublicKey, r); err == nil {
			t.Errorf("tampered %s: verified", name)
		}
	}
	// The transport form has one spelling; tampered text does not parse
	// or does not verify.
	text, _ := got[0].Marshal()
	for _, bad := range []string{strings.Replace(string(text), "tx 42", "tx 042", 1), strings.Replace(string(text), "index 0", "index 00", 1),
		strings.Replace(string(text), "\npath ", "\npath  ", 1), string(text) + "\n", strings.TrimSuffix(string(text), "\n"),
		strings.Replace(string(text), "batch 2", "batch 02", 1)} {
		if _, err := ParseSignedReceipt([]byte(bad)); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
	forged := strings.Replace(string(text), "tx 42", "tx 43", 1)
	if r, err := ParseSignedReceipt([]byte(forged)); err == nil {
		if VerifyReceipt(&k.PublicKey, r) == nil {
			t.Fatal("a receipt with another transaction id verified")
		}
	}
	// The receipted transaction's inclusion in the log, as for version 1.
	l := NewLog()
	l.Append(data)
	cp := Checkpoint{Origin: "example.org/lianmeng", Size: 1, Root: l.Root(), ChainHead: l.ChainHead(), Time: at, KeyID: id}
	if err := CheckReceiptInclusion(got[0], data, 0, nil, cp); err != nil {
		t.Fatal(err)
	}
}

// The version 2 vector of docs/evidence.md §15.
const (
	vecReceiptBatchBody = "lianmeng.evidence.receipt/v2\nexample.org/lianmeng\nbatch 2\nroot U/GcV+vg9jacuxErsDTNsxXM9uqG8uILgaviUpFiHVw=\ntime 2026-03-01T08:30:15.123456Z\npromise 2026-03-01T08:31:15.123456Z\nkey 0123456789abcdef\n"
	vecReceiptPath0     = "KKXHsstnFyl5Nc5dgrB6a871kIJ6hOeAvCQPj5HFD0Y="
)
