// Package messaging is the MessageSender plugin kind: deliver a one-time
// code to a member's phone (member sign-in, consent to a redemption at a
// till). An SMS provider adapts to it.
//
// Errors decide what the gateway does next, so they matter more than in
// most kinds:
//
//   - Wrap sdk.ErrInvalidInput when this message can never be delivered:
//     the provider refuses the number (unassigned, not a mobile, on a
//     blocklist) or the content. The gateway tells the member, and does
//     not retry.
//   - Any other error (a timeout, a 5xx, a rate limit of the provider)
//     means "unavailable, try again later". The gateway may retry with the
//     same IdempotencyKey, so pass it on to the provider where it has such
//     a field, and never deliver one key twice where you can tell.
//
// Never log the code or the text outside development: they are secrets
// that sign a member in.
package messaging

import (
	"context"
	"fmt"
	"unicode/utf8"
)

// Sender delivers messages for one configuration. A Sender that holds
// resources (an HTTP client) may also implement io.Closer: the SDK closes it
// when it is replaced or the plugin stops.
type Sender interface {
	// Send returns once the provider accepted the message (not necessarily
	// delivered it to the handset).
	Send(ctx context.Context, req SendRequest) (SendResponse, error)
}

// Factory builds a Sender from its configuration (a JSON object), decoded
// strictly (sdk.DecodeConfig); mistakes wrap sdk.ErrInvalidConfig.
type Factory func(ctx context.Context, config []byte) (Sender, error)

// Purposes the gateway sends today; a sender may pick a provider template
// by purpose. More may be added: treat an unknown purpose like a generic
// one (send Text), or refuse it with sdk.ErrInvalidInput.
const (
	PurposeSignIn        = "member_signin"
	PurposeRedeemConsent = "redeem_consent"
)

// Limits Validate enforces.
const (
	MaxCodeBytes           = 32
	MaxTextBytes           = 1024
	MaxIdempotencyKeyBytes = 128
)

// SendRequest is one message to deliver.
type SendRequest struct {
	// To is the member's phone number, E.164-ish: an optional leading "+"
	// and 5 to 15 digits, nothing else (e.g. "+8613800138000").
	To string `json:"to"`
	// Purpose is PurposeSignIn, PurposeRedeemConsent, ...
	Purpose string `json:"purpose"`
	// Code is the one-time code, for providers with templates.
	Code string `json:"code"`
	// Text is a ready sentence containing the code, for senders without
	// templates. At least one of Code and Text is set.
	Text string `json:"text,omitempty"`
	// IdempotencyKey is stable for one message: a retry carries the same
	// key, and a sender must not deliver one key twice where it can tell.
	IdempotencyKey string `json:"idempotency_key"`
	// Locale is the member's BCP 47 language tag (e.g. "zh-CN"); empty
	// when unknown.
	Locale string `json:"locale,omitempty"`
}

// SendResponse is the provider's acceptance.
type SendResponse struct {
	// ProviderMessageID is the provider's id of the message, for support
	// and delivery receipts; it may be empty.
	ProviderMessageID string `json:"provider_message_id,omitempty"`
}

// Validate reports a request that no sender could deliver. The SDK checks
// every request with it before calling Send (a failure reaches the gateway
// as sdk.ErrInvalidInput, and the plugin is not called), and so does the
// gateway before sending one.
func (r SendRequest) Validate() error {
	if !validPhone(r.To) {
		return fmt.Errorf("messaging: to %q is not a phone number (optional +, then 5 to 15 digits)", r.To)
	}
	switch {
	case r.Purpose == "":
		return fmt.Errorf("messaging: purpose is empty")
	case r.Code == "" && r.Text == "":
		return fmt.Errorf("messaging: neither code nor text is set")
	case len(r.Code) > MaxCodeBytes:
		return fmt.Errorf("messaging: code is %d bytes, at most %d", len(r.Code), MaxCodeBytes)
	case len(r.Text) > MaxTextBytes:
		return fmt.Errorf("messaging: text is %d bytes, at most %d", len(r.Text), MaxTextBytes)
	case !utf8.ValidString(r.Code) || !utf8.ValidString(r.Text):
		return fmt.Errorf("messaging: code or text is not valid UTF-8")
	case r.IdempotencyKey == "":
		return fmt.Errorf("messaging: idempotency_key is empty")
	case len(r.IdempotencyKey) > MaxIdempotencyKeyBytes:
		return fmt.Errorf("messaging: idempotency_key is %d bytes, at most %d", len(r.IdempotencyKey), MaxIdempotencyKeyBytes)
	}
	return nil
}

func validPhone(s string) bool {
	if len(s) > 0 && s[0] == '+' {
		s = s[1:]
	}
	if len(s) < 5 || len(s) > 15 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
