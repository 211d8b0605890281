package web

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"regexp"

	"github.com/gofiber/fiber/v2"

	"github.com/lianmeng/lianmeng/gateway/settlement"
	"github.com/lianmeng/lianmeng/gateway/staff"
	"github.com/lianmeng/lianmeng/gateway/store"
)

// Budget top-ups through a payment channel, on the finance page (owner and
// finance). The order is made by settlement.Funding.Create, as
// POST /v1/merchant/funding makes it; the budget grows only when the
// channel's verified notification reaches /v1/channels/{channel}/notify
// (settlement.Funding.Notify): the console never credits anything itself.

func (k *Console) registerFunding(r fiber.Router) {
	r.Post("/merchant/funding", k.require(staff.ViewFinance), k.checkCSRF, k.createFunding)
	r.Get("/merchant/funding/:order", k.require(staff.ViewFinance), k.fundingPage)
}

// financeData is the finance page: the account, and the top-up form when
// a payment channel is configured (Idem names the form: submitting it
// twice makes one order).
type financeData struct {
	Account  any
	Channels []string
	Idem     string
}

func (k *Console) renderFinance(c *fiber.Ctx, status int, msg string) error {
	s := sessionOf(c)
	a, err := k.Points.MerchantAccount(c.UserContext(), s.MerchantID)
	if err != nil {
		return err
	}
	d := financeData{Account: a}
	if k.Funding != nil {
		var b [12]byte
		if _, err := rand.Read(b[:]); err != nil {
			return err
		}
		d.Channels, d.Idem = k.FundingChannels, hex.EncodeToString(b[:])
	}
	return k.render(c, status, "finance", page{Title: "资金 Finance", Session: s, Message: msg, Data: d})
}

var idemForm = regexp.MustCompile(`^[0-9a-f]{24}$`)

func (k *Console) createFunding(c *fiber.Ctx) error {
	s := sessionOf(c)
	if k.Funding == nil {
		return k.renderFinance(c, 503, "[channel_unavailable] 本网关未配置支付渠道。No payment channel is configured on this gateway.")
	}
	fen, ok := parseYuan(c.FormValue("amount"))
	if !ok || fen <= 0 {
		return k.renderFinance(c, 400, "[validation_failed] 金额须为正数（元），最多两位小数。The amount must be a positive number of yuan with at most two decimals.")
	}
	idem := c.FormValue("idem")
	if !idemForm.MatchString(idem) {
		return k.renderFinance(c, 400, "[validation_failed] 表单已失效，请重新提交。The form is stale; submit it again.")
	}
	o, err := k.Funding.Create(c.UserContext(), settlement.FundingRequest{MerchantID: s.MerchantID, Channel: c.FormValue("channel"),
		AmountFen: fen, IdemKey: "console:" + idem, CreatedBy: "staff:" + s.StaffID})
	switch {
	case errors.Is(err, settlement.ErrInvalid), errors.Is(err, settlement.ErrUnknownChannel), errors.Is(err, settlement.ErrIdempotencyConflict):
		return k.renderFinance(c, 400, "[validation_failed] "+err.Error())
	case errors.Is(err, settlement.ErrChannelRefused):
		return k.renderFinance(c, 502, "[channel_refused] "+err.Error())
	case errors.Is(err, settlement.ErrChannelUnavailable):
		return k.renderFinance(c, 503, "[channel_unavailable] 支付渠道暂时无法连接，未做任何更改，请稍后再试。The payment channel cannot be reached now; nothing changed, try again later.")
	case err != nil:
		return err
	}
	return c.Redirect("/merchant/funding/"+o.ID, fiber.StatusSeeOther)
}

// fundingView is a funding order's page: its state and, while it waits
// for payment, the channel's code and its link when the code holds one.
type fundingView struct {
	Order   store.FundingOrder
	PayURL  string
	Waiting bool
}

var payLink = regexp.MustCompile(`https?://[^\s"'<>]+`)

func (k *Console) fundingPage(c *fiber.Ctx) error {
	s := sessionOf(c)
	o, err := k.DB.FundingOrder(c.UserContext(), c.Params("order"))
	if errors.Is(err, store.ErrFundingOrderNotFound) || err == nil && o.MerchantID != s.MerchantID {
		return k.fail(c, 404, s, "没有这个充值单。No such top-up.")
	} else if err != nil {
		return err
	}
	v := fundingView{Order: o, Waiting: o.Status == store.FundingPending || o.Status == store.FundingCreated}
	v.PayURL = payLink.FindString(o.QRCode)
	return k.render(c, 200, "funding", page{Title: "充值 Top-up", Session: s, Data: v})
}
