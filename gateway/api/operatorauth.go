package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/lianmeng/lianmeng/gateway/store"
)

// Operator authentication codes. A missing or wrong token is 401
// operator_unauthorized; a named token that was revoked or has expired has
// its own 401 code, so the operator knows to make a new one; a token
// without the route's scope (or the bootstrap token anywhere but POST
// /v1/operator/tokens) is 403 scope_denied.
const (
	CodeOperatorUnauthorized  = "operator_unauthorized"
	CodeOperatorTokenRevoked  = "operator_token_revoked"
	CodeOperatorTokenExpired  = "operator_token_expired"
	CodeOperatorScopeDenied   = CodeScopeDenied // the code signed merchant requests get too
	CodeOperatorTokenNotFound = "operator_token_not_found"
)

// Operator scopes: what a named operator token may do.
const (
	// OperatorRead: every GET under /v1/operator except the token list
	// (merchants, stores, credentials, earning rules, accounts, totals).
	OperatorRead = "read"
	// OperatorMerchantsWrite: create merchants and stores, suspend and
	// reactivate merchants, issue and revoke their API credentials, set
	// their earning rules.
	OperatorMerchantsWrite = "merchants:write"
	// OperatorFundsWrite: record money received into the reserve (fund).
	OperatorFundsWrite = "funds:write"
	// OperatorTokensWrite: create, list and revoke named operator tokens;
	// a token can grant only scopes it holds itself.
	OperatorTokensWrite = "tokens:write"
)

// OperatorScopes lists every operator scope in canonical order.
var OperatorScopes = []string{OperatorRead, OperatorMerchantsWrite, OperatorFundsWrite, OperatorTokensWrite}

// operatorScopes is the scope each operator route needs. Every route under
// /v1/operator/ must be listed (TestOperatorScopeTableCoversOperatorRoutes
// fails otherwise); operatorAuth refuses a route missing from it.
var operatorScopes = map[Route]string{
	{fiber.MethodGet, "/v1/operator/merchants"}:                                    OperatorRead,
	{fiber.MethodGet, "/v1/operator/merchants/:merchant"}:                          OperatorRead,
	{fiber.MethodGet, "/v1/operator/merchants/:merchant/stores"}:                   OperatorRead,
	{fiber.MethodGet, "/v1/operator/merchants/:merchant/credentials"}:              OperatorRead,
	{fiber.MethodGet, "/v1/operator/merchants/:merchant/earning"}:                  OperatorRead,
	{fiber.MethodGet, "/v1/operator/merchants/:merchant/account"}:                  OperatorRead,
	{fiber.MethodGet, "/v1/operator/totals"}:                                       OperatorRead,
	{fiber.MethodPost, "/v1/operator/merchants"}:                                   OperatorMerchantsWrite,
	{fiber.MethodPut, "/v1/operator/merchants/:merchant/status"}:                   OperatorMerchantsWrite,
	{fiber.MethodPost, "/v1/operator/merchants/:merchant/stores"}:                  OperatorMerchantsWrite,
	{fiber.MethodPost, "/v1/operator/merchants/:merchant/credentials"}:             OperatorMerchantsWrite,
	{fiber.MethodPost, "/v1/operator/merchants/:merchant/credentials/:key/revoke"}: OperatorMerchantsWrite,
	{fiber.MethodPut, "/v1/operator/merchants/:merchant/earning"}:                  OperatorMerchantsWrite,
	{fiber.MethodPost, "/v1/operator/merchants/:merchant/fund"}:                    OperatorFundsWrite,
	{fiber.MethodPost, "/v1/operator/tokens"}:                                      OperatorTokensWrite,
	{fiber.MethodGet, "/v1/operator/tokens"}:                                       OperatorTokensWrite,
	{fiber.MethodPost, "/v1/operator/tokens/:token/revoke"}:                        OperatorTokensWrite,

	// Merchant staff for the console (staff.go).
	{fiber.MethodPost, "/v1/operator/merchants/:merchant/staff"}: OperatorMerchantsWrite,
	{fiber.MethodGet, "/v1/operator/merchants/:merchant/staff"}:  OperatorRead,

	// Versioned earning rules (rules.go).
	{fiber.MethodGet, "/v1/operator/merchants/:merchant/rules"}:                             OperatorRead,
	{fiber.MethodPost, "/v1/operator/merchants/:merchant/rules/drafts"}:                     OperatorMerchantsWrite,
	{fiber.MethodPost, "/v1/operator/merchants/:merchant/rules/drafts/:draft/publish"}:      OperatorMerchantsWrite,
	{fiber.MethodPost, "/v1/operator/merchants/:merchant/rules/versions/:version/withdraw"}: OperatorMerchantsWrite,
	{fiber.MethodPost, "/v1/operator/merchants/:merchant/rules/drafts/:draft/simulate"}:     OperatorRead,
	{fiber.MethodPost, "/v1/operator/merchants/:merchant/rules/adopt/:industry"}:            OperatorMerchantsWrite,
	{fiber.MethodPut, "/v1/operator/rule-templates/:industry"}:                              OperatorMerchantsWrite,
}

