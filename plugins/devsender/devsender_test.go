package devsender

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/lianmeng/lianmeng/plugins"
	"github.com/lianmeng/lianmeng/sdk"
	"github.com/lianmeng/lianmeng/sdk/plugintest"
)

type recordLog struct{ lines []string }

func (r *recordLog) Warn(msg string, args ...any) {
	r.lines = append(r.lines, fmt.Sprint(append([]any{msg}, args...)...))
}

func TestConformance(t *testing.T) {
	plugintest.CheckConfig(t, Plugins(), map[string]json.RawMessage{
		sdk.KindMessageSender: json.RawMessage(`{"refuse_prefixes": ["+999"]}`),
	})
	if _, ok := plugins.Lookup(Name); !ok {
		t.Fatalf("%s is not registered", Name)
	}
}

func TestLogsTheCode(t *testing.T) {
	s, err := New(context.Background(), []byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	rec := &recordLog{}
	s.(*sender).log = rec
	req := plugintest.ValidSendRequest()
	res := plugintest.CheckSender(t, s, req)
	if res.ProviderMessageID != "dev-msg_0001" {
		t.Fatalf("provider message id %q", res.ProviderMessageID)
	}
	if len(rec.lines) != 2 || !strings.Contains(rec.lines[0], req.Code) || !strings.Contains(rec.lines[0], req.To) {
		t.Fatalf("log %q", rec.lines)
	}
}

func TestSimulatedFailures(t *testing.T) {
	ctx := context.Background()
	req := plugintest.ValidSendRequest()

	s, err := New(ctx, []byte(`{"refuse_prefixes": ["+86138"]}`))
	if err != nil {
		t.Fatal(err)
	}
	s.(*sender).log = &recordLog{}
	if _, err := s.Send(ctx, req); !errors.Is(err, sdk.ErrInvalidInput) {
		t.Fatalf("refused prefix: want sdk.ErrInvalidInput, got %v", err)
	}

	s, err = New(ctx, []byte(`{"unavailable": true}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Send(ctx, req); !errors.Is(err, ErrUnavailable) || errors.Is(err, sdk.ErrInvalidInput) {
		t.Fatalf("unavailable: got %v", err)
	}

	for _, bad := range []string{`{"refuse_prefixes": [""]}`, `{"unavailable": "yes"}`, `{"refuse": ["+1"]}`} {
		if _, err := New(ctx, []byte(bad)); !errors.Is(err, sdk.ErrInvalidConfig) {
			t.Errorf("%s: want sdk.ErrInvalidConfig, got %v", bad, err)
		}
	}
}
