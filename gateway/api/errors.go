package api

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/lianmeng/lianmeng/gateway/store"
)

// Error is an API error: an HTTP status, a stable snake_case code clients
// branch on, and a human message. Every error response has the body
//
//	{"error":{"code":"...","message":"...","request_id":"..."}}
type Error struct {
	Status  int
	Code    string
	Message string
	// RetryAfter, when set, is sent as the Retry-After header (seconds).
	RetryAfter int
	// EarliestEffectiveAt (RFC 3339) goes with notice_period_not_met.
	EarliestEffectiveAt string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Errorf builds an API error.
func Errorf(status int, code, format string, a ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, a...)}
}

// Stable error codes shared by several handlers.
const (
	CodeMalformedJSON    = "malformed_json"
	CodeUnsupportedMedia = "unsupported_media_type"
	CodeBodyTooLarge     = "body_too_large"
	CodeNotFound         = "not_found"
	CodeMethodNotAllowed = "method_not_allowed"
	CodeValidation       = "validation_failed"
	CodeInternal         = "internal"
	CodeStorageFull      = "storage_full"
	CodeUnavailable      = "unavailable"
)

type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	RequestID string `json:"request_id"`
	// EarliestEffectiveAt: the earliest time a refused rule version could
	// take effect (notice_period_not_met only).
	EarliestEffectiveAt string `json:"earliest_effective_at,omitempty"`
}

// errorHandler turns every error a handler or Fiber returns into the error
// model, including Fiber's own 404, 405 and 413.
func (s *Server) errorHandler(c *fiber.Ctx, err error) error {
	var ae *Error
	var fe *fiber.Error
	switch {
	case errors.As(err, &ae):
	case errors.As(err, &fe):
		ae = fromFiber(fe)
	case store.IsStorageFull(err):
		s.log.Error("database storage full", "request_id", requestID(c), "method", c.Method(), "path", c.Path(), "err", err)
		ae = &Error{Status: http.StatusServiceUnavailable, Code: CodeStorageFull, Message: "the ledger's storage is full; nothing was written: retry with the same Idempotency-Key", RetryAfter: 5}
	case store.IsUnavailable(err):
		// The database is down, restarting or out of connections: nothing
		// was committed, and a retry with the same key will do it once.
		s.log.Warn("database unavailable", "request_id", requestID(c), "method", c.Method(), "path", c.Path(), "err", err)
		ae = &Error{Status: http.StatusServiceUnavailable, Code: CodeUnavailable, Message: "the database is not answering; retry with the same Idempotency-Key", RetryAfter: 1}
	default:
		s.log.Error("request failed", "request_id", requestID(c), "method", c.Method(), "path", c.Path(), "err", err)
		ae = Errorf(http.StatusInternalServerError, CodeInternal, "internal error; quote the request id when reporting it")
	}
	if requestID(c) == "" {
		// Errors raised before the middleware ran (e.g. 413 from the
		// HTTP layer) still get an id to quote.
		c.Locals(localRequestID, newRequestID())
	}
	if ae.Status == http.StatusRequestEntityTooLarge && s.inbox != nil && strings.HasPrefix(c.Path(), "/v1/pos/") {
		// A POS's oversized webhook, refused before it was read: kept for
		// the merchant and operator to see.
		s.inbox.Rejections.RecordTooLarge(strings.TrimPrefix(c.Path(), "/v1/pos/"), c.IP(), string(c.Request().Header.UserAgent()), int64(c.Request().Header.ContentLength()))
	}
	if ae.RetryAfter > 0 {
		c.Set(fiber.HeaderRetryAfter, fmt.Sprint(ae.RetryAfter))
	}
	if ae.Status >= 500 && ae.Code != CodeInternal {
		s.log.Warn("request unavailable", "request_id", requestID(c), "code", ae.Code, "message", ae.Message)
	}
	return c.Status(ae.Status).JSON(errorBody{Error: errorDetail{Code: ae.Code, Message: ae.Message, RequestID: requestID(c), EarliestEffectiveAt: ae.EarliestEffectiveAt}})
}

func fromFiber(fe *fiber.Error) *Error {
	switch fe.Code {
	case http.StatusNotFound:
		return Errorf(fe.Code, CodeNotFound, "no such route")
	case http.StatusMethodNotAllowed:
		return Errorf(fe.Code, CodeMethodNotAllowed, "method not allowed on this route")
	case http.StatusRequestEntityTooLarge:
		return Errorf(fe.Code, CodeBodyTooLarge, "request body exceeds the limit")
	case http.StatusUnsupportedMediaType:
		return Errorf(fe.Code, CodeUnsupportedMedia, "%s", fe.Message)
	case http.StatusBadRequest:
		return Errorf(fe.Code, "bad_request", "%s", fe.Message)
	case http.StatusRequestTimeout:
		return Errorf(fe.Code, "request_timeout", "request took too long to arrive")
	case http.StatusTooManyRequests:
		return Errorf(fe.Code, "rate_limited", "too many requests; slow down")
	}
	if fe.Code >= 500 {
		return Errorf(fe.Code, CodeInternal, "internal error")
	}
	return Errorf(fe.Code, "http_"+fmt.Sprint(fe.Code), "%s", fe.Message)
}
