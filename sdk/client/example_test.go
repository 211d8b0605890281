package client_test

import (
	"fmt"

	"github.com/lianmeng/lianmeng/sdk/client"
)

// A gateway's refusal read from an answer another HTTP client received.
func ExampleParseError() {
	body := []byte(`{"error":{"code":"insufficient_points","message":"member has 0 spendable points, order needs 50","request_id":"req_1"}}`)
	e := client.ParseError(422, "gateway.example:8080", body, "", "")
	fmt.Println(e.Status, e.Code, e.RequestID)

	e = client.ParseError(503, "gateway.example:8080", []byte("upstream down\n"), "", "2")
	fmt.Println(e.Code, e.Message, e.RetryAfter)
	// Output:
	// 422 insufficient_points req_1
	// http_503 upstream down 2s
}
