package plugintest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/lianmeng/lianmeng/sdk"
	"github.com/lianmeng/lianmeng/sdk/messaging"
	"github.com/lianmeng/lianmeng/sdk/plugintest"
)

// memSender "delivers" into a map and dedupes by idempotency key, as a
// sender should.
type memSender struct {
	mu   sync.Mutex
	sent map[string]string // key -> provider message id
	n    int
	// forgetful gives every call a new id, as if each retry were delivered.
	forgetful bool
}

func (s *memSender) Send(_ context.Context, req messaging.SendRequest) (messaging.SendResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if id, ok := s.sent[req.IdempotencyKey]; ok && !s.forgetful {
		return messaging.SendResponse{ProviderMessageID: id}, nil
	}
	if strings.HasPrefix(req.To, "+999") {
		return messaging.SendResponse{}, fmt.Errorf("%w: %s is not a mobile number", sdk.ErrInvalidInput, req.To)
	}
	s.n++
	id := fmt.Sprintf("m%d", s.n)
	s.sent[req.IdempotencyKey] = id
	return messaging.SendResponse{ProviderMessageID: id}, nil
}

type senderConfig struct {
	Forgetful bool `json:"forgetful"`
}

func senderPlugins() sdk.Plugins {
	return sdk.Plugins{MessageSender: &sdk.MessageSender{
		Info: sdk.Info{Name: "memsms", Version: "0.1.0", ConfigSchema: json.RawMessage(`{"type": "object"}`)},
		New: func(_ context.Context, raw []byte) (messaging.Sender, error) {
			var c senderConfig
			if err := sdk.DecodeConfig(raw, &c); err != nil {
				return nil, err
			}
			return &memSender{sent: map[string]string{}, forgetful: c.Forgetful}, nil
		},
	}}
}

// fatalRecorder records Errorf and Fatalf; Fatalf stops the check like
// t.Fatalf would (the caller recovers).
type fatalRecorder struct {
	recorder
}

type stopped struct{}

func (r *fatalRecorder) Fatalf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
	panic(stopped{})
}

func runRecorded(f func(r *fatalRecorder)) (errs []string) {
	r := &fatalRecorder{}
	defer func() {
		if p := recover(); p != nil && p != (stopped{}) {
			panic(p)
		}
		errs = r.errs
	}()
	f(r)
	return r.errs
}

func TestSenderInProcess(t *testing.T) {
	p := senderPlugins()
	plugintest.CheckConfig(t, p, map[string]json.RawMessage{sdk.KindMessageSender: json.RawMessage(`{}`)})
	s, err := p.MessageSender.New(context.Background(), []byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	if res := plugintest.CheckSender(t, s, plugintest.ValidSendRequest()); res.ProviderMessageID != "m1" {
		t.Fatalf("provider message id %q, want m1", res.ProviderMessageID)
	}
	if m := sdk.Describe(p); len(m.Plugins) != 1 || m.Plugins[0].Kind != sdk.KindMessageSender || m.Plugins[0].Name != "memsms" {
		t.Fatalf("manifest %+v", m)
	}
}

func TestCheckSenderCatchesDoubleDelivery(t *testing.T) {
	s := &memSender{sent: map[string]string{}, forgetful: true}
	errs := runRecorded(func(r *fatalRecorder) { plugintest.CheckSender(r, s, plugintest.ValidSendRequest()) })
	if len(errs) != 1 || !strings.Contains(errs[0], "delivered as a new message") {
		t.Fatalf("CheckSender reported %q", errs)
	}
}

func TestCheckSenderRefusesInvalidRequest(t *testing.T) {
	s := &memSender{sent: map[string]string{}}
	req := plugintest.ValidSendRequest()
	req.To = "not a number"
	errs := runRecorded(func(r *fatalRecorder) { plugintest.CheckSender(r, s, req) })
	if len(errs) != 1 || !strings.Contains(errs[0], "request is invalid") || s.n != 0 {
		t.Fatalf("CheckSender reported %q and sent %d", errs, s.n)
	}
}

func TestCheckSenderReportsRefusal(t *testing.T) {
	s := &memSender{sent: map[string]string{}}
	req := plugintest.ValidSendRequest()
	req.To = "+99912345678"
	errs := runRecorded(func(r *fatalRecorder) { plugintest.CheckSender(r, s, req) })
	if len(errs) != 1 || !strings.Contains(errs[0], "not a mobile number") {
		t.Fatalf("CheckSender reported %q", errs)
	}
}

func TestCheckConfigCatchesLenientSender(t *testing.T) {
	lenient := sdk.Plugins{MessageSender: &sdk.MessageSender{
		Info: sdk.Info{Name: "lenient", Version: "0.1.0"},
		New: func(_ context.Context, raw []byte) (messaging.Sender, error) {
			var c senderConfig
			err := json.Unmarshal(raw, &c) // unknown fields silently ignored
			return &memSender{sent: map[string]string{}}, err
		},
	}}
	r := &recorder{}
	plugintest.CheckConfig(r, lenient, nil)
	if len(r.errs) != 1 || !strings.Contains(r.errs[0], "message_sender lenient: an unknown config field must fail with sdk.ErrInvalidConfig") {
		t.Fatalf("CheckConfig reported %q", r.errs)
	}
}

func ExampleValidSendRequest() {
	req := plugintest.ValidSendRequest()
	fmt.Println(req.To, req.Purpose, req.Code, req.IdempotencyKey, req.Locale, req.Validate())

	// Change a copy for each case.
	req.To = "+86 138 0013 8000"
	fmt.Println(req.Validate())
	// Output:
	// +8613800138000 member_signin 246810 msg_0001 zh-CN <nil>
	// messaging: to "+86 138 0013 8000" is not a phone number (optional +, then 5 to 15 digits)
}
