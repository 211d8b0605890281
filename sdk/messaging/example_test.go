package messaging_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/lianmeng/lianmeng/sdk"
	"github.com/lianmeng/lianmeng/sdk/messaging"
)

// provider stands for an SMS provider's client: it answers an HTTP-like
// status code and its own message id.
type provider func(templateID, phone, code, outID string) (status int, messageID string, err error)

// smsSender adapts the provider to messaging.Sender.
type smsSender struct {
	send      provider
	templates map[string]string // purpose -> provider template id
}

func (s smsSender) Send(_ context.Context, req messaging.SendRequest) (messaging.SendResponse, error) {
	tpl, ok := s.templates[req.Purpose]
	if !ok {
		return messaging.SendResponse{}, fmt.Errorf("%w: no template for purpose %q", sdk.ErrInvalidInput, req.Purpose)
	}
	// The idempotency key is the provider's own out-id, so a retry is
	// recognised as the same message.
	status, id, err := s.send(tpl, req.To, req.Code, req.IdempotencyKey)
	switch {
	case err != nil: // no answer: unavailable, the gateway retries
		return messaging.SendResponse{}, fmt.Errorf("sms provider: %w", err)
	case status == 400: // the provider refuses this number: permanent
		return messaging.SendResponse{}, fmt.Errorf("%w: the provider refuses %s", sdk.ErrInvalidInput, req.To)
	case status != 200: // throttled or failing: unavailable
		return messaging.SendResponse{}, fmt.Errorf("sms provider answered %d", status)
	}
	return messaging.SendResponse{ProviderMessageID: id}, nil
}

// An SMS provider adapted to the MessageSender kind, and how its answers
// become the two kinds of error the gateway tells apart.
func Example() {
	req := messaging.SendRequest{To: "+8613800138000", Purpose: messaging.PurposeSignIn, Code: "246810",
		Text: "Your Lianmeng sign-in code is 246810.", IdempotencyKey: "msg_0001", Locale: "zh-CN"}
	fmt.Println(req.Validate())

	answers := []provider{
		func(_, _, _, outID string) (int, string, error) { return 200, "prov-" + outID, nil },
		func(string, string, string, string) (int, string, error) { return 400, "", nil },
		func(string, string, string, string) (int, string, error) { return 0, "", errors.New("read timeout") },
	}
	for _, p := range answers {
		s := smsSender{send: p, templates: map[string]string{messaging.PurposeSignIn: "SMS_001"}}
		res, err := s.Send(context.Background(), req)
		fmt.Printf("id=%q permanent=%t err=%v\n", res.ProviderMessageID, errors.Is(err, sdk.ErrInvalidInput), err)
	}

	req.To = "138-0013-8000"
	fmt.Println(req.Validate())
	// Output:
	// <nil>
	// id="prov-msg_0001" permanent=false err=<nil>
	// id="" permanent=true err=invalid input: the provider refuses +8613800138000
	// id="" permanent=false err=sms provider: read timeout
	// messaging: to "138-0013-8000" is not a phone number (optional +, then 5 to 15 digits)
}
