package evidence

import (
	"crypto/rand"
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
