package evidence

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	sdk "github.com/lianmeng/lianmeng/sdk/evidence"
)

var t0 = time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)

func entry(i int) []byte {
	var (
		b   []byte
		err error
	)
	if i%5 == 4 { // admin actions share the log
		b, err = EncodeAudit(AuditRecord{ID: int64(i + 1), Kind: "rule.publish", Actor: "staff:1", Subject: fmt.Sprintf("rule:%d", i), Payload: []byte(`{"v":1}`), CreatedAt: t0})
	} else {
		b, err = EncodeTx(TxRecord{ID: int64(i + 1), Kind: "earn", Ref: fmt.Sprintf("m1:%d", i), CreatedAt: t0.Add(time.Duration(i) * time.Millisecond),
			Postings: []Posting{{Account: "merchant:1:budget", Asset: "PTS", Amount: -int64(i)}, {Account: "member:2:pending", Asset: "PTS", Amount: int64(i)}}})
	}
	if err != nil {
		panic(err)
	}
	return b
}

// naiveRoot is RFC 6962 MTH over leaf hashes, written recursively.
func naiveRoot(h [][]byte) []byte {
	switch len(h) {
	case 0:
		return sdk.SM3Hasher.EmptyRoot()
	case 1:
		return h[0]
	}
	k := 1
	for k*2 < len(h) {
		k *= 2
	}
	return sdk.SM3Hasher.HashChildren(naiveRoot(h[:k]), naiveRoot(h[k:]))
}

func buildTree(t testing.TB, n int) (*Tree, [][]byte) {
	t.Helper()
	leaves := make([][]byte, n)
	for i := range leaves {
		leaves[i] = LeafHash(entry(i))
	}
	tr, err := BuildTree(uint64(n), func(i uint64) ([]byte, error) { return leaves[i], nil })
	if err != nil {
		t.Fatal(err)
	}
	return tr, leaves
}

func TestTreeRootsMatchNaiveAndLog(t *testing.T) {
	const max = 70
	tr, leaves := buildTree(t, max)
	log := NewLog()
	for n := 0; n <= max; n++ {
		want := naiveRoot(leaves[:n])
		got, err := tr.RootAt(uint64(n))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) || !bytes.Equal(log.Root(), want) {
			t.Fatalf("size %d: tree %x log %x naive %x", n, got, log.Root(), want)
		}
		if n < max {
			log.Append(entry(n))
		}
	}
	if _, err := tr.RootAt(max + 1); err == nil {
		t.Error("root beyond size")
	}
}

func TestInclusionProofs(t *testing.T) {
	const max = 70
	tr, leaves := buildTree(t, max)
	for size := uint64(1); size <= max; size++ {
		root, _ := tr.RootAt(size)
		for i := uint64(0); i < size; i++ {
			p, err := tr.InclusionProof(i, size)
			if err != nil {
				t.Fatalf("proof %d/%d: %v", i, size, err)
			}
			if err := sdk.VerifyInclusionData(entry(int(i)), i, size, p, root); err != nil {
				t.Fatalf("verify %d/%d: %v", i, size, err)
			}
			// Tampering: another leaf, another index, a changed proof hash, another root.
			if sdk.VerifyInclusion(leaves[(i+1)%size], i, size, p, root) == nil && size > 1 {
				t.Fatalf("%d/%d: wrong leaf accepted", i, size)
			}
			if size > 1 && sdk.VerifyInclusion(leaves[i], (i+1)%size, size, p, root) == nil {
				t.Fatalf("%d/%d: wrong index accepted", i, size)
			}
			if len(p) > 0 {
				q := cloneProof(p)
				q[len(q)/2][0] ^= 1
				if sdk.VerifyInclusion(leaves[i], i, size, q, root) == nil {
					t.Fatalf("%d/%d: tampered proof accepted", i, size)
				}
				if sdk.VerifyInclusion(leaves[i], i, size, p[:len(p)-1], root) == nil {
					t.Fatalf("%d/%d: short proof accepted", i, size)
				}
			}
			bad := bytes.Clone(root)
			bad[5] ^= 1
			if sdk.VerifyInclusion(leaves[i], i, size, p, bad) == nil {
				t.Fatalf("%d/%d: wrong root accepted", i, size)
			}
		}
	}
	// The stateless helper agrees.
	p1, _ := tr.InclusionProof(17, 40)
	p2, err := InclusionProofFromLeaves(17, 40, func(i uint64) ([]byte, error) { return leaves[i], nil })
	if err != nil || !equalProofs(p1, p2) {
		t.Fatalf("InclusionProofFromLeaves: %v", err)
	}
	if _, err := tr.InclusionProof(5, max+1); err == nil {
		t.Error("proof beyond tree size")
	}
}

