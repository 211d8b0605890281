package signature_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/emmansun/gmsm/sm2"

	"github.com/lianmeng/lianmeng/sdk/signature"
)

type testKey struct {
	alg      string
	signer   signature.Signer
	material string // what the gateway stores
}

func testKeys(t testing.TB) []testKey {
	t.Helper()
	_, edPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	edPEM, err := signature.MarshalPublicKey(edPriv.Public())
	if err != nil {
		t.Fatal(err)
	}
	smPriv, err := sm2.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	smPEM, err := signature.MarshalPublicKey(&smPriv.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	raw := make([]byte, 32)
	rand.Read(raw)
	secret := base64.StdEncoding.EncodeToString(raw)
	hs, err := signature.NewHMACSigner("key_h", secret)
	if err != nil {
		t.Fatal(err)
	}
	return []testKey{
		{signature.Ed25519, signature.NewEd25519Signer("key_e", edPriv), edPEM},
		{signature.SM2, signature.NewSM2Signer("key_s", smPriv), smPEM},
		{signature.HMACSHA256, hs, secret},
	}
}

func TestCanonicalString(t *testing.T) {
	got := signature.CanonicalString("mch_1", "key_1", "post", "/v1/x?a=1&b=%20", 42, "nonce", []byte("abc"))
	want := "LIANMENG1\nmch_1\nkey_1\nPOST\n/v1/x?a=1&b=%20\n42\nnonce\n" +
		"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
	if got != want {
		t.Fatalf("canonical:\n%q\nwant\n%q", got, want)
	}
	if strings.HasSuffix(got, "\n") {
		t.Fatal("canonical string must not end with a newline")
	}
	if app := signature.AppendCanonical([]byte("old"), "mch_1", "key_1", "post", "/v1/x?a=1&b=%20", 42, "nonce", []byte("abc")); string(app) != "old"+want {
		t.Fatalf("AppendCanonical:\n%q\nwant\n%q", app, "old"+want)
	}
	if n := testing.AllocsPerRun(100, func() {
		_ = signature.CanonicalString("mch_1", "key_1", "POST", "/v1/merchant/earn", 42, "nonce", []byte("abc"))
	}); n > 1 {
		t.Fatalf("CanonicalString allocates %v times, want 1", n)
	}
	empty := signature.CanonicalString("m", "k", "GET", "/", 1, "n", nil)
	if !strings.HasSuffix(empty, "\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855") {
		t.Fatalf("empty body must hash as the empty string: %q", empty)
	}
}

func TestSignVerifyEachAlgorithm(t *testing.T) {
	canonical := signature.CanonicalString("mch_1", "key_1", "POST", "/v1/merchant/me", 1767225600, signature.NewNonce(), []byte(`{"a":1}`))
	for _, k := range testKeys(t) {
		t.Run(k.alg, func(t *testing.T) {
			sig, err := k.signer.Sign(canonical)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := base64.StdEncoding.DecodeString(sig); err != nil {
				t.Fatalf("signature is not standard padded base64: %v", err)
			}
			if err := signature.Verify(k.alg, k.material, canonical, sig); err != nil {
				t.Fatalf("Verify: %v", err)
			}
			// Any change to the covered string breaks the signature.
			if err := signature.Verify(k.alg, k.material, canonical+"x", sig); !errors.Is(err, signature.ErrBadSignature) {
				t.Fatalf("altered canonical: err = %v, want ErrBadSignature", err)
			}
			raw, _ := base64.StdEncoding.DecodeString(sig)
			raw[len(raw)/2] ^= 1
			if err := signature.Verify(k.alg, k.material, canonical, base64.StdEncoding.EncodeToString(raw)); !errors.Is(err, signature.ErrBadSignature) {
				t.Fatalf("flipped bit: err = %v, want ErrBadSignature", err)
			}
			if err := signature.Verify(k.alg, k.material, canonical, "not base64!"); !errors.Is(err, signature.ErrBadSignature) {
				t.Fatalf("bad base64: err = %v, want ErrBadSignature", err)
			}
			if err := signature.Verify(k.alg, k.material, canonical, ""); !errors.Is(err, signature.ErrBadSignature) {
				t.Fatalf("empty signature: err = %v, want ErrBadSignature", err)
			}
		})
	}
}

func TestVerifyWrongKey(t *testing.T) {
	a, b := testKeys(t), testKeys(t)
	canonical := "LIANMENG1\nx"
	for i := range a {
		sig, err := a[i].signer.Sign(canonical)
		if err != nil {
			t.Fatal(err)
		}
		if err := signature.Verify(a[i].alg, b[i].material, canonical, sig); err == nil {
			t.Errorf("%s: signature verified under another key", a[i].alg)
		}
	}
	// A key registered for one algorithm cannot be used as another.
	edPEM, smPEM := a[0].material, a[1].material
	if _, err := signature.ParsePublicKey(signature.SM2, edPEM); err == nil {
		t.Error("ed25519 PEM accepted as sm2")
	}
	if _, err := signature.ParsePublicKey(signature.Ed25519, smPEM); err == nil {
		t.Error("sm2 PEM accepted as ed25519")
	}
	if _, err := signature.ParsePublicKey(signature.Ed25519, "not pem"); err == nil {
		t.Error("garbage accepted as a public key")
	}
	if _, err := signature.ParsePublicKey("rsa", edPEM); err == nil {
		t.Error("unknown algorithm accepted")
	}
	if err := signature.Verify("rsa", edPEM, canonical, "AAAA"); err == nil || errors.Is(err, signature.ErrBadSignature) {
		t.Errorf("unknown algorithm: err = %v", err)
	}
}

// The hmac-sha256 signer appends the signature Sign returns.
func TestHMACAppendSign(t *testing.T) {
	s, err := signature.NewHMACSigner("key_1", base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123")))
	if err != nil {
		t.Fatal(err)
	}
	as, ok := s.(signature.AppendSigner)
	if !ok {
		t.Fatal("the hmac-sha256 signer is not an AppendSigner")
	}
	c := signature.CanonicalString("mch_1", "key_1", "POST", "/v1/merchant/earn", 42, "nonce", []byte(`{"a":1}`))
	want, _ := s.Sign(c)
	got, err := as.AppendSign([]byte("x"), []byte(c))
	if err != nil || string(got) != "x"+want {
		t.Fatalf("AppendSign = %q (%v), want %q", got, err, "x"+want)
	}
}

func TestHMACSecretRules(t *testing.T) {
	if _, err := signature.NewHMACSigner("k", "not base64"); err == nil {
		t.Error("non-base64 secret accepted")
	}
	if _, err := signature.NewHMACSigner("k", base64.StdEncoding.EncodeToString(make([]byte, 15))); err == nil {
		t.Error("15-byte secret accepted")
	}
	if _, err := signature.NewHMACSigner("k", base64.StdEncoding.EncodeToString(make([]byte, 16))); err != nil {
		t.Errorf("16-byte secret refused: %v", err)
	}
}

func TestValidNonce(t *testing.T) {
	for n, ok := range map[string]bool{
		strings.Repeat("a", 15):             false,
		strings.Repeat("a", 16):             true,
		strings.Repeat("Z", 64):             true,
		strings.Repeat("9", 65):             false,
		"abcdefgh-ijklmno_":                 true,
		"abcdefgh ijklmnop":                 false,
		"abcdefgh.ijklmnop":                 false,
		"abcdefghijklmnop\n":                false,
		"abcdefghijklmnöp":                  false,
		"":                                  false,
		"0123456789abcdef0123456789abcdef+": false,
	} {
		if got := signature.ValidNonce(n); got != ok {
			t.Errorf("ValidNonce(%q) = %v, want %v", n, got, ok)
		}
	}
	seen := map[string]bool{}
	for range 100 {
		n := signature.NewNonce()
		if !signature.ValidNonce(n) || seen[n] {
			t.Fatalf("NewNonce gave %q (valid %v, repeated %v)", n, signature.ValidNonce(n), seen[n])
		}
		seen[n] = true
	}
}

func TestSM2SignatureIsDER(t *testing.T) {
	k := testKeys(t)[1]
	sig, err := k.signer.Sign("LIANMENG1")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := base64.StdEncoding.DecodeString(sig)
	if len(raw) < 8 || raw[0] != 0x30 || int(raw[1]) != len(raw)-2 {
		t.Fatalf("sm2 signature is not a DER SEQUENCE: %x", raw)
	}
}

// A Verifier decodes its key once and then checks any number of
// signatures as Verify does: good ones pass, altered ones, signatures too
// long for the algorithm and bad key material are refused.
func TestVerifierReused(t *testing.T) {
	for _, k := range testKeys(t) {
		t.Run(k.alg, func(t *testing.T) {
			v, err := signature.NewVerifier(k.alg, k.material)
			if err != nil {
				t.Fatal(err)
			}
			for i := range 3 {
				canonical := signature.CanonicalString("mch_1", "key_1", "POST", "/v1/merchant/earn", int64(1767225600+i), signature.NewNonce(), []byte(`{"a":1}`))
				sig, err := k.signer.Sign(canonical)
				if err != nil {
					t.Fatal(err)
				}
				if err := v.Verify(canonical, sig); err != nil {
					t.Fatalf("signature %d: %v", i, err)
				}
				if err := v.Verify(canonical+"x", sig); !errors.Is(err, signature.ErrBadSignature) {
					t.Fatalf("altered canonical: %v", err)
				}
				if err := v.Verify(canonical, sig+strings.Repeat("AAAA", 40)); !errors.Is(err, signature.ErrBadSignature) {
					t.Fatalf("overlong signature: %v", err)
				}
			}
		})
	}
	if _, err := signature.NewVerifier(signature.HMACSHA256, "short"); err == nil {
		t.Error("a bad hmac secret made a verifier")
	}
	if _, err := signature.NewVerifier("rsa", "x"); err == nil {
		t.Error("an unknown algorithm made a verifier")
	}
}

// BenchmarkVerify is the gateway's signature check per request: Verify
// decodes the key every time, a Verifier (kept with the cached credential)
// once. Run: go test -run '^$' -bench Verify ./signature/ (in sdk/).
func BenchmarkVerify(b *testing.B) {
	canonical := signature.CanonicalString("mch_0123456789abcdef0123", "key_0123456789abcdef0123", "POST", "/v1/merchant/earn", 1767225600,
		signature.NewNonce(), []byte(`{"order_id":"o-1","member":{"kind":"phone","value":"13800138000"},"amount_fen":12345}`))
	for _, k := range testKeys(b) {
		sig, err := k.signer.Sign(canonical)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(k.alg+"/Verify", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := signature.Verify(k.alg, k.material, canonical, sig); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(k.alg+"/Verifier", func(b *testing.B) {
			v, err := signature.NewVerifier(k.alg, k.material)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if err := v.Verify(canonical, sig); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCanonicalString: every request builds one to sign or verify.
func BenchmarkCanonicalString(b *testing.B) {
	body := []byte(`{"order_id":"o-1","member":{"kind":"phone","value":"13800138000"},"amount_fen":12345}`)
	b.ReportAllocs()
	for b.Loop() {
		signature.CanonicalString("mch_0123456789abcdef0123", "key_0123456789abcdef0123", "POST", "/v1/merchant/earn", 1767225600,
			"7f3c9a1e5b2d4c6e8a0f1b3d5e7c9a2b", body)
	}
}
