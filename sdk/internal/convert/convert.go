// Package convert maps the SDK's plain Go types to and from the generated
// protobuf types. Both sides (plugin server and gateway client) use it, so a
// field added to the contract is wired in exactly one place.
package convert

import (
	"net/http"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/lianmeng/lianmeng/sdk/earning"
	"github.com/lianmeng/lianmeng/sdk/internal/pb"
	"github.com/lianmeng/lianmeng/sdk/payment"
	"github.com/lianmeng/lianmeng/sdk/pos"
	"github.com/lianmeng/lianmeng/sdk/purchase"
	"github.com/lianmeng/lianmeng/sdk/webhook"
)

func ts(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

func fromTS(t *timestamppb.Timestamp) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.AsTime()
}

// PurchaseToPB converts a purchase.
func PurchaseToPB(p purchase.Purchase) *pb.Purchase {
	out := &pb.Purchase{
		Type:            pb.PurchaseType_PURCHASE_TYPE_PURCHASE,
		MerchantId:      p.MerchantID,
		StoreId:         p.StoreID,
		ExternalOrderId: p.ExternalOrderID,
		AmountFen:       p.AmountFen,
		Currency:        p.Currency,
		PaymentMethod:   p.PaymentMethod,
		OccurredAt:      ts(p.OccurredAt),
		OriginalOrderId: p.OriginalOrderID,
		Attributes:      p.Attributes,
	}
	if p.Type == purchase.TypeRefund {
		out.Type = pb.PurchaseType_PURCHASE_TYPE_REFUND
	}
	if len(p.Members) > 0 {
		out.Members = make([]*pb.Identity, len(p.Members))
		for i, m := range p.Members {
			out.Members[i] = &pb.Identity{Type: m.Type, Value: m.Value}
		}
	}
	if len(p.Items) > 0 {
		out.Items = make([]*pb.LineItem, len(p.Items))
		for i, it := range p.Items {
			out.Items[i] = &pb.LineItem{Sku: it.SKU, Name: it.Name, Category: it.Category, Quantity: it.Quantity, AmountFen: it.AmountFen}
		}
	}
	return out
}

// PurchaseFromPB converts a purchase; nil gives the zero purchase.
func PurchaseFromPB(p *pb.Purchase) purchase.Purchase {
	if p == nil {
		return purchase.Purchase{}
	}
	out := purchase.Purchase{
		MerchantID:      p.MerchantId,
		StoreID:         p.StoreId,
		ExternalOrderID: p.ExternalOrderId,
		AmountFen:       p.AmountFen,
		Currency:        p.Currency,
		PaymentMethod:   p.PaymentMethod,
		OccurredAt:      fromTS(p.OccurredAt),
		OriginalOrderID: p.OriginalOrderId,
		Attributes:      p.Attributes,
	}
	switch p.Type {
	case pb.PurchaseType_PURCHASE_TYPE_REFUND:
		out.Type = purchase.TypeRefund
	case pb.PurchaseType_PURCHASE_TYPE_PURCHASE, pb.PurchaseType_PURCHASE_TYPE_UNSPECIFIED:
		out.Type = purchase.TypePurchase
	default:
		out.Type = purchase.Type(-1) // fails Validate
	}
	if len(p.Members) > 0 {
		out.Members = make([]purchase.Identity, len(p.Members))
		for i, m := range p.Members {
			out.Members[i] = purchase.Identity{Type: m.GetType(), Value: m.GetValue()}
		}
	}
	if len(p.Items) > 0 {
		out.Items = make([]purchase.LineItem, len(p.Items))
		for i, it := range p.Items {
			out.Items[i] = purchase.LineItem{SKU: it.GetSku(), Name: it.GetName(), Category: it.GetCategory(), Quantity: it.GetQuantity(), AmountFen: it.GetAmountFen()}
		}
	}
	return out
}

func headersToPB(h http.Header) []*pb.Header {
	if len(h) == 0 {
		return nil
	}
	out := make([]*pb.Header, 0, len(h))
	for k, v := range h {
		out = append(out, &pb.Header{Name: k, Values: v})
	}
	return out
}

func headersFromPB(hs []*pb.Header) http.Header {
	if len(hs) == 0 {
		return nil
	}
	out := make(http.Header, len(hs))
	for _, h := range hs {
		k := http.CanonicalHeaderKey(h.GetName())
		out[k] = append(out[k], h.GetValues()...)
	}
	return out
}

