package api

import (
	_ "embed"

	"github.com/gofiber/fiber/v2"
)

// openAPIDoc is the OpenAPI 3 document of every route (DESIGN §10). It is
// written by hand: when you add or change a route, document it in
// openapi.json; TestOpenAPI fails for any registered route the document
// lacks and for any documented operation no route serves.
//
//go:embed openapi.json
var openAPIDoc []byte

// OpenAPIDocument returns a copy of the OpenAPI document served at
// GET /v1/openapi.json.
func OpenAPIDocument() []byte { return append([]byte(nil), openAPIDoc...) }

// routesOpenAPI registers GET /v1/openapi.json.
func (s *Server) routesOpenAPI() {
	s.handle(fiber.MethodGet, "/v1/openapi.json", func(c *fiber.Ctx) error {
		c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
		c.Set(fiber.HeaderCacheControl, "public, max-age=300")
		return c.Send(openAPIDoc)
	})
}
