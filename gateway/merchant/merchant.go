// Package merchant holds the alliance's parties on the merchant side:
// merchants, their stores, and the API credentials their systems sign
// requests with. It validates and generates; storage is behind Repository.
package merchant

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/lianmeng/lianmeng/sdk/signature"
)

// Statuses.
const (
	StatusActive    = "active"
	StatusSuspended = "suspended"
	KeyActive       = "active"
	KeyRevoked      = "revoked"
)

// Merchant is a business that joined the alliance.
type Merchant struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Industry  string    `json:"industry"`
	Status    string    `json:"status"`
	CreatedAt time.Time `json:"created_at"`
}

// Store is one outlet of a merchant.
type Store struct {
	ID         string    `json:"id"`
	MerchantID string    `json:"merchant_id"`
	Name       string    `json:"name"`
	CreatedAt  time.Time `json:"created_at"`
}

// Credential is a merchant API key. KeyMaterial is the PKIX PEM public key
// for ed25519/sm2, or the base64 shared secret for hmac-sha256; it is never
// serialised.
type Credential struct {
	ID         string     `json:"id"`
	MerchantID string     `json:"merchant_id"`
	Algorithm  string     `json:"algorithm"`
	Label      string     `json:"label"`
	Status     string     `json:"status"`
	CreatedAt  time.Time  `json:"created_at"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
	// LastUsedAt is when the key last signed an accepted request, to the
	// minute (the gateway records it at most once a minute); nil: never.
	LastUsedAt  *time.Time `json:"last_used_at,omitempty"`
	Scopes      []string   `json:"scopes"` // what the key may do (ScopeEarn, ...), in Scopes order
	KeyMaterial string     `json:"-"`
}

// HasScope reports whether the credential holds scope.
func (c Credential) HasScope(scope string) bool { return slices.Contains(c.Scopes, scope) }

// Credential scopes: each merchant API route needs one (gateway/api/scopes.go).
const (
	ScopeEarn    = "earn"    // award points for a purchase
	ScopeRefund  = "refund"  // refund an earn or a redemption
	ScopeRedeem  = "redeem"  // spend a member's points
	ScopeRead    = "read"    // look up members, read the merchant's own records and proofs
	ScopeFinance = "finance" // the merchant's budget and payable
)

// Scopes lists every scope in canonical order.
var Scopes = []string{ScopeEarn, ScopeRefund, ScopeRedeem, ScopeRead, ScopeFinance}

// DefaultScopes are what a new credential gets when none are asked for: the
// least a POS needs (no finance).
func DefaultScopes() []string { return []string{ScopeEarn, ScopeRefund, ScopeRedeem, ScopeRead} }

// ParseScopes checks requested scopes and returns them without duplicates
// in canonical order. At least one is required.
func ParseScopes(in []string) ([]string, error) {
	want := map[string]bool{}
	for _, s := range in {
		if !slices.Contains(Scopes, s) {
			return nil, invalid("scopes", "unknown scope %q: each must be one of %s", s, strings.Join(Scopes, ", "))
		}
		want[s] = true
	}
	if len(want) == 0 {
		return nil, invalid("scopes", "must name at least one of %s (omit it for the default %s)", strings.Join(Scopes, ", "), strings.Join(DefaultScopes(), ", "))
	}
	out := make([]string, 0, len(want))
	for _, k := range Scopes {
		if want[k] {
			out = append(out, k)
		}
	}
	return out, nil
}

// Industries the alliance knows; earning rules and reports group by them.
var Industries = []string{"restaurant", "fuel", "supermarket", "hotel", "online", "retail", "other"}

// Errors callers map to API error codes.
var (
	ErrNotFound        = errors.New("not found")
	ErrInvalid         = errors.New("invalid")
	ErrAlreadyRevoked  = errors.New("credential already revoked")
	ErrMerchantBlocked = errors.New("merchant is not active")
)

// InvalidError describes which field is wrong.
type InvalidError struct{ Field, Reason string }

func (e *InvalidError) Error() string { return e.Field + ": " + e.Reason }
func (e *InvalidError) Unwrap() error { return ErrInvalid }

func invalid(field, format string, a ...any) error {
	return &InvalidError{Field: field, Reason: fmt.Sprintf(format, a...)}
}

// Repository stores merchants. Implementations write the matching audit event
// in the same transaction as the change.
type Repository interface {
	CreateMerchant(ctx context.Context, m Merchant, actor string) error
	GetMerchant(ctx context.Context, id string) (Merchant, error)
	ListMerchants(ctx context.Context, after string, limit int) ([]Merchant, error)
	CreateStore(ctx context.Context, s Store, actor string) error
	ListStores(ctx context.Context, merchantID string) ([]Store, error)
	GetStore(ctx context.Context, id string) (Store, error)
	CreateCredential(ctx context.Context, c Credential, actor string) error
	GetCredential(ctx context.Context, id string) (Credential, error)
	ListCredentials(ctx context.Context, merchantID string) ([]Credential, error)
	RevokeCredential(ctx context.Context, merchantID, id string, at time.Time, actor string) error
	// TouchCredentials records credentials' latest uses (key id -> time),
	// in one write; a stored use within the minute is kept (see the store).
	TouchCredentials(ctx context.Context, uses map[string]time.Time) error
	SetMerchantStatus(ctx context.Context, id, status string, at time.Time, actor string) error
}

// NewID returns prefix + 20 random hex digits.
func NewID(prefix string) string {
	var b [10]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("merchant: crypto/rand failed: " + err.Error())
	}
	return prefix + hex.EncodeToString(b[:])
}

func checkName(field, s string) error {
	s = strings.TrimSpace(s)
	if s == "" {
		return invalid(field, "is required")
	}
	if utf8.RuneCountInString(s) > 100 {
		return invalid(field, "is longer than 100 characters")
	}
	return nil
}

// NewMerchant validates input and returns a merchant ready to store.
func NewMerchant(name, industry string, now time.Time) (Merchant, error) {
	if err := checkName("name", name); err != nil {
		return Merchant{}, err
	}
	ok := false
	for _, i := range Industries {
		ok = ok || i == industry
	}
	if !ok {
		return Merchant{}, invalid("industry", "must be one of %s", strings.Join(Industries, ", "))
	}
	return Merchant{ID: NewID("mch_"), Name: strings.TrimSpace(name), Industry: industry, Status: StatusActive, CreatedAt: now.UTC().Truncate(time.Microsecond)}, nil
}

// NewStore validates input and returns a store of merchantID.
func NewStore(merchantID, name string, now time.Time) (Store, error) {
	if err := checkName("name", name); err != nil {
		return Store{}, err
	}
	return Store{ID: NewID("sto_"), MerchantID: merchantID, Name: strings.TrimSpace(name), CreatedAt: now.UTC().Truncate(time.Microsecond)}, nil
}

// NewCredential creates a credential with DefaultScopes. For public-key
// algorithms publicKeyPEM is required and checked; for hmac-sha256 a 32-byte
// secret is generated and returned once as secret.
func NewCredential(merchantID, algorithm, publicKeyPEM, label string, now time.Time) (c Credential, secret string, err error) {
	if utf8.RuneCountInString(label) > 100 {
		return Credential{}, "", invalid("label", "is longer than 100 characters")
	}
	c = Credential{ID: NewID("key_"), MerchantID: merchantID, Algorithm: algorithm, Label: strings.TrimSpace(label), Status: KeyActive, CreatedAt: now.UTC().Truncate(time.Microsecond),
		Scopes: DefaultScopes()}
	switch algorithm {
	case signature.HMACSHA256:
		if publicKeyPEM != "" {
			return Credential{}, "", invalid("public_key", "must be empty for hmac-sha256 (the gateway generates the secret)")
		}
		var b [32]byte
		if _, err := rand.Read(b[:]); err != nil {
			return Credential{}, "", fmt.Errorf("generate secret: %w", err)
		}
		secret = base64.StdEncoding.EncodeToString(b[:])
		c.KeyMaterial = secret
	case signature.Ed25519, signature.SM2:
		if publicKeyPEM == "" {
			return Credential{}, "", invalid("public_key", "is required for %s: a PKIX PEM public key", algorithm)
		}
		if _, err := signature.ParsePublicKey(algorithm, publicKeyPEM); err != nil {
			return Credential{}, "", invalid("public_key", "%v", err)
		}
		c.KeyMaterial = publicKeyPEM
	default:
		return Credential{}, "", invalid("algorithm", "must be ed25519, sm2 or hmac-sha256")
	}
	return c, secret, nil
}
