package api

import (
	"bytes"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/lianmeng/lianmeng/gateway/merchant"
	"github.com/lianmeng/lianmeng/gateway/points"
	"github.com/lianmeng/lianmeng/gateway/settlement"
	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/sdk/webhook"
)

// Funding through payment channels (issue 13; gateway/settlement).
const (
	CodeUnknownChannel     = "unknown_channel"
	CodeChannelUnavailable = "channel_unavailable"
	CodeChannelRefused     = "channel_refused"
	// CodeNotificationRefused answers a channel notification that was not
	// accepted; any 4xx makes the channel deliver it again.
	CodeNotificationRefused = "notification_refused"
	// CodeChannelCannotQuery: the channel's plugin cannot query payments.
	CodeChannelCannotQuery = "channel_cannot_query"
)

// The scopes of the funding routes (registered here, next to the routes).
func init() {
	merchantScopes[Route{fiber.MethodPost, "/v1/merchant/funding"}] = merchant.ScopeFinance
	merchantScopes[Route{fiber.MethodGet, "/v1/merchant/funding/:order"}] = merchant.ScopeFinance
	operatorScopes[Route{fiber.MethodGet, "/v1/operator/channel-notifications"}] = OperatorRead
	// A query may fund a budget, as the fund route does.
	operatorScopes[Route{fiber.MethodPost, "/v1/operator/funding/:order/query"}] = OperatorFundsWrite
}

func (s *Server) routesFunding() {
	s.handle(fiber.MethodPost, "/v1/merchant/funding", s.merchantAuth, s.limitCredential, s.requireScope, s.createFunding)
	s.handle(fiber.MethodGet, "/v1/merchant/funding/:order", s.merchantAuth, s.limitCredential, s.requireScope, s.getFunding)
	s.handle(fiber.MethodPost, "/v1/channels/:channel/notify", s.channelNotify)
	s.handle(fiber.MethodGet, "/v1/operator/channel-notifications", s.operatorAuth, s.listChannelNotifications)
	s.handle(fiber.MethodPost, "/v1/operator/funding/:order/query", s.operatorAuth, s.queryFunding)
}

