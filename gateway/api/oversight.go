package api

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/lianmeng/lianmeng/gateway/store"
)

// The operator's oversight: the audit log of administrative actions and
// the health of the plugins the gateway runs.

func init() {
	operatorScopes[Route{fiber.MethodGet, "/v1/operator/audit"}] = OperatorRead
	operatorScopes[Route{fiber.MethodGet, "/v1/operator/plugins"}] = OperatorRead
}

func (s *Server) routesOversight() {
	s.handle(fiber.MethodGet, "/v1/operator/audit", s.operatorAuth, s.listAudit)
	s.handle(fiber.MethodGet, "/v1/operator/plugins", s.operatorAuth, s.listPlugins)
}

// PluginStatus is one plugin's health as the operator sees it.
type PluginStatus struct {
	Name     string `json:"name"`
	Kind     string `json:"kind"`
	Required bool   `json:"required"`
	// State is starting, up, down or closed; Circuit closed, open or
	// half_open; Restarts counts the supervisor's restarts.
	State     string `json:"state"`
	Pid       int    `json:"pid,omitempty"`
	Restarts  int    `json:"restarts"`
	Circuit   string `json:"circuit"`
	LastError string `json:"last_error,omitempty"`
}

type pluginList struct {
	Plugins []PluginStatus `json:"plugins"`
}

func (s *Server) listPlugins(c *fiber.Ctx) error {
	out := pluginList{Plugins: []PluginStatus{}}
	if s.plugins != nil {
		out.Plugins = append(out.Plugins, s.plugins()...)
	}
	return c.JSON(out)
}

// auditView is an audit event as listed: its payload is the JSON the
// store recorded (never a secret or a hash).
type auditView struct {
	ID        int64           `json:"id"`
	Kind      string          `json:"kind"`
	Actor     string          `json:"actor"`
	Subject   string          `json:"subject"`
	Payload   json.RawMessage `json:"payload"`
	CreatedAt time.Time       `json:"created_at"`
}

type auditList struct {
	Events     []auditView `json:"events"`
	NextCursor string      `json:"next_cursor,omitempty"`
}

func (s *Server) listAudit(c *fiber.Ctx) error {
	limit, err := pageLimit(c, 100, 500)
	if err != nil {
		return err
	}
	before, err := pageCursor(c)
	if err != nil {
		return err
	}
	evs, err := s.db.RecentAuditEvents(c.UserContext(), before, limit)
	if err != nil {
		return err
	}
	out := auditList{Events: make([]auditView, 0, len(evs))}
	for _, e := range evs {
		p := json.RawMessage(e.Payload)
		if !json.Valid(p) {
			p = json.RawMessage("null")
		}
		out.Events = append(out.Events, auditView{ID: e.ID, Kind: e.Kind, Actor: e.Actor, Subject: e.Subject, Payload: p, CreatedAt: store.FromMicros(e.CreatedAt)})
	}
	if len(evs) == limit {
		out.NextCursor = strconv.FormatInt(evs[len(evs)-1].ID, 10)
	}
	return c.JSON(out)
}
