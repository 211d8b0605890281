package plugintest

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"testing"

	"github.com/lianmeng/lianmeng/sdk"
	"github.com/lianmeng/lianmeng/sdk/earning"
	"github.com/lianmeng/lianmeng/sdk/messaging"
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