func TestConsistencyProofs(t *testing.T) {
	const max = 70
	tr, _ := buildTree(t, max)
	for s2 := uint64(0); s2 <= max; s2++ {
		r2, _ := tr.RootAt(s2)
		for s1 := uint64(0); s1 <= s2; s1++ {
			r1, _ := tr.RootAt(s1)
			p, err := tr.ConsistencyProof(s1, s2)
			if err != nil {
				t.Fatalf("%d→%d: %v", s1, s2, err)
			}
			if err := sdk.VerifyConsistencyRoots(s1, s2, p, r1, r2); err != nil {
				t.Fatalf("%d→%d: %v", s1, s2, err)
			}
			if s1 == 0 || s1 == s2 {
				continue
			}
			bad := bytes.Clone(r1)
			bad[0] ^= 1
			if sdk.VerifyConsistencyRoots(s1, s2, p, bad, r2) == nil {
				t.Fatalf("%d→%d: wrong old root accepted", s1, s2)
			}
			if sdk.VerifyConsistencyRoots(s1, s2, p, r1, bad) == nil {
				t.Fatalf("%d→%d: wrong new root accepted", s1, s2)
			}
			q := cloneProof(p)
			q[0][31] ^= 1
			if sdk.VerifyConsistencyRoots(s1, s2, q, r1, r2) == nil {
				t.Fatalf("%d→%d: tampered proof accepted", s1, s2)
			}
		}
	}
	p1, _ := tr.ConsistencyProof(13, 61)
	_, leaves := buildTree(t, max)
	p2, err := ConsistencyProofFromLeaves(13, 61, func(i uint64) ([]byte, error) { return leaves[i], nil })
	if err != nil || !equalProofs(p1, p2) {
		t.Fatalf("ConsistencyProofFromLeaves: %v", err)
	}
}

