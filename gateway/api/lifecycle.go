package api

import (
	"context"
	"errors"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/lianmeng/lianmeng/gateway/lifecycle"
	"github.com/lianmeng/lianmeng/gateway/rules"
	"github.com/lianmeng/lianmeng/gateway/store"
)

// Leaving the alliance and winding it down (issue 16; gateway/lifecycle).
const (
	CodeNoticeTooShort    = "notice_period_not_met"
	CodeExitAnnounced     = "exit_already_announced"
	CodeWindDownAnnounced = "wind_down_already_announced"
)

func init() {
	operatorScopes[Route{fiber.MethodPost, "/v1/operator/merchants/:merchant/exit"}] = OperatorMerchantsWrite
	operatorScopes[Route{fiber.MethodPost, "/v1/operator/wind-down"}] = OperatorMerchantsWrite
}

func (s *Server) routesLifecycle() {
	s.handle(fiber.MethodPost, "/v1/operator/merchants/:merchant/exit", s.operatorAuth, s.announceExit)
	s.handle(fiber.MethodPost, "/v1/operator/wind-down", s.operatorAuth, s.announceWindDown)
	s.handle(fiber.MethodGet, "/v1/public/lifecycle", s.publicLifecycle)
}

// announcementRequest names the date (absent: the earliest the notice
// period allows) and why.
type announcementRequest struct {
	EffectiveAt *time.Time `json:"effective_at"`
	Reason      string     `json:"reason"`
}

func (r announcementRequest) at() time.Time {
	if r.EffectiveAt == nil {
		return time.Time{}
	}
	return *r.EffectiveAt
}

func lifecycleErr(err error) error {
	switch {
	case errors.Is(err, lifecycle.ErrNoticeTooShort):
		return Errorf(409, CodeNoticeTooShort, "%s", err.Error())
	case errors.Is(err, lifecycle.ErrInvalid):
		return Errorf(400, CodeValidation, "%s", err.Error())
	case errors.Is(err, store.ErrExitExists):
		return Errorf(409, CodeExitAnnounced, "an exit is already announced for this merchant")
	case errors.Is(err, store.ErrWindDownExists):
		return Errorf(409, CodeWindDownAnnounced, "the wind-down is already announced")
	}
	return err
}

func (s *Server) announceExit(c *fiber.Ctx) error {
	var req announcementRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	m, err := s.pathMerchant(c)
	if err != nil {
		return err
	}
	e, err := s.life.AnnounceExit(c.UserContext(), m.ID, req.at(), req.Reason, actor(c))
	if err != nil {
		return lifecycleErr(err)
	}
	return c.Status(fiber.StatusCreated).JSON(e)
}

func (s *Server) announceWindDown(c *fiber.Ctx) error {
	var req announcementRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	w, err := s.life.AnnounceWindDown(c.UserContext(), req.at(), req.Reason, actor(c))
	if err != nil {
		return lifecycleErr(err)
	}
	return c.Status(fiber.StatusCreated).JSON(w)
}

// publicLifecycle is what anyone may know: every exit announced, the
// wind-down and, once done, its report per merchant.
type publicLifecycle struct {
	Exits    []store.MerchantExit `json:"exits"`
	WindDown *store.WindDown      `json:"wind_down"`
	Report   *lifecycle.Report    `json:"wind_down_report"`
}

func (s *Server) publicLifecycle(c *fiber.Ctx) error {
	ctx := c.UserContext()
	exits, err := s.db.MerchantExits(ctx, false, time.Time{})
	if err != nil {
		return err
	}
	out := publicLifecycle{Exits: exits}
	if w, err := s.db.GetWindDown(ctx); err == nil {
		out.WindDown = &w
		if out.Report, err = s.life.WindDownReport(ctx); err != nil {
			return err
		}
	} else if !errors.Is(err, store.ErrWindDownNotFound) {
		return err
	}
	c.Set(fiber.HeaderCacheControl, "public, max-age=5")
	return c.JSON(out)
}

// ruleLogNotices puts a merchant's exit and the wind-down on its public
// rule log (rules.Service.Notices).
func (s *Server) ruleLogNotices(ctx context.Context, merchantID string) ([]rules.Notice, error) {
	var out []rules.Notice
	notice := int64(s.cfg.Rules.NoticePeriod.D() / (24 * time.Hour))
	if e, err := s.db.MerchantExit(ctx, merchantID); err == nil && e.State != store.ExitCancelled {
		out = append(out, rules.Notice{Kind: rules.NoticeMerchantExit, State: e.State, AnnouncedAt: e.AnnouncedAt, EffectiveAt: e.EffectiveAt, NoticeDays: notice,
			Summary: "This merchant leaves the alliance: from the date it no longer issues or accepts points. Points it issued keep their terms and stay redeemable at every other merchant; its unused budget is refunded through its payment channel."})
	} else if err != nil && !errors.Is(err, store.ErrExitNotFound) {
		return nil, err
	}
	if w, err := s.db.GetWindDown(ctx); err == nil {
		out = append(out, rules.Notice{Kind: rules.NoticeWindDown, State: w.State, AnnouncedAt: w.AnnouncedAt, EffectiveAt: w.EffectiveAt, NoticeDays: notice,
			Summary: "The alliance winds down: no new points are issued; members redeem until the date, when remaining points expire and the reserve behind them returns to the merchants that issued them."})
	} else if !errors.Is(err, store.ErrWindDownNotFound) {
		return nil, err
	}
	return out, nil
}
