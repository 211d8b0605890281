// Package messaging sends one-time codes to members (sign-in, consent to
// a redemption at a till). The gateway depends only on the Sender port; a
// MessageSender plugin (an SMS provider adapted through the SDK) or the
// development sender implements it.
package messaging

import (
	"context"
	"errors"
	"log/slog"
)

// Purposes of a message: the sender may pick a provider template by it.
const (
	PurposeSignIn        = "member_signin"
	PurposeRedeemConsent = "redeem_consent"
)

// Message is one code to deliver.
type Message struct {
	// To is the member's phone number as they gave it (digits, optional
	// leading +).
	To string
	// Purpose is PurposeSignIn or PurposeRedeemConsent.
	Purpose string
	// Code is the one-time code; Text is a ready sentence containing it
	// for senders without templates.
	Code string
	Text string
	// IdempotencyKey is stable for one message, so a sender's retry does
	// not deliver twice.
	IdempotencyKey string
}

// Sender delivers messages. Send returns once the provider accepted the
// message; an error wrapping ErrUnavailable means "try again later".
type Sender interface {
	Send(ctx context.Context, m Message) error
}

// ErrUnavailable marks a sender that cannot deliver now.
var ErrUnavailable = errors.New("messaging: sender unavailable")

// DevSender writes codes to the log instead of delivering them: for
// development and tests only. The configuration refuses it in production.
type DevSender struct{ Log *slog.Logger }

// Send logs the message, code included (that is the point of it).
func (d DevSender) Send(_ context.Context, m Message) error {
	d.Log.Warn("development message sender: not delivered, code logged", "to", m.To, "purpose", m.Purpose, "code", m.Code)
	return nil
}
