package api

import (
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/lianmeng/lianmeng/gateway/points"
	"github.com/lianmeng/lianmeng/gateway/store"
)

// Referral rewards (points/referral.go decides): a member's referral code
// and referral, the operator's funding of the marketing budget the
// rewards are paid from, and the programme's public terms.

func init() {
	operatorScopes[Route{fiber.MethodPost, "/v1/operator/marketing/funding"}] = OperatorFundsWrite
}

func (s *Server) routesReferrals() {
	s.handle(fiber.MethodGet, "/v1/member/referral", s.memberAuth, s.memberReferral)
	s.handle(fiber.MethodPost, "/v1/member/referral/code", s.memberAuth, s.memberReferralCode)
	s.handle(fiber.MethodPost, "/v1/member/referral/referrer", s.memberAuth, s.memberReferrer)
	s.handle(fiber.MethodPost, "/v1/operator/marketing/funding", s.operatorAuth, s.fundMarketing)
	s.handle(fiber.MethodGet, "/v1/public/referral", s.limitByAddress("public"), s.publicReferral)
}

// referralTerms is the programme as published.
type referralTerms struct {
	// Enabled is false when the alliance runs no programme.
	Enabled bool `json:"enabled"`
	// Version names the terms; every reward lot records it.
	Version          string  `json:"version,omitempty"`
	LevelsPermille   []int64 `json:"levels_permille"`
	MonthlyCapPoints int64   `json:"monthly_cap_points"`
}

func (s *Server) referralTerms() referralTerms {
	return publishedTerms(s.svc.ReferralAt(s.now()))
}

func publishedTerms(t *points.ReferralTerms) referralTerms {
	if !t.Enabled() {
		return referralTerms{LevelsPermille: []int64{}}
	}
	return referralTerms{Enabled: true, Version: t.Version(), LevelsPermille: t.LevelsPermille, MonthlyCapPoints: t.MonthlyCapPoints}
}

// scheduledReferral is a published change of the terms not yet in force.
type scheduledReferral struct {
	Terms         referralTerms `json:"terms"`
	EffectiveFrom time.Time     `json:"effective_from"`
	PublishedAt   time.Time     `json:"published_at"`
	// LessFavourable changes wait at least rules.notice_period after
	// their first publication; Changes is the term-by-term diff against
	// the terms in force.
	LessFavourable bool                        `json:"less_favourable"`
	Changes        []points.ReferralTermChange `json:"changes"`
}

type publicReferral struct {
	// Terms are the terms rewards are paid under now.
	Terms referralTerms `json:"terms"`
	// Scheduled is the change published and not yet in force (absent:
	// none).
	Scheduled *scheduledReferral `json:"scheduled,omitempty"`
	// History lists every change of the terms, oldest first, as recorded
	// (and sealed into the evidence log) when a gateway started with them.
	History []points.PublishedReferralTerms `json:"history"`
	// MarketingPoints is what the marketing budget can still pay.
	MarketingPoints int64     `json:"marketing_points"`
	AsOf            time.Time `json:"as_of"`
}

func (s *Server) publicReferral(c *fiber.Ctx) error {
	pts, err := s.svc.MarketingPoints(c.UserContext())
	if err != nil {
		return err
	}
	h, err := s.db.ReferralTermsHistory(c.UserContext())
	if err != nil {
		return err
	}
	out := publicReferral{Terms: s.referralTerms(), History: h, MarketingPoints: pts, AsOf: s.now().UTC().Truncate(time.Second)}
	if _, p := points.ReferralState(h, s.now()); p != nil {
		out.Scheduled = &scheduledReferral{Terms: publishedTerms(p.Terms()), EffectiveFrom: p.EffectiveFrom, PublishedAt: p.Since,
			LessFavourable: p.LessFavourable, Changes: append([]points.ReferralTermChange{}, p.Changes...)}
	}
	return c.JSON(out)
}

type memberReferralView struct {
	Terms referralTerms `json:"terms"`
	// Code is the member's referral code ("" until they ask for one).
	Code string `json:"code"`
	// Referred says whether the member was referred by someone.
	Referred bool `json:"referred"`
}

func (s *Server) memberReferral(c *fiber.Ctx) error {
	code, by, err := s.db.ReferralOf(c.UserContext(), memberID(c))
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(memberReferralView{Terms: s.referralTerms(), Code: code, Referred: by != ""})
}

// submitMember applies a member's own command (no Idempotency-Key: each is
// idempotent in effect, or refused the second time).
func (s *Server) submitMember(c *fiber.Ctx, cmd points.Command, status int) error {
	ctx, cancel := writeContext(c.UserContext())
	defer cancel()
	res := s.writer.Submit(ctx, &store.Op{Command: cmd})
	if res.Err != nil {
		return mapPointsErr(res.Err)
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.Status(status).JSON(res.Value)
}

func (s *Server) memberReferralCode(c *fiber.Ctx) error {
	if len(c.Body()) > 0 {
		var req struct{}
		if err := decodeJSON(c, &req); err != nil {
			return err
		}
	}
	return s.submitMember(c, s.svc.ReferralCodeCommand(memberID(c)), fiber.StatusOK)
}

type referrerRequest struct {
	// Code is the referral code of the member who referred this one.
	Code string `json:"code"`
}

func (s *Server) memberReferrer(c *fiber.Ctx) error {
	var req referrerRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	return s.submitMember(c, s.svc.ReferCommand(memberID(c), req.Code), fiber.StatusCreated)
}

type marketingFundRequest struct {
	AmountFen   int64  `json:"amount_fen"`
	ExternalRef string `json:"external_ref"`
}

func (s *Server) fundMarketing(c *fiber.Ctx) error {
	var req marketingFundRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	cmd := s.svc.FundMarketingCommand(points.FundRequest{AmountFen: req.AmountFen, ExternalRef: req.ExternalRef})
	return s.write(c, operatorWrite(c, "marketing.funded", points.MarketingScope, req), cmd, fiber.StatusCreated)
}