// HTTPRequestToPB converts an inbound webhook.
func HTTPRequestToPB(r webhook.Request) *pb.HTTPRequest {
	return &pb.HTTPRequest{Method: r.Method, Path: r.Path, RawQuery: r.RawQuery, Headers: headersToPB(r.Header), Body: r.Body, RemoteAddr: r.RemoteAddr}
}

// HTTPRequestFromPB converts an inbound webhook.
func HTTPRequestFromPB(r *pb.HTTPRequest) webhook.Request {
	return webhook.Request{Method: r.GetMethod(), Path: r.GetPath(), RawQuery: r.GetRawQuery(), Header: headersFromPB(r.GetHeaders()), Body: r.GetBody(), RemoteAddr: r.GetRemoteAddr()}
}

// HTTPResponseToPB converts an acknowledgement.
func HTTPResponseToPB(r webhook.Response) *pb.HTTPResponse {
	return &pb.HTTPResponse{Status: int32(r.Status), Headers: headersToPB(r.Header), Body: r.Body}
}

// HTTPResponseFromPB converts an acknowledgement.
func HTTPResponseFromPB(r *pb.HTTPResponse) webhook.Response {
	return webhook.Response{Status: int(r.GetStatus()), Header: headersFromPB(r.GetHeaders()), Body: r.GetBody()}
}

// EvaluateRequestToPB converts an earning request.
func EvaluateRequestToPB(instance string, r earning.Request) *pb.EvaluateRequest {
	return &pb.EvaluateRequest{Instance: instance, Purchase: PurchaseToPB(r.Purchase), MemberTier: r.MemberTier}
}

// EvaluateRequestFromPB converts an earning request.
func EvaluateRequestFromPB(r *pb.EvaluateRequest) earning.Request {
	return earning.Request{Purchase: PurchaseFromPB(r.GetPurchase()), MemberTier: r.GetMemberTier()}
}

// BreakdownToPB converts an earning result.
func BreakdownToPB(b earning.Breakdown) *pb.EvaluateResponse {
	out := &pb.EvaluateResponse{EligibleAmountFen: b.EligibleAmountFen, BasePoints: b.BasePoints, TotalPoints: b.TotalPoints, Explanation: b.Explanation}
	for _, m := range b.Multipliers {
		out.Multipliers = append(out.Multipliers, &pb.Multiplier{Code: m.Code, Description: m.Description, FactorPermille: m.FactorPermille, Points: m.Points})
	}
	for _, c := range b.Caps {
		out.Caps = append(out.Caps, &pb.Cap{Code: c.Code, Description: c.Description, LimitPoints: c.LimitPoints, RemovedPoints: c.RemovedPoints})
	}
	for _, e := range b.Exclusions {
		out.Exclusions = append(out.Exclusions, &pb.Exclusion{LineIndex: int32(e.LineIndex), Category: e.Category, AmountFen: e.AmountFen, Reason: e.Reason})
	}
	return out
}

// BreakdownFromPB converts an earning result.
func BreakdownFromPB(r *pb.EvaluateResponse) earning.Breakdown {
	out := earning.Breakdown{EligibleAmountFen: r.GetEligibleAmountFen(), BasePoints: r.GetBasePoints(), TotalPoints: r.GetTotalPoints(), Explanation: r.GetExplanation()}
	for _, m := range r.GetMultipliers() {
		out.Multipliers = append(out.Multipliers, earning.Multiplier{Code: m.GetCode(), Description: m.GetDescription(), FactorPermille: m.GetFactorPermille(), Points: m.GetPoints()})
	}
	for _, c := range r.GetCaps() {
		out.Caps = append(out.Caps, earning.Cap{Code: c.GetCode(), Description: c.GetDescription(), LimitPoints: c.GetLimitPoints(), RemovedPoints: c.GetRemovedPoints()})
	}
	for _, e := range r.GetExclusions() {
		out.Exclusions = append(out.Exclusions, earning.Exclusion{LineIndex: int(e.GetLineIndex()), Category: e.GetCategory(), AmountFen: e.GetAmountFen(), Reason: e.GetReason()})
	}
	return out
}

// WebhookRequestToPB converts a POS webhook call.
func WebhookRequestToPB(instance string, r pos.Request) *pb.HandleWebhookRequest {
	return &pb.HandleWebhookRequest{Instance: instance, Request: HTTPRequestToPB(r.HTTP), MerchantId: r.MerchantID, MerchantConfigJson: r.MerchantConfig}
}

