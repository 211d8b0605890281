package api

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"

	"github.com/lianmeng/lianmeng/gateway/store"
)

// Operator token lifetimes: 90 days unless the request says otherwise, at
// most a year.
const (
	operatorTokenDefaultTTL = 90 * 24 * time.Hour
	operatorTokenMaxTTL     = 366 * 24 * time.Hour
	operatorLabelMax        = 100
)

// testHookNewServer, when a test sets it, runs for every server built
// (the api tests seed a named operator token with it).
var testHookNewServer func(*Server)

func (s *Server) routesOperatorTokens() {
	op := s.operatorAuth
	s.handle(fiber.MethodPost, "/v1/operator/tokens", op, s.createOperatorToken)
	s.handle(fiber.MethodGet, "/v1/operator/tokens", op, s.listOperatorTokens)
	s.handle(fiber.MethodPost, "/v1/operator/tokens/:token/revoke", op, s.revokeOperatorToken)
	if testHookNewServer != nil {
		testHookNewServer(s)
	}
}

type createOperatorTokenRequest struct {
	Label  string   `json:"label"`
	Scopes []string `json:"scopes"`
	// ExpiresAt defaults to 90 days from now; at most a year from now.
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

// operatorTokenView is a named operator token as the API shows it: never
// its secret, nor the secret's hash.
type operatorTokenView struct {
	ID        string     `json:"id"`
	Label     string     `json:"label"`
	Scopes    []string   `json:"scopes"`
	Status    string     `json:"status"` // active, expired or revoked
	CreatedBy string     `json:"created_by"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt time.Time  `json:"expires_at"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
	RevokedBy string     `json:"revoked_by,omitempty"`
}

// createdOperatorToken is the answer to a creation: the only time the
// token itself is shown.
type createdOperatorToken struct {
	operatorTokenView
	Token string `json:"token"`
}

func (s *Server) operatorTokenView(t store.OperatorToken) operatorTokenView {
	v := operatorTokenView{ID: t.ID, Label: t.Label, Scopes: t.Scopes, Status: "active", CreatedBy: t.CreatedBy,
		CreatedAt: t.CreatedAt, ExpiresAt: t.ExpiresAt, RevokedBy: t.RevokedBy}
	if v.Scopes == nil {
		v.Scopes = []string{}
	}
	switch {
	case !t.RevokedAt.IsZero():
		v.Status = "revoked"
		at := t.RevokedAt
		v.RevokedAt = &at
	case !s.now().Before(t.ExpiresAt):
		v.Status = "expired"
	}
	return v
}

// createOperatorToken makes a named operator token and answers it once.
func (s *Server) createOperatorToken(c *fiber.Ctx) error {
	var req createOperatorTokenRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	label := strings.TrimSpace(req.Label)
	if label == "" || utf8.RuneCountInString(label) > operatorLabelMax || strings.IndexFunc(label, unicode.IsControl) >= 0 {
		return Errorf(fiber.StatusBadRequest, CodeValidation, "label must be 1-%d characters without control characters (who or what uses the token, e.g. \"finance desk\")", operatorLabelMax)
	}
	scopes, err := canonicalOperatorScopes(req.Scopes)
	if err != nil {
		return err
	}
	// A token grants no more than its creator holds.
	have := operatorScopesOf(c)
	for _, sc := range scopes {
		if !slices.Contains(have, sc) {
			return Errorf(fiber.StatusForbidden, CodeOperatorScopeDenied, "this token cannot grant %q: it does not hold that scope itself", sc)
		}
	}
	now := s.now().UTC().Truncate(time.Microsecond)
	expires := now.Add(operatorTokenDefaultTTL)
	if req.ExpiresAt != nil {
		expires = req.ExpiresAt.UTC().Truncate(time.Microsecond)
		if !expires.After(now) || expires.After(now.Add(operatorTokenMaxTTL)) {
			return Errorf(fiber.StatusBadRequest, CodeValidation, "expires_at must be in the future and at most 366 days from now (default: 90 days)")
		}
	}
	var idb [operatorIDHex / 2]byte
	var secret [32]byte
	if _, err := rand.Read(idb[:]); err != nil {
		return err
	}
	if _, err := rand.Read(secret[:]); err != nil {
		return err
	}
	id := operatorTokenPrefix + hex.EncodeToString(idb[:])
	token := id + "." + base64.RawURLEncoding.EncodeToString(secret[:])
	sum := sha256.Sum256([]byte(token))
	t := store.OperatorToken{ID: id, Label: label, Scopes: scopes, SecretHash: hex.EncodeToString(sum[:]), CreatedBy: actor(c),
		CreatedAt: now, ExpiresAt: expires}
	if err := s.db.CreateOperatorToken(c.UserContext(), t); err != nil {
		return err
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.Status(fiber.StatusCreated).JSON(createdOperatorToken{operatorTokenView: s.operatorTokenView(t), Token: token})
}

// canonicalOperatorScopes checks scopes against OperatorScopes and returns
// them once each, in canonical order.
func canonicalOperatorScopes(scopes []string) ([]string, error) {
	if len(scopes) == 0 {
		return nil, Errorf(fiber.StatusBadRequest, CodeValidation, "scopes must list at least one of: %s", strings.Join(OperatorScopes, ", "))
	}
	for _, sc := range scopes {
		if !slices.Contains(OperatorScopes, sc) {
			return nil, Errorf(fiber.StatusBadRequest, CodeValidation, "unknown scope %q: the operator scopes are %s", sc, strings.Join(OperatorScopes, ", "))
		}
	}
	var out []string
	for _, sc := range OperatorScopes {
		if slices.Contains(scopes, sc) {
			out = append(out, sc)
		}
	}
	return out, nil
}

type operatorTokenList struct {
	Tokens []operatorTokenView `json:"tokens"`
}

func (s *Server) listOperatorTokens(c *fiber.Ctx) error {
	ts, err := s.db.OperatorTokens(c.UserContext())
	if err != nil {
		return err
	}
	out := operatorTokenList{Tokens: make([]operatorTokenView, len(ts))}
	for i, t := range ts {
		out.Tokens[i] = s.operatorTokenView(t)
	}
	return c.JSON(out)
}

// revokeOperatorToken revokes a named token at once, on every instance
// (tokens are checked against the database on every request).
func (s *Server) revokeOperatorToken(c *fiber.Ctx) error {
	id := c.Params("token")
	if !validOperatorTokenID(id) {
		return Errorf(fiber.StatusNotFound, CodeOperatorTokenNotFound, "no operator token %q", id)
	}
	err := s.db.RevokeOperatorToken(c.UserContext(), id, s.now(), actor(c))
	switch {
	case errors.Is(err, store.ErrOperatorTokenNotFound):
		return Errorf(fiber.StatusNotFound, CodeOperatorTokenNotFound, "no operator token %q", id)
	case errors.Is(err, store.ErrOperatorTokenRevoked):
		return Errorf(fiber.StatusConflict, "already_revoked", "operator token %s is already revoked", id)
	case err != nil:
		return err
	}
	t, err := s.db.OperatorToken(c.UserContext(), id)
	if err != nil {
		return err
	}
	return c.JSON(s.operatorTokenView(t))
}