// A rewritten history (entry 10 changed after checkpoint 1) cannot be proven
// consistent with the old checkpoint.
func TestRewrittenHistoryDetected(t *testing.T) {
	signer := newTestSigner(t)
	honest, _ := buildTree(t, 20)
	r20, _ := honest.RootAt(20)
	l := NewLog()
	for i := range 20 {
		l.Append(entry(i))
	}
	old, err := signer.Sign(Checkpoint{Origin: "test", Size: 20, Root: r20, ChainHead: l.ChainHead(), Time: t0})
	if err != nil {
		t.Fatal(err)
	}
	// Positive control: the honest tree of size 30 is provably consistent
	// with the old checkpoint, so a failure below is the rewrite's doing.
	honest30, _ := buildTree(t, 30)
	h30, err := honest30.RootAt(30)
	if err != nil {
		t.Fatal(err)
	}
	hp, err := honest30.ConsistencyProof(20, 30)
	if err != nil {
		t.Fatal(err)
	}
	honestCP, err := signer.Sign(Checkpoint{Origin: "test", Size: 30, Root: h30, ChainHead: l.ChainHead(), Time: t0.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if err := sdk.VerifyConsistency(old.Checkpoint, honestCP.Checkpoint, hp); err != nil {
		t.Fatalf("honest history: %v", err)
	}

	forged := NewTree()
	for i := range 30 {
		d := entry(i)
		if i == 10 {
			d = entry(99)
		}
		forged.AppendLeafHash(LeafHash(d))
	}
	r30, err := forged.RootAt(30)
	if err != nil {
		t.Fatal(err)
	}
	p, err := forged.ConsistencyProof(20, 30)
	if err != nil {
		t.Fatal(err)
	}
	newCP, err := signer.Sign(Checkpoint{Origin: "test", Size: 30, Root: r30, ChainHead: l.ChainHead(), Time: t0.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifyCheckpoint(signer.PublicKey(), newCP); err != nil {
		t.Fatalf("forged checkpoint is validly signed, only its history is wrong: %v", err)
	}
	err = sdk.VerifyConsistency(old.Checkpoint, newCP.Checkpoint, p)
	if err == nil {
		t.Fatal("rewritten history proven consistent")
	}
	if !strings.Contains(err.Error(), "consistency from size 20 to 30") {
		t.Fatalf("rejected for another reason: %v", err)
	}
	// Nor does the honest proof fit the forged root.
	if sdk.VerifyConsistency(old.Checkpoint, newCP.Checkpoint, hp) == nil {
		t.Fatal("honest proof accepted for the forged root")
	}
}

func TestTreeConcurrentAppendAndProof(t *testing.T) {
	tr := NewTree()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range 500 {
			tr.AppendLeafHash(LeafHash(entry(i)))
		}
	}()
	for range 200 {
		if n := tr.Size(); n > 1 {
			p, err := tr.InclusionProof(n/2, n)
			root, _ := tr.RootAt(n)
			if err != nil || sdk.VerifyInclusionData(entry(int(n/2)), n/2, n, p, root) != nil {
				t.Fatalf("size %d: %v", n, err)
			}
		}
	}
	wg.Wait()
}

func newTestSigner(t testing.TB) *Signer {
	t.Helper()
	k, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSigner(k)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSignerAndKeys(t *testing.T) {
	s := newTestSigner(t)
	log := NewLog()
	log.Append(entry(0))
	sc, err := s.Sign(Checkpoint{Origin: "test", Size: 1, Root: log.Root(), ChainHead: log.ChainHead(), Time: t0, KeyID: "ignored"})
	if err != nil {
		t.Fatal(err)
	}
	if sc.KeyID != s.KeyID() {
		t.Fatal("signer did not set its key id")
	}
	pubPEM, err := s.PublicKeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	pub, err := ParsePublicKeyPEM(pubPEM) // what a verifier does with the published key
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifyCheckpoint(pub, sc); err != nil {
		t.Fatal(err)
	}
	other := newTestSigner(t)
	if VerifyCheckpoint(other.PublicKey(), sc) == nil {
		t.Fatal("verified with another key")
	}
	// The same with the key id matching the other key, so the signature
	// itself is what fails, not the key id.
	claimed := sc
	claimed.KeyID = other.KeyID()
	if err := VerifyCheckpoint(other.PublicKey(), claimed); !errors.Is(err, sdk.ErrBadSignature) {
		t.Fatalf("signature verified with another key: %v", err)
	}
	// And a signature by the other key over our checkpoint, claiming our id.
	forged, err := other.Sign(sc.Checkpoint)
	if err != nil {
		t.Fatal(err)
	}
	forged.KeyID = s.KeyID()
	if err := VerifyCheckpoint(pub, forged); !errors.Is(err, sdk.ErrBadSignature) {
		t.Fatalf("another key's signature under our key id: %v", err)
	}
	sc.Time = sc.Time.Add(time.Microsecond)
	if VerifyCheckpoint(pub, sc) == nil {
		t.Fatal("changed time still verifies")
	}

	// PEM round trip.
	k, _ := GenerateKey()
	privPEM, err := MarshalPrivateKeyPEM(k)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := ParsePrivateKeyPEM(privPEM)
	if err != nil || !k2.Equal(k) {
		t.Fatalf("private key round trip: %v", err)
	}
	if _, err := ParsePrivateKeyPEM(pubPEM); err == nil {
		t.Error("public key parsed as private")
	}
}

func TestLoadOrCreateKey(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	k1, gen, err := LoadOrCreateKey(dir)
	if err != nil || !gen {
		t.Fatalf("create: gen=%v err=%v", gen, err)
	}
	fi, _ := os.Stat(filepath.Join(dir, PrivateKeyFile))
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key mode %v", fi.Mode().Perm())
	}
	pubPEM, err := os.ReadFile(filepath.Join(dir, PublicKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if pub, err := ParsePublicKeyPEM(pubPEM); err != nil || !pub.Equal(&k1.PublicKey) {
		t.Fatalf("published key: %v", err)
	}
	k2, gen, err := LoadOrCreateKey(dir)
	if err != nil || gen || !k2.Equal(k1) {
		t.Fatalf("reload: gen=%v err=%v", gen, err)
	}
	os.Chmod(filepath.Join(dir, PrivateKeyFile), 0o644)
	if _, _, err := LoadOrCreateKey(dir); err == nil {
		t.Error("world-readable key accepted")
	}

	// Racing creators agree on one key.
	dir2 := t.TempDir()
	keys := make([][]byte, 8)
	var wg sync.WaitGroup
	for i := range keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k, _, err := LoadOrCreateKey(dir2)
			if err != nil {
				t.Error(err)
				return
			}
			keys[i], _ = MarshalPrivateKeyPEM(k)
		}()
	}
	wg.Wait()
	for _, k := range keys[1:] {
		if !bytes.Equal(k, keys[0]) {
			t.Fatal("racing LoadOrCreateKey returned different keys")
		}
	}
}

func cloneProof(p [][]byte) [][]byte {
	q := make([][]byte, len(p))
	for i := range p {
		q[i] = bytes.Clone(p[i])
	}
	return q
}

func equalProofs(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

func BenchmarkSignCheckpoint(b *testing.B) {
	s := newTestSigner(b)
	log := NewLog()
	log.Append(entry(0))
	cp := Checkpoint{Origin: "bench", Size: 1, Root: log.Root(), ChainHead: log.ChainHead(), Time: t0}
	for b.Loop() {
		if _, err := s.Sign(cp); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBuildTree1M(b *testing.B) {
	h := LeafHash(entry(0))
	for b.Loop() {
		if _, err := BuildTree(1<<20, func(uint64) ([]byte, error) { return h, nil }); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkInclusionProof1M(b *testing.B) {
	h := LeafHash(entry(0))
	tr, _ := BuildTree(1_000_003, func(uint64) ([]byte, error) { return h, nil })
	i := uint64(0)
	for b.Loop() {
		i = (i + 7919) % 1_000_003
		if _, err := tr.InclusionProof(i, 1_000_003); err != nil {
			b.Fatal(err)
		}
	}
}
