package pluginhost

import (
	"context"
	"fmt"

	"github.com/lianmeng/lianmeng/sdk"
	"github.com/lianmeng/lianmeng/sdk/host"
	"github.com/lianmeng/lianmeng/sdk/messaging"
)

// Send sends a message through a message sender plugin, with the plugin's
// deadline and circuit breaker. Errors: ErrUnknownPlugin, sdk.ErrInvalidInput
// (the message can never be delivered: a malformed request, or a number the
// provider refuses; do not retry), or ErrUnavailable (retry later with the
// same IdempotencyKey; UnavailableError.Sent says whether it may have been
// delivered already).
func (h *Host) Send(ctx context.Context, name string, req messaging.SendRequest) (messaging.SendResponse, error) {
	s, err := h.MessageSender(name)
	if err != nil {
		return messaging.SendResponse{}, err
	}
	return s.Send(ctx, req)
}

// MessageSender returns a supervised handle to a message sender plugin. The
// handle stays valid across restarts.
func (h *Host) MessageSender(name string) (messaging.Sender, error) {
	m, err := h.lookup(name, sdk.KindMessageSender)
	if err != nil {
		return nil, err
	}
	return senderHandle{m}, nil
}

type senderHandle struct{ m *managed }

func (s senderHandle) Send(ctx context.Context, req messaging.SendRequest) (res messaging.SendResponse, err error) {
	// Refused here, a malformed message costs no round trip and never
	// counts against the plugin.
	if err := req.Validate(); err != nil {
		return messaging.SendResponse{}, fmt.Errorf("%w: %v", sdk.ErrInvalidInput, err)
	}
	err = s.m.call(ctx, "Send", func(ctx context.Context, c *host.Client) error {
		res, err = c.MessageSender(s.m.cfg.Name).Send(ctx, req)
		return err
	})
	if err != nil {
		return messaging.SendResponse{}, err
	}
	return res, nil
}
