package outbox

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/lianmeng/lianmeng/gateway/store"
)

// Endpoints registers merchants' endpoints and rotates their secrets.
type Endpoints struct {
	DB      *store.DB
	Targets Targets
	// Overlap is how long a replaced secret keeps signing (default 24 h).
	Overlap time.Duration
	// MaxPerMerchant bounds a merchant's endpoints (default 10).
	MaxPerMerchant int
	Now            func() time.Time
}

// Refusal codes besides the URL's.
const (
	CodeUnknownEventType = "unknown_event_type"
	CodeTooMany          = "too_many_webhook_endpoints"
	CodeUnknownEndpoint  = "unknown_webhook_endpoint"
	CodeUnknownDelivery  = "unknown_webhook_delivery"
)

// Error is a refusal with a stable code, for the API to map.
type Error struct {
	Code, Message string
	NotFound      bool
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

func (s *Endpoints) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func newID(prefix string) string {
	b := make([]byte, 10)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// Registered is a new endpoint and its secret, shown this once.
type Registered struct {
	store.WebhookEndpoint
	Secret string `json:"secret"`
}

// Register checks url (Targets.Check) and the event types, and stores a new
// active endpoint for merchantID with a fresh secret.
func (s *Endpoints) Register(ctx context.Context, merchantID, url string, events []string, actor string) (Registered, error) {
	if err := s.Targets.Check(ctx, url); err != nil {
		return Registered{}, err
	}
	known := store.EventTypes()
	for _, e := range events {
		if !slices.Contains(known, e) {
			return Registered{}, &Error{Code: CodeUnknownEventType, Message: fmt.Sprintf("unknown event type %q (known: %v)", e, known)}
		}
	}
	have, err := s.DB.WebhookEndpoints(ctx, merchantID)
	if err != nil {
		return Registered{}, err
	}
	max := s.MaxPerMerchant
	if max <= 0 {
		max = 10
	}
	if len(have) >= max {
		return Registered{}, &Error{Code: CodeTooMany, Message: fmt.Sprintf("a merchant has at most %d webhook endpoints", max)}
	}
	if events == nil {
		events = []string{}
	}
	key := NewSecret()
	e := store.WebhookEndpoint{ID: newID("whe_"), MerchantID: merchantID, URL: url, Events: events, Status: store.EndpointActive,
		SecretID: newID("whs_"), CreatedBy: actor, CreatedAt: s.now().UTC()}
	if err := s.DB.CreateWebhookEndpoint(ctx, e, e.SecretID, key); err != nil {
		return Registered{}, err
	}
	return Registered{WebhookEndpoint: e, Secret: FormatSecret(key)}, nil
}

// Rotate gives an endpoint a new secret; the old one keeps signing beside
// it for the overlap.
func (s *Endpoints) Rotate(ctx context.Context, merchantID, id, actor string) (Registered, error) {
	overlap := s.Overlap
	if overlap <= 0 {
		overlap = 24 * time.Hour
	}
	now := s.now().UTC()
	key, secretID := NewSecret(), newID("whs_")
	err := s.DB.RotateWebhookSecret(ctx, id, merchantID, secretID, key, now.Add(overlap), actor, now)
	if errors.Is(err, store.ErrEndpointNotFound) {
		return Registered{}, &Error{Code: CodeUnknownEndpoint, Message: "no such webhook endpoint", NotFound: true}
	}
	if err != nil {
		return Registered{}, err
	}
	e, err := s.find(ctx, merchantID, id)
	if err != nil {
		return Registered{}, err
	}
	return Registered{WebhookEndpoint: e, Secret: FormatSecret(key)}, nil
}

// SetStatus enables or disables an endpoint.
func (s *Endpoints) SetStatus(ctx context.Context, merchantID, id, status, actor string) (store.WebhookEndpoint, error) {
	err := s.DB.SetWebhookEndpointStatus(ctx, id, merchantID, status, actor, s.now())
	if errors.Is(err, store.ErrEndpointNotFound) {
		return store.WebhookEndpoint{}, &Error{Code: CodeUnknownEndpoint, Message: "no such webhook endpoint", NotFound: true}
	}
	if err != nil {
		return store.WebhookEndpoint{}, err
	}
	return s.find(ctx, merchantID, id)
}

func (s *Endpoints) find(ctx context.Context, merchantID, id string) (store.WebhookEndpoint, error) {
	list, err := s.DB.WebhookEndpoints(ctx, merchantID)
	if err != nil {
		return store.WebhookEndpoint{}, err
	}
	for _, e := range list {
		if e.ID == id {
			return e, nil
		}
	}
	return store.WebhookEndpoint{}, &Error{Code: CodeUnknownEndpoint, Message: "no such webhook endpoint", NotFound: true}
}

// Replay puts a dead delivery of merchantID back in its endpoint's queue.
func (s *Endpoints) Replay(ctx context.Context, merchantID string, id int64, actor string) error {
	err := s.DB.ReplayOutboxDelivery(ctx, id, merchantID, actor, s.now())
	if errors.Is(err, store.ErrDeliveryNotFound) {
		return &Error{Code: CodeUnknownDelivery, Message: "no dead webhook delivery with this id", NotFound: true}
	}
	return err
}
