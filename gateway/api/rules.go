package api

import (
	"errors"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/lianmeng/lianmeng/gateway/merchant"
	"github.com/lianmeng/lianmeng/gateway/points"
	"github.com/lianmeng/lianmeng/gateway/rules"
)

// routesRules registers versioned earning rules: the operator's drafts,
// publications and withdrawals, and the public rule log.
func (s *Server) routesRules() {
	s.rules = &rules.Service{Policy: s.svc.Policy, Notice: s.cfg.Rules.NoticePeriod.D(), Store: s.db, Now: s.now, Notices: s.ruleLogNotices}
	if c, ok := s.svc.Rules.(rules.PluginConfigChecker); ok {
		s.rules.Plugins = c // the plugins loaded check a version's configuration of them
	}
	// and compare two configurations of one plugin on the corpus.
	s.rules.Evaluator = s.svc.Rules
	op := s.operatorAuth
	s.handle(fiber.MethodGet, "/v1/operator/merchants/:merchant/rules", op, s.listRuleVersions)
	s.handle(fiber.MethodPost, "/v1/operator/merchants/:merchant/rules/drafts", op, s.createRuleDraft)
	s.handle(fiber.MethodPost, "/v1/operator/merchants/:merchant/rules/drafts/:draft/publish", op, s.publishRuleDraft)
	s.handle(fiber.MethodPost, "/v1/operator/merchants/:merchant/rules/versions/:version/withdraw", op, s.withdrawRuleVersion)
	s.handle(fiber.MethodPost, "/v1/operator/merchants/:merchant/rules/drafts/:draft/simulate", op, s.simulateRuleDraft)
	// The merchant manages its own rule set with signed requests: the same
	// checks, on the authenticated merchant only (another merchant's draft
	// or version is not found).
	auth := []fiber.Handler{s.merchantAuth, s.limitCredential, s.requireScope}
	s.handle(fiber.MethodGet, "/v1/merchant/rules", append(auth, s.own(s.listRuleVersions))...)
	s.handle(fiber.MethodPost, "/v1/merchant/rules/drafts", append(auth, s.own(s.createRuleDraft))...)
	s.handle(fiber.MethodPost, "/v1/merchant/rules/drafts/:draft/simulate", append(auth, s.own(s.simulateRuleDraft))...)
	s.handle(fiber.MethodPost, "/v1/merchant/rules/drafts/:draft/publish", append(auth, s.own(s.publishRuleDraft))...)
	s.handle(fiber.MethodPost, "/v1/merchant/rules/versions/:version/withdraw", append(auth, s.own(s.withdrawRuleVersion))...)
	s.handle(fiber.MethodPost, "/v1/merchant/rules/adopt/:industry", append(auth, s.own(s.adoptRuleTemplate))...)
	// Industry templates: set by the operator, adopted as drafts.
	s.handle(fiber.MethodPut, "/v1/operator/rule-templates/:industry", op, s.setRuleTemplate)
	s.handle(fiber.MethodPost, "/v1/operator/merchants/:merchant/rules/adopt/:industry", op, s.adoptRuleTemplate)
	s.handle(fiber.MethodGet, "/v1/public/rule-templates", s.limitByAddress("public"), s.publicRuleTemplates)
	s.handle(fiber.MethodGet, "/v1/public/rules/:merchant", s.limitByAddress("public"), s.publicRuleLog)
	s.handle(fiber.MethodGet, "/v1/public/rules/:merchant/feed.atom", s.limitByAddress("public"), s.publicRuleFeed)
}

// localRulesMerchant is the merchant a signed rules route acts for.
const localRulesMerchant = "rules_merchant"

// own runs an operator rules handler for the signed merchant itself.
func (s *Server) own(h fiber.Handler) fiber.Handler {
	return func(c *fiber.Ctx) error {
		c.Locals(localRulesMerchant, merchantID(c))
		return h(c)
	}
}

// rulesMerchant is the merchant a rules route acts on: the signed
// merchant, or the one in the operator's path.
func (s *Server) rulesMerchant(c *fiber.Ctx) (merchant.Merchant, error) {
	if id, ok := c.Locals(localRulesMerchant).(string); ok && id != "" {
		m, err := s.merchants.GetMerchant(c.UserContext(), id)
		if err != nil {
			return merchant.Merchant{}, mapMerchantErr(err)
		}
		return m, nil
	}
	return s.pathMerchant(c)
}

// mapRulesErr turns a rules refusal into the error model.
func mapRulesErr(err error) error {
	var re *rules.Error
	if errors.As(err, &re) {
		e := Errorf(re.Status, re.Code, "%s", re.Message)
		if !re.Earliest.IsZero() {
			e.EarliestEffectiveAt = re.Earliest.UTC().Format(time.RFC3339Nano)
		}
		return e
	}
	return mapPointsErr(err)
}

func (s *Server) listRuleVersions(c *fiber.Ctx) error {
	m, err := s.rulesMerchant(c)
	if err != nil {
		return err
	}
	vs, err := s.rules.Versions(c.UserContext(), m.ID)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"versions": vs})
}

