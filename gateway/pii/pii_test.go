package pii

import (
	"bytes"
	"crypto/cipher"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/emmansun/gmsm/sm4"
)

const (
	k1Hex  = "00112233445566778899aabbccddeeff"
	k2Hex  = "ffeeddccbbaa99887766554433221100"
	idxHex = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
)

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// GB/T 32907-2016 example 1, and the SM4-GCM vector of RFC 8998 appendix A.1.
func TestSM4Vectors(t *testing.T) {
	key := unhex(t, "0123456789abcdeffedcba9876543210")
	block, err := sm4.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]byte, 16)
	block.Encrypt(out, key)
	if got := hex.EncodeToString(out); got != "681edf34d206965e86b3e94f536e4246" {
		t.Fatalf("SM4 block: %s", got)
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		t.Fatal(err)
	}
	nonce := unhex(t, "00001234567800000000ABCD")
	pt := unhex(t, "AAAAAAAAAAAAAAAABBBBBBBBBBBBBBBB CCCCCCCCCCCCCCCCDDDDDDDDDDDDDDDD EEEEEEEEEEEEEEEEFFFFFFFFFFFFFFFF EEEEEEEEEEEEEEEEAAAAAAAAAAAAAAAA")
	ad := unhex(t, "FEEDFACEDEADBEEFFEEDFACEDEADBEEFABADDAD2")
	want := unhex(t, "17F399F08C67D5EE19D0DC9969C4BB7D 5FD46FD3756489069157B282BB200735 D82710CA5C22F0CCFA7CBF93D496AC15 A56834CBCF98C397B4024A2691233B8D 83DE3541E4C2B58177E065A9BF7B62EC")
	if got := gcm.Seal(nil, nonce, pt, ad); !bytes.Equal(got, want) {
		t.Fatalf("SM4-GCM:\n got %x\nwant %x", got, want)
	}
}

func TestEncryptDecryptRotation(t *testing.T) {
	ring1, err := NewKeyring("k1:"+k1Hex, idxHex)
	if err != nil {
		t.Fatal(err)
	}
	ad := []byte("member:42:phone")
	old := ring1.Encrypt([]byte("+8613800138000"), ad)
	if id, _ := KeyIDOf(old); id != "k1" {
		t.Fatalf("key id %q", id)
	}
	if bytes.Contains(old, []byte("13800138000")) {
		t.Fatal("plaintext visible")
	}
	if a, b := ring1.Encrypt([]byte("x"), ad), ring1.Encrypt([]byte("x"), ad); bytes.Equal(a, b) {
		t.Fatal("nonce reused")
	}

	// Rotate: k2 active, k1 kept for old rows.
	ring2, err := NewKeyring(" k2:"+k2Hex+", k1:"+k1Hex, idxHex)
	if err != nil {
		t.Fatal(err)
	}
	fresh := ring2.Encrypt([]byte("+8613900139000"), ad)
	for _, c := range []struct {
		ct   []byte
		want string
	}{{old, "+8613800138000"}, {fresh, "+8613900139000"}} {
		pt, err := ring2.Decrypt(c.ct, ad)
		if err != nil || string(pt) != c.want {
			t.Fatalf("decrypt: %q %v", pt, err)
		}
	}
	if !ring2.NeedsRotation(old) || ring2.NeedsRotation(fresh) || !ring2.NeedsRotation([]byte("junk")) {
		t.Fatal("NeedsRotation")
	}
	re, err := ring2.Reencrypt(old, ad)
	if err != nil || ring2.NeedsRotation(re) {
		t.Fatalf("reencrypt: %v", err)
	}
	// Old ring cannot read new rows, and says why without key material.
	_, err = ring1.Decrypt(fresh, ad)
	if err == nil || !strings.Contains(err.Error(), `"k2"`) || strings.Contains(err.Error(), k2Hex) {
		t.Fatalf("unknown key error: %v", err)
	}

	// Wrong associated data, flipped bits anywhere, truncation: all refused.
	if _, err := ring2.Decrypt(old, []byte("member:43:phone")); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("wrong ad: %v", err)
	}
	for i := range old {
		c := bytes.Clone(old)
		c[i] ^= 0x01
		if _, err := ring2.Decrypt(c, ad); err == nil {
			t.Fatalf("bit flip at %d accepted", i)
		}
	}
	for i := range len(old) - 1 {
		if _, err := ring2.Decrypt(old[:i], ad); err == nil {
			t.Fatalf("truncation to %d accepted", i)
		}
	}
	// Relabelling a ciphertext with another key id fails authentication even
	// if the id exists.
	ringSameKey, _ := NewKeyring("k2:"+k1Hex, idxHex)
	relabelled := bytes.Clone(old)
	relabelled[3] = '2'
	if _, err := ringSameKey.Decrypt(relabelled, ad); err == nil {
		t.Fatal("relabelled ciphertext accepted")
	}
}

