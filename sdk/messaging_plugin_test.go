package sdk_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/lianmeng/lianmeng/sdk"
	"github.com/lianmeng/lianmeng/sdk/host"
	"github.com/lianmeng/lianmeng/sdk/plugintest"
)

// A MessageSender out of process: served, described and configured like the
// other kinds; the SDK validates each message before the plugin sees it;
// the two kinds of error cross the wire intact.
func TestMessageSenderOutOfProcess(t *testing.T) {
	p := plugintest.Start(t, plugintest.Build(t, "./testdata/sender"))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d, err := p.Describe(ctx, sdk.KindMessageSender)
	if err != nil {
		t.Fatal(err)
	}
	if d.Kind != sdk.KindMessageSender || d.Name != "sender" || d.ProtocolVersion != sdk.ProtocolVersion {
		t.Fatalf("description %+v", d)
	}
	s := p.MessageSender(t, map[string]any{"prefix": "p-"})

	req := plugintest.ValidSendRequest()
	res := plugintest.CheckSender(t, s, req)
	if res.ProviderMessageID != "p-msg_0001" {
		t.Fatalf("provider message id %q", res.ProviderMessageID)
	}

	req.To = "+99912345678"
	if _, err := s.Send(ctx, req); !errors.Is(err, sdk.ErrInvalidInput) || !strings.Contains(err.Error(), "not a mobile number") {
		t.Fatalf("refused number: want sdk.ErrInvalidInput from the plugin, got %v", err)
	}
	req.To = "+88812345678"
	if _, err := s.Send(ctx, req); err == nil || errors.Is(err, sdk.ErrInvalidInput) || status.Code(errors.Unwrap(err)) != codes.Unknown {
		t.Fatalf("provider down: want an error that is not sdk.ErrInvalidInput, got %v", err)
	}
	// Invalid messages are refused by the SDK; the plugin never sees them.
	for _, edit := range []func(){
		func() { req.To = "138 0013 8000" },
		func() { req.To, req.IdempotencyKey = "+8613800138000", "" },
		func() { req.IdempotencyKey, req.Code, req.Text = "k", "", "" },
	} {
		edit()
		_, err := s.Send(ctx, req)
		if !errors.Is(err, sdk.ErrInvalidInput) || strings.Contains(err.Error(), "plugin saw") {
			t.Fatalf("invalid %+v: want sdk.ErrInvalidInput from the SDK, got %v", req, err)
		}
	}
	if err := p.Configure(ctx, sdk.KindMessageSender, "typo", []byte(`{"prefx": "x"}`)); !errors.Is(err, sdk.ErrInvalidConfig) {
		t.Fatalf("typo: want sdk.ErrInvalidConfig, got %v", err)
	}
	// The kind is additive within protocol 1: a plugin that does not serve
	// it (here an earning rule) is told apart cleanly.
	if _, err := p.Describe(ctx, sdk.KindEarningRule); !errors.Is(err, host.ErrIncompatible) {
		t.Fatalf("describe as an earning rule: want host.ErrIncompatible, got %v", err)
	}
}

// A plugin that serves no MessageSender (built before the kind existed, or
// of another kind) is refused as incompatible, not as an outage.
func TestMessageSenderNotServed(t *testing.T) {
	p := plugintest.Start(t, closerBin)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := p.Describe(ctx, sdk.KindMessageSender); !errors.Is(err, host.ErrIncompatible) {
		t.Fatalf("want host.ErrIncompatible, got %v", err)
	}
}
