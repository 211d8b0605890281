package alipay_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/plugins/alipay"
	"github.com/lianmeng/lianmeng/plugins/alipay/alipaytest"
	"github.com/lianmeng/lianmeng/sdk"
	"github.com/lianmeng/lianmeng/sdk/payment"
	"github.com/lianmeng/lianmeng/sdk/plugintest"
	"github.com/lianmeng/lianmeng/sdk/webhook"
)

func fake(t *testing.T) *alipaytest.Server {
	t.Helper()
	f, err := alipaytest.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Close)
	return f
}

func config(f *alipaytest.Server, extra map[string]any) []byte {
	c := map[string]any{"app_id": f.AppID, "app_private_key": f.AppKeyPEM(), "alipay_public_key": f.AlipayPublicKeyPEM(),
		"notify_url": "https://gateway.example/v1/channels/alipay/notify", "gateway": f.Gateway(), "timeout_seconds": 5}
	for k, v := range extra {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	b, _ := json.Marshal(c)
	return b
}

func channel(t *testing.T, f *alipaytest.Server) *alipay.Channel {
	t.Helper()
	ch, err := alipay.New(context.Background(), config(f, nil))
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

func form(v url.Values) webhook.Request {
	return webhook.Request{Method: http.MethodPost, Path: "/v1/channels/alipay/notify",
		Header: http.Header{"Content-Type": {"application/x-www-form-urlencoded; charset=utf-8"}}, Body: []byte(v.Encode())}
}

func TestConfig(t *testing.T) {
	f := fake(t)
	plugintest.CheckConfig(t, alipay.Plugins(), map[string]json.RawMessage{sdk.KindPaymentChannel: config(f, nil)})
	for name, extra := range map[string]map[string]any{
		"no key at all":        {"alipay_public_key": nil},
		"key and certificates": {"app_cert": "x", "alipay_cert": "y", "alipay_root_cert": "z"},
		"half the certs":       {"alipay_public_key": nil, "app_cert": "x"},
		"bad private key":      {"app_private_key": "not a key"},
		"relative notify":      {"notify_url": "/notify"},
	} {
		if _, err := alipay.New(context.Background(), config(f, extra)); !errors.Is(err, sdk.ErrInvalidConfig) {
			t.Errorf("%s: got %v, want ErrInvalidConfig", name, err)
		}
	}
}

func TestFundingPrecreateNotifyQuery(t *testing.T) {
	f, ctx := fake(t), context.Background()
	ch := channel(t, f)
	res, err := ch.CreatePayment(ctx, payment.CreatePaymentRequest{TransactionID: "fund_a00001", MerchantID: "m2", AmountFen: 1_000_001})
	if err != nil || res.Result.Status != payment.StatusPending || !strings.HasPrefix(res.QRCode, "https://qr.alipay.com/") {
		t.Fatalf("precreate: %+v %v", res, err)
	}
	tr, ok := f.Trade("fund_a00001")
	if !ok || tr.Total != "10000.01" || tr.NotifyURL != "https://gateway.example/v1/channels/alipay/notify" {
		t.Fatalf("trade at the fake: %+v", tr)
	}
	if q, _ := ch.QueryPayment(ctx, payment.QueryPaymentRequest{TransactionID: "fund_a00001"}); q.Status != payment.StatusPending || q.AmountFen != 1_000_001 {
		t.Fatalf("query before paying: %+v", q)
	}
	tradeNo, _ := f.Pay("fund_a00001")
	n, err := f.PaymentNotification("fund_a00001")
	if err != nil {
		t.Fatal(err)
	}
	got, err := ch.HandleNotification(ctx, form(n))
	if err != nil {
		t.Fatal(err)
	}
	if !got.Verified || got.EventType != "payment" || got.Result.Status != payment.StatusSucceeded || got.Result.AmountFen != 1_000_001 ||
		got.Result.TransactionID != "fund_a00001" || got.Result.ChannelReference != tradeNo || string(got.Ack.Body) != "success" {
		t.Fatalf("notification: %+v", got)
	}
	if q := plugintest.CheckQueryPayment(t, ch, payment.QueryPaymentRequest{TransactionID: "fund_a00001"}); q.Status != payment.StatusSucceeded || q.ChannelReference != tradeNo {
		t.Fatalf("query after paying: %+v", q)
	}
	if q, _ := ch.QueryPayment(ctx, payment.QueryPaymentRequest{TransactionID: "fund_none"}); q.Status != payment.StatusNotSubmitted || q.FailureCode != "ACQ.TRADE_NOT_EXIST" {
		t.Fatalf("query of an unknown trade: %+v", q)
	}
}

func TestNotificationRefused(t *testing.T) {
	f, ctx := fake(t), context.Background()
	ch := channel(t, f)
	_, _ = ch.CreatePayment(ctx, payment.CreatePaymentRequest{TransactionID: "fund_a00002", AmountFen: 100})
	_, _ = f.Pay("fund_a00002")
	good, _ := f.PaymentNotification("fund_a00002")
	check := func(name string, v url.Values) {
		t.Helper()
		got, err := ch.HandleNotification(ctx, form(v))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got.Verified || string(got.Ack.Body) != "failure" {
			t.Errorf("%s: accepted %+v", name, got)
		}
	}
	more := url.Values{}
	for k, v := range good {
		more[k] = v
	}
	more.Set("total_amount", "1000000.00")
	check("amount changed after signing", more)
	unsigned := url.Values{}
	for k, v := range good {
		unsigned[k] = v
	}
	unsigned.Del("sign")
	check("no signature", unsigned)
	f.ForgeKey, _ = rsa.GenerateKey(rand.Reader, 2048)
	forged, _ := f.PaymentNotification("fund_a00002")
	check("signed by another key", forged)
	f.ForgeKey = nil
	other := f.SignNotification(url.Values{"app_id": {"2021999999999999"}, "out_trade_no": {"fund_a00002"}, "trade_no": {"1"},
		"trade_status": {"TRADE_SUCCESS"}, "total_amount": {"1.00"}})
	check("another app's notification", other)
}

func TestRefund(t *testing.T) {
	f, ctx := fake(t), context.Background()
	ch := channel(t, f)
	_, _ = ch.CreatePayment(ctx, payment.CreatePaymentRequest{TransactionID: "fund_a00003", AmountFen: 10_000})
	if r, _ := ch.Refund(ctx, payment.RefundRequest{TransactionID: "rfd_a1", OriginalTransactionID: "fund_a00003", AmountFen: 100}); r.Status != payment.StatusFailed {
		t.Fatalf("refund of an unpaid trade: %+v", r)
	}
	_, _ = f.Pay("fund_a00003")
	r, err := ch.Refund(ctx, payment.RefundRequest{TransactionID: "rfd_a2", OriginalTransactionID: "fund_a00003", AmountFen: 2_501})
	if err != nil || r.Status != payment.StatusSucceeded || r.AmountFen != 2_501 {
		t.Fatalf("refund: %+v %v", r, err)
	}
	_, _ = ch.Refund(ctx, payment.RefundRequest{TransactionID: "rfd_a2", OriginalTransactionID: "fund_a00003", AmountFen: 2_501})
	if tr, _ := f.Trade("fund_a00003"); len(tr.Refunds) != 1 || tr.Refunds["rfd_a2"] != "25.01" {
		t.Fatalf("refunds at the fake: %+v", tr.Refunds)
	}
	if r, _ := ch.Refund(ctx, payment.RefundRequest{TransactionID: "rfd_a3", OriginalTransactionID: "fund_a00003", AmountFen: 7_500}); r.Status != payment.StatusFailed {
		t.Fatalf("refund beyond the trade: %+v", r)
	}
	// Alipay reports refunds on the trade's notification.
	n := f.SignNotification(url.Values{"app_id": {f.AppID}, "notify_type": {"trade_status_sync"}, "out_trade_no": {"fund_a00003"},
		"trade_no": {"T1"}, "trade_status": {"TRADE_SUCCESS"}, "total_amount": {"100.00"}, "refund_fee": {"25.01"}, "out_biz_no": {"rfd_a2"}})
	got, _ := ch.HandleNotification(ctx, form(n))
	if !got.Verified || got.EventType != "refund" || got.Result.TransactionID != "rfd_a2" || got.Result.AmountFen != 2_501 {
		t.Fatalf("refund notification: %+v", got)
	}
}

func TestPayout(t *testing.T) {
	f, ctx := fake(t), context.Background()
	ch := channel(t, f)
	f.TransferStatus = "DEALING"
	req := payment.PayoutRequest{TransactionID: "po_a00001", AmountFen: 123_45, Payee: payment.Payee{Type: "alipay_user_id", Account: "2088000000000077"}}
	r, err := ch.Payout(ctx, req)
	if err != nil || r.Status != payment.StatusPending || r.ChannelReference == "" {
		t.Fatalf("payout: %+v %v", r, err)
	}
	if tr, _ := f.Transfer("po_a00001"); tr.Amount != "123.45" {
		t.Fatalf("amount at the fake: %+v", tr)
	}
	again, _ := ch.Payout(ctx, req)
	if again.ChannelReference != r.ChannelReference {
		t.Fatal("retry made a second transfer")
	}
	f.SetTransferStatus("po_a00001", "SUCCESS")
	if q, _ := ch.QueryPayout(ctx, payment.QueryPayoutRequest{TransactionID: "po_a00001"}); q.Status != payment.StatusSucceeded || q.AmountFen != 123_45 {
		t.Fatalf("query: %+v", q)
	}
	if q, _ := ch.QueryPayout(ctx, payment.QueryPayoutRequest{TransactionID: "po_never"}); q.Status != payment.StatusNotSubmitted {
		t.Fatalf("query of a transfer Alipay never saw: %+v", q)
	}
	if _, err := ch.Payout(ctx, payment.PayoutRequest{TransactionID: "po_a2", AmountFen: 1, Payee: payment.Payee{Type: "alipay_account", Account: "a@b.c"}}); !errors.Is(err, sdk.ErrInvalidInput) {
		t.Fatalf("logon-id payee without a name: %v", err)
	}
	f.SetTransferStatus("po_a00001", "FAIL")
	if q, _ := ch.QueryPayout(ctx, payment.QueryPayoutRequest{TransactionID: "po_a00001"}); q.Status != payment.StatusFailed {
		t.Fatalf("failed transfer: %+v", q)
	}
}

func TestOutageAndSignatures(t *testing.T) {
	f, ctx := fake(t), context.Background()
	ch := channel(t, f)
	req := payment.PayoutRequest{TransactionID: "po_a00009", AmountFen: 100, Payee: payment.Payee{Type: "alipay_user_id", Account: "2088"}}
	f.SetDown(true)
	if r, _ := ch.Payout(ctx, req); r.Status != payment.StatusUnknown {
		t.Fatalf("payout during a 500: %+v", r)
	}
	f.SetDown(false)
	// Another app key: the fake refuses the signature (unsigned error_response).
	other, _ := alipaytest.New()
	defer other.Close()
	wrong, err := alipay.New(ctx, config(f, map[string]any{"app_private_key": other.AppKeyPEM()}))
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := wrong.Payout(ctx, req); r.Status != payment.StatusFailed || r.FailureCode != "isv.invalid-signature" {
		t.Fatalf("request under another key: %+v", r)
	}
	if _, ok := f.Transfer("po_a00009"); ok {
		t.Fatal("the fake paid out on a bad signature")
	}
	// A reply signed by another Alipay key is not believed.
	distrust, _ := alipay.New(ctx, config(f, map[string]any{"alipay_public_key": other.AlipayPublicKeyPEM()}))
	if r, _ := distrust.CreatePayment(ctx, payment.CreatePaymentRequest{TransactionID: "fund_a00009", AmountFen: 100}); r.Result.Status != payment.StatusUnknown || r.QRCode != "" {
		t.Fatalf("a reply that does not verify: %+v", r)
	}
	f.Close()
	if r, _ := ch.Payout(ctx, req); r.Status != payment.StatusNotSubmitted {
		t.Fatalf("payout with Alipay unreachable: %+v", r)
	}
}

func TestFetchStatement(t *testing.T) {
	f, ctx := fake(t), context.Background()
	ch := channel(t, f)
	at := time.Date(2026, 11, 30, 9, 30, 0, 0, time.FixedZone("CST", 8*3600))
	zip, err := alipaytest.BillZip([]alipaytest.BillRow{
		{At: at, TradeNo: "2026113022001", OutTradeNo: "fund_x", Yuan: "10000.01", FeeYuan: "-60.00"},
		{At: at.Add(time.Hour), TradeNo: "2026113022001", OutTradeNo: "fund_x", Refund: true, OutRequestNo: "rfd_x", Yuan: "-0.01", FeeYuan: "0.00"},
	})
	if err != nil {
		t.Fatal(err)
	}
	f.SetBill("2026-11-30", zip)
	st, err := ch.FetchStatement(ctx, "2026-11-30")
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Entries) != 2 || !st.Final {
		t.Fatalf("statement: %+v", st)
	}
	p, r := st.Entries[0], st.Entries[1]
	if p.Type != "payment" || p.TransactionID != "fund_x" || p.AmountFen != 1_000_001 || p.FeeFen != 6_000 || !p.OccurredAt.Equal(at) {
		t.Errorf("payment line: %+v", p)
	}
	if r.Type != "refund" || r.TransactionID != "rfd_x" || r.AmountFen != 1 {
		t.Errorf("refund line: %+v", r)
	}
	if _, err := ch.FetchStatement(ctx, "2026-12-31"); err == nil {
		t.Fatal("a day without a bill gave no error")
	}
	if _, err := alipay.ParseBillZip([]byte("not a zip")); err == nil {
		t.Fatal("garbage parsed as a bill")
	}
}

// Payouts come from the account bill (signcustomer): a transfer paid out is
// a payout under its out_biz_no and order_id; trades, refunds and income
// there are not (the trade bill has them).
func TestFetchStatementPayouts(t *testing.T) {
	f, ctx := fake(t), context.Background()
	ch := channel(t, f)
	at := time.Date(2026, 11, 30, 9, 30, 0, 0, time.FixedZone("CST", 8*3600))
	zip, _ := alipaytest.BillZip([]alipaytest.BillRow{{At: at, TradeNo: "2026113022001", OutTradeNo: "fund_x", Yuan: "1.00", FeeYuan: "0.00"}})
	f.SetBill("2026-11-30", zip)
	acct, err := alipaytest.AccountBillZip([]alipaytest.AccountRow{
		{At: at, OrderID: "2026113022001", OutBizNo: "fund_x", Business: "交易", InYuan: "1.00", BalanceYuan: "1.00"},
		{At: at.Add(time.Hour), OrderID: "20261130110070000006", OutBizNo: "po_1", Business: "转账", OutYuan: "-600.00", BalanceYuan: "0.00"},
		{At: at.Add(2 * time.Hour), OrderID: "20261130110070000007", OutBizNo: "po_2", Business: "转账", OutYuan: "-100000000.01", BalanceYuan: "0.00"},
		{At: at.Add(3 * time.Hour), OrderID: "2026113022001", OutBizNo: "rfp_1", Business: "退款", OutYuan: "-0.50", BalanceYuan: "0.00"},
	})
	if err != nil {
		t.Fatal(err)
	}
	f.SetAccountBill("2026-11-30", acct)
	st, err := ch.FetchStatement(ctx, "2026-11-30")
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Entries) != 3 {
		t.Fatalf("statement: %+v", st.Entries)
	}
	p1, p2 := st.Entries[1], st.Entries[2]
	if p1.Type != "payout" || p1.TransactionID != "po_1" || p1.ChannelReference != "20261130110070000006" || p1.AmountFen != 60_000 || !p1.OccurredAt.Equal(at.Add(time.Hour)) {
		t.Errorf("payout line: %+v", p1)
	}
	if p2.TransactionID != "po_2" || p2.AmountFen != 10_000_000_001 {
		t.Errorf("payout line: %+v", p2)
	}
	// A day with trades and no transfers has an empty account bill.
	f.SetBill("2026-12-01", zip)
	if st, err := ch.FetchStatement(ctx, "2026-12-01"); err != nil || len(st.Entries) != 1 {
		t.Fatalf("a day without payouts: %+v %v", st, err)
	}
	if _, err := alipay.ParseAccountZip(zip); err == nil {
		t.Fatal("a trade bill read as an account bill")
	}
}

