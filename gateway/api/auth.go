package api

import (
	"context"
	"errors"
	"math"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/lianmeng/lianmeng/gateway/merchant"
	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/sdk/signature"
)

// Locals set by authentication.
const (
	localMerchant = "merchant"
	localKey      = "key_id"
	localActor    = "actor"
	localNonce    = "nonce"
)

// Authentication error codes. Each failure mode has its own code so an
// integrator can tell a clock problem from a key problem.
const (
	CodeSignatureMissing  = "signature_missing"
	CodeSignatureInvalid  = "signature_invalid"
	CodeTimestampInvalid  = "timestamp_out_of_window"
	CodeNonceInvalid      = "nonce_invalid"
	CodeNonceReplayed     = "nonce_replayed"
	CodeUnknownKey        = "unknown_key"
	CodeKeyRevoked        = "key_revoked"
	CodeUnknownMerchant   = "unknown_merchant"
	CodeMerchantSuspended = "merchant_suspended"
)

// merchantAuth verifies a signed merchant request (sdk/signature documents
// the scheme). The checks run cheapest first and nothing is written until
// the signature verifies; only then is the nonce consumed.
func (s *Server) merchantAuth(c *fiber.Ctx) error { return s.merchantVerify(c, false) }

// merchantAuthWrite verifies like merchantAuth but leaves the nonce to be
// consumed in the same batch transaction as the write it authorises, so a
// request is authenticated and applied atomically with one commit.
func (s *Server) merchantAuthWrite(c *fiber.Ctx) error { return s.merchantVerify(c, true) }

func (s *Server) merchantVerify(c *fiber.Ctx, deferNonce bool) error {
	h, aerr := parseSignedHeaders(c.Get, s.now(), s.cfg.Auth.ClockSkew.D())
	if aerr != nil {
		return aerr
	}
	mid, kid, ts, nonce, sig := h.Merchant, h.Key, h.Timestamp, h.Nonce, h.Signature
	ctx := c.UserContext()
	m, err := s.cache.merchant(ctx, mid)
	if errors.Is(err, merchant.ErrNotFound) {
		return Errorf(fiber.StatusUnauthorized, CodeUnknownMerchant, "no merchant %q", mid)
	}
	if err != nil {
		return err
	}
	key, err := s.cache.credential(ctx, kid)
	if errors.Is(err, merchant.ErrNotFound) || err == nil && key.MerchantID != m.ID {
		return Errorf(fiber.StatusUnauthorized, CodeUnknownKey, "no key %q for merchant %q", kid, mid)
	}
	if err != nil {
		return err
	}
	if key.Status != merchant.KeyActive {
		return Errorf(fiber.StatusUnauthorized, CodeKeyRevoked, "key %q was revoked", kid)
	}
	// The raw body as sent: never c.Body(), which would decompress it.
	canonical := signature.CanonicalString(mid, kid, c.Method(), c.OriginalURL(), ts, nonce, rawBody(c))
	if err := key.verify(canonical, sig); err != nil {
		return Errorf(fiber.StatusUnauthorized, CodeSignatureInvalid, "signature does not verify; check the canonical string (see README, Signing requests)")
	}
	s.touchKey(kid)
	if m.Status != merchant.StatusActive {
		return Errorf(fiber.StatusForbidden, CodeMerchantSuspended, "merchant %q is %s", mid, m.Status)
	}
	// A nonce is used once per key whatever its timestamp: the store
	// refuses the (key, nonce) pair again under any expiry. The expiry only
	// says when the row may be purged: 16 minutes after the signed
	// timestamp, when a request signed then is out of any accepted clock
	// skew (at most 15 minutes).
	n := &store.Nonce{KeyID: kid, Nonce: nonce, Expires: time.Unix(ts, 0).Add(nonceLifetime)}
	c.Locals(localMerchant, m.ID)
	c.Locals(localKey, kid)
	c.Locals(localActor, "merchant:"+m.ID)
	if !deferNonce {
		if err := s.consumeNonce(ctx, n); err != nil {
			return err
		}
		return c.Next()
	}
	c.Locals(localNonce, n)
	err = c.Next()
	// The write consumes the nonce in its own batch. If the handler refused
	// the request before reaching the write (bad body, unknown store, rule
	// unavailable), consume it now: a signed request is single-use whatever
	// its outcome, so a refused one cannot be replayed later when it might
	// succeed.
	if pendingNonce(c) != nil {
		if cerr := s.consumeNonce(ctx, n); cerr != nil {
			return cerr
		}
	}
	return err
}

