package api

import "github.com/gofiber/fiber/v2"

// routesMerchant registers the signed merchant API.
func (s *Server) routesMerchant() {
	s.handle(fiber.MethodGet, "/v1/merchant/me", s.merchantAuth, s.limitCredential, s.requireScope, s.merchantMe)
}

func (s *Server) merchantMe(c *fiber.Ctx) error {
	m, err := s.merchants.GetMerchant(c.UserContext(), merchantID(c))
	if err != nil {
		return err
	}
	return c.JSON(m)
}
