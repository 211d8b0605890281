package api

import (
	"github.com/gofiber/fiber/v2"

	"github.com/lianmeng/lianmeng/gateway/merchant"
)

// CodeScopeDenied refuses a signed request whose credential lacks the
// route's scope.
const CodeScopeDenied = "scope_denied"

// merchantScopes is the scope each signed merchant route needs: every
// route under /v1/merchant/ is listed here (TestScopeTableCoversMerchantRoutes
// fails otherwise), and requireScope refuses a route missing from it.
var merchantScopes = map[Route]string{
	{fiber.MethodPost, "/v1/merchant/earn"}:                     merchant.ScopeEarn,
	{fiber.MethodPost, "/v1/merchant/earn/refund"}:              merchant.ScopeRefund,
	{fiber.MethodPost, "/v1/merchant/redeem/refund"}:            merchant.ScopeRefund,
	{fiber.MethodPost, "/v1/merchant/redeem"}:                   merchant.ScopeRedeem,
	{fiber.MethodPost, "/v1/merchant/redeem/consent"}:           merchant.ScopeRedeem,
	{fiber.MethodPost, "/v1/merchant/members/lookup"}:           merchant.ScopeRead,
	{fiber.MethodPost, "/v1/merchant/members/token"}:            merchant.ScopeRead,
	{fiber.MethodGet, "/v1/merchant/evidence/transactions/:tx"}: merchant.ScopeRead,
	{fiber.MethodGet, "/v1/merchant/me"}:                        merchant.ScopeRead,
	{fiber.MethodGet, "/v1/merchant/account"}:                   merchant.ScopeFinance,
	{fiber.MethodGet, "/v1/merchant/purchases"}:                 merchant.ScopeRead,

	// The merchant's own earning rules (rules.go): reading and simulating
	// need read; drafting, publishing and withdrawing, which decide what the
	// budget pays out, need finance.
	{fiber.MethodGet, "/v1/merchant/rules"}:                             merchant.ScopeRead,
	{fiber.MethodPost, "/v1/merchant/rules/drafts/:draft/simulate"}:     merchant.ScopeRead,
	{fiber.MethodPost, "/v1/merchant/rules/drafts"}:                     merchant.ScopeFinance,
	{fiber.MethodPost, "/v1/merchant/rules/drafts/:draft/publish"}:      merchant.ScopeFinance,
	{fiber.MethodPost, "/v1/merchant/rules/versions/:version/withdraw"}: merchant.ScopeFinance,
	{fiber.MethodPost, "/v1/merchant/rules/adopt/:industry"}:            merchant.ScopeFinance,
}

// requireScope admits a signed merchant request only if its credential
// holds the scope merchantScopes names for the route. It runs after
// merchantAuth or merchantAuthWrite: a refused request writes nothing, and
// its nonce is consumed all the same (by merchantAuth before, or by
// merchantAuthWrite after the refusal), so it cannot be replayed.
func (s *Server) requireScope(c *fiber.Ctx) error {
	r := c.Route()
	need, ok := merchantScopes[Route{r.Method, r.Path}]
	if !ok {
		// A route someone forgot to list: refuse rather than guess.
		return Errorf(fiber.StatusForbidden, CodeScopeDenied, "no scope grants %s %s", r.Method, r.Path)
	}
	kid, _ := c.Locals(localKey).(string)
	key, err := s.cache.credential(c.UserContext(), kid)
	if err != nil {
		return err
	}
	if !key.HasScope(need) {
		return Errorf(fiber.StatusForbidden, CodeScopeDenied, "key %q lacks the %q scope this route needs (it has: %v); ask the operator for a credential with it", kid, need, key.Scopes)
	}
	return c.Next()
}
