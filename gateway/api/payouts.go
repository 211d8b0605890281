package api

import (
	"errors"

	"github.com/gofiber/fiber/v2"

	"github.com/lianmeng/lianmeng/gateway/merchant"
	"github.com/lianmeng/lianmeng/gateway/settlement"
	"github.com/lianmeng/lianmeng/gateway/store"
)

// Payouts of merchants' payables (issue 13; gateway/settlement). Members
// never withdraw points as cash: no route here or anywhere does that.
const (
	CodePayoutExceedsPayable = "payout_exceeds_payable"
	CodeNoPayoutAccount      = "no_payout_account"
)

func init() {
	merchantScopes[Route{fiber.MethodPost, "/v1/merchant/payouts"}] = merchant.ScopeFinance
	merchantScopes[Route{fiber.MethodGet, "/v1/merchant/payouts"}] = merchant.ScopeFinance
	operatorScopes[Route{fiber.MethodPut, "/v1/operator/merchants/:merchant/payout-accounts"}] = OperatorMerchantsWrite
}

func (s *Server) routesPayouts() {
	mw := []fiber.Handler{s.merchantAuth, s.limitCredential, s.requireScope}
	s.handle(fiber.MethodPost, "/v1/merchant/payouts", append(mw, s.requestPayout)...)
	s.handle(fiber.MethodGet, "/v1/merchant/payouts", append(mw, s.listPayouts)...)
	s.handle(fiber.MethodPut, "/v1/operator/merchants/:merchant/payout-accounts", s.operatorAuth, s.setPayoutAccounts)
}

type payoutRequest struct {
	AmountFen int64 `json:"amount_fen"`
}

type payoutList struct {
	Payouts []store.Payout `json:"payouts"`
}

func (s *Server) requestPayout(c *fiber.Ctx) error {
	if s.payouts == nil {
		return s.fundingUnavailable()
	}
	var req payoutRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	key := c.Get("Idempotency-Key")
	if key == "" {
		return Errorf(400, CodeIdemRequired, "a payout needs an Idempotency-Key header (1-128 characters): the same key is the same payout")
	}
	if len(key) > 128 || !printable(key) {
		return Errorf(400, CodeIdemInvalid, "Idempotency-Key must be 1-128 printable ASCII characters")
	}
	po, err := s.payouts.Request(c.UserContext(), settlement.PayoutRequest{MerchantID: merchantID(c), AmountFen: req.AmountFen, IdemKey: key})
	switch {
	case errors.Is(err, settlement.ErrInsufficientPayable):
		return Errorf(422, CodePayoutExceedsPayable, "%s", err.Error())
	case errors.Is(err, settlement.ErrNoPayoutAccount):
		return Errorf(422, CodeNoPayoutAccount, "no payout account is set for this merchant; the operator sets them")
	case err != nil:
		return fundingErr(err)
	}
	return c.Status(fiber.StatusCreated).JSON(po)
}

func (s *Server) listPayouts(c *fiber.Ctx) error {
	ps, err := s.db.MerchantPayouts(c.UserContext(), merchantID(c), 100)
	if err != nil {
		return err
	}
	if ps == nil {
		ps = []store.Payout{}
	}
	return c.JSON(payoutList{Payouts: ps})
}

type payoutAccounts struct {
	Accounts []store.PayoutAccount `json:"accounts"`
}

var payeeTypes = map[string]bool{"wechat_openid": true, "alipay_user_id": true, "alipay_account": true, "bank_account": true}

func (s *Server) setPayoutAccounts(c *fiber.Ctx) error {
	var req payoutAccounts
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	m, err := s.pathMerchant(c)
	if err != nil {
		return err
	}
	if len(req.Accounts) > 4 {
		return Errorf(400, CodeValidation, "at most 4 payout accounts (a primary and its fallbacks)")
	}
	for i, a := range req.Accounts {
		if a.Channel == "" || len(a.Channel) > 64 || !payeeTypes[a.PayeeType] || a.Account == "" || len(a.Account) > 128 || len(a.Name) > 128 || len(a.Bank) > 128 {
			return Errorf(400, CodeValidation, "accounts[%d]: channel (1-64), payee_type (wechat_openid, alipay_user_id, alipay_account, bank_account) and account (1-128) are required; name and bank at most 128", i)
		}
	}
	if req.Accounts == nil {
		req.Accounts = []store.PayoutAccount{}
	}
	if err := s.db.SetPayoutAccounts(c.UserContext(), m.ID, req.Accounts); err != nil {
		return err
	}
	return c.JSON(req)
}