// Certificate mode: the SDK sends the app and root certificate serials,
// the fake checks them, replies and notifications name the Alipay
// certificate, and both verify with its key.
func TestCertificateMode(t *testing.T) {
	f, ctx := fake(t), context.Background()
	appCert, aliCert, rootCert, err := f.Certificates()
	if err != nil {
		t.Fatal(err)
	}
	ch, err := alipay.New(ctx, config(f, map[string]any{"alipay_public_key": nil, "app_cert": appCert, "alipay_cert": aliCert, "alipay_root_cert": rootCert}))
	if err != nil {
		t.Fatal(err)
	}
	res, err := ch.CreatePayment(ctx, payment.CreatePaymentRequest{TransactionID: "fund_c00001", AmountFen: 8_800})
	if err != nil || res.Result.Status != payment.StatusPending {
		t.Fatalf("precreate in certificate mode: %+v %v", res, err)
	}
	_, _ = f.Pay("fund_c00001")
	n, _ := f.PaymentNotification("fund_c00001")
	if n.Get("alipay_cert_sn") == "" {
		t.Fatal("the fake's notification names no certificate")
	}
	got, err := ch.HandleNotification(ctx, form(n))
	if err != nil || !got.Verified || got.Result.AmountFen != 8_800 {
		t.Fatalf("notification in certificate mode: %+v %v", got, err)
	}
	// The same app with another app certificate (another serial): refused.
	other, _ := alipaytest.New()
	defer other.Close()
	otherApp, _, _, _ := other.Certificates()
	wrong, err := alipay.New(ctx, config(f, map[string]any{"alipay_public_key": nil, "app_cert": otherApp, "alipay_cert": aliCert, "alipay_root_cert": rootCert}))
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := wrong.CreatePayment(ctx, payment.CreatePaymentRequest{TransactionID: "fund_c00002", AmountFen: 1}); r.Result.Status != payment.StatusFailed {
		t.Fatalf("another app certificate: %+v", r)
	}
}