func (s *Server) createRuleDraft(c *fiber.Ctx) error {
	var req rules.Draft
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	m, err := s.rulesMerchant(c)
	if err != nil {
		return err
	}
	v, err := s.rules.CreateDraft(c.UserContext(), m.ID, req, actor(c))
	if err != nil {
		return mapRulesErr(err)
	}
	return c.Status(fiber.StatusCreated).JSON(v)
}

type publishRequest struct {
	// EffectiveAt is when the version takes effect (absent: at once, if
	// the notice check allows it).
	EffectiveAt *time.Time `json:"effective_at"`
}

func (s *Server) publishRuleDraft(c *fiber.Ctx) error {
	var req publishRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	m, err := s.rulesMerchant(c)
	if err != nil {
		return err
	}
	id, err := strconv.ParseInt(c.Params("draft"), 10, 64)
	if err != nil || id <= 0 {
		return Errorf(404, rules.CodeVersionNotFound, "no such draft")
	}
	var at time.Time
	if req.EffectiveAt != nil {
		at = *req.EffectiveAt
	}
	p, err := s.rules.Publish(c.UserContext(), m.ID, m.Industry, id, at, actor(c))
	if err != nil {
		return mapRulesErr(err)
	}
	s.cache.forget(m.ID, "")
	return c.JSON(p)
}

func (s *Server) withdrawRuleVersion(c *fiber.Ctx) error {
	if len(c.Body()) > 0 {
		var req struct{}
		if err := decodeJSON(c, &req); err != nil {
			return err
		}
	}
	m, err := s.rulesMerchant(c)
	if err != nil {
		return err
	}
	n, err := strconv.ParseInt(c.Params("version"), 10, 64)
	if err != nil || n <= 0 {
		return Errorf(404, rules.CodeVersionNotFound, "no such version")
	}
	v, err := s.rules.Withdraw(c.UserContext(), m.ID, n, actor(c))
	if err != nil {
		return mapRulesErr(err)
	}
	s.cache.forget(m.ID, "")
	return c.JSON(v)
}

// setEarning is the flat-rate route kept for compatibility: the body
// becomes a version published at once, so it passes the notice check like
// any publication (a less favourable one is refused with 409
// notice_period_not_met, and nothing is written).
func (s *Server) setEarning(c *fiber.Ctx) error {
	var req points.Earning
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	m, err := s.pathMerchant(c)
	if err != nil {
		return err
	}
	d := rules.Draft{RateBP: req.RateBP, MaxPoints: req.MaxPoints, RulePlugin: req.RulePlugin}
	if _, err := s.rules.PublishNow(c.UserContext(), m.ID, m.Industry, d, actor(c)); err != nil {
		return mapRulesErr(err)
	}
	s.cache.forget(m.ID, "")
	return c.JSON(req)
}

func (s *Server) simulateRuleDraft(c *fiber.Ctx) error {
	var req rules.SimulationRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	m, err := s.rulesMerchant(c)
	if err != nil {
		return err
	}
	id, err := strconv.ParseInt(c.Params("draft"), 10, 64)
	if err != nil || id <= 0 {
		return Errorf(404, rules.CodeVersionNotFound, "no such draft")
	}
	sim, err := s.rules.Simulate(c.UserContext(), m.ID, id, req)
	if err != nil {
		return mapRulesErr(err)
	}
	return c.JSON(sim)
}

// publicRuleFeed is the rule log as an Atom feed (one entry per
// publication and withdrawal), for anyone to subscribe to.
func (s *Server) publicRuleFeed(c *fiber.Ctx) error {
	m, err := s.pathMerchant(c)
	if err != nil {
		return err
	}
	l, err := s.rules.PublicLog(c.UserContext(), m.ID, m.Industry)
	if err != nil {
		return err
	}
	b, err := l.Atom(c.BaseURL()+"/v1/public/rules/"+m.ID+"/feed.atom", s.now())
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, "application/atom+xml; charset=utf-8")
	return c.Send(b)
}

func (s *Server) setRuleTemplate(c *fiber.Ctx) error {
	var req rules.Draft
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	t, err := s.rules.SetTemplate(c.UserContext(), s.db, c.Params("industry"), req, actor(c))
	if err != nil {
		return mapRulesErr(err)
	}
	return c.JSON(t)
}

// adoptRuleTemplate makes a draft of the merchant's rule set from an
// industry's template; publishing it is a separate, notice-checked step.
func (s *Server) adoptRuleTemplate(c *fiber.Ctx) error {
	if len(c.Request().Body()) > 0 {
		var req struct{}
		if err := decodeJSON(c, &req); err != nil {
			return err
		}
	}
	m, err := s.rulesMerchant(c)
	if err != nil {
		return err
	}
	v, err := s.rules.Adopt(c.UserContext(), s.db, m.ID, c.Params("industry"), actor(c))
	if err != nil {
		return mapRulesErr(err)
	}
	return c.Status(fiber.StatusCreated).JSON(v)
}

func (s *Server) publicRuleTemplates(c *fiber.Ctx) error {
	ts, err := s.db.RuleTemplates(c.UserContext())
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"templates": ts})
}

func (s *Server) publicRuleLog(c *fiber.Ctx) error {
	m, err := s.pathMerchant(c)
	if err != nil {
		return err
	}
	l, err := s.rules.PublicLog(c.UserContext(), m.ID, m.Industry)
	if err != nil {
		return err
	}
	return c.JSON(l)
}
