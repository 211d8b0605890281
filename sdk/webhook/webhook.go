// Package webhook holds the plain HTTP request a POS or payment channel sent
// to the gateway, and the exact response the gateway should answer with.
package webhook

import "net/http"

// Request is an inbound webhook as received. Header keys are canonical
// (net/http form); Body is the raw bytes, as needed to check signatures.
type Request struct {
	Method     string
	Path       string
	RawQuery   string
	Header     http.Header
	Body       []byte
	RemoteAddr string
}

// Response is sent back verbatim: status, headers and body.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Text returns a response with a text/plain body.
func Text(status int, body string) Response {
	return Response{Status: status, Header: http.Header{"Content-Type": {"text/plain; charset=utf-8"}}, Body: []byte(body)}
}

// JSON returns a response with an already encoded JSON body.
func JSON(status int, body []byte) Response {
	return Response{Status: status, Header: http.Header{"Content-Type": {"application/json"}}, Body: body}
}
