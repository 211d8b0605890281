package evidence

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/sm3"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// GB/T 32905-2016 appendix A examples.
func TestSM3Vectors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"abc", "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"},
		{strings.Repeat("abcd", 16), "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"},
		{"", "1ab21d8355cfa17f8e61194831e81a8f22bec8c728fefb747ed035eb5082aa2b"},
	} {
		got := sm3.Sum([]byte(tc.in))
		if hex.EncodeToString(got[:]) != tc.want {
			t.Errorf("SM3(%q) = %x, want %s", tc.in, got, tc.want)
		}
	}
	if got := hex.EncodeToString(SM3Hasher.EmptyRoot()); got != "1ab21d8355cfa17f8e61194831e81a8f22bec8c728fefb747ed035eb5082aa2b" {
		t.Errorf("EmptyRoot = %s", got)
	}
}

func TestHasherDomainSeparation(t *testing.T) {
	d := []byte("abc")
	leaf := sm3.Sum(append([]byte{0}, d...))
	if !bytes.Equal(SM3Hasher.HashLeaf(d), leaf[:]) {
		t.Error("HashLeaf is not SM3(0x00||data)")
	}
	l, r := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	node := sm3.Sum(append(append([]byte{1}, l...), r...))
	if !bytes.Equal(SM3Hasher.HashChildren(l, r), node[:]) {
		t.Error("HashChildren is not SM3(0x01||l||r)")
	}
	chain := sm3.Sum(append(append([]byte{2}, l...), r...))
	if !bytes.Equal(ChainNext(l, r), chain[:]) {
		t.Error("ChainNext is not SM3(0x02||prev||leaf)")
	}
	g := sm3.Sum([]byte("lianmeng.evidence.chain.v1"))
	if !bytes.Equal(ChainGenesis(), g[:]) {
		t.Error("genesis")
	}
}

var testTime = time.Date(2026, 3, 1, 8, 30, 15, 123456789, time.UTC)

func testTx() TxRecord {
	return TxRecord{ID: 42, Kind: "earn", Ref: "m7:order-1", Reverses: 0, CreatedAt: testTime,
		Postings: []Posting{
			{Account: "merchant:7:budget", Asset: "PTS", Amount: -120},
			{Account: "member:9:pending", Asset: "PTS", Amount: 120},
		}}
}

// The canonical bytes are built here field by field, independently of the
// encoder, exactly as docs/evidence.md describes them.
func TestEncodeTxLayout(t *testing.T) {
	var want []byte
	str := func(s string) {
		want = binary.BigEndian.AppendUint32(want, uint32(len(s)))
		want = append(want, s...)
	}
	i64 := func(v int64) { want = binary.BigEndian.AppendUint64(want, uint64(v)) }
	str("lianmeng.evidence.tx")
	want = append(want, 1)
	i64(42)
	str("earn")
	str("m7:order-1")
	i64(0)
	i64(testTime.Unix()*1e6 + 123456) // nanoseconds truncated
	want = binary.BigEndian.AppendUint32(want, 2)
	str("member:9:pending") // "mem" < "mer"
	str("PTS")
	i64(120)
	str("merchant:7:budget")
	str("PTS")
	i64(-120)

	got, err := EncodeTx(testTx())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("EncodeTx:\n got %x\nwant %x", got, want)
	}
	// Published test vector (docs/evidence.md): a regression guard.
	const leaf = "3701e622fccd733573927e10bce4cca83b0351fd4285a03023305a3b1a5494a3"
	if h := hex.EncodeToString(LeafHash(got)); h != leaf {
		t.Fatalf("leaf hash %s, want %s", h, leaf)
	}
}

