// Package outbox delivers signed webhooks to merchants' systems.
//
// The events themselves are written by the store's batching writer in the
// transaction of the ledger change they announce (gateway/store/outbox.go),
// so an event exists exactly when its change committed. This package
// registers endpoints (URL rules against SSRF, secrets with rotation),
// signs bodies, and delivers: per endpoint in order, with exponential
// backoff and jitter, dead-lettered after a bounded time, replayable.
//
// Signing follows Standard Webhooks (https://www.standardwebhooks.com), so
// receivers can use its libraries: the headers webhook-id,
// webhook-timestamp (Unix seconds) and webhook-signature, which holds
// "v1," + base64(HMAC-SHA256(key, id + "." + timestamp + "." + body)) for
// each secret that signs (space-separated: two during a rotation's
// overlap). A secret is "whsec_" + base64(key).
package outbox

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"time"
)

// Header names of a delivery.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// SecretPrefix starts every secret as shown to a merchant.
const SecretPrefix = "whsec_"

// NewSecret returns a fresh 32-byte key.
func NewSecret() []byte {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic("outbox: no randomness: " + err.Error())
	}
	return b
}

// FormatSecret is how a key is shown to the merchant, once.
func FormatSecret(key []byte) string { return SecretPrefix + base64.StdEncoding.EncodeToString(key) }

// ParseSecret reads a secret as FormatSecret writes it.
func ParseSecret(s string) ([]byte, error) {
	if !strings.HasPrefix(s, SecretPrefix) {
		return nil, errors.New("outbox: a secret starts with " + SecretPrefix)
	}
	return base64.StdEncoding.DecodeString(strings.TrimPrefix(s, SecretPrefix))
}

// Signature returns one "v1,..." signature of body under key.
func Signature(key []byte, id string, ts time.Time, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id + "." + strconv.FormatInt(ts.Unix(), 10) + "."))
	m.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// Sign returns the webhook-signature header: one signature per key.
func Sign(keys [][]byte, id string, ts time.Time, body []byte) string {
	sigs := make([]string, len(keys))
	for i, k := range keys {
		sigs[i] = Signature(k, id, ts, body)
	}
	return strings.Join(sigs, " ")
}

// Verification errors.
var (
	ErrBadTimestamp = errors.New("outbox: webhook-timestamp is missing, malformed or outside the tolerance")
	ErrNoSignature  = errors.New("outbox: no signature matches")
)

// Verify checks a delivery as a receiver does: the timestamp within
// tolerance of now, and some v1 signature made with key.
func Verify(key []byte, id, timestamp, signature string, body []byte, now time.Time, tolerance time.Duration) error {
	sec, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return ErrBadTimestamp
	}
	ts := time.Unix(sec, 0)
	if d := now.Sub(ts); d > tolerance || d < -tolerance {
		return ErrBadTimestamp
	}
	want := Signature(key, id, ts, body)
	for _, s := range strings.Fields(signature) {
		if hmac.Equal([]byte(s), []byte(want)) {
			return nil
		}
	}
	return ErrNoSignature
}
