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

// Member tokens let a member's app or page read that member's balance,
// lots and history and ask for redemption codes. A member gets one by
// signing in with a code sent to their phone (consent.Service.VerifySignIn).
// A merchant can get only a till token: after the member presented a
// redemption code at its till, bound to that merchant, for two minutes,
// and good only for the balance. A token names the member, its scope and
// an expiry and is MACed with the gateway's token key:
//
//	mt2.<member id>.<unix expiry>.<scope>.<base64url HMAC-SHA256>
//
// where scope is "m" (the member's own session) or "t-<merchant id>" (a
// till token).
const (
	memberTokenTTL = 30 * time.Minute
	tillTokenTTL   = 2 * time.Minute
	scopeMember    = "m"
	tillPrefix     = "t-"
)

const (
	CodeMemberUnauthorized = "member_token_invalid"
	CodeMemberScope        = "member_session_required"
	localMember            = "member"
	localMemberScope       = "member_scope"
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

func (s *Server) signMemberToken(memberID, scope string, exp time.Time) string {
	body := "mt2." + memberID + "." + strconv.FormatInt(exp.Unix(), 10) + "." + scope
	m := hmac.New(sha256.New, s.tokenKey)
	m.Write([]byte(body))
	return body + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// parseMemberToken returns the member and scope of a valid, unexpired token.
func (s *Server) parseMemberToken(tok string) (member, scope string, ok bool) {
	parts := strings.Split(tok, ".")
	if len(parts) != 5 || parts[0] != "mt2" {
		return "", "", false
	}
	exp, err := strconv.ParseInt(parts[2], 10, 64)
	if err != nil || s.now().Unix() > exp {
		return "", "", false
	}
	want := s.signMemberToken(parts[1], parts[3], time.Unix(exp, 0))
	if !hmac.Equal([]byte(want), []byte(tok)) {
		return "", "", false
	}
	return parts[1], parts[3], true
}

// memberAuth admits the member's own session (scope "m").
func (s *Server) memberAuth(c *fiber.Ctx) error { return s.memberVerify(c, false) }

// memberOrTillAuth admits the member's session or a till token.
func (s *Server) memberOrTillAuth(c *fiber.Ctx) error { return s.memberVerify(c, true) }

func (s *Server) memberVerify(c *fiber.Ctx, till bool) error {
	tok, ok := strings.CutPrefix(c.Get(fiber.HeaderAuthorization), "Bearer ")
	if !ok {
		return Errorf(401, CodeMemberUnauthorized, "member endpoints need Authorization: Bearer <member token>")
	}
	mid, scope, ok := s.parseMemberToken(tok)
	if !ok {
		return Errorf(401, CodeMemberUnauthorized, "member token is malformed, forged or expired")
	}
	if scope != scopeMember && !(till && strings.HasPrefix(scope, tillPrefix)) {
		return Errorf(403, CodeMemberScope, "this needs the member's own signed-in session, not a till token")
	}
	c.Locals(localMember, mid)
	c.Locals(localMemberScope, scope)
	return c.Next()
}

func memberID(c *fiber.Ctx) string { v, _ := c.Locals(localMember).(string); return v }

type memberTokenResponse struct {
	Token     string    `json:"token"`
	MemberID  string    `json:"member_id"`
	Scope     string    `json:"scope"`
	ExpiresAt time.Time `json:"expires_at"`
}

type tillTokenRequest struct {
	Code string `json:"code"`
}

// memberToken issues a till token: the member presented a valid redemption
// code at this merchant's till, and the till may show their balance for
// two minutes. The code stays unused (the redemption uses it).
func (s *Server) memberToken(c *fiber.Ctx) error {
	var req tillTokenRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	mid, err := s.consent.TillMember(c.UserContext(), req.Code)
	if err != nil {
		return mapPointsErr(err)
	}
	exp := s.now().Add(tillTokenTTL).Truncate(time.Second)
	scope := tillPrefix + merchantID(c)
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(memberTokenResponse{Token: s.signMemberToken(mid, scope, exp), MemberID: mid, Scope: scope, ExpiresAt: exp.UTC()})
}