func TestEncodeTxPostingOrderIrrelevant(t *testing.T) {
	tx := testTx()
	tx.Postings = append(tx.Postings, Posting{"alliance:reserve", "CNY", -5}, Posting{"merchant:7:payable", "CNY", 5}, Posting{"alliance:reserve", "CNY", -7}, Posting{"alliance:reserve", "CNY", -5})
	a, err := EncodeTx(tx)
	if err != nil {
		t.Fatal(err)
	}
	orig := append([]Posting(nil), tx.Postings...)
	for i := range tx.Postings { // reverse
		tx.Postings[i] = orig[len(orig)-1-i]
	}
	b, _ := EncodeTx(tx)
	if !bytes.Equal(a, b) {
		t.Fatal("posting order changed the encoding")
	}
	for i := range tx.Postings {
		if tx.Postings[i] != orig[len(orig)-1-i] {
			t.Fatal("EncodeTx reordered the caller's slice")
		}
	}
	// Every field matters.
	for name, mut := range map[string]func(*TxRecord){
		"id":       func(x *TxRecord) { x.ID++ },
		"kind":     func(x *TxRecord) { x.Kind = "redeem" },
		"ref":      func(x *TxRecord) { x.Ref = "" },
		"reverses": func(x *TxRecord) { x.Reverses = 3 },
		"time":     func(x *TxRecord) { x.CreatedAt = x.CreatedAt.Add(time.Microsecond) },
		"amount":   func(x *TxRecord) { x.Postings[0].Amount++ },
		"account":  func(x *TxRecord) { x.Postings[1].Account += "x" },
		"asset":    func(x *TxRecord) { x.Postings[1].Asset = "CNY" },
		"drop":     func(x *TxRecord) { x.Postings = x.Postings[1:] },
		// Moving a byte between adjacent fields must not collide.
		"boundary": func(x *TxRecord) { x.Kind, x.Ref = "earnm", "7:order-1" },
	} {
		x := testTx()
		x.Postings = append([]Posting(nil), x.Postings...)
		mut(&x)
		base, _ := EncodeTx(testTx())
		got, err := EncodeTx(x)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if bytes.Equal(got, base) {
			t.Errorf("changing %s did not change the encoding", name)
		}
	}
	// Sub-microsecond differences and time zones do not matter.
	x := testTx()
	x.CreatedAt = x.CreatedAt.Add(200 * time.Nanosecond).In(time.FixedZone("CST", 8*3600))
	got, _ := EncodeTx(x)
	base, _ := EncodeTx(testTx())
	if !bytes.Equal(got, base) {
		t.Error("time zone or nanoseconds changed the encoding")
	}
}

func TestEncodeRejects(t *testing.T) {
	bad := []TxRecord{
		{ID: 0, Kind: "earn"},
		{ID: 1, Kind: ""},
		{ID: 1, Kind: "earn", Reverses: -1},
		{ID: 1, Kind: "earn", Ref: "\xff"},
	}
	for _, tx := range bad {
		if _, err := EncodeTx(tx); err == nil {
			t.Errorf("EncodeTx(%+v) accepted", tx)
		}
	}
	if _, err := EncodeAudit(AuditRecord{ID: 1, Kind: "rule.publish", Payload: []byte("{1.5")}); err == nil {
		t.Error("invalid JSON payload accepted")
	}
}

func TestDecodeRoundTrip(t *testing.T) {
	data, _ := EncodeTx(testTx())
	v, err := DecodeEntry(data)
	if err != nil {
		t.Fatal(err)
	}
	tx := v.(*TxRecord)
	if tx.ID != 42 || tx.Postings[0].Account != "member:9:pending" || !tx.CreatedAt.Equal(testTime.Truncate(time.Microsecond)) {
		t.Fatalf("decoded %+v", tx)
	}
	a := AuditRecord{ID: 3, Kind: "rule.publish", Actor: "staff:1", Subject: "merchant:7/rules/v4", Payload: []byte(`{"rate":"1/100"}`), CreatedAt: testTime}
	adata, err := EncodeAudit(a)
	if err != nil {
		t.Fatal(err)
	}
	v, err = DecodeEntry(adata)
	if err != nil {
		t.Fatal(err)
	}
	if got := v.(*AuditRecord); string(got.Payload) != `{"rate":"1/100"}` || got.Subject != a.Subject {
		t.Fatalf("decoded %+v", got)
	}
	// Truncations, trailing bytes and unsorted postings are refused.
	for i := range len(data) {
		if _, err := DecodeEntry(data[:i]); err == nil {
			t.Fatalf("truncated at %d accepted", i)
		}
	}
	if _, err := DecodeEntry(append(bytes.Clone(data), 0)); err == nil {
		t.Error("trailing byte accepted")
	}
	if bytes.Equal(adata[:4], data[:4]) && bytes.Equal(adata, data) {
		t.Error("tx and audit encodings collide")
	}
}

