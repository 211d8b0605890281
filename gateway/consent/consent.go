// Package consent is how a member says yes: signing in with a one-time
// code sent to their phone, asking for a redemption code to show at a till,
// and confirming by SMS a merchant's request to redeem (for members
// without the app). It issues codes and stores only keys derived from
// them; the redemption itself checks and uses the consent inside the
// ledger batch (points.Service.Redeem), so a code is used at most once.
package consent

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/big"
	"time"

	"github.com/lianmeng/lianmeng/gateway/messaging"
	"github.com/lianmeng/lianmeng/gateway/points"
)

// Challenge is a pending sign-in: a code sent to an identity, kept as its
// hash, with its expiry and the wrong attempts so far.
type Challenge struct {
	Kind      string // identity kind (phone)
	Lookup    string // the identity's stored lookup (blind index)
	CodeHash  string
	SentAt    time.Time
	ExpiresAt time.Time
	Attempts  int
}

// Store is what consent keeps (the store implements it).
type Store interface {
	FindMember(ctx context.Context, merchantID string, id points.Identity) (string, error)
	IdentityLookup(id points.Identity) string
	// Related reports whether the member earned at the merchant or was
	// given a consent for it: the members a merchant may look up.
	Related(ctx context.Context, memberID, merchantID string) (bool, error)

	CreateConsent(ctx context.Context, c points.Consent) error
	LastConsentAt(ctx context.Context, memberID, merchantID string) (time.Time, error)
	// Consent reads a consent by key outside any batch (points.ErrNotFound).
	ReadConsent(ctx context.Context, key string) (points.Consent, error)

	SignIn(ctx context.Context, kind, lookup string) (Challenge, error) // points.ErrNotFound
	PutSignIn(ctx context.Context, c Challenge) error
	CountSignInAttempt(ctx context.Context, kind, lookup, codeHash string) error
	ConsumeSignIn(ctx context.Context, kind, lookup, codeHash string, maxAttempts int) (bool, error)
}

// Service issues and checks member consent. Zero durations take the
// defaults below.
type Service struct {
	Store  Store
	Sender messaging.Sender
	// Channels are the payment channel plugins mini-programs sign in
	// through (login.go); nil: that sign-in answers channel_unavailable.
	Channels Channels
	Now      func() time.Time
	Rand     io.Reader // crypto/rand.Reader when nil

	CodeTTL     time.Duration // app redemption code, default 60 s
	SMSTTL      time.Duration // phone consent code, default 5 min
	SignInTTL   time.Duration // sign-in code, default 5 min
	Resend      time.Duration // between two codes to one identity, default 60 s
	MaxAttempts int           // wrong sign-in codes before a new one is needed, default 5
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

func or[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// Refusal codes.
const (
	CodeThrottled     = "code_resend_throttled"
	CodeSignInInvalid = "signin_code_invalid"
	CodeSignInExpired = "signin_code_expired"
	CodeSignInLocked  = "signin_locked"
	CodeIdentityKind  = "phone_required"
	CodeSenderDown    = "message_sender_unavailable"
)

// Classes beyond points': the API maps Throttled to 429 and
// Unauthenticated to 401.
const (
	Throttled       points.Class = 100
	Unauthenticated points.Class = 101
)

func refuse(class points.Class, code, format string, a ...any) *points.Error {
	return &points.Error{Class: class, Code: code, Message: fmt.Sprintf(format, a...)}
}

// randomDigits returns n uniformly random decimal digits.
func (s *Service) randomDigits(n int) (string, error) {
	r := s.Rand
	if r == nil {
		r = rand.Reader
	}
	max := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(n)), nil)
	v, err := rand.Int(r, max)
	if err != nil {
		return "", fmt.Errorf("consent: random code: %w", err)
	}
	return fmt.Sprintf("%0*s", n, v.String()), nil
}

// IsCustomer reports whether a member is one of a merchant's own customers
// (earned there, or was asked for consent there): the only members a
// merchant may look up, and the redemptions the velocity alert does not
// count as first contact.
func (s *Service) IsCustomer(ctx context.Context, memberID, merchantID string) (bool, error) {
	return s.Store.Related(ctx, memberID, merchantID)
}

// RedemptionCode is a code a member's session shows at a till.
type RedemptionCode struct {
	Code string `json:"code"`
	// QR is the QR code's content: "LMRC:" and the code.
	QR        string    `json:"qr"`
	MaxPoints int64     `json:"max_points"`
	ExpiresAt time.Time `json:"expires_at"`
}

