package wechatpay_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/plugins/wechatpay"
	"github.com/lianmeng/lianmeng/plugins/wechatpay/wechatpaytest"
	"github.com/lianmeng/lianmeng/sdk"
	"github.com/lianmeng/lianmeng/sdk/payment"
	"github.com/lianmeng/lianmeng/sdk/plugintest"
	"github.com/lianmeng/lianmeng/sdk/webhook"
)

func fake(t *testing.T) *wechatpaytest.Server {
	t.Helper()
	f, err := wechatpaytest.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Close)
	return f
}

func config(f *wechatpaytest.Server, extra map[string]any) []byte {
	c := map[string]any{
		"mch_id": f.MchID, "app_id": f.AppID, "merchant_serial_no": f.MerchantSerial,
		"merchant_private_key": f.MerchantKeyPEM(), "public_key_id": f.PublicKeyID, "public_key": f.PlatformPublicKeyPEM(),
		"api_v3_key": f.APIv3Key, "notify_url": "https://gateway.example/v1/channels/wechatpay/notify",
		"api_base": f.URL, "timeout_seconds": 5,
	}
	for k, v := range extra {
		c[k] = v
	}
	b, _ := json.Marshal(c)
	return b
}

func channel(t *testing.T, f *wechatpaytest.Server) *wechatpay.Channel {
	t.Helper()
	ch, err := wechatpay.New(context.Background(), config(f, nil))
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

func asWebhook(n wechatpaytest.Notification) webhook.Request {
	return webhook.Request{Method: http.MethodPost, Path: "/v1/channels/wechatpay/notify", Header: n.Header.Clone(), Body: n.Body}
}

func TestConfig(t *testing.T) {
	f := fake(t)
	plugintest.CheckConfig(t, wechatpay.Plugins(), map[string]json.RawMessage{sdk.KindPaymentChannel: config(f, nil)})
	for name, extra := range map[string]map[string]any{
		"short APIv3 key":   {"api_v3_key": "short"},
		"not a key id":      {"public_key_id": "1234"},
		"bad private key":   {"merchant_private_key": "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"},
		"notify with query": {"notify_url": "https://gw.example/notify?x=1"},
		"missing mch_id":    {"mch_id": ""},
	} {
		if _, err := wechatpay.New(context.Background(), config(f, extra)); !errors.Is(err, sdk.ErrInvalidConfig) {
			t.Errorf("%s: got %v, want ErrInvalidConfig", name, err)
		}
	}
}

// The whole funding path against the fake: a Native order, the payer
// pays, the signed encrypted notification verifies and reports the
// transaction; the active query agrees.
func TestFundingPaymentAndNotification(t *testing.T) {
	f, ctx := fake(t), context.Background()
	ch := channel(t, f)
	res, err := ch.CreatePayment(ctx, payment.CreatePaymentRequest{TransactionID: "fund_000001", MerchantID: "m1", AmountFen: 123_456, Currency: "CNY"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Result.Status != payment.StatusPending || !strings.HasPrefix(res.QRCode, "weixin://wxpay/") {
		t.Fatalf("create: %+v", res)
	}
	o, ok := f.Order("fund_000001")
	if !ok || o.Total != 123_456 || o.NotifyURL != "https://gateway.example/v1/channels/wechatpay/notify" {
		t.Fatalf("order at the fake: %+v %v", o, ok)
	}
	// Creating again with the same id is the same order (idempotent).
	if again, _ := ch.CreatePayment(ctx, payment.CreatePaymentRequest{TransactionID: "fund_000001", MerchantID: "m1", AmountFen: 123_456}); again.QRCode != res.QRCode {
		t.Fatalf("second create: %+v", again)
	}

	q, err := ch.QueryPayment(ctx, payment.QueryPaymentRequest{TransactionID: "fund_000001"})
	if err != nil || q.Status != payment.StatusPending {
		t.Fatalf("query before paying: %+v %v", q, err)
	}
	txID, err := f.Pay("fund_000001")
	if err != nil {
		t.Fatal(err)
	}
	n, err := f.PaymentNotification("fund_000001")
	if err != nil {
		t.Fatal(err)
	}
	got, err := ch.HandleNotification(ctx, asWebhook(n))
	if err != nil {
		t.Fatal(err)
	}
	if !got.Verified || got.EventType != "payment" || got.Result.Status != payment.StatusSucceeded ||
		got.Result.TransactionID != "fund_000001" || got.Result.ChannelReference != txID || got.Result.AmountFen != 123_456 ||
		got.Result.Properties["attach"] != "" && got.Result.Properties["attach"] != "m1" {
		t.Fatalf("notification: %+v", got)
	}
	if got.Ack.Status != http.StatusOK || !strings.Contains(string(got.Ack.Body), `"SUCCESS"`) {
		t.Fatalf("ack %+v", got.Ack)
	}
	q = plugintest.CheckQueryPayment(t, ch, payment.QueryPaymentRequest{TransactionID: "fund_000001"})
	if q.Status != payment.StatusSucceeded || q.ChannelReference != txID || q.AmountFen != 123_456 {
		t.Fatalf("query after paying: %+v", q)
	}
	if q, _ := ch.QueryPayment(ctx, payment.QueryPaymentRequest{TransactionID: "fund_missing"}); q.Status != payment.StatusNotSubmitted || q.FailureCode != "ORDER_NOT_EXIST" {
		t.Fatalf("query of an unknown order: %+v", q)
	}
}

func TestNotificationRefused(t *testing.T) {
	f, ctx := fake(t), context.Background()
	ch := channel(t, f)
	if _, err := ch.CreatePayment(ctx, payment.CreatePaymentRequest{TransactionID: "fund_000002", MerchantID: "m1", AmountFen: 100}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Pay("fund_000002"); err != nil {
		t.Fatal(err)
	}
	good, err := f.PaymentNotification("fund_000002")
	if err != nil {
		t.Fatal(err)
	}
	check := func(name string, n wechatpaytest.Notification) {
		t.Helper()
		got, err := ch.HandleNotification(ctx, asWebhook(n))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got.Verified || got.Ack.Status < 400 || got.Result.Status == payment.StatusSucceeded {
			t.Errorf("%s: accepted: %+v", name, got)
		}
	}
	tampered := good
	tampered.Body = []byte(strings.Replace(string(good.Body), `"summary":"notification"`, `"summary":"notificatioN"`, 1))
	check("body changed after signing", tampered)

	noSig := wechatpaytest.Notification{Header: good.Header.Clone(), Body: good.Body}
	noSig.Header.Del("Wechatpay-Signature")
	check("no signature", noSig)

	forger, _ := rsa.GenerateKey(rand.Reader, 2048)
	f.NotifyKey, f.NotifySerial = forger, f.PublicKeyID
	forged, _ := f.PaymentNotification("fund_000002")
	check("signed by another key", forged)
	f.NotifyKey = nil

	// Right signature, wrong APIv3 key: the resource does not decrypt.
	other, err := wechatpay.New(ctx, config(f, map[string]any{"api_v3_key": strings.Repeat("k", 32)}))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := other.HandleNotification(ctx, asWebhook(good))
	if got.Verified {
		t.Errorf("wrong APIv3 key: accepted %+v", got)
	}
	// A properly signed notification for another merchant account.
	wrong, _ := f.Notify("TRANSACTION.SUCCESS", "transaction", map[string]any{"mchid": "1900000999", "appid": f.AppID,
		"out_trade_no": "fund_000002", "transaction_id": "4200", "trade_state": "SUCCESS", "amount": map[string]any{"total": 100}})
	check("another account's transaction", wrong)
}

// Certificate-mode accounts migrating to the public key: with
// platform_certificates configured, notifications signed under either verify.
func TestCombinedVerifier(t *testing.T) {
	f, ctx := fake(t), context.Background()
	certKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(0x5157F09E), Subject: pkix.Name{CommonName: "Tenpay.com Root CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &certKey.PublicKey, certKey)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	ch, err := wechatpay.New(ctx, config(f, map[string]any{"platform_certificates": []string{certPEM}}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ch.CreatePayment(ctx, payment.CreatePaymentRequest{TransactionID: "fund_000003", MerchantID: "m1", AmountFen: 500}); err != nil {
		t.Fatal(err)
	}
	_, _ = f.Pay("fund_000003")
	byKey, _ := f.PaymentNotification("fund_000003")
	f.NotifyKey, f.NotifySerial = certKey, fmt.Sprintf("%X", tmpl.SerialNumber)
	byCert, _ := f.PaymentNotification("fund_000003")
	for name, n := range map[string]wechatpaytest.Notification{"public key": byKey, "certificate": byCert} {
		got, err := ch.HandleNotification(ctx, asWebhook(n))
		if err != nil || !got.Verified || got.Result.AmountFen != 500 {
			t.Errorf("%s: %+v %v", name, got, err)
		}
	}
	// Without the certificate configured, the certificate-signed one fails.
	plain := channel(t, f)
	if got, _ := plain.HandleNotification(ctx, asWebhook(byCert)); got.Verified {
		t.Errorf("public-key-only channel accepted a certificate signature")
	}
}

func TestRefund(t *testing.T) {
	f, ctx := fake(t), context.Background()
	ch := channel(t, f)
	if _, err := ch.CreatePayment(ctx, payment.CreatePaymentRequest{TransactionID: "fund_000004", MerchantID: "m1", AmountFen: 10_000}); err != nil {
		t.Fatal(err)
	}
	unpaid, err := ch.Refund(ctx, payment.RefundRequest{TransactionID: "rfd_000001", OriginalTransactionID: "fund_000004", AmountFen: 100})
	if err != nil || unpaid.Status != payment.StatusFailed {
		t.Fatalf("refund of an unpaid order: %+v %v", unpaid, err)
	}
	txID, _ := f.Pay("fund_000004")
	r, err := ch.Refund(ctx, payment.RefundRequest{TransactionID: "rfd_000002", OriginalTransactionID: "fund_000004", AmountFen: 2_500, Reason: "test"})
	if err != nil || r.Status != payment.StatusSucceeded || r.AmountFen != 2_500 || r.ChannelReference == "" {
		t.Fatalf("refund: %+v %v", r, err)
	}
	again, _ := ch.Refund(ctx, payment.RefundRequest{TransactionID: "rfd_000002", OriginalTransactionID: "fund_000004", AmountFen: 2_500})
	if again.ChannelReference != r.ChannelReference {
		t.Fatalf("the same refund id twice made two refunds: %+v %+v", r, again)
	}
	over, _ := ch.Refund(ctx, payment.RefundRequest{TransactionID: "rfd_000003", OriginalTransactionID: "fund_000004", AmountFen: 7_501})
	if over.Status != payment.StatusFailed || over.FailureCode != "NOT_ENOUGH" {
		t.Fatalf("refund beyond the order: %+v", over)
	}
	if o, _ := f.Order("fund_000004"); o.Refunded != 2_500 || o.TransactionID != txID {
		t.Fatalf("fake order after refunds: %+v", o)
	}
	if _, err := ch.Refund(ctx, payment.RefundRequest{TransactionID: "rfd_000004", OriginalTransactionID: "fund_000004", AmountFen: -1}); !errors.Is(err, sdk.ErrInvalidInput) {
		t.Fatalf("negative refund: %v", err)
	}
}

func TestPayout(t *testing.T) {
	f, ctx := fake(t), context.Background()
	ch := channel(t, f)
	req := payment.PayoutRequest{TransactionID: "po_000001", MerchantID: "m1", AmountFen: 88_800, Currency: "CNY",
		Payee: payment.Payee{Type: "wechat_openid", Account: "o-merchant-owner"}}
	r, err := ch.Payout(ctx, req)
	if err != nil || r.Status != payment.StatusPending || r.ChannelReference == "" || r.AmountFen != 88_800 {
		t.Fatalf("payout: %+v %v", r, err)
	}
	again, _ := ch.Payout(ctx, req)
	if again.ChannelReference != r.ChannelReference {
		t.Fatalf("retry made a second transfer: %+v %+v", r, again)
	}
	q, _ := ch.QueryPayout(ctx, payment.QueryPayoutRequest{TransactionID: "po_000001"})
	if q.Status != payment.StatusPending {
		t.Fatalf("query: %+v", q)
	}
	f.SetTransferState("po_000001", "SUCCESS", "")
	q, _ = ch.QueryPayout(ctx, payment.QueryPayoutRequest{TransactionID: "po_000001"})
	if q.Status != payment.StatusSucceeded || q.AmountFen != 88_800 {
		t.Fatalf("query after success: %+v", q)
	}
	if q, _ := ch.QueryPayout(ctx, payment.QueryPayoutRequest{TransactionID: "po_never"}); q.Status != payment.StatusNotSubmitted {
		t.Fatalf("query of a payout WeChat Pay never saw: %+v", q)
	}
	if _, err := ch.Payout(ctx, payment.PayoutRequest{TransactionID: "po_000002", AmountFen: 1, Payee: payment.Payee{Type: "bank_account", Account: "6222"}}); !errors.Is(err, sdk.ErrInvalidInput) {
		t.Fatalf("bank payee: %v", err)
	}
	// A payout notification (MCHTRANSFER.BILL.FINISHED) reports the bill.
	n, _ := f.Notify("MCHTRANSFER.BILL.FINISHED", "mch_payment", map[string]any{"mch_id": f.MchID, "out_bill_no": "po_000001",
		"transfer_bill_no": q.ChannelReference, "state": "SUCCESS", "transfer_amount": 88_800})
	got, _ := ch.HandleNotification(ctx, asWebhook(n))
	if !got.Verified || got.EventType != "payout" || got.Result.Status != payment.StatusSucceeded || got.Result.AmountFen != 88_800 {
		t.Fatalf("payout notification: %+v", got)
	}
}

// Outages: a 5xx after sending is unknown (query, never guess); a refused
// connection never reached WeChat Pay (not submitted: safe elsewhere).
func TestOutageStatuses(t *testing.T) {
	f, ctx := fake(t), context.Background()
	ch := channel(t, f)
	f.SetDown(true)
	req := payment.PayoutRequest{TransactionID: "po_000009", AmountFen: 100, Payee: payment.Payee{Type: "wechat_openid", Account: "o1"}}
	if r, _ := ch.Payout(ctx, req); r.Status != payment.StatusUnknown {
		t.Fatalf("payout during a 500: %+v", r)
	}
	if r, _ := ch.CreatePayment(ctx, payment.CreatePaymentRequest{TransactionID: "fund_000009", AmountFen: 100}); r.Result.Status != payment.StatusUnknown {
		t.Fatalf("create during a 500: %+v", r)
	}
	f.SetDown(false)
	f.Close()
	if r, _ := ch.Payout(ctx, req); r.Status != payment.StatusNotSubmitted {
		t.Fatalf("payout with the channel unreachable: %+v", r)
	}
}

func TestFetchStatement(t *testing.T) {
	f, ctx := fake(t), context.Background()
	ch := channel(t, f)
	at := time.Date(2026, 11, 30, 10, 0, 0, 0, time.FixedZone("CST", 8*3600))
	f.SetBill("2026-11-30", wechatpaytest.TradeBill([]wechatpaytest.BillLine{
		{At: at, TransactionID: "4200000001", OutTradeNo: "fund_a", AmountFen: 100, FeeFen: 1},
		{At: at.Add(time.Minute), TransactionID: "4200000002", OutTradeNo: "fund_b", AmountFen: 1_000_000_000_00, FeeFen: 60_000_000},
		{At: at.Add(2 * time.Minute), TransactionID: "4200000001", OutTradeNo: "fund_a", Refund: true, RefundID: "5030001", OutRefundNo: "rfd_a", AmountFen: 37},
	}))
	st, err := ch.FetchStatement(ctx, "2026-11-30")
	if err != nil {
		t.Fatal(err)
	}
	want := []payment.StatementEntry{
		{TransactionID: "fund_a", ChannelReference: "4200000001", Type: "payment", AmountFen: 100, FeeFen: 1},
		{TransactionID: "fund_b", ChannelReference: "4200000002", Type: "payment", AmountFen: 1_000_000_000_00, FeeFen: 60_000_000},
		{TransactionID: "rfd_a", ChannelReference: "5030001", Type: "refund", AmountFen: 37},
	}
	if len(st.Entries) != len(want) || !st.Final {
		t.Fatalf("statement: %+v", st)
	}
	for i, w := range want {
		g := st.Entries[i]
		if g.TransactionID != w.TransactionID || g.ChannelReference != w.ChannelReference || g.Type != w.Type || g.AmountFen != w.AmountFen || g.FeeFen != w.FeeFen {
			t.Errorf("entry %d: got %+v, want %+v", i, g, w)
		}
	}
	if !st.Entries[0].OccurredAt.Equal(at) {
		t.Errorf("time %v, want %v", st.Entries[0].OccurredAt, at)
	}
	f.TamperDownload = true
	if _, err := ch.FetchStatement(ctx, "2026-11-30"); err == nil || !strings.Contains(err.Error(), "SHA1") {
		t.Fatalf("a bill that does not match its signed hash: %v", err)
	}
	f.TamperDownload = false
	if _, err := ch.FetchStatement(ctx, "2026-12-31"); err == nil {
		t.Fatal("a day without a bill gave no error")
	}
	if _, err := ch.FetchStatement(ctx, "30/11/2026"); !errors.Is(err, sdk.ErrInvalidInput) {
		t.Fatalf("bad date: %v", err)
	}
}

// Payouts come from the fund flow bill: a merchant transfer paid out is a
// payout under its out_bill_no; trades, refunds and incoming transfers
// there are not (the trade bill has them).
func TestFetchStatementPayouts(t *testing.T) {
	f, ctx := fake(t), context.Background()
	ch := channel(t, f)
	at := time.Date(2026, 11, 30, 10, 0, 0, 0, time.FixedZone("CST", 8*3600))
	f.SetBill("2026-11-30", wechatpaytest.TradeBill([]wechatpaytest.BillLine{{At: at, TransactionID: "4200000001", OutTradeNo: "fund_a", AmountFen: 100}}))
	f.SetFundFlowBill("2026-11-30", wechatpaytest.FundFlowBill([]wechatpaytest.FundFlowLine{
		{At: at, WechatPayNo: "4200000001", Business: "交易", AmountFen: 100, BalanceFen: 100, MerchantNumber: "fund_a"},
		{At: at.Add(time.Hour), WechatPayNo: "1330000000000001", Business: "商家转账", Out: true, AmountFen: 60, BalanceFen: 40, MerchantNumber: "po_1"},
		{At: at.Add(2 * time.Hour), WechatPayNo: "50300001", Business: "退款", Out: true, AmountFen: 10, BalanceFen: 30, MerchantNumber: "rfp_1"},
		{At: at.Add(3 * time.Hour), WechatPayNo: "1330000000000002", Business: "企业付款", Out: true, AmountFen: 1_000_000_000_00, BalanceFen: 0, MerchantNumber: "po_2"},
	}))
	st, err := ch.FetchStatement(ctx, "2026-11-30")
	if err != nil {
		t.Fatal(err)
	}
	var payouts []payment.StatementEntry
	for _, e := range st.Entries {
		if e.Type == "payout" {
			payouts = append(payouts, e)
		}
	}
	if len(st.Entries) != 3 || len(payouts) != 2 || payouts[0].TransactionID != "po_1" || payouts[0].ChannelReference != "1330000000000001" ||
		payouts[0].AmountFen != 60 || !payouts[0].OccurredAt.Equal(at.Add(time.Hour)) || payouts[1].TransactionID != "po_2" || payouts[1].AmountFen != 1_000_000_000_00 {
		t.Fatalf("statement: %+v", st.Entries)
	}
	// A day with payments and no transfers has an empty fund flow bill.
	f.SetBill("2026-12-01", wechatpaytest.TradeBill(nil))
	if st, err := ch.FetchStatement(ctx, "2026-12-01"); err != nil || len(st.Entries) != 0 {
		t.Fatalf("empty day: %+v %v", st, err)
	}
}

func TestParseFundFlowBillRefusesInconsistentTotals(t *testing.T) {
	bill := wechatpaytest.FundFlowBill([]wechatpaytest.FundFlowLine{{At: time.Now(), WechatPayNo: "1", Business: "商家转账", Out: true, AmountFen: 100, MerchantNumber: "po_1"}})
	if _, err := wechatpay.ParseFundFlowBill(bill); err != nil {
		t.Fatal(err)
	}
	bad := strings.Replace(string(bill), "`0.00,`1,`1.00", "`0.00,`1,`2.00", 1)
	if _, err := wechatpay.ParseFundFlowBill([]byte(bad)); err == nil {
		t.Fatal("summary expense differing from the lines was accepted")
	}
	cut := bill[:strings.Index(string(bill), "资金流水总笔数")]
	if _, err := wechatpay.ParseFundFlowBill(cut); err == nil {
		t.Fatal("a fund flow bill without its summary was accepted")
	}
}

func TestParseTradeBillRefusesInconsistentTotals(t *testing.T) {
	bill := wechatpaytest.TradeBill([]wechatpaytest.BillLine{{At: time.Now(), TransactionID: "1", OutTradeNo: "a", AmountFen: 100}})
	bad := strings.Replace(string(bill), "`1,`1.00", "`1,`2.00", 1)
	if _, err := wechatpay.ParseTradeBill([]byte(bad)); err == nil {
		t.Fatal("summary total differing from the lines was accepted")
	}
	cut := bill[:strings.Index(string(bill), "总交易单数")]
	if _, err := wechatpay.ParseTradeBill(cut); err == nil {
		t.Fatal("a bill without its summary was accepted")
	}
}

// The fake's bill amounts (its own formatting) read back exactly.
func TestFakeYuanReadsBack(t *testing.T) {
	for _, fen := range []int64{0, 1, 99, 100, 10_000_000_000, 1<<63 - 1, -1} {
		if got, err := payment.ParseYuan(wechatpaytest.Yuan(fen)); err != nil || got != fen {
			t.Errorf("%d → %q → %d, %v", fen, wechatpaytest.Yuan(fen), got, err)
		}
	}
}

// The fake checks the real signatures both ways: a request signed with
// another merchant key is refused by WeChat Pay (SIGN_ERROR), and a reply
// that does not verify under the configured public key is not believed
// (unknown: the order may exist).
func TestSignaturesBothWays(t *testing.T) {
	f, ctx := fake(t), context.Background()
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	der, _ := x509.MarshalPKCS8PrivateKey(other)
	otherPriv := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	pubDER, _ := x509.MarshalPKIXPublicKey(&other.PublicKey)
	otherPub := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}))

	wrongSigner, err := wechatpay.New(ctx, config(f, map[string]any{"merchant_private_key": otherPriv}))
	if err != nil {
		t.Fatal(err)
	}
	r, _ := wrongSigner.CreatePayment(ctx, payment.CreatePaymentRequest{TransactionID: "fund_000010", AmountFen: 100})
	if r.Result.Status != payment.StatusFailed || r.Result.FailureCode != "SIGN_ERROR" {
		t.Fatalf("request under another merchant key: %+v", r)
	}
	if _, ok := f.Order("fund_000010"); ok {
		t.Fatal("the fake took an order whose signature did not verify")
	}
	wrongVerifier, err := wechatpay.New(ctx, config(f, map[string]any{"public_key": otherPub}))
	if err != nil {
		t.Fatal(err)
	}
	r, _ = wrongVerifier.CreatePayment(ctx, payment.CreatePaymentRequest{TransactionID: "fund_000011", AmountFen: 100})
	if r.Result.Status != payment.StatusUnknown || r.QRCode != "" {
		t.Fatalf("a reply that does not verify: %+v", r)
	}
}

// A payout WeChat Pay takes but answers too late is unknown, never failed;
// the query then finds it.
func TestTimeoutIsUnknown(t *testing.T) {
	f, ctx := fake(t), context.Background()
	ch, err := wechatpay.New(ctx, config(f, map[string]any{"timeout_seconds": 1}))
	if err != nil {
		t.Fatal(err)
	}
	f.SetDelay(1500 * time.Millisecond)
	req := payment.PayoutRequest{TransactionID: "po_t00001", AmountFen: 500, Payee: payment.Payee{Type: "wechat_openid", Account: "o1"}}
	if r, _ := ch.Payout(ctx, req); r.Status != payment.StatusUnknown {
		t.Fatalf("payout answered late: %+v", r)
	}
	f.SetDelay(0)
	if _, ok := f.Transfer("po_t00001"); !ok {
		t.Fatal("the fake did not take the late payout")
	}
	if q, _ := ch.QueryPayout(ctx, payment.QueryPayoutRequest{TransactionID: "po_t00001"}); q.Status != payment.StatusPending || q.AmountFen != 500 {
		t.Fatalf("query after the timeout: %+v", q)
	}
}

// The payee's real name travels encrypted to WeChat Pay's public key (the
// fake decrypts it with the platform key named by Wechatpay-Serial).
func TestPayoutPayeeNameEncrypted(t *testing.T) {
	f, ctx := fake(t), context.Background()
	ch := channel(t, f)
	r, err := ch.Payout(ctx, payment.PayoutRequest{TransactionID: "po_n00001", AmountFen: 300_000,
		Payee: payment.Payee{Type: "wechat_openid", Account: "o-owner", Name: "张三"}})
	if err != nil || r.Status != payment.StatusPending {
		t.Fatalf("payout with a name: %+v %v", r, err)
	}
	if tr, _ := f.Transfer("po_n00001"); tr.UserName != "张三" {
		t.Fatalf("name at WeChat Pay: %q", tr.UserName)
	}
}
