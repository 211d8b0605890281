package api

import (
	"errors"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"github.com/lianmeng/lianmeng/gateway/config"
	"github.com/lianmeng/lianmeng/gateway/merchant"
	"github.com/lianmeng/lianmeng/gateway/outbox"
	"github.com/lianmeng/lianmeng/gateway/store"
)

// Outbound webhooks (issue 16; gateway/outbox): a merchant registers its
// endpoints, rotates their secrets, sees and replays dead deliveries; the
// operator sees and replays any. Managing endpoints needs the finance scope
// (they receive budget and payable movements); listing needs read.
func init() {
	merchantScopes[Route{fiber.MethodPost, "/v1/merchant/webhooks"}] = merchant.ScopeFinance
	merchantScopes[Route{fiber.MethodGet, "/v1/merchant/webhooks"}] = merchant.ScopeRead
	merchantScopes[Route{fiber.MethodPost, "/v1/merchant/webhooks/:endpoint/rotate"}] = merchant.ScopeFinance
	merchantScopes[Route{fiber.MethodPut, "/v1/merchant/webhooks/:endpoint/status"}] = merchant.ScopeFinance
	merchantScopes[Route{fiber.MethodGet, "/v1/merchant/webhook-deliveries"}] = merchant.ScopeRead
	merchantScopes[Route{fiber.MethodPost, "/v1/merchant/webhook-deliveries/:delivery/replay"}] = merchant.ScopeFinance
	operatorScopes[Route{fiber.MethodGet, "/v1/operator/webhook-deliveries"}] = OperatorRead
	operatorScopes[Route{fiber.MethodPost, "/v1/operator/webhook-deliveries/:delivery/replay"}] = OperatorMerchantsWrite
}

func (s *Server) routesWebhooks() {
	eps := &outbox.Endpoints{DB: s.db, Now: s.now, Targets: outbox.Targets{Development: s.cfg.Environment != config.EnvProduction}}
	h := &webhookHandlers{eps: eps, db: s.db}
	m := []fiber.Handler{s.merchantAuth, s.limitCredential, s.requireScope}
	route := func(method, path string, hs ...fiber.Handler) {
		s.handle(method, path, append(append([]fiber.Handler(nil), m...), hs...)...)
	}
	route(fiber.MethodPost, "/v1/merchant/webhooks", h.register)
	route(fiber.MethodGet, "/v1/merchant/webhooks", h.list)
	route(fiber.MethodPost, "/v1/merchant/webhooks/:endpoint/rotate", h.rotate)
	route(fiber.MethodPut, "/v1/merchant/webhooks/:endpoint/status", h.status)
	route(fiber.MethodGet, "/v1/merchant/webhook-deliveries", h.deliveries)
	route(fiber.MethodPost, "/v1/merchant/webhook-deliveries/:delivery/replay", h.replay)
	s.handle(fiber.MethodGet, "/v1/operator/webhook-deliveries", s.operatorAuth, h.deliveries)
	s.handle(fiber.MethodPost, "/v1/operator/webhook-deliveries/:delivery/replay", s.operatorAuth, h.replay)
}

type webhookHandlers struct {
	eps *outbox.Endpoints
	db  *store.DB
}

// webhookErr maps the outbox's refusals to the error model.
func webhookErr(err error) error {
	var ue *outbox.URLError
	if errors.As(err, &ue) {
		status := fiber.StatusBadRequest
		if ue.Code == outbox.CodeURLForbidden {
			status = fiber.StatusUnprocessableEntity
		}
		return Errorf(status, ue.Code, "%s", ue.Reason)
	}
	var oe *outbox.Error
	if errors.As(err, &oe) {
		status := fiber.StatusUnprocessableEntity
		switch {
		case oe.NotFound:
			status = fiber.StatusNotFound
		case oe.Code == outbox.CodeUnknownEventType:
			status = fiber.StatusBadRequest
		}
		return Errorf(status, oe.Code, "%s", oe.Message)
	}
	return err
}

type registerWebhookRequest struct {
	URL    string   `json:"url"`
	Events []string `json:"events"`
}

func (h *webhookHandlers) register(c *fiber.Ctx) error {
	var req registerWebhookRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	r, err := h.eps.Register(c.UserContext(), merchantID(c), req.URL, req.Events, actor(c))
	if err != nil {
		return webhookErr(err)
	}
	return c.Status(fiber.StatusCreated).JSON(r)
}

func (h *webhookHandlers) list(c *fiber.Ctx) error {
	list, err := h.db.WebhookEndpoints(c.UserContext(), merchantID(c))
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"endpoints": list, "event_types": store.EventTypes()})
}

func (h *webhookHandlers) rotate(c *fiber.Ctx) error {
	r, err := h.eps.Rotate(c.UserContext(), merchantID(c), c.Params("endpoint"), actor(c))
	if err != nil {
		return webhookErr(err)
	}
	return c.JSON(r)
}

type webhookStatusRequest struct {
	Status string `json:"status"`
}

func (h *webhookHandlers) status(c *fiber.Ctx) error {
	var req webhookStatusRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if req.Status != store.EndpointActive && req.Status != store.EndpointDisabled {
		return Errorf(fiber.StatusBadRequest, CodeValidation, "status must be %q or %q", store.EndpointActive, store.EndpointDisabled)
	}
	e, err := h.eps.SetStatus(c.UserContext(), merchantID(c), c.Params("endpoint"), req.Status, actor(c))
	if err != nil {
		return webhookErr(err)
	}
	return c.JSON(e)
}

// deliveries lists deliveries (a merchant's own; the operator's by the
// merchant query parameter), filtered by state and endpoint, id-cursored.
func (h *webhookHandlers) deliveries(c *fiber.Ctx) error {
	f := store.OutboxFilter{MerchantID: merchantID(c), EndpointID: c.Query("endpoint"), State: c.Query("state")}
	if f.MerchantID == "" {
		f.MerchantID = c.Query("merchant")
	}
	switch f.State {
	case "", store.OutboxPending, store.OutboxDelivered, store.OutboxDead:
	default:
		return Errorf(fiber.StatusBadRequest, CodeValidation, "state must be pending, delivered or dead")
	}
	if v := c.Query("after"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return Errorf(fiber.StatusBadRequest, CodeValidation, "after must be a delivery id")
		}
		f.After = n
	}
	f.Limit = 100
	list, err := h.db.OutboxDeliveries(c.UserContext(), f)
	if err != nil {
		return err
	}
	next := ""
	if len(list) == f.Limit {
		next = strconv.FormatInt(list[len(list)-1].ID, 10)
	}
	return c.JSON(fiber.Map{"deliveries": list, "next_after": next})
}

func (h *webhookHandlers) replay(c *fiber.Ctx) error {
	id, err := strconv.ParseInt(c.Params("delivery"), 10, 64)
	if err != nil || id <= 0 {
		return Errorf(fiber.StatusNotFound, outbox.CodeUnknownDelivery, "no dead webhook delivery with this id")
	}
	if err := h.eps.Replay(c.UserContext(), merchantID(c), id, actor(c)); err != nil {
		return webhookErr(err)
	}
	return c.Status(fiber.StatusAccepted).JSON(fiber.Map{"id": id, "state": store.OutboxPending})
}