// fundingOrder is a funding order as the API shows it.
type fundingOrder struct {
	ID         string    `json:"id"`
	Channel    string    `json:"channel"`
	AmountFen  int64     `json:"amount_fen"`
	Status     string    `json:"status"`
	QRCode     string    `json:"qr_code,omitempty"`
	ChannelRef string    `json:"channel_ref,omitempty"`
	FundTxID   int64     `json:"fund_tx_id,omitempty"`
	Failure    string    `json:"failure,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
	// The last time the gateway asked the channel about the order (its
	// notification being overdue) and what the channel answered.
	QueriedAt    *time.Time `json:"queried_at,omitempty"`
	QueryOutcome string     `json:"query_outcome,omitempty"`
}

func fundingOrderJSON(o store.FundingOrder) fundingOrder {
	f := fundingOrder{ID: o.ID, Channel: o.Channel, AmountFen: o.AmountFen, Status: o.Status, QRCode: o.QRCode,
		ChannelRef: o.ChannelRef, FundTxID: o.FundTxID, Failure: o.Failure, CreatedAt: o.CreatedAt, UpdatedAt: o.UpdatedAt,
		QueryOutcome: o.QueryOutcome}
	if !o.QueriedAt.IsZero() {
		f.QueriedAt = &o.QueriedAt
	}
	return f
}

// fundingQuery is the answer to an operator's query of a funding order.
type fundingQuery struct {
	Order   fundingOrder `json:"order"`
	Outcome string       `json:"outcome"`
	Detail  string       `json:"detail,omitempty"`
}

// queryFunding asks the order's channel what became of its payment and
// applies the answer (settlement.Funding.Query): how an operator settles a
// funding whose notification never came without waiting for the sweep.
func (s *Server) queryFunding(c *fiber.Ctx) error {
	if s.funding == nil {
		return s.fundingUnavailable()
	}
	r, err := s.funding.Query(c.UserContext(), c.Params("order"))
	switch {
	case errors.Is(err, store.ErrFundingOrderNotFound):
		return Errorf(404, CodeNotFound, "no such funding order")
	case errors.Is(err, settlement.ErrQueryUnsupported):
		return Errorf(409, CodeChannelCannotQuery, "the order's payment channel plugin cannot query payments; its notification is the only word")
	case errors.Is(err, settlement.ErrUnknownChannel):
		return Errorf(409, CodeUnknownChannel, "the order's payment channel is no longer configured")
	case errors.Is(err, settlement.ErrChannelUnavailable):
		return &Error{Status: 503, Code: CodeChannelUnavailable, Message: "the payment channel cannot be reached now; nothing changed, ask again later", RetryAfter: 30}
	case err != nil:
		return err
	}
	return c.JSON(fundingQuery{Order: fundingOrderJSON(r.Order), Outcome: r.Outcome, Detail: r.Detail})
}

func (s *Server) fundingUnavailable() error {
	return Errorf(fiber.StatusServiceUnavailable, CodeChannelUnavailable, "no payment channel is configured on this gateway")
}

type createFundingRequest struct {
	Channel   string `json:"channel"`
	AmountFen int64  `json:"amount_fen"`
}

// createFunding starts a top-up: the answer carries the QR code the
// merchant pays; the budget grows when the channel confirms the payment.
func (s *Server) createFunding(c *fiber.Ctx) error {
	if s.funding == nil {
		return s.fundingUnavailable()
	}
	var req createFundingRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	key := c.Get("Idempotency-Key")
	if key == "" {
		return Errorf(400, CodeIdemRequired, "a funding needs an Idempotency-Key header (1-128 characters): the same key is the same order")
	}
	if len(key) > 128 || !printable(key) {
		return Errorf(400, CodeIdemInvalid, "Idempotency-Key must be 1-128 printable ASCII characters")
	}
	mid := merchantID(c)
	o, err := s.funding.Create(c.UserContext(), settlement.FundingRequest{MerchantID: mid, Channel: req.Channel,
		AmountFen: req.AmountFen, IdemKey: key, CreatedBy: "merchant:" + mid})
	if err != nil {
		return fundingErr(err)
	}
	return c.Status(fiber.StatusCreated).JSON(fundingOrderJSON(o))
}

func fundingErr(err error) error {
	switch {
	case errors.Is(err, settlement.ErrInvalid):
		return Errorf(400, CodeValidation, "%s", err.Error())
	case errors.Is(err, settlement.ErrUnknownChannel):
		return Errorf(400, CodeUnknownChannel, "%s", err.Error())
	case errors.Is(err, settlement.ErrIdempotencyConflict):
		return Errorf(409, CodeIdemConflict, "this Idempotency-Key was used for another funding (channel or amount)")
	case errors.Is(err, settlement.ErrChannelRefused):
		return Errorf(502, CodeChannelRefused, "%s", err.Error())
	case errors.Is(err, settlement.ErrChannelUnavailable):
		return &Error{Status: 503, Code: CodeChannelUnavailable, Message: "the payment channel cannot be reached now; retry with the same Idempotency-Key", RetryAfter: 30}
	}
	if pe := (*points.Error)(nil); errors.As(err, &pe) { // alliance_winding_down
		return mapPointsErr(err)
	}
	return err
}

func (s *Server) getFunding(c *fiber.Ctx) error {
	if s.funding == nil {
		return s.fundingUnavailable()
	}
	o, err := s.db.FundingOrder(c.UserContext(), c.Params("order"))
	if errors.Is(err, store.ErrFundingOrderNotFound) || err == nil && o.MerchantID != merchantID(c) {
		return Errorf(404, CodeNotFound, "no such funding order")
	}
	if err != nil {
		return err
	}
	return c.JSON(fundingOrderJSON(o))
}

// channelNotify takes a channel's asynchronous notification and answers
// the channel's own acknowledgement after any funding it carries is
// durable; a refusal is a 4xx in the error model, which every channel
// takes as "deliver again". It needs no credential: the channel plugin verifies the
// channel's signature.
func (s *Server) channelNotify(c *fiber.Ctx) error {
	if s.funding == nil {
		return Errorf(404, CodeNotFound, "no such route")
	}
	h := http.Header{}
	for k, v := range c.Request().Header.All() {
		h.Add(string(k), string(v))
	}
	uri := c.Request().URI()
	req := webhook.Request{Method: c.Method(), Path: string(uri.PathOriginal()), RawQuery: string(uri.QueryString()),
		Header: h, Body: bytes.Clone(c.Request().Body()), RemoteAddr: c.IP()}
	res, err := s.funding.Notify(c.UserContext(), c.Params("channel"), req)
	switch {
	case errors.Is(err, settlement.ErrUnknownChannel):
		return Errorf(404, CodeNotFound, "no such route")
	case errors.Is(err, settlement.ErrNotificationRefused):
		var re *settlement.RefusedError
		outcome := "refused"
		if errors.As(err, &re) {
			outcome = re.Outcome
		}
		return Errorf(400, CodeNotificationRefused, "notification not accepted (%s); it was recorded and nothing was credited", outcome)
	case errors.Is(err, settlement.ErrChannelUnavailable):
		s.log.Warn("channel notification not taken", "channel", c.Params("channel"), "request_id", requestID(c), "err", err)
		return &Error{Status: 503, Code: CodeChannelUnavailable, Message: "the notification could not be verified now; send it again later", RetryAfter: 30}
	case err != nil:
		return err
	}
	for k, vs := range res.Header {
		for _, v := range vs {
			c.Response().Header.Add(k, v)
		}
	}
	return c.Status(res.Status).Send(res.Body)
}

func (s *Server) listChannelNotifications(c *fiber.Ctx) error {
	limit := 100
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return Errorf(400, CodeValidation, "limit must be 1-1000")
		}
		limit = n
	}
	ns, err := s.db.ChannelNotifications(c.UserContext(), c.Query("transaction_id"), limit)
	if err != nil {
		return err
	}
	if ns == nil {
		ns = []store.ChannelNotification{}
	}
	return c.JSON(fiber.Map{"notifications": ns})
}
