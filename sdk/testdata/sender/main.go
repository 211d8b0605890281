// Command sender is a test MessageSender plugin: it accepts every message
// except to numbers starting +999 (refused for good: sdk.ErrInvalidInput)
// and +888 (the provider is "down": any other error). Its provider message
// id is "sms-" plus the idempotency key, so retries give the same id.
package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/lianmeng/lianmeng/sdk"
	"github.com/lianmeng/lianmeng/sdk/messaging"
)

type config struct {
	Prefix string `json:"prefix"`
}

type sender struct{ c config }

func (s sender) Send(_ context.Context, req messaging.SendRequest) (messaging.SendResponse, error) {
	if err := req.Validate(); err != nil {
		// The SDK validates before calling: this must never happen.
		return messaging.SendResponse{}, fmt.Errorf("plugin saw an invalid request: %v", err)
	}
	switch {
	case strings.HasPrefix(req.To, "+999"):
		return messaging.SendResponse{}, fmt.Errorf("%w: %s is not a mobile number", sdk.ErrInvalidInput, req.To)
	case strings.HasPrefix(req.To, "+888"):
		return messaging.SendResponse{}, errors.New("provider: 503 service unavailable")
	}
	sdk.Logger().Info("sent", "to", req.To, "purpose", req.Purpose, "locale", req.Locale)
	return messaging.SendResponse{ProviderMessageID: s.c.Prefix + req.IdempotencyKey}, nil
}

func main() {
	sdk.Serve(sdk.Plugins{MessageSender: &sdk.MessageSender{
		Info: sdk.Info{Name: "sender", Version: "0.0.1", Summary: "test sender"},
		New: func(_ context.Context, raw []byte) (messaging.Sender, error) {
			c := config{Prefix: "sms-"}
			if err := sdk.DecodeConfig(raw, &c); err != nil {
				return nil, err
			}
			return sender{c}, nil
		},
	}})
}
