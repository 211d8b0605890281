package plugintest

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/lianmeng/lianmeng/sdk"
	"github.com/lianmeng/lianmeng/sdk/earning"
	"github.com/lianmeng/lianmeng/sdk/messaging"
	"github.com/lianmeng/lianmeng/sdk/payment"
)

// CheckConfig runs in-process checks every plugin of p must pass: the
// registration is valid, each configuration schema is a JSON object, each
// factory accepts good[kind] (the kind's valid configuration, if given) and
// rejects an unknown field with sdk.ErrInvalidConfig. An earning rule built
// from its valid configuration must also evaluate ValidPurchase
// consistently and deterministically (Check). Instances that implement
// io.Closer are closed afterwards, as the SDK server would.
func CheckConfig(t testing.TB, p sdk.Plugins, good map[string]json.RawMessage) {
	t.Helper()
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	try := func(kind string, info sdk.Info, factory func([]byte) (any, error), use func(any)) {
		t.Helper()
		if len(info.ConfigSchema) > 0 {
			var schema map[string]any
			if err := json.Unmarshal(info.ConfigSchema, &schema); err != nil {
				t.Errorf("%s %s: config schema is not a JSON object: %v", kind, info.Name, err)
			}
		}
		if cfg, ok := good[kind]; ok {
			v, err := factory(cfg)
			if err != nil {
				t.Errorf("%s %s: valid config rejected: %v", kind, info.Name, err)
			} else {
				use(v)
				closeInstance(t, kind, info, v)
			}
		}
		v, err := factory([]byte(`{"plugintest_unknown_field": true}`))
		if !errors.Is(err, sdk.ErrInvalidConfig) {
			t.Errorf("%s %s: an unknown config field must fail with sdk.ErrInvalidConfig, got %v", kind, info.Name, err)
		}
		if err == nil {
			closeInstance(t, kind, info, v)
		}
	}
	if e := p.EarningRule; e != nil {
		try(sdk.KindEarningRule, e.Info, func(b []byte) (any, error) { return e.New(ctx, b) }, func(v any) {
			t.Helper()
			Check(t, v.(earning.Rule), earning.Request{Purchase: ValidPurchase()})
		})
	}
	if e := p.POSAdapter; e != nil {
		try(sdk.KindPOSAdapter, e.Info, func(b []byte) (any, error) { return e.New(ctx, b) }, func(any) {})
	}
	if e := p.PaymentChannel; e != nil {
		try(sdk.KindPaymentChannel, e.Info, func(b []byte) (any, error) { return e.New(ctx, b) }, func(any) {})
	}
	// A sender is not asked to send here: its valid configuration may name
	// a real provider. CheckSender does that, against whatever the test
	// points it at.
	if e := p.MessageSender; e != nil {
		try(sdk.KindMessageSender, e.Info, func(b []byte) (any, error) { return e.New(ctx, b) }, func(any) {})
	}
}

func closeInstance(t testing.TB, kind string, info sdk.Info, v any) {
	t.Helper()
	if c, ok := v.(io.Closer); ok {
		if err := c.Close(); err != nil {
			t.Errorf("%s %s: Close: %v", kind, info.Name, err)
		}
	}
}

// Check evaluates req twice and checks the result is consistent
// (Breakdown.Check) and deterministic. It returns the breakdown. The
// purchase must pass Validate, as the gateway never sends one that does not;
// ValidPurchase is a good one to start from:
//
//	b := plugintest.Check(t, rule, earning.Request{Purchase: plugintest.ValidPurchase()})
func Check(t testing.TB, rule earning.Rule, req earning.Request) earning.Breakdown {
	t.Helper()
	if err := req.Purchase.Validate(); err != nil {
		t.Fatalf("plugintest.Check: the request's purchase is invalid, and the gateway never sends such a purchase to a rule: %v", err)
	}
	ctx := context.Background()
	b1, err := rule.Evaluate(ctx, req)
	if err != nil {
		t.Fatalf("evaluate: %v", err)
	}
	if err := b1.Check(); err != nil {
		t.Fatalf("inconsistent breakdown %+v: %v", b1, err)
	}
	b2, err := rule.Evaluate(ctx, req)
	if err != nil {
		t.Fatalf("evaluate again: %v", err)
	}
	if !reflect.DeepEqual(b1, b2) {
		t.Fatalf("rule is not deterministic:\n%+v\n%+v", b1, b2)
	}
	return b1
}

