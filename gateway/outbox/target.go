package outbox

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// Targets is the rule for where webhooks may go (no SSRF). In production
// an endpoint is https, on a public address: its host must not be, nor
// resolve to, a loopback, private, link-local, shared (CGNAT), unspecified
// or multicast address, neither when it is registered nor at each
// connection (a name that later resolves elsewhere is refused by the
// dialer). In development, http and https to loopback are also allowed,
// for local receivers. Redirects are never followed.
type Targets struct {
	// Development allows loopback endpoints (http or https).
	Development bool
	// Resolver looks up host names (net.DefaultResolver if nil).
	Resolver interface {
		LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
	}
}

// Refusal codes of an endpoint URL.
const (
	CodeURLInvalid   = "webhook_url_invalid"
	CodeURLForbidden = "webhook_url_forbidden"
)

// URLError is a refused endpoint URL, with its stable code.
type URLError struct {
	Code, Reason string
}

func (e *URLError) Error() string { return e.Code + ": " + e.Reason }

func invalid(format string, a ...any) error {
	return &URLError{Code: CodeURLInvalid, Reason: fmt.Sprintf(format, a...)}
}

func forbidden(format string, a ...any) error {
	return &URLError{Code: CodeURLForbidden, Reason: fmt.Sprintf(format, a...)}
}

// public reports whether a may receive webhooks in production.
func public(a netip.Addr) bool {
	a = a.Unmap()
	if !a.IsValid() || a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() ||
		a.IsInterfaceLocalMulticast() || a.IsMulticast() || a.IsUnspecified() {
		return false
	}
	for _, p := range blocked {
		if p.Contains(a) {
			return false
		}
	}
	return true
}

// blocked are ranges not covered by netip's predicates: shared address
// space (RFC 6598), "this network", IETF protocol assignments, benchmarking,
// documentation, reserved, and NAT64/6to4/Teredo forms that embed any v4.
var blocked = func() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range []string{"0.0.0.0/8", "100.64.0.0/10", "192.0.0.0/24", "192.0.2.0/24", "198.18.0.0/15", "198.51.100.0/24",
		"203.0.113.0/24", "240.0.0.0/4", "64:ff9b::/96", "64:ff9b:1::/48", "2002::/16", "2001::/32", "2001:db8::/32", "100::/64"} {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}()

func (t Targets) allowed(a netip.Addr) bool {
	if public(a) {
		return true
	}
	return t.Development && a.Unmap().IsLoopback()
}

// Check validates an endpoint URL at registration, resolving its host.
func (t Targets) Check(ctx context.Context, raw string) error {
	if len(raw) > 2048 {
		return invalid("the URL is longer than 2048 bytes")
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" || u.Opaque != "" {
		return invalid("not an absolute URL")
	}
	if u.User != nil {
		return invalid("the URL must not carry credentials")
	}
	if u.Fragment != "" {
		return invalid("the URL must not have a fragment")
	}
	host := u.Hostname()
	if host == "" {
		return invalid("the URL has no host")
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return invalid("the scheme must be https")
	}
	addrs, err := t.resolve(ctx, host)
	if err != nil {
		return invalid("the host %q does not resolve", host)
	}
	loopback := true
	for _, a := range addrs {
		if !t.allowed(a) {
			return forbidden("the host %q resolves to %s, which is not a public address", host, a)
		}
		loopback = loopback && a.Unmap().IsLoopback()
	}
	if u.Scheme == "http" && !(t.Development && loopback) {
		return invalid("the scheme must be https (http only to loopback in development)")
	}
	return nil
}

func (t Targets) resolve(ctx context.Context, host string) ([]netip.Addr, error) {
	if a, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		return []netip.Addr{a}, nil
	}
	if t.Resolver != nil {
		return t.Resolver.LookupNetIP(ctx, "ip", host)
	}
	return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
}

// ErrRedirect is a delivery answered with a redirect, which is never
// followed (it could point anywhere).
var ErrRedirect = errors.New("outbox: the endpoint answered with a redirect; redirects are not followed")

// Client returns the HTTP client deliveries use: it dials only addresses
// the rule allows (checked on the resolved address of every connection),
// follows no redirect, uses no proxy and times out after timeout.
func (t Targets) Client(timeout time.Duration) *http.Client {
	d := &net.Dialer{Timeout: timeout, Control: func(network, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return forbidden("cannot check address %q", address)
		}
		if !t.allowed(ap.Addr()) {
			return forbidden("connection to %s refused: not a public address", ap.Addr())
		}
		return nil
	}}
	tr := &http.Transport{DialContext: d.DialContext, Proxy: nil, ForceAttemptHTTP2: true, MaxIdleConnsPerHost: 2,
		IdleConnTimeout: 90 * time.Second, TLSHandshakeTimeout: timeout, ResponseHeaderTimeout: timeout}
	return &http.Client{Transport: tr, Timeout: timeout, CheckRedirect: func(*http.Request, []*http.Request) error {
		return ErrRedirect
	}}
}
