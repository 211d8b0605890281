package api

import (
	"bytes"
	"errors"
	"net/http/httptest"
	"testing"

	"github.com/gofiber/fiber/v2"

	"github.com/lianmeng/lianmeng/gateway/config"
	"github.com/lianmeng/lianmeng/gateway/points"
)

// FuzzDecodeEarnRequest feeds arbitrary bodies through the strict decoder
// and the earn validation: every input is either accepted or refused with a
// 4xx API error, never a panic or a 5xx.
func FuzzDecodeEarnRequest(f *testing.F) {
	for _, seed := range []string{
		`{"order_id":"A-1","member":{"kind":"phone","value":"13800138000"},"amount_fen":12345}`,
		`{"order_id":"A-1","member":{"kind":"customer","value":"c"},"amount_fen":1,"points":0,"items":[{"sku":"x","quantity":1,"amount_fen":1}]}`,
		`{"amount_fen":1e3}`, `{"amount_fen":-1}`, `{"amount_fen":99999999999999999999}`, `[]`, `null`, `{`, `{"a":1}{}`, "",
	} {
		f.Add([]byte(seed))
	}
	svc := &points.Service{Policy: config.Default().Points.Policy()}
	app := fiber.New(fiber.Config{ErrorHandler: func(c *fiber.Ctx, err error) error {
		var ae *Error
		if !errors.As(err, &ae) {
			return c.Status(599).SendString(err.Error())
		}
		return c.Status(ae.Status).SendString(ae.Code)
	}})
	app.Post("/", func(c *fiber.Ctx) error {
		var req earnRequest
		if err := decodeJSON(c, &req); err != nil {
			return err
		}
		er := points.EarnRequest{MerchantID: "m", OrderID: req.OrderID, Member: req.Member, AmountFen: req.AmountFen, Points: req.Points}
		if err := svc.ValidateEarn(&er); err != nil {
			return mapPointsErr(err)
		}
		return c.SendStatus(204)
	})
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest("POST", "/", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := app.Test(req, -1)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 204 && (resp.StatusCode < 400 || resp.StatusCode >= 500) {
			t.Fatalf("status %d for %q", resp.StatusCode, body)
		}
	})
}