// CheckSender sends req the way the gateway does and returns the response:
// the request must pass messaging.SendRequest.Validate (the gateway and the
// SDK never hand the plugin one that does not; ValidSendRequest is a good
// one to start from), the send must succeed, and a retry of the same
// message (same IdempotencyKey, as after a timeout) must succeed too and
// give the same ProviderMessageID if the first gave one.
//
//	res := plugintest.CheckSender(t, sender, plugintest.ValidSendRequest())
//
// To check a refusal, call Send and test the error with errors.Is:
// sdk.ErrInvalidInput for a message that can never be delivered, any other
// error for "unavailable, retry".
func CheckSender(t testing.TB, s messaging.Sender, req messaging.SendRequest) messaging.SendResponse {
	t.Helper()
	if err := req.Validate(); err != nil {
		t.Fatalf("plugintest.CheckSender: the request is invalid, and the gateway never sends such a request to a sender: %v", err)
	}
	ctx := context.Background()
	r1, err := s.Send(ctx, req)
	if err != nil {
		t.Fatalf("send: %v", err)
	}
	r2, err := s.Send(ctx, req)
	if err != nil {
		t.Fatalf("send again with the same idempotency key (a retry): %v", err)
	}
	if r1.ProviderMessageID != "" && r2.ProviderMessageID != r1.ProviderMessageID {
		t.Fatalf("a retry with idempotency key %q gave provider message id %q, the first send %q: the retry was delivered as a new message",
			req.IdempotencyKey, r2.ProviderMessageID, r1.ProviderMessageID)
	}
	return r1
}

// CheckQueryPayment queries a payment the way the gateway does (ch must be
// a payment.Querier: a Channel from Plugin.PaymentChannel always is) and
// checks the answer is one the gateway can act on: a defined status, the
// transaction asked about (or none, for a payment the channel does not
// have, which must be StatusNotSubmitted), a non-negative amount, and a
// channel reference for a succeeded payment. A second query must give the
// same status (the gateway may ask again at any time). It returns the
// result.
func CheckQueryPayment(t testing.TB, ch payment.Channel, req payment.QueryPaymentRequest) payment.Result {
	t.Helper()
	q, ok := ch.(payment.Querier)
	if !ok {
		t.Fatalf("plugintest.CheckQueryPayment: %T is not a payment.Querier", ch)
	}
	if req.TransactionID == "" {
		t.Fatalf("plugintest.CheckQueryPayment: the gateway always names the transaction")
	}
	ctx := context.Background()
	r1, err := q.QueryPayment(ctx, req)
	if err != nil {
		t.Fatalf("query payment %s: %v", req.TransactionID, err)
	}
	switch {
	case r1.Status <= payment.StatusUnspecified || r1.Status > payment.StatusNotSubmitted:
		t.Fatalf("query payment %s: status %d is not a defined payment.Status", req.TransactionID, r1.Status)
	case r1.TransactionID != "" && r1.TransactionID != req.TransactionID:
		t.Fatalf("query payment %s: the answer is about %q", req.TransactionID, r1.TransactionID)
	case r1.TransactionID == "" && r1.Status != payment.StatusNotSubmitted && r1.Status != payment.StatusUnknown:
		t.Fatalf("query payment %s: a %s answer must name the transaction", req.TransactionID, r1.Status)
	case r1.AmountFen < 0:
		t.Fatalf("query payment %s: negative amount %d", req.TransactionID, r1.AmountFen)
	case r1.Status == payment.StatusSucceeded && r1.ChannelReference == "":
		t.Fatalf("query payment %s: a succeeded payment needs the channel's reference (the gateway funds each reference once)", req.TransactionID)
	}
	r2, err := q.QueryPayment(ctx, req)
	if err != nil {
		t.Fatalf("query payment %s again: %v", req.TransactionID, err)
	}
	if r2.Status != r1.Status || r2.AmountFen != r1.AmountFen || r2.ChannelReference != r1.ChannelReference {
		t.Fatalf("query payment %s twice: %+v then %+v", req.TransactionID, r1, r2)
	}
	return r1
}

// CheckLogin exchanges a login code the way the gateway does (ch must be a
// payment.LoginExchanger) and checks the identity is one the gateway can
// sign a member in with: a known kind and a non-empty id. To check a
// refused code, call ExchangeLoginCode and test the error with errors.Is:
// sdk.ErrInvalidInput for a code the channel refused (invalid, expired,
// used), any other error for "the channel could not answer".
func CheckLogin(t testing.TB, ch payment.Channel, code string) payment.LoginIdentity {
	t.Helper()
	x, ok := ch.(payment.LoginExchanger)
	if !ok {
		t.Fatalf("plugintest.CheckLogin: %T is not a payment.LoginExchanger", ch)
	}
	id, err := x.ExchangeLoginCode(context.Background(), payment.LoginRequest{Code: code})
	if err != nil {
		t.Fatalf("exchange login code: %v", err)
	}
	if id.Kind != payment.IdentityWeChatOpenID && id.Kind != payment.IdentityAlipayUserID {
		t.Fatalf("exchange login code: identity kind %q (want %s or %s)", id.Kind, payment.IdentityWeChatOpenID, payment.IdentityAlipayUserID)
	}
	if id.UserID == "" || strings.TrimSpace(id.UserID) != id.UserID {
		t.Fatalf("exchange login code: user id %q", id.UserID)
	}
	return id
}
