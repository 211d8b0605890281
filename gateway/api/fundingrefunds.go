package api

import (
	"errors"

	"github.com/gofiber/fiber/v2"

	"github.com/lianmeng/lianmeng/gateway/settlement"
	"github.com/lianmeng/lianmeng/gateway/store"
)

// Funding refunds: a merchant's unused budget back through the channels it
// paid with (gateway/settlement.Refunds). The operator asks; the refund is
// held at once and sent by the worker.
const (
	CodeRefundExceedsBudget = "refund_exceeds_budget"
	CodeNotRefundable       = "funding_not_refundable"
	CodeReserveShort        = "reserve_would_not_cover"
)

func init() {
	operatorScopes[Route{fiber.MethodPost, "/v1/operator/merchants/:merchant/funding-refunds"}] = OperatorFundsWrite
	operatorScopes[Route{fiber.MethodGet, "/v1/operator/merchants/:merchant/funding-refunds"}] = OperatorRead
	operatorScopes[Route{fiber.MethodGet, "/v1/operator/funding-refunds/:refund"}] = OperatorRead
}

func (s *Server) routesFundingRefunds() {
	s.handle(fiber.MethodPost, "/v1/operator/merchants/:merchant/funding-refunds", s.operatorAuth, s.requestFundingRefund)
	s.handle(fiber.MethodGet, "/v1/operator/merchants/:merchant/funding-refunds", s.operatorAuth, s.listFundingRefunds)
	s.handle(fiber.MethodGet, "/v1/operator/funding-refunds/:refund", s.operatorAuth, s.getFundingRefund)
}

type fundingRefundRequest struct {
	// AmountFen 0 (or absent) refunds all the unused budget.
	AmountFen int64  `json:"amount_fen"`
	Reason    string `json:"reason"`
}

type fundingRefundList struct {
	Refunds []store.FundingRefund `json:"refunds"`
}

func (s *Server) requestFundingRefund(c *fiber.Ctx) error {
	if s.refunds == nil {
		return s.fundingUnavailable()
	}
	var req fundingRefundRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	key := c.Get("Idempotency-Key")
	if key == "" {
		return Errorf(400, CodeIdemRequired, "a funding refund needs an Idempotency-Key header (1-128 characters): the same key is the same refund")
	}
	if len(key) > 128 || !printable(key) {
		return Errorf(400, CodeIdemInvalid, "Idempotency-Key must be 1-128 printable ASCII characters")
	}
	m, err := s.pathMerchant(c)
	if err != nil {
		return err
	}
	rf, err := s.refunds.Request(c.UserContext(), settlement.RefundRequest{MerchantID: m.ID, AmountFen: req.AmountFen, Reason: req.Reason,
		IdemKey: key, RequestedBy: actor(c)})
	if err != nil {
		return refundErr(err)
	}
	return c.Status(fiber.StatusAccepted).JSON(rf)
}

func refundErr(err error) error {
	switch {
	case errors.Is(err, settlement.ErrInsufficientBudget):
		return Errorf(422, CodeRefundExceedsBudget, "%s", err.Error())
	case errors.Is(err, settlement.ErrNotRefundable):
		return Errorf(422, CodeNotRefundable, "%s", err.Error())
	case errors.Is(err, settlement.ErrReserveShort):
		return Errorf(422, CodeReserveShort, "%s", err.Error())
	}
	return fundingErr(err)
}

func (s *Server) listFundingRefunds(c *fiber.Ctx) error {
	m, err := s.pathMerchant(c)
	if err != nil {
		return err
	}
	rs, err := s.db.MerchantFundingRefunds(c.UserContext(), m.ID, 100)
	if err != nil {
		return err
	}
	return c.JSON(fundingRefundList{Refunds: rs})
}

func (s *Server) getFundingRefund(c *fiber.Ctx) error {
	rf, err := s.db.GetFundingRefund(c.UserContext(), c.Params("refund"))
	if errors.Is(err, store.ErrFundingRefundNotFound) {
		return Errorf(404, CodeNotFound, "no such funding refund")
	}
	if err != nil {
		return err
	}
	return c.JSON(rf)
}