// IssueRedemptionCode gives a signed-in member a new redemption code: 18
// digits, first 6, last a Luhn check digit (points.ValidRedemptionCode),
// single use, valid CodeTTL, capped at maxPoints (0: no cap).
func (s *Service) IssueRedemptionCode(ctx context.Context, memberID string, maxPoints int64) (RedemptionCode, error) {
	if maxPoints < 0 || maxPoints > 1_000_000_000 {
		return RedemptionCode{}, refuse(points.Invalid, points.CodeInvalidPoints, "max_points must be between 0 (no cap) and 1000000000")
	}
	digits, err := s.randomDigits(points.RedemptionCodeLen - 2)
	if err != nil {
		return RedemptionCode{}, err
	}
	code := points.RedemptionCodeFrom(digits)
	now := s.now()
	exp := now.Add(or(s.CodeTTL, 60*time.Second)).Truncate(time.Second)
	if err := s.Store.CreateConsent(ctx, points.Consent{Key: points.RedemptionCodeKey(code), Kind: points.ConsentApp, MemberID: memberID,
		MaxPoints: maxPoints, CreatedAt: now, ExpiresAt: exp}); err != nil {
		return RedemptionCode{}, err
	}
	return RedemptionCode{Code: code, QR: "LMRC:" + code, MaxPoints: maxPoints, ExpiresAt: exp}, nil
}

// TillMember checks a redemption code a member presented at a merchant's
// till without using it, and returns its member: the merchant may then
// show that member's balance. Unknown, used and expired codes are
// refused alike.
func (s *Service) TillMember(ctx context.Context, code string) (string, error) {
	if !points.ValidRedemptionCode(code) {
		return "", refuse(points.Invalid, points.CodeInvalidCode, "code must be the 18-digit redemption code the member's app shows")
	}
	c, err := s.Store.ReadConsent(ctx, points.RedemptionCodeKey(code))
	if errors.Is(err, points.ErrNotFound) || err == nil && (!c.UsedAt.IsZero() || !s.now().Before(c.ExpiresAt)) {
		return "", refuse(points.Forbidden, points.CodeConsentRequired, "the code is not a valid, unused redemption code: ask the member for a new one")
	}
	if err != nil {
		return "", err
	}
	return c.MemberID, nil
}

// ConsentRequested is what a merchant learns after asking for consent: the
// same whether or not the phone belongs to a member.
type ConsentRequested struct {
	ExpiresAt time.Time `json:"expires_at"`
}

// RequestRedeemConsent sends the member with phone id a 6-digit code that
// lets merchantID redeem at most pts points within SMSTTL. The answer does
// not tell whether id is a member (no code is sent to a non-member).
func (s *Service) RequestRedeemConsent(ctx context.Context, merchantID, merchantName string, id points.Identity, pts int64) (ConsentRequested, error) {
	if id.Kind != points.IdentityPhone {
		return ConsentRequested{}, refuse(points.Invalid, CodeIdentityKind, "a consent code is sent by SMS: member must be a phone number")
	}
	if pts <= 0 || pts > 1_000_000_000 {
		return ConsentRequested{}, refuse(points.Invalid, points.CodeInvalidPoints, "points must be between 1 and 1000000000")
	}
	now := s.now()
	exp := now.Add(or(s.SMSTTL, 5*time.Minute)).Truncate(time.Second)
	memberID, err := s.Store.FindMember(ctx, merchantID, id)
	if errors.Is(err, points.ErrNotFound) {
		return ConsentRequested{ExpiresAt: exp}, nil
	} else if err != nil {
		return ConsentRequested{}, err
	}
	last, err := s.Store.LastConsentAt(ctx, memberID, merchantID)
	if err != nil {
		return ConsentRequested{}, err
	}
	if wait := last.Add(or(s.Resend, time.Minute)).Sub(now); !last.IsZero() && wait > 0 {
		e := refuse(Throttled, CodeThrottled, "a code was sent to this member moments ago; wait before asking again")
		e.RetryAfter = wait
		return ConsentRequested{}, e
	}
	code, err := s.randomDigits(points.SMSCodeLen)
	if err != nil {
		return ConsentRequested{}, err
	}
	c := points.Consent{Key: points.SMSConsentKey(memberID, code), Kind: points.ConsentSMS, MemberID: memberID, MerchantID: merchantID,
		MaxPoints: pts, CreatedAt: now, ExpiresAt: exp}
	if err := s.Store.CreateConsent(ctx, c); err != nil {
		return ConsentRequested{}, err
	}
	text := fmt.Sprintf("Lianmeng: %s asks to redeem %d of your points. Code %s lets them, once, within %d minutes. Ignore this message to refuse.",
		merchantName, pts, code, int(or(s.SMSTTL, 5*time.Minute)/time.Minute))
	if err := s.send(ctx, messaging.Message{To: id.Value, Purpose: messaging.PurposeRedeemConsent, Code: code, Text: text,
		IdempotencyKey: c.Key}); err != nil {
		return ConsentRequested{}, err
	}
	return ConsentRequested{ExpiresAt: exp}, nil
}

func (s *Service) send(ctx context.Context, m messaging.Message) error {
	if s.Sender == nil {
		return refuse(points.Unavailable, CodeSenderDown, "no message sender is configured")
	}
	if err := s.Sender.Send(ctx, m); err != nil {
		e := refuse(points.Unavailable, CodeSenderDown, "the code could not be sent; try again")
		e.RetryAfter = 5 * time.Second
		return errors.Join(e, err)
	}
	return nil
}

