package api

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"testing"

	"github.com/lianmeng/lianmeng/gateway/points"
	"github.com/lianmeng/lianmeng/gateway/settlement"
	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
	"github.com/lianmeng/lianmeng/sdk/client"
	"github.com/lianmeng/lianmeng/sdk/signature"
)

func init() {
	oaContracts = append(oaContracts,
		oaContract{"POST", "/v1/merchant/payouts", typeOf[payoutRequest](), "201", typeOf[store.Payout]()},
		oaContract{"GET", "/v1/merchant/payouts", nil, "200", typeOf[payoutList]()},
		oaContract{"PUT", "/v1/operator/merchants/:merchant/payout-accounts", typeOf[payoutAccounts](), "200", typeOf[payoutAccounts]()},
	)
	fzBodyRoutes["FuzzMerchantPayout"] = fzRoute{"POST", "/v1/merchant/payouts", fzMerchant}
	fzBodyRoutes["FuzzOperatorPayoutAccounts"] = fzRoute{"PUT", "/v1/operator/merchants/:merchant/payout-accounts", fzOperator}
}

func FuzzMerchantPayout(f *testing.F) {
	fuzzRoute(f, "FuzzMerchantPayout", `{"amount_fen":100}`, `{"amount_fen":-100}`, `{"amount_fen":0}`, `{}`)
}

func FuzzOperatorPayoutAccounts(f *testing.F) {
	fuzzRoute(f, "FuzzOperatorPayoutAccounts",
		`{"accounts":[{"channel":"wechatpay","payee_type":"wechat_openid","account":"o1"}]}`,
		`{"accounts":[{"channel":"","payee_type":"wechat_openid","account":"o1"}]}`,
		`{"accounts":[{"channel":"x","payee_type":"cash","account":"o1"}]}`, `{"accounts":null}`, `{"accounts":[]}`)
}

// Over HTTP on both databases: payouts need the finance scope, a payout
// account and a payable that covers them; every refusal writes nothing.
func TestPayoutsOverHTTP(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clock := newFndClock()
		w := db.NewWriter(store.WriterOptions{})
		t.Cleanup(w.Close)
		svc := &points.Service{Policy: fndConfig().Points.Policy(), Reader: db}
		d := Deps{Config: fndConfig(), DB: db, Log: fndLogger(), Now: clock.Now, Writer: w, Points: svc}
		d.Payouts = &settlement.Payouts{DB: db, Writer: w, Channels: fundingChannels{}}
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
		cashier := g.createKey(t, mid, signature.Ed25519)
		post := func(s signature.Signer, body, key string) fndResp {
			req := g.signed(t, "POST", "/v1/merchant/payouts", []byte(body), mid, s, clock.Now(), signature.NewNonce())
			if key != "" {
				req.Header.Set("Idempotency-Key", key)
			}
			return fndSend(t, req)
		}
		post(cashier, `{"amount_fen":100}`, "p1").expectErr(t, 403, CodeScopeDenied)
		post(finance, `{"amount_fen":-100}`, "p1").expectErr(t, 400, CodeValidation)
		post(finance, `{"amount_fen":100}`, "").expectErr(t, 400, CodeIdemRequired)
		post(finance, `{"amount_fen":100}`, "p1").expectErr(t, 422, CodeNoPayoutAccount)
		var accts payoutAccounts
		if err := op.Do(ctx, "PUT", "/v1/operator/merchants/"+mid+"/payout-accounts",
			map[string]any{"accounts": []map[string]string{{"channel": "wechatpay", "payee_type": "wechat_openid", "account": "o-owner"}}}, &accts); err != nil || len(accts.Accounts) != 1 {
			t.Fatalf("set accounts: %+v %v", accts, err)
		}
		post(finance, `{"amount_fen":100}`, "p1").expectErr(t, 422, CodePayoutExceedsPayable)
		if n := fndCount(t, db, "payouts"); n != 0 {
			t.Fatalf("%d payouts after refusals", n)
		}
		req := g.signed(t, "GET", "/v1/merchant/payouts", nil, mid, finance, clock.Now(), signature.NewNonce())
		var list payoutList
		if err := json.Unmarshal(fndSend(t, req).expectOK(t).Body, &list); err != nil || len(list.Payouts) != 0 {
			t.Fatalf("list: %+v %v", list, err)
		}
	})
}