// WebhookRequestFromPB converts a POS webhook call.
func WebhookRequestFromPB(r *pb.HandleWebhookRequest) pos.Request {
	return pos.Request{HTTP: HTTPRequestFromPB(r.GetRequest()), MerchantID: r.GetMerchantId(), MerchantConfig: r.GetMerchantConfigJson()}
}

// WebhookResultToPB converts a POS webhook result.
func WebhookResultToPB(r pos.Result) *pb.HandleWebhookResponse {
	out := &pb.HandleWebhookResponse{Outcome: pb.WebhookOutcome(r.Outcome), EventId: r.EventID, EventType: r.EventType, Ack: HTTPResponseToPB(r.Ack), Reason: r.Reason}
	for _, e := range r.Events {
		out.Events = append(out.Events, PurchaseToPB(e))
	}
	return out
}

// WebhookResultFromPB converts a POS webhook result.
func WebhookResultFromPB(r *pb.HandleWebhookResponse) pos.Result {
	out := pos.Result{Outcome: pos.Outcome(r.GetOutcome()), EventID: r.GetEventId(), EventType: r.GetEventType(), Ack: HTTPResponseFromPB(r.GetAck()), Reason: r.GetReason()}
	for _, e := range r.GetEvents() {
		out.Events = append(out.Events, PurchaseFromPB(e))
	}
	return out
}

// PaymentResultToPB converts a payment result.
func PaymentResultToPB(r payment.Result) *pb.PaymentResult {
	return &pb.PaymentResult{Status: pb.PaymentStatus(r.Status), TransactionId: r.TransactionID, ChannelReference: r.ChannelReference, AmountFen: r.AmountFen,
		FailureCode: r.FailureCode, FailureMessage: r.FailureMessage, CompletedAt: ts(r.CompletedAt), Properties: r.Properties}
}

// PaymentResultFromPB converts a payment result.
func PaymentResultFromPB(r *pb.PaymentResult) payment.Result {
	return payment.Result{Status: payment.Status(r.GetStatus()), TransactionID: r.GetTransactionId(), ChannelReference: r.GetChannelReference(), AmountFen: r.GetAmountFen(),
		FailureCode: r.GetFailureCode(), FailureMessage: r.GetFailureMessage(), CompletedAt: fromTS(r.GetCompletedAt()), Properties: r.GetProperties()}
}

// CreatePaymentToPB converts a create-payment call.
func CreatePaymentToPB(instance string, r payment.CreatePaymentRequest) *pb.CreatePaymentRequest {
	return &pb.CreatePaymentRequest{Instance: instance, TransactionId: r.TransactionID, MerchantId: r.MerchantID, AmountFen: r.AmountFen, Currency: r.Currency,
		Description: r.Description, NotifyUrl: r.NotifyURL, ReturnUrl: r.ReturnURL, ExpiresAt: ts(r.ExpiresAt), Properties: r.Properties}
}

// CreatePaymentFromPB converts a create-payment call.
func CreatePaymentFromPB(r *pb.CreatePaymentRequest) payment.CreatePaymentRequest {
	return payment.CreatePaymentRequest{TransactionID: r.GetTransactionId(), MerchantID: r.GetMerchantId(), AmountFen: r.GetAmountFen(), Currency: r.GetCurrency(),
		Description: r.GetDescription(), NotifyURL: r.GetNotifyUrl(), ReturnURL: r.GetReturnUrl(), ExpiresAt: fromTS(r.GetExpiresAt()), Properties: r.GetProperties()}
}

// CreatePaymentResponseToPB converts a create-payment result.
func CreatePaymentResponseToPB(r payment.CreatePaymentResponse) *pb.CreatePaymentResponse {
	return &pb.CreatePaymentResponse{Result: PaymentResultToPB(r.Result), PayUrl: r.PayURL, QrCode: r.QRCode, ClientParams: r.ClientParams}
}

// CreatePaymentResponseFromPB converts a create-payment result.
func CreatePaymentResponseFromPB(r *pb.CreatePaymentResponse) payment.CreatePaymentResponse {
	return payment.CreatePaymentResponse{Result: PaymentResultFromPB(r.GetResult()), PayURL: r.GetPayUrl(), QRCode: r.GetQrCode(), ClientParams: r.GetClientParams()}
}

// NotificationToPB converts a notification result.
func NotificationToPB(n payment.Notification) *pb.HandleNotificationResponse {
	return &pb.HandleNotificationResponse{Verified: n.Verified, EventType: n.EventType, Result: PaymentResultToPB(n.Result), Ack: HTTPResponseToPB(n.Ack)}
}

