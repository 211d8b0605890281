package api

import (
	"context"
	"errors"
	"time"

	"github.com/gofiber/fiber/v2"
)

// Readiness states of one check in /readyz.
const (
	ReadyOK       = "ok"
	ReadyDegraded = "degraded"
	ReadyFailing  = "failing"
)

// ErrDegraded marks a readiness check's error as "degraded" rather than
// "failing": the gateway still serves, impaired. A check returns an error
// wrapping it (fmt.Errorf("...: %w", api.ErrDegraded)); /readyz then
// answers 200 with status "degraded".
var ErrDegraded = errors.New("degraded")

func (s *Server) routesHealth() {
	s.handle(fiber.MethodGet, "/healthz", func(c *fiber.Ctx) error {
		return c.JSON(fiber.Map{"status": "ok"})
	})
	s.handle(fiber.MethodGet, "/readyz", s.readyz)
}

type readyResult struct {
	// Status is "ok", "degraded" (200) or "unavailable" (503).
	Status string `json:"status"`
	// Checks maps each check to "ok", "degraded" or "failing".
	Checks map[string]string `json:"checks"`
}

// readyz answers 200 when the database and every required dependency
// answer, 503 otherwise, naming each check's state. The reason a check
// fails is logged, never answered: /readyz is public, and an error's text
// can name hosts, files or credentials.
func (s *Server) readyz(c *fiber.Ctx) error {
	ctx, cancel := context.WithTimeout(c.UserContext(), 2*time.Second)
	defer cancel()
	res := readyResult{Status: "ok", Checks: map[string]string{}}
	checks := append([]ReadyCheck{{Name: "database", Check: s.db.Ping}}, s.ready...)
	for _, rc := range checks {
		err := rc.Check(ctx)
		switch {
		case err == nil:
			res.Checks[rc.Name] = ReadyOK
			continue
		case errors.Is(err, ErrDegraded):
			res.Checks[rc.Name] = ReadyDegraded
			if res.Status == "ok" {
				res.Status = "degraded"
			}
		default:
			res.Checks[rc.Name] = ReadyFailing
			res.Status = "unavailable"
		}
		s.log.Warn("readiness check "+res.Checks[rc.Name], "check", rc.Name, "request_id", requestID(c), "err", err)
	}
	if res.Status == "unavailable" {
		c.Status(fiber.StatusServiceUnavailable)
	}
	return c.JSON(res)
}
