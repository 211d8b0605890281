package api

import (
	"errors"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/lianmeng/lianmeng/gateway/points"
)

// Member consent routes: sign-in with a code sent to the member's phone,
// redemption codes for the member's own session, and SMS consent asked by
// a merchant for members without the app (consent.Service decides).
func (s *Server) routesConsent() {
	s.handle(fiber.MethodPost, "/v1/member/signin", s.limitByAddress("signin"), s.signInStart)
	s.handle(fiber.MethodPost, "/v1/member/signin/verify", s.limitByAddress("signin"), s.signInVerify)
	s.handle(fiber.MethodPost, "/v1/member/signin/channel", s.limitByAddress("signin"), s.signInChannel)
	s.handle(fiber.MethodPost, "/v1/member/redemption-codes", s.memberAuth, s.redemptionCode)
	s.handle(fiber.MethodPost, "/v1/merchant/redeem/consent", s.merchantAuth, s.limitCredential, s.requireScope, s.limitMember, s.redeemConsent)
}

type signInRequest struct {
	Phone string `json:"phone"`
}

type signInVerifyRequest struct {
	Phone string `json:"phone"`
	Code  string `json:"code"`
}

func (s *Server) signInStart(c *fiber.Ctx) error {
	var req signInRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	r, err := s.consent.StartSignIn(c.UserContext(), req.Phone)
	if err != nil {
		return mapPointsErr(err)
	}
	return c.Status(fiber.StatusAccepted).JSON(r)
}

func (s *Server) signInVerify(c *fiber.Ctx) error {
	var req signInVerifyRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	mid, err := s.consent.VerifySignIn(c.UserContext(), req.Phone, req.Code)
	if err != nil {
		return mapPointsErr(err)
	}
	return s.memberSignedIn(c, mid)
}

// channelSignInRequest carries a mini-program's one-time login code.
type channelSignInRequest struct {
	Channel string `json:"channel"` // a configured payment channel plugin (wechatpay, alipay)
	Code    string `json:"code"`    // from wx.login or my.getAuthCode
}

// signInChannel signs a member in with a mini-program login code that the
// channel's plugin exchanges for the user's id; the answer is the SMS
// sign-in's.
func (s *Server) signInChannel(c *fiber.Ctx) error {
	var req channelSignInRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	mid, err := s.consent.SignInWithChannel(c.UserContext(), req.Channel, req.Code)
	if err != nil {
		var pe *points.Error
		if errors.As(err, &pe) && pe.Class == points.Unavailable {
			s.log.Warn("member sign-in through a channel failed", "channel", req.Channel, "request_id", requestID(c), "err", err)
		}
		return mapPointsErr(err)
	}
	return s.memberSignedIn(c, mid)
}

// memberSignedIn answers a sign-in with a member token.
func (s *Server) memberSignedIn(c *fiber.Ctx, memberID string) error {
	exp := s.now().Add(memberTokenTTL).Truncate(time.Second)
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(memberTokenResponse{Token: s.signMemberToken(memberID, scopeMember, exp), MemberID: memberID, Scope: scopeMember, ExpiresAt: exp.UTC()})
}

type redemptionCodeRequest struct {
	// MaxPoints caps what the code may redeem (0: no cap).
	MaxPoints int64 `json:"max_points"`
}

func (s *Server) redemptionCode(c *fiber.Ctx) error {
	var req redemptionCodeRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	rc, err := s.consent.IssueRedemptionCode(c.UserContext(), memberID(c), req.MaxPoints)
	if err != nil {
		return mapPointsErr(err)
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.Status(fiber.StatusCreated).JSON(rc)
}

type redeemConsentRequest struct {
	Member points.Identity `json:"member"`
	Points int64           `json:"points"`
}

// redeemConsent sends the member a code that lets this merchant redeem the
// given points once; the answer is the same for a phone that is no member.
func (s *Server) redeemConsent(c *fiber.Ctx) error {
	var req redeemConsentRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	m, err := s.cache.merchant(c.UserContext(), merchantID(c))
	if err != nil {
		return err
	}
	r, err := s.consent.RequestRedeemConsent(c.UserContext(), m.ID, m.Name, req.Member, req.Points)
	if err != nil {
		return mapPointsErr(err)
	}
	return c.Status(fiber.StatusAccepted).JSON(r)
}
