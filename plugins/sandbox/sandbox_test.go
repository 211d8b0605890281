package sandbox_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/plugins/sandbox"
	"github.com/lianmeng/lianmeng/sdk"
	"github.com/lianmeng/lianmeng/sdk/payment"
	"github.com/lianmeng/lianmeng/sdk/plugintest"
	"github.com/lianmeng/lianmeng/sdk/webhook"
)

// The page completes a payment and the gateway gets a notification that
// verifies; a forged one does not; everything says sandbox.
func TestSandboxPaymentPage(t *testing.T) {
	ctx := context.Background()
	got := make(chan webhook.Request, 4)
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- webhook.Request{Method: r.Method, Header: r.Header.Clone(), Body: b}
	}))
	defer gw.Close()
	cfg, _ := json.Marshal(map[string]string{"notify_url": gw.URL + "/v1/channels/sandbox/notify", "secret": "0123456789abcdef-secret"})
	plugintest.CheckConfig(t, sandbox.Plugins(), map[string]json.RawMessage{sdk.KindPaymentChannel: cfg})
	ch, err := sandbox.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	res, err := ch.CreatePayment(ctx, payment.CreatePaymentRequest{TransactionID: "fnd_1", AmountFen: 4_200})
	if err != nil || res.Result.Status != payment.StatusPending || !strings.HasPrefix(res.QRCode, "SANDBOX:") || res.Result.Properties["sandbox"] != "true" {
		t.Fatalf("create: %+v %v", res, err)
	}
	if q := plugintest.CheckQueryPayment(t, ch, payment.QueryPaymentRequest{TransactionID: "fnd_1"}); q.Status != payment.StatusPending || q.AmountFen != 4_200 {
		t.Fatalf("query before paying: %+v", q)
	}
	page, err := http.Get(res.PayURL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(page.Body)
	page.Body.Close()
	if !strings.Contains(string(body), "SANDBOX") || !strings.Contains(string(body), "4200") {
		t.Fatalf("page: %s", body)
	}
	if r, err := http.Post(res.PayURL, "application/x-www-form-urlencoded", nil); err != nil || r.StatusCode != 200 {
		t.Fatalf("pay: %v %v", r, err)
	}
	var n webhook.Request
	select {
	case n = <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("no notification")
	}
	v, err := ch.HandleNotification(ctx, n)
	if err != nil || !v.Verified || v.Result.Status != payment.StatusSucceeded || v.Result.AmountFen != 4_200 || v.Result.TransactionID != "fnd_1" {
		t.Fatalf("notification: %+v %v", v, err)
	}
	if q := plugintest.CheckQueryPayment(t, ch, payment.QueryPaymentRequest{TransactionID: "fnd_1"}); q.Status != payment.StatusSucceeded || q.ChannelReference != v.Result.ChannelReference {
		t.Fatalf("query after paying: %+v", q)
	}
	if q := plugintest.CheckQueryPayment(t, ch, payment.QueryPaymentRequest{TransactionID: "fnd_never"}); q.Status != payment.StatusNotSubmitted {
		t.Fatalf("query of a payment the sandbox never saw: %+v", q)
	}
	n.Body = []byte(strings.Replace(string(n.Body), "4200", "9999", 1))
	if v, _ := ch.HandleNotification(ctx, n); v.Verified {
		t.Fatal("a changed notification verified")
	}
	po, _ := ch.Payout(ctx, payment.PayoutRequest{TransactionID: "po_1", AmountFen: 100})
	if q, _ := ch.QueryPayout(ctx, payment.QueryPayoutRequest{TransactionID: "po_1"}); po.Status != payment.StatusSucceeded || q.ChannelReference != po.ChannelReference {
		t.Fatalf("payout %+v query %+v", po, q)
	}
	if q, _ := ch.QueryPayout(ctx, payment.QueryPayoutRequest{TransactionID: "po_x"}); q.Status != payment.StatusNotSubmitted {
		t.Fatalf("unknown payout: %+v", q)
	}
	st, _ := ch.FetchStatement(ctx, time.Now().In(time.FixedZone("CST", 8*3600)).Format("2006-01-02"))
	if len(st.Entries) != 2 {
		t.Fatalf("statement: %+v", st)
	}
	// Refunds of one payment never take more than it paid, as at a real
	// channel; the same refund number is the same refund.
	for _, c := range []struct {
		id   string
		fen  int64
		want payment.Status
	}{{"rf_1", 3_000, payment.StatusSucceeded}, {"rf_2", 1_201, payment.StatusFailed}, {"rf_1", 3_000, payment.StatusSucceeded}, {"rf_3", 1_200, payment.StatusSucceeded}, {"rf_4", 1, payment.StatusFailed}} {
		if r, err := ch.Refund(ctx, payment.RefundRequest{TransactionID: c.id, OriginalTransactionID: "fnd_1", AmountFen: c.fen}); err != nil || r.Status != c.want {
			t.Errorf("refund %s of %d fen: %+v %v, want %v", c.id, c.fen, r, err, c.want)
		}
	}
	if id := plugintest.CheckLogin(t, ch, "demo-member_1"); id.UserID != "sbx_demo-member_1" || id.Properties["sandbox"] != "true" {
		t.Fatalf("sandbox login: %+v", id)
	}
	for _, code := range []string{"", "expired-1", "o-real/openid", strings.Repeat("a", 65)} {
		if _, err := ch.ExchangeLoginCode(ctx, payment.LoginRequest{Code: code}); !errors.Is(err, sdk.ErrInvalidInput) {
			t.Errorf("sandbox login with %q: want sdk.ErrInvalidInput, got %v", code, err)
		}
	}
	if _, err := ch.CreatePayment(ctx, payment.CreatePaymentRequest{TransactionID: "x", AmountFen: -1}); !errors.Is(err, sdk.ErrInvalidInput) {
		t.Fatalf("negative amount: %v", err)
	}
}