// SignInStarted is the answer to a sign-in start: the same whether or not
// the phone belongs to a member.
type SignInStarted struct {
	ExpiresAt   time.Time `json:"expires_at"`
	ResendAfter time.Time `json:"resend_after"`
}

// StartSignIn sends a 6-digit sign-in code to phone, replacing any
// earlier one; at most one code per Resend interval.
func (s *Service) StartSignIn(ctx context.Context, phone string) (SignInStarted, error) {
	id := points.Identity{Kind: points.IdentityPhone, Value: phone}
	if err := points.CheckIdentity(id); err != nil {
		return SignInStarted{}, err
	}
	lookup := s.Store.IdentityLookup(id)
	now := s.now()
	resend := or(s.Resend, time.Minute)
	if prev, err := s.Store.SignIn(ctx, id.Kind, lookup); err == nil {
		if wait := prev.SentAt.Add(resend).Sub(now); wait > 0 {
			e := refuse(Throttled, CodeThrottled, "a code was sent moments ago; wait before asking again")
			e.RetryAfter = wait
			return SignInStarted{}, e
		}
	} else if !errors.Is(err, points.ErrNotFound) {
		return SignInStarted{}, err
	}
	code, err := s.randomDigits(points.SMSCodeLen)
	if err != nil {
		return SignInStarted{}, err
	}
	ttl := or(s.SignInTTL, 5*time.Minute)
	c := Challenge{Kind: id.Kind, Lookup: lookup, CodeHash: signInHash(lookup, code), SentAt: now, ExpiresAt: now.Add(ttl).Truncate(time.Second)}
	if err := s.Store.PutSignIn(ctx, c); err != nil {
		return SignInStarted{}, err
	}
	text := fmt.Sprintf("Lianmeng: your sign-in code is %s (valid %d minutes). Never tell it to anyone, including a cashier.", code, int(ttl/time.Minute))
	if err := s.send(ctx, messaging.Message{To: phone, Purpose: messaging.PurposeSignIn, Code: code, Text: text, IdempotencyKey: c.CodeHash}); err != nil {
		return SignInStarted{}, err
	}
	return SignInStarted{ExpiresAt: c.ExpiresAt, ResendAfter: now.Add(resend).Truncate(time.Second)}, nil
}

// VerifySignIn checks a sign-in code and returns the member it signs in.
// A code verifies once; MaxAttempts wrong codes void it. A correct code for
// a phone that is no member answers unknown_member (only the phone's holder
// can learn that).
func (s *Service) VerifySignIn(ctx context.Context, phone, code string) (string, error) {
	id := points.Identity{Kind: points.IdentityPhone, Value: phone}
	if err := points.CheckIdentity(id); err != nil {
		return "", err
	}
	lookup := s.Store.IdentityLookup(id)
	c, err := s.Store.SignIn(ctx, id.Kind, lookup)
	if errors.Is(err, points.ErrNotFound) || err == nil && c.CodeHash == "" {
		return "", refuse(Unauthenticated, CodeSignInInvalid, "no sign-in code is pending for this phone: ask for one")
	} else if err != nil {
		return "", err
	}
	max := or(s.MaxAttempts, 5)
	switch {
	case c.Attempts >= max:
		return "", refuse(Throttled, CodeSignInLocked, "too many wrong codes: ask for a new one")
	case !s.now().Before(c.ExpiresAt):
		return "", refuse(Unauthenticated, CodeSignInExpired, "the code expired: ask for a new one")
	}
	if subtle.ConstantTimeCompare([]byte(signInHash(lookup, code)), []byte(c.CodeHash)) != 1 {
		if err := s.Store.CountSignInAttempt(ctx, id.Kind, lookup, c.CodeHash); err != nil {
			return "", err
		}
		return "", refuse(Unauthenticated, CodeSignInInvalid, "wrong code")
	}
	ok, err := s.Store.ConsumeSignIn(ctx, id.Kind, lookup, c.CodeHash, max)
	if err != nil {
		return "", err
	}
	if !ok { // used or locked by a concurrent attempt
		return "", refuse(Unauthenticated, CodeSignInInvalid, "the code was already used: ask for a new one")
	}
	memberID, err := s.Store.FindMember(ctx, "", id)
	if errors.Is(err, points.ErrNotFound) {
		return "", refuse(points.NotFound, points.CodeUnknownMember, "this phone has no points yet: it becomes a member with its first purchase at an alliance merchant")
	}
	return memberID, err
}

// signInHash is the stored hash of a sign-in code, bound to the identity.
func signInHash(lookup, code string) string {
	h := sha256.Sum256([]byte("lianmeng/signin/v1\n" + lookup + "\n" + code))
	return hex.EncodeToString(h[:])
}
