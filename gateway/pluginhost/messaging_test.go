package pluginhost

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/gateway/config"
	"github.com/lianmeng/lianmeng/gateway/internal/eventually"
	"github.com/lianmeng/lianmeng/sdk"
	"github.com/lianmeng/lianmeng/sdk/messaging"
	"github.com/lianmeng/lianmeng/sdk/plugintest"
)

// syncBuffer is a log destination safe for the host's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func devsender(name string, cfg map[string]any) config.Plugin {
	return config.Plugin{Name: name, Kind: sdk.KindMessageSender, Path: "builtin:devsender", Required: true, Config: cfg,
		Timeout: config.Duration(2 * time.Second)}
}

// The builtin development sender, out of process through the real host:
// the message is accepted, its code reaches the gateway's log (the
// plugin's hclog line, re-logged), and both kinds of refusal come back as
// the contract says.
func TestBuiltinDevSender(t *testing.T) {
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h := newHost(t, Options{Logger: log, BreakerThreshold: 1},
		devsender("sms", nil),
		devsender("picky", map[string]any{"refuse_prefixes": []any{"+999"}}),
		devsender("down", map[string]any{"unavailable": true}))
	if err := h.Ready(); err != nil {
		t.Fatal(err)
	}
	for _, st := range h.Status() {
		if st.Plugin.Kind != sdk.KindMessageSender || st.Plugin.Name != "devsender" {
			t.Fatalf("status %+v", st)
		}
	}
	ctx := context.Background()
	req := plugintest.ValidSendRequest()
	req.Code, req.IdempotencyKey = "975310", "signin-42"
	res, err := h.Send(ctx, "sms", req)
	if err != nil {
		t.Fatal(err)
	}
	if res.ProviderMessageID != "dev-signin-42" {
		t.Fatalf("provider message id %q", res.ProviderMessageID)
	}
	eventually.True(t, 10*time.Second, "the code in the gateway's log", func() bool {
		return strings.Contains(logs.String(), "975310") && strings.Contains(logs.String(), "plugin.sms")
	})

	// A malformed message: refused by the host without a call.
	bad := req
	bad.To = "call me"
	if _, err := h.Send(ctx, "sms", bad); !errors.Is(err, sdk.ErrInvalidInput) || errors.Is(err, ErrUnavailable) {
		t.Fatalf("malformed: want sdk.ErrInvalidInput, got %v", err)
	}
	// A number the provider refuses for good: invalid input, and the
	// circuit stays closed (threshold 1), since the plugin answered.
	refused := req
	refused.To = "+99912345678"
	for range 2 {
		if _, err := h.Send(ctx, "picky", refused); !errors.Is(err, sdk.ErrInvalidInput) || errors.Is(err, ErrUnavailable) {
			t.Fatalf("refused number: want sdk.ErrInvalidInput, got %v", err)
		}
	}
	if res, err := h.Send(ctx, "picky", req); err != nil || res.ProviderMessageID != "dev-signin-42" {
		t.Fatalf("picky sender, good number: %+v %v", res, err)
	}
	// A provider outage: unavailable, possibly sent, with a retry hint;
	// then the circuit opens and calls fail fast without reaching it.
	_, err = h.Send(ctx, "down", req)
	if ue := unavailable(t, err, "failed"); !ue.Sent {
		t.Fatal("a call that reached the plugin is not marked Sent")
	}
	_, err = h.Send(ctx, "down", req)
	if ue := unavailable(t, err, "circuit_open"); ue.Sent {
		t.Fatal("a call was sent through an open circuit")
	}

	// Handles check the kind.
	if _, err := h.MessageSender("nosuch"); !errors.Is(err, ErrUnknownPlugin) {
		t.Fatalf("unknown name: %v", err)
	}
	if _, err := h.EarningRule("sms"); !errors.Is(err, ErrUnknownPlugin) {
		t.Fatalf("a sender used as an earning rule: %v", err)
	}
	var s messaging.Sender
	if s, err = h.MessageSender("sms"); err != nil {
		t.Fatal(err)
	}
	h.Close()
	_, err = s.Send(ctx, req)
	unavailable(t, err, "closed")
}

// A plugin that is not a message sender, configured as one, never starts:
// Describe finds no MessageSender service in it.
func TestMessageSenderKindMismatch(t *testing.T) {
	_, err := New([]config.Plugin{{Name: "rule-as-sms", Kind: sdk.KindMessageSender, Path: "builtin:restaurant", Required: true}},
		Options{Logger: testLogger(t), Executable: gatewayBin})
	if !errors.Is(err, ErrIncompatible) {
		t.Fatalf("want ErrIncompatible, got %v", err)
	}
}