func FuzzDecodeEntry(f *testing.F) {
	data, _ := EncodeTx(testTx())
	f.Add(data)
	a, _ := EncodeAudit(AuditRecord{ID: 1, Kind: "k", Payload: []byte(`[]`), CreatedAt: testTime})
	f.Add(a)
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := DecodeEntry(b)
		if err != nil {
			return
		}
		var again []byte
		switch e := v.(type) {
		case *TxRecord:
			again, err = EncodeTx(*e)
		case *AuditRecord:
			again, err = EncodeAudit(*e)
		}
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("decode/encode not identity: %v", err)
		}
	})
}

// naiveRoot is RFC 6962 §2.1 MTH, written recursively.
func naiveRoot(leaves [][]byte) []byte {
	switch n := len(leaves); n {
	case 0:
		h := sm3.Sum(nil)
		return h[:]
	case 1:
		return SM3Hasher.HashLeaf(leaves[0])
	default:
		k := 1
		for k*2 < n {
			k *= 2
		}
		return SM3Hasher.HashChildren(naiveRoot(leaves[:k]), naiveRoot(leaves[k:]))
	}
}

func leafData(i int) []byte {
	tx := testTx()
	tx.ID = int64(i + 1)
	b, _ := EncodeTx(tx)
	return b
}

func TestLogRootMatchesNaive(t *testing.T) {
	l := NewLog()
	var leaves [][]byte
	for n := 0; n <= 70; n++ {
		if got, want := l.Root(), naiveRoot(leaves); !bytes.Equal(got, want) {
			t.Fatalf("size %d: root %x, want %x", n, got, want)
		}
		// Persist and restore at every size; the restored log must continue identically.
		bin, err := l.State().MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var st LogState
		if err := st.UnmarshalBinary(bin); err != nil {
			t.Fatal(err)
		}
		r, err := RestoreLog(st)
		if err != nil {
			t.Fatalf("size %d: restore: %v", n, err)
		}
		d := leafData(n)
		leaves = append(leaves, d)
		_, c1 := l.Append(d)
		_, c2 := r.Append(d)
		if !bytes.Equal(c1, c2) || !bytes.Equal(l.Root(), r.Root()) {
			t.Fatalf("size %d: restored log diverged", n)
		}
	}
}

func TestLogStateRejects(t *testing.T) {
	l := NewLog()
	for i := range 5 {
		l.Append(leafData(i))
	}
	st := l.State()
	st.Hashes = st.Hashes[:1]
	if _, err := RestoreLog(st); err == nil {
		t.Error("wrong number of hashes accepted")
	}
	bin, _ := l.State().MarshalBinary()
	var s2 LogState
	if err := s2.UnmarshalBinary(bin[:len(bin)-1]); err == nil {
		t.Error("short state accepted")
	}
}

func sealed(n int) []SealedEntry {
	l := NewLog()
	out := make([]SealedEntry, n)
	for i := range out {
		d := leafData(i)
		_, c := l.Append(d)
		out[i] = SealedEntry{Data: d, Chain: c}
	}
	return out
}