// bootstrapRoute is the one route the static operator.token may call.
var bootstrapRoute = Route{fiber.MethodPost, "/v1/operator/tokens"}

// Locals set by operatorAuth besides localActor.
const localOperatorScopes = "operator_scopes"

// Actors of operator actions in the audit (and so the evidence) log.
const (
	actorBootstrap      = "operator:bootstrap"
	operatorActorPrefix = "operator:"
)

// operatorAuth admits a request bearing the bootstrap operator.token (for
// POST /v1/operator/tokens only) or a named operator token that is neither
// revoked nor expired and holds the route's scope. The request's actor,
// in the audit log and the evidence log, is "operator:<token id>" (or
// "operator:bootstrap").
func (s *Server) operatorAuth(c *fiber.Ctx) error {
	got, ok := strings.CutPrefix(c.Get(fiber.HeaderAuthorization), "Bearer ")
	if !ok || got == "" {
		return errOperatorUnauthorized()
	}
	r := c.Route()
	route := Route{r.Method, r.Path}
	if boot := s.cfg.Operator.Token.Reveal(); boot != "" && subtle.ConstantTimeCompare([]byte(got), []byte(boot)) == 1 {
		if route != bootstrapRoute {
			return Errorf(fiber.StatusForbidden, CodeOperatorScopeDenied,
				"the bootstrap operator.token can only create named operator tokens (POST /v1/operator/tokens); use a named token for this")
		}
		c.Locals(localActor, actorBootstrap)
		c.Locals(localOperatorScopes, OperatorScopes)
		return c.Next()
	}
	id, ok := operatorTokenID(got)
	if !ok {
		return errOperatorUnauthorized()
	}
	tok, err := s.db.OperatorToken(c.UserContext(), id)
	if errors.Is(err, store.ErrOperatorTokenNotFound) {
		return errOperatorUnauthorized()
	}
	if err != nil {
		return err
	}
	sum := sha256.Sum256([]byte(got))
	want, err := hex.DecodeString(tok.SecretHash)
	if err != nil || subtle.ConstantTimeCompare(sum[:], want) != 1 {
		return errOperatorUnauthorized()
	}
	if !tok.RevokedAt.IsZero() {
		return Errorf(fiber.StatusUnauthorized, CodeOperatorTokenRevoked, "operator token %s was revoked; use another named token", tok.ID)
	}
	if !s.now().Before(tok.ExpiresAt) {
		return Errorf(fiber.StatusUnauthorized, CodeOperatorTokenExpired, "operator token %s expired at %s; create a new one",
			tok.ID, tok.ExpiresAt.Format(time.RFC3339))
	}
	need, listed := operatorScopes[route]
	if !listed {
		// A route someone forgot to list: refuse rather than guess.
		return Errorf(fiber.StatusForbidden, CodeOperatorScopeDenied, "no operator scope grants %s %s", r.Method, r.Path)
	}
	if !slices.Contains(tok.Scopes, need) {
		return Errorf(fiber.StatusForbidden, CodeOperatorScopeDenied, "operator token %s lacks the %q scope %s %s needs (it has: %s)",
			tok.ID, need, r.Method, r.Path, strings.Join(tok.Scopes, " "))
	}
	c.Locals(localActor, operatorActorPrefix+tok.ID)
	c.Locals(localOperatorScopes, tok.Scopes)
	return c.Next()
}

func errOperatorUnauthorized() *Error {
	return Errorf(fiber.StatusUnauthorized, CodeOperatorUnauthorized, "missing or wrong operator token (Authorization: Bearer <token>)")
}

// Named operator tokens are "<id>.<secret>": the id is "opt_" and 16
// lowercase hex digits, the secret 32 random bytes in unpadded base64url.
const (
	operatorTokenPrefix = "opt_"
	operatorIDHex       = 16
	operatorSecretLen   = 43
)

// operatorTokenID returns the id a well-formed named token starts with.
func operatorTokenID(token string) (string, bool) {
	id, secret, ok := strings.Cut(token, ".")
	if !ok || !validOperatorTokenID(id) || len(secret) != operatorSecretLen {
		return "", false
	}
	for i := 0; i < len(secret); i++ {
		ch := secret[i]
		if !(ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '-' || ch == '_') {
			return "", false
		}
	}
	return id, true
}

func validOperatorTokenID(id string) bool {
	hexPart, ok := strings.CutPrefix(id, operatorTokenPrefix)
	if !ok || len(hexPart) != operatorIDHex {
		return false
	}
	for i := 0; i < len(hexPart); i++ {
		if ch := hexPart[i]; !(ch >= '0' && ch <= '9' || ch >= 'a' && ch <= 'f') {
			return false
		}
	}
	return true
}

// operatorScopesOf returns the scopes operatorAuth admitted the request with.
func operatorScopesOf(c *fiber.Ctx) []string {
	v, _ := c.Locals(localOperatorScopes).([]string)
	return v
}