func TestKeyringParseErrors(t *testing.T) {
	for _, tc := range []struct{ enc, idx, want string }{
		{"", idxHex, "no encryption keys"},
		{"k1" + k1Hex, idxHex, "no ':'"},
		{"k1:" + k1Hex[:30], idxHex, "got 30 characters"},
		{"k1:" + strings.Repeat("zz", 16), idxHex, "not hexadecimal"},
		{"k1:" + k1Hex + ",k1:" + k2Hex, idxHex, "twice"},
		{"k1:" + k1Hex + ",", idxHex, "entry 2 is empty"},
		{"bad id:" + k1Hex, idxHex, "only letters"},
		{"k1:" + k1Hex, "", "no index key"},
		{"k1:" + k1Hex, "abcd", "got 4 characters"},
		{"k1:" + k1Hex, k1Hex, "equals encryption key"},
	} {
		_, err := NewKeyring(tc.enc, tc.idx)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("NewKeyring(%q): %v, want %q", tc.enc, err, tc.want)
			continue
		}
		for _, secret := range []string{k1Hex, k2Hex, idxHex, k1Hex[:30]} {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error leaks key material: %v", err)
			}
		}
	}
}

func TestBlindIndex(t *testing.T) {
	a, _ := NewKeyring("k1:"+k1Hex, idxHex)
	b, _ := NewKeyring("k2:"+k2Hex+",k1:"+k1Hex, idxHex) // rotation does not touch the index
	c, _ := NewKeyring("k1:"+k1Hex, strings.Repeat("42", 32))
	e1, i1, err := a.IndexPhone("138-0013-8000")
	if err != nil || e1 != "+8613800138000" {
		t.Fatal(e1, err)
	}
	_, i2, _ := b.IndexPhone("+86 13800138000")
	if !bytes.Equal(i1, i2) || len(i1) != 32 {
		t.Fatal("index not stable across spellings and encryption-key rotation")
	}
	if bytes.Equal(i1, c.Index("+8613800138000")) {
		t.Fatal("index does not depend on the key")
	}
	if bytes.Equal(i1, a.Index("+8613800138001")) {
		t.Fatal("index collides")
	}
	// HMAC-SM3 reference: RFC 2104 over SM3 (64-byte block), computed by hand.
	if got := hex.EncodeToString(a.Index("")); got != hmacSM3Manual(t, unhex(t, idxHex), nil) {
		t.Fatalf("not HMAC-SM3: %s", got)
	}
}