// NotificationFromPB converts a notification result.
func NotificationFromPB(n *pb.HandleNotificationResponse) payment.Notification {
	return payment.Notification{Verified: n.GetVerified(), EventType: n.GetEventType(), Result: PaymentResultFromPB(n.GetResult()), Ack: HTTPResponseFromPB(n.GetAck())}
}

// PayoutToPB converts a payout call.
func PayoutToPB(instance string, r payment.PayoutRequest) *pb.PayoutRequest {
	return &pb.PayoutRequest{Instance: instance, TransactionId: r.TransactionID, MerchantId: r.MerchantID,
		Payee:     &pb.Payee{Type: r.Payee.Type, Account: r.Payee.Account, Name: r.Payee.Name, Bank: r.Payee.Bank},
		AmountFen: r.AmountFen, Currency: r.Currency, Remark: r.Remark}
}

// PayoutFromPB converts a payout call.
func PayoutFromPB(r *pb.PayoutRequest) payment.PayoutRequest {
	p := r.GetPayee()
	return payment.PayoutRequest{TransactionID: r.GetTransactionId(), MerchantID: r.GetMerchantId(),
		Payee:     payment.Payee{Type: p.GetType(), Account: p.GetAccount(), Name: p.GetName(), Bank: p.GetBank()},
		AmountFen: r.GetAmountFen(), Currency: r.GetCurrency(), Remark: r.GetRemark()}
}

// StatementToPB converts a statement.
func StatementToPB(s payment.Statement) *pb.FetchStatementResponse {
	out := &pb.FetchStatementResponse{Date: s.Date, Final: s.Final, Entries: make([]*pb.StatementEntry, len(s.Entries))}
	for i, e := range s.Entries {
		out.Entries[i] = &pb.StatementEntry{TransactionId: e.TransactionID, ChannelReference: e.ChannelReference, Type: e.Type, AmountFen: e.AmountFen,
			FeeFen: e.FeeFen, Currency: e.Currency, OccurredAt: ts(e.OccurredAt), Status: pb.PaymentStatus(e.Status)}
	}
	return out
}

// StatementFromPB converts a statement.
func StatementFromPB(s *pb.FetchStatementResponse) payment.Statement {
	out := payment.Statement{Date: s.GetDate(), Final: s.GetFinal(), Entries: make([]payment.StatementEntry, len(s.GetEntries()))}
	for i, e := range s.GetEntries() {
		out.Entries[i] = payment.StatementEntry{TransactionID: e.GetTransactionId(), ChannelReference: e.GetChannelReference(), Type: e.GetType(), AmountFen: e.GetAmountFen(),
			FeeFen: e.GetFeeFen(), Currency: e.GetCurrency(), OccurredAt: fromTS(e.GetOccurredAt()), Status: payment.Status(e.GetStatus())}
	}
	return out
}

// RefundToPB converts a refund call.
func RefundToPB(instance string, r payment.RefundRequest) *pb.RefundRequest {
	return &pb.RefundRequest{Instance: instance, TransactionId: r.TransactionID, OriginalTransactionId: r.OriginalTransactionID,
		OriginalChannelReference: r.OriginalChannelReference, AmountFen: r.AmountFen, Currency: r.Currency, Reason: r.Reason}
}

// RefundFromPB converts a refund call.
func RefundFromPB(r *pb.RefundRequest) payment.RefundRequest {
	return payment.RefundRequest{TransactionID: r.GetTransactionId(), OriginalTransactionID: r.GetOriginalTransactionId(),
		OriginalChannelReference: r.GetOriginalChannelReference(), AmountFen: r.GetAmountFen(), Currency: r.GetCurrency(), Reason: r.GetReason()}
}

// LoginIdentityToPB converts a login-code exchange's answer.
func LoginIdentityToPB(id payment.LoginIdentity) *pb.ExchangeLoginCodeResponse {
	return &pb.ExchangeLoginCodeResponse{IdentityKind: id.Kind, UserId: id.UserID, UnionId: id.UnionID, Properties: id.Properties}
}

// LoginIdentityFromPB converts a login-code exchange's answer.
func LoginIdentityFromPB(r *pb.ExchangeLoginCodeResponse) payment.LoginIdentity {
	return payment.LoginIdentity{Kind: r.GetIdentityKind(), UserID: r.GetUserId(), UnionID: r.GetUnionId(), Properties: r.GetProperties()}
}
