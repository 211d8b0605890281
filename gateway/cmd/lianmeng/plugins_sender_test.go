package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/gateway/api"
	"github.com/lianmeng/lianmeng/gateway/config"
	"github.com/lianmeng/lianmeng/gateway/messaging"
	"github.com/lianmeng/lianmeng/gateway/pluginhost"
	"github.com/lianmeng/lianmeng/gateway/points"
	"github.com/lianmeng/lianmeng/sdk"
)

// TestMessageSenderPlugin: the messaging.Sender the serve wiring gets from
// a message_sender plugin (builtin:devsender, out of process) delivers, and
// maps the plugin's failures onto the port: a message that can never be
// delivered is not ErrUnavailable (and is sdk.ErrInvalidInput); an outage
// is messaging.ErrUnavailable with a retry hint.
func TestMessageSenderPlugin(t *testing.T) {
	t.Setenv(reexecEnv, "1")
	sender := func(name string, cfg map[string]any) config.Plugin {
		return config.Plugin{Name: name, Kind: sdk.KindMessageSender, Path: "builtin:devsender", Config: cfg,
			Timeout: config.Duration(2 * time.Second), Required: true, Env: []string{reexecEnv}}
	}
	cfg := config.Default()
	cfg.Plugins = []config.Plugin{
		sender("sms", nil),
		sender("picky", map[string]any{"refuse_prefixes": []any{"+999"}}),
		sender("down", map[string]any{"unavailable": true}),
		{Name: "dinner", Kind: sdk.KindEarningRule, Path: "builtin:restaurant", Config: map[string]any{"points_per_yuan": 1},
			Env: []string{reexecEnv}},
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	deps := api.Deps{Config: cfg, Log: log, Points: &points.Service{}}
	stop, err := startPluginsWith(cfg, pluginhost.Options{Logger: log}, &deps)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()

	ctx := context.Background()
	msg := messaging.Message{To: "+8613800138000", Purpose: messaging.PurposeSignIn, Code: "135790",
		Text: "Your Lianmeng sign-in code is 135790.", IdempotencyKey: "signin-1"}
	sms, err := messageSenderFrom(&deps, "sms")
	if err != nil {
		t.Fatal(err)
	}
	if err := sms.Send(ctx, msg); err != nil {
		t.Fatal(err)
	}

	permanent := func(what string, err error) {
		t.Helper()
		if err == nil || errors.Is(err, messaging.ErrUnavailable) || !errors.Is(err, sdk.ErrInvalidInput) {
			t.Fatalf("%s: want a permanent error (sdk.ErrInvalidInput, not messaging.ErrUnavailable), got %v", what, err)
		}
	}
	bad := msg
	bad.To = "138-0013-8000"
	permanent("malformed number", sms.Send(ctx, bad))
	picky, err := messageSenderFrom(&deps, "picky")
	if err != nil {
		t.Fatal(err)
	}
	refused := msg
	refused.To = "+99912345678"
	permanent("refused number", picky.Send(ctx, refused))

	down, err := messageSenderFrom(&deps, "down")
	if err != nil {
		t.Fatal(err)
	}
	err = down.Send(ctx, msg)
	if !errors.Is(err, messaging.ErrUnavailable) || errors.Is(err, sdk.ErrInvalidInput) {
		t.Fatalf("outage: want messaging.ErrUnavailable, got %v", err)
	}
	var ra interface{ RetryAfter() time.Duration }
	if !errors.As(err, &ra) || ra.RetryAfter() < time.Second {
		t.Fatalf("outage: want a retry hint of at least 1s, got %v", err)
	}

	// Configuration mistakes are found when wiring, not at the first sign-in.
	for _, name := range []string{"nosuch", "dinner"} {
		if _, err := messageSenderFrom(&deps, name); !errors.Is(err, pluginhost.ErrUnknownPlugin) {
			t.Errorf("%s: want pluginhost.ErrUnknownPlugin, got %v", name, err)
		}
	}
	if _, err := messageSenderFrom(&api.Deps{Points: &points.Service{}}, "sms"); !errors.Is(err, pluginhost.ErrUnknownPlugin) {
		t.Errorf("no plugins configured: want pluginhost.ErrUnknownPlugin, got %v", err)
	}

	// Once the plugins are stopped, sending is unavailable, not refused.
	stop()
	if err := sms.Send(ctx, msg); !errors.Is(err, messaging.ErrUnavailable) {
		t.Fatalf("after stop: want messaging.ErrUnavailable, got %v", err)
	}
}
