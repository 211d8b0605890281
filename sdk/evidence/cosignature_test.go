package evidence

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"
	"time"
)

// The vector of docs/evidence.md §14: the witness key from seed 32×0x01,
// named "witness.example/w1", cosigning the §8 checkpoint body at
// 2026-03-01T08:30:15Z (also computed with Python's cryptography package
// from the documented layout alone).
const (
	vecWitnessName = "witness.example/w1"
	vecWitnessVKey = "witness.example/w1+0ad7d35e+BIqI4910CfGV/VLbLTy6XXLKZwm/HZQSG/N0iAG0D29c"
	vecCosignature = "— witness.example/w1 CtfTXgAAAABpo/kXzr/64RL+AS+JL6mNRxUirKYFQhO8EINCl9uztaopnuwLuxA3idxOrTkz2AXc5/m+wb8eaOiPMsSV5xKBTyJeBA==\n"
	vecCPBody      = "example.org/lianmeng\n2\nt0c7QE8qgefhsRj1jSzFs7XnGx/ezLiLfAWmeqUC1Nc=\nchain cTQQLlY7tDHsOdIal01cVqTUkDcAqbPYPcyp2V8OM50=\ntime 2026-03-01T08:30:15.123456Z\nkey 0123456789abcdef\n"
)

func TestCosignatureVector(t *testing.T) {
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, 32))
	k := WitnessKey{Name: vecWitnessName, Pub: priv.Public().(ed25519.PublicKey)}
	at := time.Date(2026, 3, 1, 8, 30, 15, 0, time.UTC)
	line, err := Cosign(vecWitnessName, priv, []byte(vecCPBody), at)
	if err != nil {
		t.Fatal(err)
	}
	if k.String() != vecWitnessVKey || line != vecCosignature {
		t.Fatalf("vkey %s\nline %q", k, line)
	}
	pk, err := ParseWitnessKey(vecWitnessVKey)
	if err != nil || !pk.Pub.Equal(k.Pub) || pk.Name != k.Name {
		t.Fatalf("ParseWitnessKey: %v", err)
	}
	got, err := VerifyCosignature(pk, []byte(vecCPBody), vecCosignature)
	if err != nil || !got.Equal(at) {
		t.Fatalf("VerifyCosignature: %v %v", got, err)
	}
	// Another body, another name, a flipped bit: refused.
	if _, err := VerifyCosignature(pk, []byte(strings.Replace(vecCPBody, "\n2\n", "\n3\n", 1)), line); !errors.Is(err, ErrBadCosignature) {
		t.Fatalf("cosignature over another body: %v", err)
	}
	if _, err := VerifyCosignature(WitnessKey{Name: "other", Pub: k.Pub}, []byte(vecCPBody), line); !errors.Is(err, ErrBadCosignature) {
		t.Fatalf("cosignature of another name: %v", err)
	}
	bad := []byte(line)
	bad[len(bad)-6] ^= 1
	if _, err := VerifyCosignature(pk, []byte(vecCPBody), string(bad)); !errors.Is(err, ErrBadCosignature) {
		t.Fatalf("flipped cosignature: %v", err)
	}
	for _, bad := range []string{"", "w+00+AA==", vecWitnessVKey + "x", strings.Replace(vecWitnessVKey, "+0ad7d35e", "+0ad7d35f", 1)} {
		if _, err := ParseWitnessKey(bad); err == nil {
			t.Errorf("ParseWitnessKey(%q) accepted", bad)
		}
	}
}

func TestAddCheckpointRequest(t *testing.T) {
	h1, h2 := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	body := FormatAddCheckpoint(5, [][]byte{h1, h2}, []byte("cp\n\n— k sig\n"))
	want := "old 5\nAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=\nAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=\n\ncp\n\n— k sig\n"
	if string(body) != want {
		t.Fatalf("body %q", body)
	}
	old, proof, cp, err := ParseAddCheckpoint(body)
	if err != nil || old != 5 || len(proof) != 2 || !bytes.Equal(proof[1], h2) || string(cp) != "cp\n\n— k sig\n" {
		t.Fatalf("parse: %d %d %q %v", old, len(proof), cp, err)
	}
	if old, proof, _, err := ParseAddCheckpoint([]byte("old 0\n\ncp")); err != nil || old != 0 || len(proof) != 0 {
		t.Fatalf("empty proof: %v", err)
	}
	for _, bad := range []string{"", "old 5", "old 05\n\ncp", "old -1\n\ncp", "new 5\n\ncp", "old 5\nAQE=\n\ncp", "old 5\n" + strings.Repeat("AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=\n", 129) + "\ncp"} {
		if _, _, _, err := ParseAddCheckpoint([]byte(bad)); !errors.Is(err, ErrAddCheckpoint) {
			t.Errorf("ParseAddCheckpoint(%.30q) accepted", bad)
		}
	}
}

// Verifier keys round-trip whatever their base64 holds ("+" included).
func TestWitnessKeyRoundTrip(t *testing.T) {
	plus := 0
	for i := range 64 {
		seed := bytes.Repeat([]byte{byte(i)}, 32)
		k := WitnessKey{Name: "w.example/x", Pub: ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)}
		s := k.String()
		if strings.Count(s, "+") > 2 {
			plus++
		}
		got, err := ParseWitnessKey(s)
		if err != nil || !got.Pub.Equal(k.Pub) || got.Name != k.Name {
			t.Fatalf("%s: %v", s, err)
		}
	}
	if plus == 0 {
		t.Fatal("no key with a + in its base64 was tried")
	}
}
