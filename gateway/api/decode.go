package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// decodeJSON strictly decodes the request body into v: the content type
// must be JSON, unknown fields and trailing data are refused, and numbers
// that do not fit the target integer are a validation error, not a silent
// wrap-around.
func decodeJSON(c *fiber.Ctx, v any) error {
	ct := strings.ToLower(strings.TrimSpace(strings.Split(c.Get(fiber.HeaderContentType), ";")[0]))
	if ct != fiber.MIMEApplicationJSON {
		return Errorf(fiber.StatusUnsupportedMediaType, CodeUnsupportedMedia, "Content-Type must be application/json")
	}
	body := c.Body()
	if len(bytes.TrimSpace(body)) == 0 {
		return Errorf(fiber.StatusBadRequest, CodeMalformedJSON, "request body is empty; send a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Errorf(fiber.StatusBadRequest, CodeMalformedJSON, "unexpected data after the JSON object")
	}
	return nil
}

func jsonError(err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return Errorf(fiber.StatusBadRequest, CodeMalformedJSON, "malformed JSON at byte %d", se.Offset)
	case errors.As(err, &te):
		if te.Value == "number" || strings.HasPrefix(te.Value, "number ") {
			return Errorf(fiber.StatusBadRequest, CodeValidation, "field %q: %s is not a valid %s (amounts are integers in fen, points are integers)", te.Field, te.Value, te.Type)
		}
		return Errorf(fiber.StatusBadRequest, CodeValidation, "field %q must be %s, got %s", te.Field, te.Type, te.Value)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return Errorf(fiber.StatusBadRequest, CodeMalformedJSON, "truncated JSON")
	case strings.HasPrefix(err.Error(), "json: unknown field"):
		return Errorf(fiber.StatusBadRequest, CodeValidation, "%s", strings.TrimPrefix(err.Error(), "json: "))
	}
	return Errorf(fiber.StatusBadRequest, CodeMalformedJSON, "%s", fmt.Sprint(err))
}
