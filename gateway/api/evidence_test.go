package api

import (
	"context"
	"crypto/ecdsa"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/gateway/evidence"
	"github.com/lianmeng/lianmeng/gateway/merchant"
	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
	"github.com/lianmeng/lianmeng/sdk/client"
	sdk "github.com/lianmeng/lianmeng/sdk/evidence"
	"github.com/lianmeng/lianmeng/sdk/signature"
)

type evAPI struct {
	t      *testing.T
	db     *store.DB
	srv    *Server
	sealer *evidence.Sealer
	keys   map[string]signature.Signer // merchant id -> signer
}

func evSetup(t *testing.T, db *store.DB, provider bool) *evAPI {
	t.Helper()
	key, err := evidence.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	signer, err := evidence.NewSigner(key)
	if err != nil {
		t.Fatal(err)
	}
	a := &evAPI{t: t, db: db, keys: map[string]signature.Signer{}}
	a.sealer, err = evidence.NewSealer(db.Evidence(), signer, evidence.SealerOptions{Origin: "api.test/lianmeng", Settle: evidence.NoSettle, CheckpointInterval: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	pubPEM, _ := signer.PublicKeyPEM()
	d := Deps{Config: fndConfig(), DB: db, Log: fndLogger()}
	if provider {
		d.Evidence = evidence.NewProofs(db.Evidence(), pubPEM, signer.KeyID())
	}
	a.srv = New(d)
	return a
}

func (a *evAPI) merchant(name string) string {
	ctx := context.Background()
	m, err := merchant.NewMerchant(name, "restaurant", time.Now())
	if err != nil {
		a.t.Fatal(err)
	}
	if err := a.db.Merchants().CreateMerchant(ctx, m, "test"); err != nil {
		a.t.Fatal(err)
	}
	c, secret, err := merchant.NewCredential(m.ID, signature.HMACSHA256, "", "evidence test", time.Now())
	if err != nil {
		a.t.Fatal(err)
	}
	if err := a.db.Merchants().CreateCredential(ctx, c, "test"); err != nil {
		a.t.Fatal(err)
	}
	s, err := signature.NewHMACSigner(c.ID, secret)
	if err != nil {
		a.t.Fatal(err)
	}
	a.keys[m.ID] = s
	return m.ID
}

func (a *evAPI) insertTx(id int64, debit, credit string) {
	a.t.Helper()
	tx := a.db.W.MustBegin()
	tx.MustExec(`INSERT INTO ledger_transactions (id, kind, ref, reverses, created_at) VALUES (?, 'earn', ?, 0, ?)`, id, fmt.Sprint("ref-", id), store.Micros(time.Now()))
	tx.MustExec(`INSERT INTO postings (tx_id, seq, account, asset, amount) VALUES (?, 0, ?, 'PTS', -7), (?, 1, ?, 'PTS', 7)`, id, debit, id, credit)
	if err := tx.Commit(); err != nil {
		a.t.Fatal(err)
	}
}

func (a *evAPI) seal() {
	a.t.Helper()
	if _, err := a.sealer.SealOnce(context.Background()); err != nil {
		a.t.Fatal(err)
	}
}

func (a *evAPI) do(req *http.Request, out any) int {
	a.t.Helper()
	resp, err := a.srv.App().Test(req, -1)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode == 200 {
		if err := json.Unmarshal(b, out); err != nil {
			a.t.Fatalf("%s: %v", b, err)
		}
	}
	if resp.StatusCode != 200 {
		a.t.Logf("%s %s: %d %s", req.Method, req.URL.Path, resp.StatusCode, b)
	}
	return resp.StatusCode
}

func (a *evAPI) get(path string, out any) int {
	return a.do(httptest.NewRequest("GET", path, nil), out)
}

func (a *evAPI) asMerchant(mid, path string, out any) int {
	req := httptest.NewRequest("GET", path, nil)
	if err := client.Sign(req, mid, a.keys[mid], time.Now(), fmt.Sprint("n", time.Now().UnixNano()), nil); err != nil {
		a.t.Fatal(err)
	}
	return a.do(req, out)
}

func (a *evAPI) asMember(member, path string, out any) int {
	req := httptest.NewRequest("GET", path, nil)
	if member != "" {
		req.Header.Set("Authorization", "Bearer "+a.srv.signMemberToken(member, scopeMember, time.Now().Add(time.Minute)))
	}
	return a.do(req, out)
}

func evCheckpoint(t *testing.T, pub *ecdsa.PublicKey, cj CheckpointJSON) sdk.SignedCheckpoint {
	t.Helper()
	sc, err := sdk.ParseSignedCheckpoint([]byte(cj.Signed))
	if err != nil {
		t.Fatal(err)
	}
	if err := sdk.VerifyCheckpoint(pub, sc); err != nil {
		t.Fatal(err)
	}
	if sc.Size != cj.Size || hex.EncodeToString(sc.Root) != cj.Root || sc.KeyID != cj.KeyID {
		t.Fatalf("checkpoint fields %+v differ from the signed text", cj)
	}
	return sc
}

func evVerifyInclusion(t *testing.T, pub *ecdsa.PublicKey, p InclusionJSON, wantTx int64) {
	t.Helper()
	sc := evCheckpoint(t, pub, p.Checkpoint)
	data, err := base64.StdEncoding.DecodeString(p.Entry)
	if err != nil {
		t.Fatal(err)
	}
	var proof [][]byte
	for _, h := range p.Proof {
		b, err := hex.DecodeString(h)
		if err != nil {
			t.Fatal(err)
		}
		proof = append(proof, b)
	}
	if p.TreeSize != sc.Size {
		t.Fatalf("tree size %d, checkpoint %d", p.TreeSize, sc.Size)
	}
	if err := sdk.VerifyCheckpointInclusion(data, p.LeafIndex, proof, sc.Checkpoint); err != nil {
		t.Fatalf("inclusion proof does not verify: %v", err)
	}
	e, err := sdk.DecodeEntry(data)
	if err != nil {
		t.Fatal(err)
	}
	if tx, ok := e.(*sdk.TxRecord); !ok || tx.ID != wantTx || p.Transaction.ID != wantTx {
		t.Fatalf("entry is %+v, want transaction %d", e, wantTx)
	}
}

func TestEvidenceAPI(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := evSetup(t, db, true)
		m1, m2 := a.merchant("One"), a.merchant("Two")
		a.insertTx(100, "merchant:"+m1+":budget", "member:mbr_a:pending")
		a.insertTx(101, "alliance:mint", "merchant:"+m2+":budget")
		a.seal()

		var pk PublicKeyJSON
		if st := a.get("/v1/evidence/public-key", &pk); st != 200 {
			t.Fatalf("public key: %d", st)
		}
		pub, err := sdk.ParsePublicKeyPEM([]byte(pk.PublicKeyPEM))
		if err != nil {
			t.Fatal(err)
		}
		if id, _ := sdk.KeyID(pub); id != pk.KeyID {
			t.Fatalf("key id %s, computed %s", pk.KeyID, id)
		}
		var cp1 CheckpointJSON
		if st := a.get("/v1/evidence/checkpoint", &cp1); st != 200 {
			t.Fatalf("checkpoint: %d", st)
		}
		old := evCheckpoint(t, pub, cp1)

		var p InclusionJSON
		if st := a.asMerchant(m1, "/v1/merchant/evidence/transactions/100", &p); st != 200 {
			t.Fatalf("merchant proof: %d", st)
		}
		evVerifyInclusion(t, pub, p, 100)
		if st := a.asMerchant(m2, "/v1/merchant/evidence/transactions/101", &p); st != 200 {
			t.Fatalf("merchant proof: %d", st)
		}
		evVerifyInclusion(t, pub, p, 101)
		// Another merchant's transaction, and unknown ones, are not found.
		for _, path := range []string{"/v1/merchant/evidence/transactions/101", "/v1/merchant/evidence/transactions/999", "/v1/merchant/evidence/transactions/x"} {
			if st := a.asMerchant(m1, path, nil); st != 404 {
				t.Fatalf("%s as m1: %d, want 404", path, st)
			}
		}
		if st := a.get("/v1/merchant/evidence/transactions/100", nil); st != 401 {
			t.Fatalf("unsigned merchant proof: %d", st)
		}

		if st := a.asMember("mbr_a", "/v1/member/evidence/transactions/100", &p); st != 200 {
			t.Fatalf("member proof: %d", st)
		}
		evVerifyInclusion(t, pub, p, 100)
		if st := a.asMember("mbr_b", "/v1/member/evidence/transactions/100", nil); st != 404 {
			t.Fatalf("other member: %d", st)
		}
		if st := a.asMember("", "/v1/member/evidence/transactions/100", nil); st != 401 {
			t.Fatalf("no member token: %d", st)
		}

		// Not sealed yet: 503 for the owner, 404 for anyone else.
		a.insertTx(102, "merchant:"+m1+":budget", "member:mbr_a:pending")
		if st := a.asMerchant(m1, "/v1/merchant/evidence/transactions/102", nil); st != 503 {
			t.Fatalf("unsealed: %d", st)
		}
		if st := a.asMerchant(m2, "/v1/merchant/evidence/transactions/102", nil); st != 404 {
			t.Fatalf("unsealed, other merchant: %d", st)
		}
		a.seal()
		if st := a.asMerchant(m1, "/v1/merchant/evidence/transactions/102", &p); st != 200 {
			t.Fatalf("sealed: %d", st)
		}
		evVerifyInclusion(t, pub, p, 102)
		// The older proof's transaction now proves against the new checkpoint.
		if st := a.asMerchant(m1, "/v1/merchant/evidence/transactions/100", &p); st != 200 {
			t.Fatalf("merchant proof: %d", st)
		}
		evVerifyInclusion(t, pub, p, 100)

		var cp2 CheckpointJSON
		a.get("/v1/evidence/checkpoint", &cp2)
		newer := evCheckpoint(t, pub, cp2)
		if newer.Size <= old.Size {
			t.Fatalf("checkpoint did not grow: %d -> %d", old.Size, newer.Size)
		}
		var cons ConsistencyJSON
		if st := a.get(fmt.Sprintf("/v1/evidence/consistency?from=%d&to=%d", old.Size, newer.Size), &cons); st != 200 {
			t.Fatalf("consistency: %d", st)
		}
		var proof [][]byte
		for _, h := range cons.Proof {
			b, _ := hex.DecodeString(h)
			proof = append(proof, b)
		}
		if cons.FromCheckpoint == nil {
			t.Fatal("from checkpoint missing")
		}
		from := evCheckpoint(t, pub, *cons.FromCheckpoint)
		to := evCheckpoint(t, pub, cons.ToCheckpoint)
		if err := sdk.VerifyConsistency(from.Checkpoint, to.Checkpoint, proof); err != nil {
			t.Fatalf("consistency proof: %v", err)
		}
		for path, want := range map[string]int{
			"/v1/evidence/consistency?from=2&to=1":                           404,
			"/v1/evidence/consistency?from=0&to=999999":                      404,
			"/v1/evidence/consistency?from=-1&to=2":                          400,
			"/v1/evidence/consistency?to=2":                                  400,
			"/v1/evidence/consistency?from=0&to=abc":                         400,
			fmt.Sprintf("/v1/evidence/consistency?from=0&to=%d", newer.Size): 200,
		} {
			if st := a.get(path, nil); st != want {
				t.Errorf("%s: %d, want %d", path, st, want)
			}
		}
	})
}

func TestEvidenceAPIUnavailable(t *testing.T) {
	a := evSetup(t, storetest.Open(t, store.SQLite), false)
	for _, path := range []string{"/v1/evidence/checkpoint", "/v1/evidence/public-key", "/v1/evidence/consistency?from=0&to=0"} {
		if st := a.get(path, nil); st != 503 {
			t.Fatalf("%s without a provider: %d", path, st)
		}
	}
	// With a provider but before the first checkpoint.
	b := evSetup(t, storetest.Open(t, store.SQLite), true)
	if st := b.get("/v1/evidence/checkpoint", nil); st != 503 {
		t.Fatalf("no checkpoint yet: %d", st)
	}
}
