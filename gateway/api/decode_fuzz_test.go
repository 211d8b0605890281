package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
)

// fzDecodeTarget has a field of every kind request bodies use, so the
// strict decoder meets them all. (The routes' own bodies are fuzzed through
// the HTTP app in fuzz_routes_test.go.)
type fzDecodeTarget struct {
	ID     string            `json:"id"`
	Amount int64             `json:"amount"`
	Opt    *int64            `json:"opt,omitempty"`
	Flag   bool              `json:"flag"`
	Ref    fzDecodeRef       `json:"ref"`
	Lines  []fzDecodeRef     `json:"lines,omitempty"`
	Attrs  map[string]string `json:"attrs,omitempty"`
	At     time.Time         `json:"at,omitempty"`
}

type fzDecodeRef struct {
	Kind  string `json:"kind"`
	Value string `json:"value"`
}

// FuzzDecodeJSON feeds arbitrary bodies through the strict decoder: every
// input is either decoded, or refused with a 4xx API error whose code is
// one of the decoder's, never a panic, a 5xx or another error; and
// what it accepts is exactly one JSON object that encoding/json reads the
// same way.
func FuzzDecodeJSON(f *testing.F) {
	for _, seed := range []string{
		`{"id":"A-1","amount":12345,"ref":{"kind":"phone","value":"13800138000"}}`,
		`{"id":"A-1","amount":1,"opt":0,"flag":true,"lines":[{"kind":"x","value":"y"}],"attrs":{"k":"v"},"at":"2026-11-24T12:00:00Z"}`,
		`{"amount":1e3}`, `{"amount":-1}`, `{"amount":99999999999999999999}`, `{"amount":"1"}`, `{"opt":1.5}`,
		`{"ref":"x"}`, `{"at":"yesterday"}`, `{"unknown":1}`, `{"ID":"case"}`, `{"id":"a","id":"b"}`,
		`[]`, `null`, `{`, `{"a":1}{}`, `{} `, ` {}`, "", " ", "\xff", `{"id":"\ud800"}`,
	} {
		f.Add([]byte(seed))
	}
	codes := []string{CodeMalformedJSON, CodeValidation, CodeUnsupportedMedia, CodeInvalidEncoding, CodeDuplicateKey}
	app := fiber.New(fiber.Config{ErrorHandler: func(c *fiber.Ctx, err error) error {
		var ae *Error
		if !errors.As(err, &ae) {
			return c.Status(599).SendString(err.Error())
		}
		return c.Status(ae.Status).SendString(ae.Code)
	}})
	app.Post("/", func(c *fiber.Ctx) error {
		var v fzDecodeTarget
		if err := decodeJSON(c, &v); err != nil {
			return err
		}
		return c.JSON(v)
	})
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest("POST", "/", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json; charset=utf-8")
		resp, err := app.Test(req, -1)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out bytes.Buffer
		out.ReadFrom(resp.Body)
		switch {
		case resp.StatusCode == 200:
			// Accepted: encoding/json (lenient: it ignores unknown fields
			// and is case-insensitive) reads the same values.
			var want fzDecodeTarget
			if err := json.Unmarshal(body, &want); err != nil {
				t.Fatalf("decodeJSON accepted %q, which encoding/json refuses: %v", body, err)
			}
			var got fzDecodeTarget
			if err := json.Unmarshal(out.Bytes(), &got); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(normalizeFz(got), normalizeFz(want)) {
				t.Fatalf("decodeJSON read %q as %+v, encoding/json as %+v", body, got, want)
			}
		case resp.StatusCode >= 400 && resp.StatusCode < 500:
			if !slices.Contains(codes, out.String()) {
				t.Fatalf("status %d code %q for %q, want one of %v", resp.StatusCode, out.String(), body, codes)
			}
		default:
			t.Fatalf("status %d (%s) for %q", resp.StatusCode, out.String(), body)
		}
	})
}

// normalizeFz makes empty and nil collections and time zones compare equal.
func normalizeFz(v fzDecodeTarget) fzDecodeTarget {
	if len(v.Lines) == 0 {
		v.Lines = nil
	}
	if len(v.Attrs) == 0 {
		v.Attrs = nil
	}
	v.At = v.At.UTC()
	return v
}
