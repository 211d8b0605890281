package settlement_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/lianmeng/lianmeng/gateway/settlement"
	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
	"github.com/lianmeng/lianmeng/plugins/sandbox"
	"github.com/lianmeng/lianmeng/sdk/webhook"
)

// The sandbox channel shows the whole funding flow with nothing installed:
// the order's page completes the payment, its notification reaches the
// gateway and funds the budget once.
func TestSandboxFunding(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		x, ctx := setup(t, db), context.Background()
		gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			res, err := x.f.Notify(r.Context(), "sandbox", webhook.Request{Method: r.Method, Header: r.Header.Clone(), Body: b})
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			w.WriteHeader(res.Status)
			_, _ = w.Write(res.Body)
		}))
		defer gw.Close()
		cfg, _ := json.Marshal(map[string]string{"notify_url": gw.URL, "secret": "0123456789abcdef-secret"})
		sb, err := sandbox.New(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer sb.Close()
		x.ch.mu.Lock()
		x.ch.m["sandbox"] = sb
		x.ch.mu.Unlock()
		o, err := x.f.Create(ctx, settlement.FundingRequest{MerchantID: x.merchant, Channel: "sandbox", AmountFen: 12_345, IdemKey: "sb1"})
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 2; i++ { // pressing Pay twice funds once
			r, err := http.Post(sb.PageURL(o.ID), "application/x-www-form-urlencoded", nil)
			if err != nil || r.StatusCode != 200 {
				t.Fatalf("pay: %v %v", r, err)
			}
			r.Body.Close()
		}
		if b, r := x.budget(t); b != 12_345 || r != 12_345 {
			t.Fatalf("budget %d reserve %d", b, r)
		}
	})
}