func TestNormalizePhone(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"13800138000", "+8613800138000"},
		{"+86 138-0013-8000", "+8613800138000"},
		{" +8613800138000 ", "+8613800138000"},
		{"008613800138000", "+8613800138000"},
		{"8613800138000", "+8613800138000"},
		{"(138) 0013 8000", "+8613800138000"},
		{"199.0000.1111", "+8619900001111"},
		{"+852 9123 4567", "+85291234567"},
		{"+1 (202) 555-0123", "+12025550123"},
		{"", ""},
		{"abc", ""},
		{"138001380000", ""},     // 12 digits
		{"1380013800", ""},       // 10 digits
		{"12800138000", ""},      // 12x is not a mobile prefix
		{"+86 010 12345678", ""}, // landline
		{"23800138000", ""},
		{"138 0013 800O", ""}, // letter O
		{"+0123456789", ""},
		{"+1234567", ""},
		{"++8613800138000", ""},
		{"１３８００１３８０００", ""}, // full-width digits
		{"+86-138-0013-8000\n", "+8613800138000"},
	} {
		got, err := NormalizePhone(tc.in)
		if tc.want == "" {
			if err == nil {
				t.Errorf("NormalizePhone(%q) = %q, want error", tc.in, got)
			} else if tc.in != "" && strings.Contains(err.Error(), strings.TrimSpace(tc.in)) {
				t.Errorf("error repeats the input: %v", err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("NormalizePhone(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestMask(t *testing.T) {
	for in, want := range map[string]string{
		"13800138000":       "138****8000",
		"+86 138-0013-8000": "138****8000",
		"+852 9123 4567":    "+852****4567",
		"+4412345678":       "+44****5678",
		"+12345678":         "+****5678",
		"garbage":           "****",
	} {
		if got := Mask(in); got != want {
			t.Errorf("Mask(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestConcurrentUse(t *testing.T) {
	k, _ := NewKeyring("k1:"+k1Hex, idxHex)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				ad := []byte{byte(g), byte(i)}
				ct := k.Encrypt([]byte("+8613800138000"), ad)
				if pt, err := k.Decrypt(ct, ad); err != nil || string(pt) != "+8613800138000" {
					t.Error(err)
					return
				}
				k.Index("+8613800138000")
			}
		}()
	}
	wg.Wait()
}

func TestLoadOrCreateDevKeys(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "dev")
	k1, gen, err := LoadOrCreateDevKeyring(dir)
	if err != nil || !gen {
		t.Fatalf("gen=%v err=%v", gen, err)
	}
	fi, _ := os.Stat(filepath.Join(dir, DevKeyFile))
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", fi.Mode().Perm())
	}
	ct := k1.Encrypt([]byte("x"), nil)
	k2, gen, err := LoadOrCreateDevKeyring(dir)
	if err != nil || gen {
		t.Fatalf("reload gen=%v err=%v", gen, err)
	}
	if pt, err := k2.Decrypt(ct, nil); err != nil || string(pt) != "x" {
		t.Fatal("reloaded keys differ")
	}
	if !bytes.Equal(k1.Index("a"), k2.Index("a")) {
		t.Fatal("index key differs after reload")
	}
	os.Chmod(filepath.Join(dir, DevKeyFile), 0o640)
	if _, _, err := LoadOrCreateDevKeyring(dir); err == nil {
		t.Fatal("group-readable key file accepted")
	}

	dir2 := t.TempDir()
	idx := make([][]byte, 8)
	var wg sync.WaitGroup
	for i := range idx {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k, _, err := LoadOrCreateDevKeyring(dir2)
			if err != nil {
				t.Error(err)
				return
			}
			idx[i] = k.Index("a")
		}()
	}
	wg.Wait()
	for _, x := range idx[1:] {
		if !bytes.Equal(x, idx[0]) {
			t.Fatal("racing creators got different keys")
		}
	}
	if e, err := NewKeyEntry("k 1"); err == nil {
		t.Fatalf("bad id accepted: %s", e)
	}
}

func BenchmarkEncrypt(b *testing.B) {
	k, _ := NewKeyring("k1:"+k1Hex, idxHex)
	pt, ad := []byte("+8613800138000"), []byte("member:42:phone")
	b.SetBytes(int64(len(pt)))
	for b.Loop() {
		k.Encrypt(pt, ad)
	}
}

func BenchmarkEncrypt4K(b *testing.B) {
	k, _ := NewKeyring("k1:"+k1Hex, idxHex)
	pt := make([]byte, 4096)
	b.SetBytes(int64(len(pt)))
	for b.Loop() {
		k.Encrypt(pt, nil)
	}
}

func BenchmarkDecrypt(b *testing.B) {
	k, _ := NewKeyring("k1:"+k1Hex, idxHex)
	ct := k.Encrypt([]byte("+8613800138000"), nil)
	for b.Loop() {
		if _, err := k.Decrypt(ct, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkIndex(b *testing.B) {
	k, _ := NewKeyring("k1:"+k1Hex, idxHex)
	for b.Loop() {
		k.Index("+8613800138000")
	}
}

// A key file the scanner cannot read to the end is an error, even if the
// lines it read before were complete.
func TestReadDevKeysScannerError(t *testing.T) {
	dir := t.TempDir()
	content := "encryption_keys=k1:" + k1Hex + "\nindex_key=" + idxHex + "\n# " + strings.Repeat("x", 70_000) + "\n"
	if err := os.WriteFile(filepath.Join(dir, DevKeyFile), []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := LoadOrCreateDevKeys(dir); err == nil || !strings.Contains(err.Error(), "too long") {
		t.Fatalf("unreadable key file: %v", err)
	}
	if _, err := LoadDevKeyring(dir); err == nil {
		t.Fatal("LoadDevKeyring accepted an unreadable key file")
	}
}

// LoadDevKeyring reads existing development keys and never creates any.
func TestLoadDevKeyringNeverCreates(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "dev")
	if _, err := LoadDevKeyring(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing keys: %v", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("LoadDevKeyring created %s (%v)", dir, err)
	}
	k1, _, err := LoadOrCreateDevKeyring(dir)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := LoadDevKeyring(dir)
	if err != nil || !bytes.Equal(k1.Index("a"), k2.Index("a")) || k1.ActiveKeyID() != k2.ActiveKeyID() {
		t.Fatalf("LoadDevKeyring: %v", err)
	}
}
