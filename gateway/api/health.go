package api

import (
	"context"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

func (s *Server) routesHealth(reg *prometheus.Registry) {
	// Process and Go runtime metrics next to ours; ignore "already
	// registered" when the caller registered them.
	_ = reg.Register(collectors.NewGoCollector())
	_ = reg.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	s.handle(fiber.MethodGet, "/healthz", func(c *fiber.Ctx) error {
		return c.JSON(fiber.Map{"status": "ok"})
	})
	s.handle(fiber.MethodGet, "/readyz", s.readyz)
	s.handle(fiber.MethodGet, "/metrics", adaptor.HTTPHandler(promhttp.HandlerFor(reg, promhttp.HandlerOpts{})))
}

type readyResult struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks"`
}

// readyz answers 200 when the database and every required dependency
// answer, 503 otherwise, naming each check's state.
func (s *Server) readyz(c *fiber.Ctx) error {
	ctx, cancel := context.WithTimeout(c.UserContext(), 2*time.Second)
	defer cancel()
	res := readyResult{Status: "ok", Checks: map[string]string{}}
	checks := append([]ReadyCheck{{Name: "database", Check: s.db.Ping}}, s.ready...)
	for _, rc := range checks {
		if err := rc.Check(ctx); err != nil {
			res.Status = "unavailable"
			res.Checks[rc.Name] = err.Error()
			continue
		}
		res.Checks[rc.Name] = "ok"
	}
	if res.Status != "ok" {
		c.Status(fiber.StatusServiceUnavailable)
	}
	return c.JSON(res)
}
