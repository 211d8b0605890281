package api

import (
	"encoding/json"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
	"github.com/lianmeng/lianmeng/sdk/client"
	"github.com/lianmeng/lianmeng/sdk/signature"
)

// TestEvidenceMismatchIsDocumented tampers with the evidence after sealing:
// a proof request for a transaction whose evidence no longer verifies is a
// documented 409 evidence_mismatch for the transaction's owner (still 404
// for anyone else), never a bare 500.
func TestEvidenceMismatchIsDocumented(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := evSetup(t, db, true)
		m1, m2 := a.merchant("Leaf One"), a.merchant("Leaf Two")
		a.insertTx(200, "merchant:"+m1+":budget", "member:mbr_a:pending")
		a.insertTx(300, "merchant:"+m1+":budget", "member:mbr_b:pending")
		a.seal()
		var p InclusionJSON
		if st := a.asMerchant(m1, "/v1/merchant/evidence/transactions/200", &p); st != 200 {
			t.Fatalf("before tampering: %d", st)
		}

		// A ledger row changed after sealing: its entry no longer hashes
		// to its leaf.
		db.W.MustExec(`UPDATE postings SET amount = amount * 1000 WHERE tx_id = 300`)
		req := httptest.NewRequest("GET", "/v1/merchant/evidence/transactions/300", nil)
		if err := client.Sign(req, m1, a.keys[m1], time.Now(), signature.NewNonce(), nil); err != nil {
			t.Fatal(err)
		}
		resp, err := a.srv.App().Test(req, -1)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var e fndErrBody
		if resp.StatusCode != 409 || json.NewDecoder(resp.Body).Decode(&e) != nil || e.Error.Code != CodeEvidenceMismatch || e.Error.RequestID == "" {
			t.Fatalf("changed ledger row: %d %+v, want 409 %s", resp.StatusCode, e, CodeEvidenceMismatch)
		}
		if st := a.asMember("mbr_b", "/v1/member/evidence/transactions/300", nil); st != 409 {
			t.Fatalf("changed ledger row, as the member: %d, want 409", st)
		}

		// A stored leaf tampered with.
		db.W.MustExec(`UPDATE evidence_leaves SET leaf_hash = ? WHERE entry_type = 'tx' AND entry_id = 200`, make([]byte, 32))
		if st := a.asMerchant(m1, "/v1/merchant/evidence/transactions/200", nil); st != 409 {
			t.Fatalf("tampered leaf: %d, want 409", st)
		}
		if st := a.asMember("mbr_a", "/v1/member/evidence/transactions/200", nil); st != 409 {
			t.Fatalf("tampered leaf, as the member: %d, want 409", st)
		}
		// Someone else still learns nothing about the transaction.
		if st := a.asMerchant(m2, "/v1/merchant/evidence/transactions/200", nil); st != 404 {
			t.Fatalf("tampered leaf, another merchant: %d, want 404", st)
		}
		if st := a.asMember("mbr_b", "/v1/member/evidence/transactions/200", nil); st != 404 {
			t.Fatalf("tampered leaf, another member: %d, want 404", st)
		}
	})
}
