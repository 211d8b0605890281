package api

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/lianmeng/lianmeng/gateway/config"
)

// Member tokens let a member's app (run by a merchant or the alliance) read
// that member's balance, lots and history without merchant credentials. A
// merchant asks for one for a member it can identify; the token names the
// member and an expiry and is MACed with the gateway's token key:
//
//	mt1.<member id>.<unix expiry>.<base64url HMAC-SHA256>
const memberTokenTTL = 15 * time.Minute

const (
	CodeMemberUnauthorized = "member_token_invalid"
	localMember            = "member"
)

// memberTokenKey returns the key that MACs member tokens:
// auth.member_token_key, at least 32 bytes in hex. serve refuses to start
// with a shorter or non-hex key (cmd/lianmeng checkMemberTokenKey); here,
// for any other caller, such a key is never used as is (a short key lets
// tokens be forged): a random per-process key replaces it, so no token
// verifies until it is fixed, and an error is logged.
func memberTokenKey(cfg config.Config, log *slog.Logger) []byte {
	k := cfg.Auth.MemberTokenKey.Reveal()
	if k != "" {
		if b, err := hex.DecodeString(k); err == nil && len(b) >= 32 {
			return b
		}
	}
	b := make([]byte, 32)
	rand.Read(b)
	if log != nil {
		if k != "" {
			log.Error("auth.member_token_key is not at least 64 hex digits (32 bytes): it is ignored and member tokens use a random per-process key; set a key from `openssl rand -hex 32`")
		} else {
			log.Warn("auth.member_token_key is not set: member tokens use a random per-process key and stop working on restart or across instances")
		}
	}
	return b
}

func (s *Server) signMemberToken(memberID string, exp time.Time) string {
	body := "mt1." + memberID + "." + strconv.FormatInt(exp.Unix(), 10)
	m := hmac.New(sha256.New, s.tokenKey)
	m.Write([]byte(body))
	return body + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (s *Server) parseMemberToken(tok string) (string, bool) {
	parts := strings.Split(tok, ".")
	if len(parts) != 4 || parts[0] != "mt1" {
		return "", false
	}
	exp, err := strconv.ParseInt(parts[2], 10, 64)
	if err != nil || s.now().Unix() > exp {
		return "", false
	}
	want := s.signMemberToken(parts[1], time.Unix(exp, 0))
	if !hmac.Equal([]byte(want), []byte(tok)) {
		return "", false
	}
	return parts[1], true
}

// memberAuth admits requests with a valid member token.
func (s *Server) memberAuth(c *fiber.Ctx) error {
	tok, ok := strings.CutPrefix(c.Get(fiber.HeaderAuthorization), "Bearer ")
	if !ok {
		return Errorf(401, CodeMemberUnauthorized, "member endpoints need Authorization: Bearer <member token>")
	}
	mid, ok := s.parseMemberToken(tok)
	if !ok {
		return Errorf(401, CodeMemberUnauthorized, "member token is malformed, forged or expired")
	}
	c.Locals(localMember, mid)
	return c.Next()
}

func memberID(c *fiber.Ctx) string { v, _ := c.Locals(localMember).(string); return v }

type memberTokenResponse struct {
	Token     string `json:"token"`
	MemberID  string `json:"member_id"`
	ExpiresAt string `json:"expires_at"`
}

// memberToken issues a token for a member the calling merchant identifies.
func (s *Server) memberToken(c *fiber.Ctx) error {
	mid, err := s.memberInBody(c)
	if err != nil {
		return err
	}
	exp := s.now().Add(memberTokenTTL).Truncate(time.Second)
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(memberTokenResponse{Token: s.signMemberToken(mid, exp), MemberID: mid, ExpiresAt: exp.UTC().Format(time.RFC3339)})
}
