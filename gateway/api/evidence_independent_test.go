package api

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
)

// scripts/evidence_verify.py is a verifier written from docs/evidence.md
// alone (Python, standard library): over real HTTP it recomputes the root
// from the served tiles, checks an inclusion proof by RFC 9162 and
// recomputes its audit path from the tiles; a served tile that was edited
// makes it fail. It needs python3 with SM3 in hashlib (OpenSSL 1.1.1+);
// without them the test is skipped, saying so.
func TestIndependentVerifier(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed: the independent verifier was not run")
	}
	if out, err := exec.Command(py, "-c", "import hashlib; hashlib.new('sm3')").CombinedOutput(); err != nil {
		t.Skipf("python3 has no SM3 (%s): the independent verifier was not run", bytes.TrimSpace(out))
	}
	script, _ := filepath.Abs("../../scripts/evidence_verify.py")
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := evSetup(t, db, true)
		base, _ := fndServe(t, a.srv)
		m := a.merchant("Mirror House")
		for i := range 300 {
			a.insertTx(int64(5000+i), "merchant:"+m+":budget", "member:2:pending")
		}
		a.seal()
		var p InclusionJSON
		if a.asMerchant(m, "/v1/merchant/evidence/transactions/5003", &p) != 200 {
			t.Fatal("no proof")
		}
		raw, _ := json.Marshal(p)
		proofFile := filepath.Join(t.TempDir(), "proof.json")
		if err := os.WriteFile(proofFile, raw, 0o600); err != nil {
			t.Fatal(err)
		}
		run := func() (string, error) {
			out, err := exec.Command(py, script, base, "--proof", proofFile).CombinedOutput()
			return string(out), err
		}
		if out, err := run(); err != nil || !strings.HasPrefix(out, "ok: api.test/lianmeng size ") {
			t.Fatalf("independent verifier on a clean log: %v\n%s", err, out)
		}
		// An edited leaf tile: the served proof still verifies against
		// the checkpoint (it was fetched before), but the tiles no longer
		// give its audit path.
		var tile []byte
		if err := db.W.Get(&tile, `SELECT hashes FROM evidence_tiles WHERE level = 0 AND idx = 0`); err != nil {
			t.Fatal(err)
		}
		tile[2*32] ^= 1
		db.W.MustExec(`UPDATE evidence_tiles SET hashes = ? WHERE level = 0 AND idx = 0`, tile)
		// A gateway started afresh (the first one keeps full tiles it read).
		base, _ = fndServe(t, evSetup(t, db, true).srv)
		out, err := run()
		if err == nil || !strings.Contains(out, "FAIL") {
			t.Fatalf("independent verifier over an edited tile: %v\n%s", err, out)
		}
		t.Log("expected: " + strings.TrimSpace(out))
	})
}
