package signature_test

import (
	"bufio"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/lianmeng/lianmeng/sdk/signature"
)

// readmeVector is one worked example from the README's "Signing requests"
// section: a fenced block of "key: value" lines starting with "algorithm:",
// followed by the fenced blocks holding its canonical string and (for
// public-key algorithms) its PEM public key.
type readmeVector struct {
	fields    map[string]string
	canonical string
	pem       string
}

// readmeSigningSection returns the text between the signing markers.
//
// The README belongs to the repository, not to the sdk module: outside a
// checkout (the module from a proxy or a vendored copy) the test is
// skipped; inside one, a missing README fails it.
func readmeSigningSection(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat("../../go.mod"); err != nil {
		t.Skip("not in a Lianmeng repository checkout: the README with the signing vectors is not here")
	}
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatalf("read README: %v", err)
	}
	s := string(raw)
	const begin, end = "<!-- signing:begin -->", "<!-- signing:end -->"
	i, j := strings.Index(s, begin), strings.Index(s, end)
	if i < 0 || j < i {
		t.Fatalf("README has no %s ... %s section", begin, end)
	}
	return s[i+len(begin) : j]
}

// fencedBlocks returns the contents of every ``` block, in order, without
// the fence lines.
func fencedBlocks(section string) []string {
	var blocks []string
	var cur []string
	in := false
	sc := bufio.NewScanner(strings.NewReader(section))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			if in {
				blocks = append(blocks, strings.Join(cur, "\n"))
				cur = nil
			}
			in = !in
			continue
		}
		if in {
			cur = append(cur, line)
		}
	}
	return blocks
}

func parseReadmeVectors(t *testing.T) map[string]*readmeVector {
	t.Helper()
	out := map[string]*readmeVector{}
	var cur *readmeVector
	for _, b := range fencedBlocks(readmeSigningSection(t)) {
		switch {
		case strings.HasPrefix(b, "algorithm:"):
			cur = &readmeVector{fields: map[string]string{}}
			for _, line := range strings.Split(b, "\n") {
				k, v, ok := strings.Cut(line, ":")
				if !ok {
					t.Fatalf("README vector line %q is not key: value", line)
				}
				// One space separates key and value; the value is the rest
				// of the line verbatim (a JSON body may contain ": ").
				v = strings.TrimPrefix(v, " ")
				if _, dup := cur.fields[k]; dup {
					t.Fatalf("README vector repeats %q", k)
				}
				cur.fields[k] = v
			}
			out[cur.fields["algorithm"]] = cur
		case strings.HasPrefix(b, signature.Version+"\n") && cur != nil:
			cur.canonical = b
		case strings.HasPrefix(b, "-----BEGIN PUBLIC KEY-----") && cur != nil:
			cur.pem = b + "\n"
		}
	}
	return out
}

func (v *readmeVector) get(t *testing.T, k string) string {
	t.Helper()
	s, ok := v.fields[k]
	if !ok {
		t.Fatalf("README %s vector has no %q line", v.fields["algorithm"], k)
	}
	return s
}

// checkCommon recomputes the canonical string and body hash from the
// vector's fields and compares them with the README.
func (v *readmeVector) checkCommon(t *testing.T) string {
	t.Helper()
	ts, err := strconv.ParseInt(v.get(t, "timestamp"), 10, 64)
	if err != nil {
		t.Fatalf("timestamp: %v", err)
	}
	body := []byte(v.get(t, "body"))
	sum := sha256.Sum256(body)
	if got, want := hex.EncodeToString(sum[:]), v.get(t, "body_sha256"); got != want {
		t.Errorf("README body_sha256 = %s, but SHA-256 of the body is %s", want, got)
	}
	if !signature.ValidNonce(v.get(t, "nonce")) {
		t.Errorf("README nonce %q is not a valid nonce", v.get(t, "nonce"))
	}
	canonical := signature.CanonicalString(v.get(t, "merchant_id"), v.get(t, "key_id"), v.get(t, "method"),
		v.get(t, "target"), ts, v.get(t, "nonce"), body)
	if v.canonical == "" {
		t.Fatalf("README %s vector has no canonical string block", v.fields["algorithm"])
	}
	if canonical != v.canonical {
		t.Errorf("README canonical string is wrong:\n--- README\n%s\n--- computed\n%s", v.canonical, canonical)
	}
	return canonical
}

func TestReadmeVectorHMAC(t *testing.T) {
	v := parseReadmeVectors(t)[signature.HMACSHA256]
	if v == nil {
		t.Fatal("README has no hmac-sha256 test vector")
	}
	canonical := v.checkCommon(t)
	s, err := signature.NewHMACSigner(v.get(t, "key_id"), v.get(t, "secret_base64"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Sign(canonical)
	if err != nil {
		t.Fatal(err)
	}
	if want := v.get(t, "signature"); got != want {
		t.Errorf("README hmac-sha256 signature = %s, computed %s", want, got)
	}
	if err := signature.Verify(signature.HMACSHA256, v.get(t, "secret_base64"), canonical, v.get(t, "signature")); err != nil {
		t.Errorf("Verify of the README vector: %v", err)
	}
}

func TestReadmeVectorEd25519(t *testing.T) {
	v := parseReadmeVectors(t)[signature.Ed25519]
	if v == nil {
		t.Fatal("README has no ed25519 test vector")
	}
	canonical := v.checkCommon(t)
	seed, err := hex.DecodeString(v.get(t, "seed_hex"))
	if err != nil || len(seed) != ed25519.SeedSize {
		t.Fatalf("README seed_hex must be %d bytes of hex: %v", ed25519.SeedSize, err)
	}
	key := ed25519.NewKeyFromSeed(seed)
	pem, err := signature.MarshalPublicKey(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	if v.pem != pem {
		t.Errorf("README public key PEM is wrong:\n--- README\n%s--- computed\n%s", v.pem, pem)
	}
	got, err := signature.NewEd25519Signer(v.get(t, "key_id"), key).Sign(canonical)
	if err != nil {
		t.Fatal(err)
	}
	if want := v.get(t, "signature"); got != want {
		t.Errorf("README ed25519 signature = %s, computed %s", want, got)
	}
	// The gateway verifies with the registered PEM, not the seed.
	if err := signature.Verify(signature.Ed25519, v.pem, canonical, v.get(t, "signature")); err != nil {
		t.Errorf("Verify of the README vector with the README PEM: %v", err)
	}
}

// TestReadmeListsAuthCodes keeps the README's error table in step with the
// codes the gateway returns (the strings are duplicated here because sdk
// must not import the gateway).
func TestReadmeListsAuthCodes(t *testing.T) {
	section := readmeSigningSection(t)
	for _, code := range []string{"signature_missing", "signature_invalid", "timestamp_out_of_window", "nonce_invalid",
		"nonce_replayed", "unknown_key", "key_revoked", "unknown_merchant", "merchant_suspended"} {
		if !strings.Contains(section, "`"+code+"`") {
			t.Errorf("README Signing requests section does not document %s", code)
		}
	}
	for _, h := range []string{signature.HeaderMerchant, signature.HeaderKey, signature.HeaderTimestamp, signature.HeaderNonce, signature.HeaderSignature} {
		if !strings.Contains(section, "`"+h+"`") {
			t.Errorf("README Signing requests section does not document header %s", h)
		}
	}
}
