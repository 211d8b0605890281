package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// decodeJSON strictly decodes the request body into v: the content type
// must be JSON and the body is the raw bytes as sent (a Content-Encoding is
// refused, never decoded); text must be UTF-8 without lone surrogate
// escapes, keys may not repeat (nor differ only in case) and must name a
// field exactly; unknown fields and trailing data are refused, and numbers
// that do not fit the target integer are a validation error, not a silent
// wrap-around.
func decodeJSON(c *fiber.Ctx, v any) error {
	if err := checkHeaders(&c.Request().Header); err != nil {
		return err
	}
	if !isJSON(c.Get(fiber.HeaderContentType)) {
		return Errorf(fiber.StatusUnsupportedMediaType, CodeUnsupportedMedia, "Content-Type must be application/json")
	}
	body := rawBody(c)
	if len(bytes.TrimSpace(body)) == 0 {
		return Errorf(fiber.StatusBadRequest, CodeMalformedJSON, "request body is empty; send a JSON object")
	}
	if err := checkJSON(body, reflect.TypeOf(v)); err != nil {
		return err
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

// rawBody is the request body exactly as it arrived (de-chunked, never
// decompressed). Everything that hashes, verifies or decodes the body uses
// it: Fiber's c.Body() would inflate a Content-Encoding, layer after layer,
// without an output limit.
func rawBody(c *fiber.Ctx) []byte { return c.Request().Body() }

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