func TestVerifyChain(t *testing.T) {
	es := sealed(10)
	if bad, err := VerifyChain(es); bad != -1 || err != nil {
		t.Fatalf("clean chain: %d %v", bad, err)
	}
	changed := sealed(10)
	changed[4].Data = leafData(99)
	deleted := append(sealed(10)[:6:6], sealed(10)[7:]...)
	reordered := sealed(10)
	reordered[2], reordered[3] = reordered[3], reordered[2]
	inserted := append(append(sealed(10)[:5:5], SealedEntry{Data: leafData(50), Chain: sealed(10)[5].Chain}), sealed(10)[5:]...)
	for name, tc := range map[string]struct {
		es   []SealedEntry
		want int
	}{
		"changed": {changed, 4}, "deleted": {deleted, 6}, "reordered": {reordered, 2}, "inserted": {inserted, 5},
	} {
		bad, err := VerifyChain(tc.es)
		var de *DivergenceError
		if bad != tc.want || !errors.As(err, &de) || de.Index != uint64(tc.want) {
			t.Errorf("%s: firstBad=%d err=%v, want %d", name, bad, err, tc.want)
		}
	}
}

func testKey(t testing.TB) (*sm2.PrivateKey, string) {
	k, err := sm2.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id, err := KeyID(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return k, id
}

func signCP(t testing.TB, k *sm2.PrivateKey, cp Checkpoint) SignedCheckpoint {
	body, err := cp.Body()
	if err != nil {
		t.Fatal(err)
	}
	sig, err := k.Sign(rand.Reader, body, sm2.DefaultSM2SignerOpts)
	if err != nil {
		t.Fatal(err)
	}
	return SignedCheckpoint{Checkpoint: cp, Signature: sig}
}

func TestCheckpointTextAndSignature(t *testing.T) {
	k, id := testKey(t)
	if len(id) != 16 {
		t.Fatalf("key id %q", id)
	}
	l := NewLog()
	for i := range 7 {
		l.Append(leafData(i))
	}
	cp := Checkpoint{Origin: "example.org/lianmeng", Size: 7, Root: l.Root(), ChainHead: l.ChainHead(), Time: testTime, KeyID: id}
	sc := signCP(t, k, cp)
	text, err := sc.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(text), "\n")
	if lines[0] != "example.org/lianmeng" || lines[1] != "7" || lines[4] != "time 2026-03-01T08:30:15.123456Z" || lines[5] != "key "+id || lines[6] != "" || !strings.HasPrefix(lines[7], "— "+id+" ") {
		t.Fatalf("unexpected text:\n%s", text)
	}
	back, err := ParseSignedCheckpoint(text)
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifyCheckpoint(&k.PublicKey, back); err != nil {
		t.Fatalf("verify: %v", err)
	}
	if err := l.CheckCheckpoint(back.Checkpoint); err != nil {
		t.Fatalf("recompute: %v", err)
	}

	other, _ := testKey(t)
	if err := VerifyCheckpoint(&other.PublicKey, back); err == nil {
		t.Error("verified with another key")
	}
	// Another key claiming our key id (the id is not the signature).
	forged := signCP(t, other, cp)
	if err := VerifyCheckpoint(&k.PublicKey, forged); !errors.Is(err, ErrBadSignature) {
		t.Errorf("forged signature: %v", err)
	}
	for name, mut := range map[string]func(*SignedCheckpoint){
		"size":   func(s *SignedCheckpoint) { s.Size++ },
		"root":   func(s *SignedCheckpoint) { s.Root = bytes.Clone(s.Root); s.Root[0] ^= 1 },
		"chain":  func(s *SignedCheckpoint) { s.ChainHead = bytes.Clone(s.ChainHead); s.ChainHead[31] ^= 1 },
		"time":   func(s *SignedCheckpoint) { s.Time = s.Time.Add(time.Second) },
		"origin": func(s *SignedCheckpoint) { s.Origin = "evil.example" },
		"sig": func(s *SignedCheckpoint) {
			s.Signature = bytes.Clone(s.Signature)
			s.Signature[len(s.Signature)-1] ^= 1
		},
	} {
		s := back
		mut(&s)
		if err := VerifyCheckpoint(&k.PublicKey, s); err == nil {
			t.Errorf("changed %s still verifies", name)
		}
	}
	// Non-canonical texts are refused.
	for _, bad := range []string{
		strings.Replace(string(text), "\n7\n", "\n07\n", 1),
		strings.Replace(string(text), "Z\n", "+00:00\n", 1),
		strings.Replace(string(text), "\n\n", "\n", 1),
		string(text) + "x",
		sigLineWith(string(text), func(sig string) string { return sig[:10] + "\n" + sig[10:] }),
		sigLineWith(string(text), func(sig string) string { return sig[:10] + "\r" + sig[10:] }),
		sigLineWith(string(text), func(sig string) string { return sig + "\r" }),
		sigLineWith(string(text), func(sig string) string { return "\r\n" + sig }),
	} {
		if _, err := ParseSignedCheckpoint([]byte(bad)); err == nil {
			t.Errorf("accepted non-canonical text:\n%s", bad)
		}
	}
	// A log that lost its last entry no longer matches the checkpoint.
	short := NewLog()
	for i := range 6 {
		short.Append(leafData(i))
	}
	if err := short.CheckCheckpoint(cp); err == nil || !strings.Contains(err.Error(), "checkpoint of size 7 checked against log of size 6") {
		t.Errorf("truncated log: %v, want a size mismatch", err)
	}
	// Nor does a log whose last entry changed.
	altered := NewLog()
	for i := range 7 {
		d := leafData(i)
		if i == 6 {
			d = leafData(100)
		}
		altered.Append(d)
	}
	var de *DivergenceError
	if err := altered.CheckCheckpoint(cp); !errors.As(err, &de) {
		t.Errorf("altered log: %v, want a divergence", err)
	}
}

