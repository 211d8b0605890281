package convert

import (
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/sdk/earning"
	"github.com/lianmeng/lianmeng/sdk/payment"
	"github.com/lianmeng/lianmeng/sdk/pos"
	"github.com/lianmeng/lianmeng/sdk/purchase"
	"github.com/lianmeng/lianmeng/sdk/webhook"
)

var at = time.Date(2025, 3, 4, 7, 30, 0, 0, time.UTC)

func samplePurchase() purchase.Purchase {
	return purchase.Purchase{Type: purchase.TypeRefund, MerchantID: "m", StoreID: "s", ExternalOrderID: "r1",
		Members: []purchase.Identity{{Type: purchase.IdentityPhone, Value: "138"}}, AmountFen: 1234, Currency: "CNY",
		Items: []purchase.LineItem{{SKU: "a", Name: "b", Category: "food", Quantity: 2, AmountFen: 1234}}, PaymentMethod: "wechat",
		OccurredAt: at, OriginalOrderID: "o1", Attributes: map[string]string{"k": "v"}}
}

// Every field must survive the trip, or a field was added to one side only.
func TestRoundTrips(t *testing.T) {
	check := func(name string, in, out any) {
		t.Helper()
		if !reflect.DeepEqual(in, out) {
			t.Errorf("%s changed in transit:\n in: %+v\nout: %+v", name, in, out)
		}
	}
	req := earning.Request{Purchase: samplePurchase(), MemberTier: "gold"}
	check("earning.Request", req, EvaluateRequestFromPB(EvaluateRequestToPB("i", req)))

	b := earning.Breakdown{EligibleAmountFen: 1, BasePoints: 2, TotalPoints: 3, Explanation: "x",
		Multipliers: []earning.Multiplier{{Code: "c", Description: "d", FactorPermille: 1500, Points: 1}},
		Caps:        []earning.Cap{{Code: "c", Description: "d", LimitPoints: 5, RemovedPoints: 0}},
		Exclusions:  []earning.Exclusion{{LineIndex: -1, Category: "tip", AmountFen: 3, Reason: "r"}}}
	check("earning.Breakdown", b, BreakdownFromPB(BreakdownToPB(b)))

	hr := webhook.Request{Method: "POST", Path: "/p", RawQuery: "a=1", Header: http.Header{"X-Sig": {"1", "2"}}, Body: []byte("{}"), RemoteAddr: "1.2.3.4:5"}
	pr := pos.Request{HTTP: hr, MerchantID: "m", MerchantConfig: []byte(`{"secret":"s"}`)}
	check("pos.Request", pr, WebhookRequestFromPB(WebhookRequestToPB("i", pr)))
	res := pos.Result{Outcome: pos.Accepted, EventID: "e", EventType: "order.paid", Events: []purchase.Purchase{samplePurchase()},
		Ack: webhook.Response{Status: 200, Header: http.Header{"Content-Type": {"application/json"}}, Body: []byte(`{"ok":1}`)}, Reason: "r"}
	check("pos.Result", res, WebhookResultFromPB(WebhookResultToPB(res)))
	poll := pos.PollRequest{MerchantID: "m", MerchantConfig: []byte(`{"k":1}`), Cursor: []byte(`{"start":"x"}`), Now: at}
	check("pos.PollRequest", poll, PollRequestFromPB(PollRequestToPB("i", poll)))
	page := pos.PollResult{Records: []pos.Record{{ID: "ticket:1", Request: hr}}, Cursor: []byte("c"), More: true, ProviderError: "p"}
	check("pos.PollResult", page, PollResultFromPB(PollResultToPB(page)))

	pres := payment.Result{Status: payment.StatusUnknown, TransactionID: "t", ChannelReference: "c", AmountFen: 5, FailureCode: "f",
		FailureMessage: "m", CompletedAt: at, Properties: map[string]string{"a": "b"}}
	check("payment.Result", pres, PaymentResultFromPB(PaymentResultToPB(pres)))
	cp := payment.CreatePaymentRequest{TransactionID: "t", MerchantID: "m", AmountFen: 1, Currency: "CNY", Description: "d",
		NotifyURL: "n", ReturnURL: "r", ExpiresAt: at, Properties: map[string]string{"a": "b"}}
	check("payment.CreatePaymentRequest", cp, CreatePaymentFromPB(CreatePaymentToPB("i", cp)))
	cpr := payment.CreatePaymentResponse{Result: pres, PayURL: "u", QRCode: "q", ClientParams: map[string]string{"a": "b"}}
	check("payment.CreatePaymentResponse", cpr, CreatePaymentResponseFromPB(CreatePaymentResponseToPB(cpr)))
	n := payment.Notification{Verified: true, EventType: "payment", Result: pres, Ack: res.Ack}
	check("payment.Notification", n, NotificationFromPB(NotificationToPB(n)))
	po := payment.PayoutRequest{TransactionID: "t", MerchantID: "m", Payee: payment.Payee{Type: "bank_account", Account: "a", Name: "n", Bank: "b"},
		AmountFen: 9, Currency: "CNY", Remark: "r"}
	check("payment.PayoutRequest", po, PayoutFromPB(PayoutToPB("i", po)))
	st := payment.Statement{Date: "2025-03-04", Final: true, Entries: []payment.StatementEntry{{TransactionID: "t", ChannelReference: "c",
		Type: "payment", AmountFen: 1, FeeFen: 1, Currency: "CNY", OccurredAt: at, Status: payment.StatusSucceeded}}}
	check("payment.Statement", st, StatementFromPB(StatementToPB(st)))
	rf := payment.RefundRequest{TransactionID: "t", OriginalTransactionID: "o", OriginalChannelReference: "c", AmountFen: 1, Currency: "CNY", Reason: "r"}
	check("payment.RefundRequest", rf, RefundFromPB(RefundToPB("i", rf)))
}
