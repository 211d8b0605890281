// Package pos is the POSAdapter plugin kind: verify an inbound POS webhook,
// identify and classify it, parse it into normalized purchases and refunds,
// and say exactly how to acknowledge it.
//
// The gateway stores the raw webhook in its inbox before acknowledging, and
// may hand the same webhook to the adapter more than once: parsing must be
// deterministic, and EventID lets the gateway drop redeliveries.
package pos

import (
	"context"

	"github.com/lianmeng/lianmeng/sdk/purchase"
	"github.com/lianmeng/lianmeng/sdk/webhook"
)

// Adapter handles webhooks for one configuration. An Adapter that holds
// resources may also implement io.Closer: the SDK closes it when it is
// replaced or the plugin stops.
type Adapter interface {
	HandleWebhook(ctx context.Context, req Request) (Result, error)
}

// Factory builds an Adapter from its configuration (a JSON object), decoded
// strictly (sdk.DecodeConfig); mistakes wrap sdk.ErrInvalidConfig.
type Factory func(ctx context.Context, config []byte) (Adapter, error)

// Request is one inbound webhook.
type Request struct {
	HTTP webhook.Request
	// MerchantID and MerchantConfig identify the merchant the webhook URL
	// belongs to and carry its adapter settings (e.g. webhook secret), JSON.
	MerchantID     string
	MerchantConfig []byte
}

// Outcome classifies a webhook.
type Outcome int

const (
	// Accepted: verified and parsed (Events may be empty).
	Accepted Outcome = iota + 1
	// Ignored: verified, but of a type the alliance does not use.
	Ignored
	// Rejected: failed verification; nothing in it may be trusted.
	Rejected
)

func (o Outcome) String() string {
	switch o {
	case Accepted:
		return "accepted"
	case Ignored:
		return "ignored"
	case Rejected:
		return "rejected"
	}
	return "unspecified"
}

// Result is what the adapter made of a webhook.
type Result struct {
	Outcome   Outcome
	EventID   string // provider's id, for de-duplication
	EventType string
	Events    []purchase.Purchase
	// Ack is sent to the POS verbatim.
	Ack    webhook.Response
	Reason string // why ignored or rejected
}