// touchKey notes that key kid signed a request that verified, for the
// console's "last used": in memory, written by a background flusher
// (keyuse.go), never inside the request.
func (s *Server) touchKey(kid string) { s.keyUses.note(kid, s.now()) }

// signedHeaders are a signed request's five authentication headers.
type signedHeaders struct {
	Merchant, Key, Nonce, Signature string
	Timestamp                       int64
}

// parseSignedHeaders reads the signed-request headers through get and
// checks what needs no lookup, cheapest first: all five present, the
// timestamp's grammar (parseTimestamp) and window around now, the nonce's
// grammar. (A header sent twice never gets here: strictRequest refuses it
// as ambiguous_request.)
func parseSignedHeaders(get func(string, ...string) string, now time.Time, skew time.Duration) (signedHeaders, *Error) {
	h := signedHeaders{Merchant: get(signature.HeaderMerchant), Key: get(signature.HeaderKey), Nonce: get(signature.HeaderNonce),
		Signature: get(signature.HeaderSignature)}
	tsText := get(signature.HeaderTimestamp)
	if h.Merchant == "" || h.Key == "" || tsText == "" || h.Nonce == "" || h.Signature == "" {
		return h, Errorf(fiber.StatusUnauthorized, CodeSignatureMissing, "signed request headers missing: %s, %s, %s, %s and %s are required",
			signature.HeaderMerchant, signature.HeaderKey, signature.HeaderTimestamp, signature.HeaderNonce, signature.HeaderSignature)
	}
	ts, ok := parseTimestamp(tsText)
	if !ok {
		return h, Errorf(fiber.StatusUnauthorized, CodeTimestampInvalid, "%s must be decimal Unix seconds: digits only, no sign, no leading zeros, no fraction (now %d)",
			signature.HeaderTimestamp, now.Unix())
	}
	if ts < now.Add(-skew).Unix() || ts > now.Add(skew).Unix() {
		return h, Errorf(fiber.StatusUnauthorized, CodeTimestampInvalid, "%s must be Unix seconds within %s of the gateway clock (now %d)", signature.HeaderTimestamp, skew, now.Unix())
	}
	h.Timestamp = ts
	if !signature.ValidNonce(h.Nonce) {
		return h, Errorf(fiber.StatusUnauthorized, CodeNonceInvalid, "%s must be 16-64 characters of A-Z a-z 0-9 - _", signature.HeaderNonce)
	}
	return h, nil
}

// parseTimestamp reads a timestamp exactly as the README states it:
// decimal Unix seconds, ASCII digits only, no sign, no leading zeros, no
// fraction, no spaces. So the text is the one signature.CanonicalString
// writes for the value, and no two texts name one timestamp.
func parseTimestamp(s string) (int64, bool) {
	if len(s) == 0 || len(s) > 19 || len(s) > 1 && s[0] == '0' {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		d := int64(c - '0')
		if n > (math.MaxInt64-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}

func merchantID(c *fiber.Ctx) string { v, _ := c.Locals(localMerchant).(string); return v }
func actor(c *fiber.Ctx) string      { v, _ := c.Locals(localActor).(string); return v }

// nonceLifetime is how long a used nonce is remembered after its signed
// timestamp: longer than the largest clock skew configuration allows.
const nonceLifetime = 16 * time.Minute

func pendingNonce(c *fiber.Ctx) *store.Nonce { n, _ := c.Locals(localNonce).(*store.Nonce); return n }

// takeNonce hands a write the signed request's nonce (merchantAuthWrite
// left it unconsumed): the write passes it to the batch that commits its
// effect, and the middleware no longer consumes it on its own.
func takeNonce(c *fiber.Ctx) *store.Nonce {
	n := pendingNonce(c)
	c.Locals(localNonce, nil)
	return n
}

// consumeNonce records a nonce as used, through the batching writer when
// there is one (so it shares a commit with other requests).
func (s *Server) consumeNonce(ctx context.Context, n *store.Nonce) error {
	if n == nil {
		return nil
	}
	var err error
	if s.writer != nil {
		err = s.writer.Submit(ctx, &store.Op{Nonce: n}).Err // a bare nonce consumption
	} else {
		err = s.db.UseNonce(ctx, n.KeyID, n.Nonce, n.Expires)
	}
	if errors.Is(err, store.ErrNonceReplayed) {
		return Errorf(fiber.StatusUnauthorized, CodeNonceReplayed, "nonce already used; make a new nonce for every request")
	}
	return err
}
