package api

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"testing"

	"github.com/lianmeng/lianmeng/gateway/evidence"
	"github.com/lianmeng/lianmeng/gateway/points"
	"github.com/lianmeng/lianmeng/gateway/settlement"
	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
	"github.com/lianmeng/lianmeng/sdk/client"
	"github.com/lianmeng/lianmeng/sdk/signature"
)

func init() {
	oaContracts = append(oaContracts,
		oaContract{"GET", "/v1/merchant/statements/:date", nil, "200", typeOf[statementView]()},
		oaContract{"GET", "/v1/operator/reconciliation", nil, "200", typeOf[reconExceptionList]()},
		oaContract{"POST", "/v1/operator/reconciliation", typeOf[reconRunRequest](), "200", typeOf[settlement.ReconResult]()},
	)
	fzBodyRoutes["FuzzOperatorReconcile"] = fzRoute{"POST", "/v1/operator/reconciliation", fzOperator}
}

func FuzzOperatorReconcile(f *testing.F) {
	fuzzRoute(f, "FuzzOperatorReconcile", `{"channel":"wechatpay","date":"2026-11-30"}`, `{"channel":"x","date":"30/11/2026"}`, `{"date":""}`)
}

// Over HTTP on both databases: a merchant reads its own signed statement
// (which verifies with the evidence key), and nobody else's; the operator
// lists a day's exceptions and cannot reconcile an unknown channel.
func TestStatementsOverHTTP(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clock := newFndClock()
		w := db.NewWriter(store.WriterOptions{})
		t.Cleanup(w.Close)
		svc := &points.Service{Policy: fndConfig().Points.Policy(), Reader: db}
		d := Deps{Config: fndConfig(), DB: db, Log: fndLogger(), Now: clock.Now, Writer: w, Points: svc}
		d.Reconciler = &settlement.Reconciler{DB: db, Channels: fundingChannels{}}
		s := New(d)
		base, _ := fndServe(t, s)
		g := &fndGateway{db: db, srv: s, base: base, clock: clock}
		mid := g.createMerchant(t, "Tea House")
		_, priv, _ := ed25519.GenerateKey(rand.Reader)
		pemKey, _ := signature.MarshalPublicKey(priv.Public())
		var cred struct{ ID string }
		op := client.NewOperator(base, fndOperatorToken)
		if err := op.Do(ctx, "POST", "/v1/operator/merchants/"+mid+"/credentials",
			map[string]any{"algorithm": "ed25519", "label": "finance", "public_key": pemKey, "scopes": []string{"finance"}}, &cred); err != nil {
			t.Fatal(err)
		}
		finance := signature.NewEd25519Signer(cred.ID, priv)
		get := func() fndResp {
			return fndSend(t, g.signed(t, "GET", "/v1/merchant/statements/2026-11-30", nil, mid, finance, clock.Now(), signature.NewNonce()))
		}
		get().expectErr(t, 404, CodeNotFound)

		key, _ := evidence.GenerateKey()
		body := `{"merchant_id":"` + mid + `","date":"2026-11-30","closing_fen":5}`
		sig, _ := settlement.SM2Signer{Key: key, ID: "k"}.SignStatement([]byte(body))
		other := `{"merchant_id":"other","date":"2026-11-30"}`
		for _, st := range []store.StoredStatement{{MerchantID: mid, Date: "2026-11-30", Body: body, KeyID: "k", Signature: stmtB64(sig)}, {MerchantID: "other", Date: "2026-11-30", Body: other}} {
			if err := db.SaveStatement(ctx, st); err != nil {
				t.Fatal(err)
			}
		}
		var v statementView
		if err := json.Unmarshal(get().expectOK(t).Body, &v); err != nil {
			t.Fatal(err)
		}
		if v.Body != body || v.Statement.ClosingFen != 5 || !settlement.VerifyStatement(&key.PublicKey, []byte(v.Body), v.Signature) {
			t.Fatalf("statement: %+v", v)
		}
		var list reconExceptionList
		if err := op.Do(ctx, "GET", "/v1/operator/reconciliation?date=2026-11-30", nil, &list); err != nil || len(list.Exceptions) != 0 {
			t.Fatalf("exceptions: %+v %v", list, err)
		}
		err := op.Do(ctx, "POST", "/v1/operator/reconciliation", map[string]string{"channel": "nosuch", "date": "2026-11-30"}, nil)
		var ae *client.APIError
		if !stmtAsAPIError(err, &ae) || ae.Status != 400 || ae.Code != CodeUnknownChannel {
			t.Fatalf("unknown channel: %v", err)
		}
	})
}

func stmtB64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func stmtAsAPIError(err error, target **client.APIError) bool { return errors.As(err, target) }
