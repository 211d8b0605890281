package api

// routesOpenAPI registers GET /v1/openapi.json.
func (s *Server) routesOpenAPI() {}