// sigLineWith returns a signed checkpoint text whose base64 signature is
// replaced by edit(signature).
func sigLineWith(text string, edit func(string) string) string {
	i := strings.LastIndexByte(text, ' ')
	sig := strings.TrimSuffix(text[i+1:], "\n")
	return text[:i+1] + edit(sig) + "\n"
}

func TestCheckpointBodyRejects(t *testing.T) {
	l := NewLog()
	good := Checkpoint{Origin: "o", Root: l.Root(), ChainHead: l.ChainHead(), Time: testTime, KeyID: "k"}
	if _, err := good.Body(); err != nil {
		t.Fatal(err)
	}
	for name, mut := range map[string]func(*Checkpoint){
		"origin space": func(c *Checkpoint) { c.Origin = "a b" },
		"origin nl":    func(c *Checkpoint) { c.Origin = "a\nb" },
		"no key":       func(c *Checkpoint) { c.KeyID = "" },
		"short root":   func(c *Checkpoint) { c.Root = c.Root[:31] },
		"zero time":    func(c *Checkpoint) { c.Time = time.Time{} },
	} {
		c := good
		mut(&c)
		if _, err := c.Body(); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
}

func TestParsePublicKeyPEM(t *testing.T) {
	if _, err := ParsePublicKeyPEM([]byte("nope")); err == nil {
		t.Error("garbage accepted")
	}
	if _, err := ParsePublicKeyPEM([]byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")); err == nil || !strings.Contains(err.Error(), "PUBLIC KEY") {
		t.Errorf("private key block: %v", err)
	}
}

func BenchmarkLeafHash(b *testing.B) {
	data := leafData(0)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		LeafHash(data)
	}
}

func BenchmarkLogAppend(b *testing.B) {
	data := leafData(0)
	l := NewLog()
	for b.Loop() {
		l.Append(data)
	}
}

func BenchmarkVerifyCheckpoint(b *testing.B) {
	k, id := testKey(b)
	l := NewLog()
	l.Append(leafData(0))
	sc := signCP(b, k, Checkpoint{Origin: "o", Size: 1, Root: l.Root(), ChainHead: l.ChainHead(), Time: testTime, KeyID: id})
	for b.Loop() {
		if err := VerifyCheckpoint(&k.PublicKey, sc); err != nil {
			b.Fatal(err)
		}
	}
}
