// Package generic is the configuration-only POS adapter: a connection
// describes how its POS signs webhooks and where the sale is in the body,
// and no code is written. Three stages, each from the connection's
// configuration:
//
//  1. verify, over the raw bytes, before anything is parsed: an HMAC
//     (sha1, sha256, sha512) or a plain digest (md5, sha256) of message
//     parts joined in order ("body", "secret", "url", "header:NAME",
//     "literal:TEXT"), in base64, hex or upper-case hex, in a header,
//     after an optional prefix; or a static token in a header; compared in
//     constant time. An optional signed timestamp header must be within
//     tolerance of the gateway's receive time (pos.ReceivedAt).
//  2. route: a CEL expression over body and headers saying whether the
//     webhook is a sale or refund at all (false: acknowledged, ignored).
//  3. map: CEL expressions, compiled once per configuration, giving the
//     normalized purchase: kind ("SALE" or "REFUND"), order_id,
//     original_order_id, amount_fen, currency, occurred_at, store_id,
//     phone, openid, customer_id, email, event_id, items.
//
// In expressions, body is the decoded JSON (or form) body and headers a map
// of lower-case header names to values. Numbers are never floats: an
// integer literal is an int, a decimal one ("12.50" or 12.50) a string, to
// be converted with toMinor. Helpers: toMinor(amount, currency) → int
// minor units (exact; refuses sub-unit digits), qtyMilli(quantity) → int
// thousandths, normPhone(phone, region) → E.164 (region "CN" turns an
// 11-digit mobile into +86...), parseTime(s) and parseTime(s, zone) →
// timestamp (RFC 3339, or a zone-less "2006-01-02 15:04:05"/"T" form read
// in the IANA zone given, UTC by default).
//
// Example (a POS that signs hex HMAC-SHA256 of the body in X-Sig and posts
// {"event":"order.paid","order":{"id":..,"total":"12.50","phone":..}}):
//
//	{"verify": {"kind": "hmac", "algo": "sha256", "secret": "...", "message": ["body"],
//	            "encoding": "hex", "header": "X-Sig"},
//	 "event_id": "headers['x-event-id']",
//	 "route": "body.event in ['order.paid', 'order.refunded']",
//	 "map": {"kind": "body.event == 'order.refunded' ? 'REFUND' : 'SALE'",
//	         "order_id": "string(body.order.id)", "amount_fen": "toMinor(body.order.total, 'CNY')",
//	         "occurred_at": "parseTime(body.order.paid_at)", "phone": "normPhone(body.order.phone, 'CN')"}}
package generic

import (
	"context"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/common/types/traits"

	"github.com/lianmeng/lianmeng/adapters/internal/decimal"
	"github.com/lianmeng/lianmeng/sdk"
	"github.com/lianmeng/lianmeng/sdk/pos"
	"github.com/lianmeng/lianmeng/sdk/purchase"
	"github.com/lianmeng/lianmeng/sdk/webhook"
)

// Name and Version identify the adapter.
const (
	Name    = "generic"
	Version = "1.0.0"
)

// Plugins is what "lianmeng plugin serve generic" serves.
func Plugins() sdk.Plugins {
	return sdk.Plugins{POSAdapter: &sdk.POSAdapter{
		Info: sdk.Info{Name: Name, Version: Version, Summary: "Configuration-only POS adapter: signature scheme, routing and CEL field mapping per connection",
			ConfigSchema: json.RawMessage(`{"type": "object", "additionalProperties": false}`)},
		New: New,
	}}
}

// Config is a connection's configuration.
type Config struct {
	// Body is "json" (default) or "form"; with form, FormField names a
	// field holding JSON (as Lightspeed's payload), else body is the form.
	Body      string `json:"body"`
	FormField string `json:"form_field"`
	Verify    Verify `json:"verify"`
	// EventID is a CEL expression for the provider's event id (dedupe);
	// empty: the body's hash.
	EventID string `json:"event_id"`
	// Route is a CEL bool: false acknowledges and ignores the webhook.
	Route string            `json:"route"`
	Map   map[string]string `json:"map"`
	// Ack is the body answered to the POS (default empty, status 200).
	Ack string `json:"ack"`
}

// Verify configures signature verification.
type Verify struct {
	Kind      string     `json:"kind"` // hmac, digest, static_token, none
	Algo      string     `json:"algo"` // hmac: sha1|sha256|sha512; digest: md5|sha256
	Secret    string     `json:"secret"`
	Message   []string   `json:"message"`
	Encoding  string     `json:"encoding"` // base64 (default), hex, hex_upper
	Header    string     `json:"header"`
	Prefix    string     `json:"prefix"`
	URL       string     `json:"url"` // the "url" part: the URL as the POS signs it
	Timestamp *Timestamp `json:"timestamp"`
}

// Timestamp is a signed timestamp header checked against the receive time.
type Timestamp struct {
	Header           string `json:"header"`
	Unit             string `json:"unit"` // s (default) or ms
	ToleranceSeconds int64  `json:"tolerance_seconds"`
}

// mapKeys are the outputs of the map stage.
var mapKeys = map[string]bool{"kind": true, "order_id": true, "original_order_id": true, "amount_fen": true, "currency": true,
	"occurred_at": true, "store_id": true, "phone": true, "openid": true, "customer_id": true, "email": true, "items": true}

// Compiled is a checked configuration with its expressions compiled.
type Compiled struct {
	cfg     Config
	eventID cel.Program
	route   cel.Program
	fields  map[string]cel.Program
}

type adapter struct {
	mu    sync.Mutex
	cache map[[32]byte]*Compiled
}

// New is the factory; the plugin configuration has no fields.
func New(_ context.Context, config []byte) (pos.Adapter, error) {
	var c struct{}
	if len(config) > 0 {
		if err := sdk.DecodeConfig(config, &c); err != nil {
			return nil, err
		}
	}
	return &adapter{cache: map[[32]byte]*Compiled{}}, nil
}

// Compile checks a connection configuration and compiles its expressions
// (what the adapter does on first use; dry runs and tests call it).
func Compile(raw []byte) (*Compiled, error) {
	var c Config
	if err := sdk.DecodeConfig(raw, &c); err != nil {
		return nil, err
	}
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", sdk.ErrInvalidConfig, fmt.Sprintf(format, a...))
	}
	switch c.Body {
	case "", "json", "form":
	default:
		return nil, bad("body must be json or form")
	}
	v := c.Verify
	switch v.Kind {
	case "hmac":
		if v.Algo != "sha1" && v.Algo != "sha256" && v.Algo != "sha512" {
			return nil, bad("verify.algo for hmac must be sha1, sha256 or sha512")
		}
	case "digest":
		if v.Algo != "md5" && v.Algo != "sha256" {
			return nil, bad("verify.algo for digest must be md5 or sha256")
		}
	case "static_token", "none":
	default:
		return nil, bad("verify.kind must be hmac, digest, static_token or none")
	}
	if v.Kind != "none" && (v.Secret == "" || v.Header == "") {
		return nil, bad("verify.secret and verify.header are required")
	}
	if v.Kind == "hmac" || v.Kind == "digest" {
		if len(v.Message) == 0 {
			return nil, bad("verify.message lists the signed parts, e.g. [\"body\"]")
		}
		for _, p := range v.Message {
			kind, _, _ := strings.Cut(p, ":")
			if p != "body" && p != "secret" && p != "url" && kind != "header" && kind != "literal" {
				return nil, bad("verify.message part %q: want body, secret, url, header:NAME or literal:TEXT", p)
			}
			if p == "url" && v.URL == "" {
				return nil, bad("verify.url is required when the url is signed")
			}
		}
		switch v.Encoding {
		case "", "base64", "hex", "hex_upper":
		default:
			return nil, bad("verify.encoding must be base64, hex or hex_upper")
		}
	}
	if t := v.Timestamp; t != nil && (t.Header == "" || t.ToleranceSeconds <= 0 || (t.Unit != "" && t.Unit != "s" && t.Unit != "ms")) {
		return nil, bad("verify.timestamp needs header, unit s or ms, and tolerance_seconds > 0")
	}
	env, err := celEnv()
	if err != nil {
		return nil, err
	}
	prog := func(name, src string, want *cel.Type) (cel.Program, error) {
		ast, iss := env.Compile(src)
		if iss.Err() != nil {
			return nil, bad("%s: %v", name, iss.Err())
		}
		if want != nil && !ast.OutputType().IsAssignableType(want) && ast.OutputType() != cel.DynType {
			return nil, bad("%s gives %s, want %s", name, ast.OutputType(), want)
		}
		p, err := env.Program(ast, cel.CostLimit(100_000))
		if err != nil {
			return nil, bad("%s: %v", name, err)
		}
		return p, nil
	}
	out := &Compiled{cfg: c, fields: map[string]cel.Program{}}
	if c.EventID != "" {
		if out.eventID, err = prog("event_id", c.EventID, cel.StringType); err != nil {
			return nil, err
		}
	}
	if c.Route != "" {
		if out.route, err = prog("route", c.Route, cel.BoolType); err != nil {
			return nil, err
		}
	}
	for _, k := range []string{"order_id", "amount_fen", "occurred_at"} {
		if c.Map[k] == "" {
			return nil, bad("map.%s is required", k)
		}
	}
	for k, src := range c.Map {
		if !mapKeys[k] {
			return nil, bad("map.%s is not an output (want one of kind, order_id, original_order_id, amount_fen, currency, occurred_at, store_id, phone, openid, customer_id, email, items)", k)
		}
		if out.fields[k], err = prog("map."+k, src, nil); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (a *adapter) compiled(raw []byte) (*Compiled, error) {
	key := sha256.Sum256(raw)
	a.mu.Lock()
	c, ok := a.cache[key]
	a.mu.Unlock()
	if ok {
		return c, nil
	}
	c, err := Compile(raw)
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	if len(a.cache) >= 256 {
		clear(a.cache)
	}
	a.cache[key] = c
	a.mu.Unlock()
	return c, nil
}

func (a *adapter) HandleWebhook(_ context.Context, req pos.Request) (pos.Result, error) {
	c, err := a.compiled(req.MerchantConfig)
	if err != nil {
		return pos.Result{}, err
	}
	return c.Handle(req)
}

// Handle runs the three stages on one webhook.
func (c *Compiled) Handle(req pos.Request) (pos.Result, error) {
	if why := c.verify(req); why != "" {
		return pos.Result{Outcome: pos.Rejected, Reason: why, Ack: webhook.Text(http.StatusUnauthorized, "")}, nil
	}
	ack := webhook.Text(http.StatusOK, c.cfg.Ack)
	body, err := c.decodeBody(req.HTTP)
	if err != nil {
		return pos.Result{}, fmt.Errorf("%w: body: %v", sdk.ErrInvalidInput, err)
	}
	headers := map[string]string{}
	for k, vs := range req.HTTP.Header {
		if len(vs) > 0 && !strings.EqualFold(k, pos.HeaderReceivedAt) {
			headers[strings.ToLower(k)] = vs[0]
		}
	}
	vars := map[string]any{"body": body, "headers": headers}
	res := pos.Result{Outcome: pos.Accepted, Ack: ack}
	if c.eventID != nil {
		v, err := eval(c.eventID, vars)
		if err != nil {
			return pos.Result{}, fmt.Errorf("%w: event_id: %v", sdk.ErrInvalidInput, err)
		}
		res.EventID = fmt.Sprint(v)
	}
	if c.route != nil {
		v, err := eval(c.route, vars)
		if err != nil {
			return pos.Result{}, fmt.Errorf("%w: route: %v", sdk.ErrInvalidInput, err)
		}
		if b, ok := v.(bool); !ok || !b {
			res.Outcome, res.Reason = pos.Ignored, "route is false"
			return res, nil
		}
	}
	p, err := c.mapPurchase(vars)
	if err == nil {
		p.MerchantID = req.MerchantID
		err = p.Validate()
	}
	if err != nil {
		return pos.Result{}, fmt.Errorf("%w: map: %v", sdk.ErrInvalidInput, err)
	}
	res.Events = []purchase.Purchase{p}
	return res, nil
}

func (c *Compiled) verify(req pos.Request) string {
	v := c.cfg.Verify
	h := req.HTTP.Header
	if t := v.Timestamp; t != nil {
		n, err := strconv.ParseInt(h.Get(t.Header), 10, 64)
		if err != nil {
			return "no timestamp in " + t.Header
		}
		ts := time.Unix(n, 0)
		if t.Unit == "ms" {
			ts = time.UnixMilli(n)
		}
		at, ok := pos.ReceivedAt(req)
		if !ok {
			at = time.Now()
		}
		if d := at.Sub(ts); d > time.Duration(t.ToleranceSeconds)*time.Second || d < -time.Duration(t.ToleranceSeconds)*time.Second {
			return "timestamp outside the tolerance"
		}
	}
	if v.Kind == "none" {
		return ""
	}
	got, ok := strings.CutPrefix(h.Get(v.Header), v.Prefix)
	if !ok || got == "" {
		return "no signature in " + v.Header
	}
	if v.Kind == "static_token" {
		if subtle.ConstantTimeCompare([]byte(got), []byte(v.Secret)) != 1 {
			return "token does not match"
		}
		return ""
	}
	var m hash.Hash
	switch {
	case v.Kind == "hmac" && v.Algo == "sha1":
		m = hmac.New(sha1.New, []byte(v.Secret))
	case v.Kind == "hmac" && v.Algo == "sha256":
		m = hmac.New(sha256.New, []byte(v.Secret))
	case v.Kind == "hmac":
		m = hmac.New(sha512.New, []byte(v.Secret))
	case v.Algo == "md5":
		m = md5.New()
	default:
		m = sha256.New()
	}
	for _, part := range v.Message {
		switch kind, arg, _ := strings.Cut(part, ":"); {
		case part == "body":
			m.Write(req.HTTP.Body)
		case part == "secret":
			m.Write([]byte(v.Secret))
		case part == "url":
			m.Write([]byte(v.URL))
		case kind == "header":
			m.Write([]byte(h.Get(arg)))
		case kind == "literal":
			m.Write([]byte(arg))
		}
	}
	sum := m.Sum(nil)
	var sig []byte
	var err error
	switch v.Encoding {
	case "hex", "hex_upper":
		sig, err = hex.DecodeString(got)
	default:
		sig, err = base64.StdEncoding.DecodeString(got)
	}
	if err != nil || !hmac.Equal(sig, sum) {
		return "signature does not match"
	}
	return ""
}

func (c *Compiled) decodeBody(r webhook.Request) (any, error) {
	raw := r.Body
	if c.cfg.Body == "form" {
		form, err := url.ParseQuery(string(r.Body))
		if err != nil {
			return nil, err
		}
		if c.cfg.FormField == "" {
			m := map[string]any{}
			for k, vs := range form {
				m[k] = vs[0]
			}
			return m, nil
		}
		raw = []byte(form.Get(c.cfg.FormField))
	}
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, errors.New("trailing data after the JSON value")
	}
	return exact(v), nil
}

// exact replaces JSON numbers: integers that fit become int64, anything
// else (decimals, huge ids) its text, so no value is ever a float.
func exact(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := strconv.ParseInt(x.String(), 10, 64); err == nil {
			return i
		}
		return x.String()
	case map[string]any:
		for k, e := range x {
			x[k] = exact(e)
		}
	case []any:
		for i, e := range x {
			x[i] = exact(e)
		}
	}
	return v
}

func eval(p cel.Program, vars map[string]any) (any, error) {
	out, _, err := p.Eval(vars)
	if err != nil {
		return nil, err
	}
	return out.Value(), nil
}

func (c *Compiled) mapPurchase(vars map[string]any) (purchase.Purchase, error) {
	str := func(k string) (string, error) {
		p, ok := c.fields[k]
		if !ok {
			return "", nil
		}
		v, err := eval(p, vars)
		if err != nil {
			return "", fmt.Errorf("%s: %v", k, err)
		}
		s, ok := v.(string)
		if !ok {
			return "", fmt.Errorf("%s gives %T, want a string", k, v)
		}
		return s, nil
	}
	p := purchase.Purchase{Type: purchase.TypePurchase, Currency: "CNY"}
	kind, err := str("kind")
	if err != nil {
		return p, err
	}
	switch kind {
	case "", "SALE":
	case "REFUND":
		p.Type = purchase.TypeRefund
	default:
		return p, fmt.Errorf("kind %q: want SALE or REFUND", kind)
	}
	for k, dst := range map[string]*string{"order_id": &p.ExternalOrderID, "original_order_id": &p.OriginalOrderID, "store_id": &p.StoreID} {
		if *dst, err = str(k); err != nil {
			return p, err
		}
	}
	if cur, err := str("currency"); err != nil {
		return p, err
	} else if cur != "" {
		p.Currency = cur
	}
	v, err := eval(c.fields["amount_fen"], vars)
	if err != nil {
		return p, fmt.Errorf("amount_fen: %v", err)
	}
	amt, ok := v.(int64)
	if !ok {
		return p, fmt.Errorf("amount_fen gives %T, want an int (use toMinor for decimals)", v)
	}
	p.AmountFen = amt
	if v, err = eval(c.fields["occurred_at"], vars); err != nil {
		return p, fmt.Errorf("occurred_at: %v", err)
	}
	switch t := v.(type) {
	case time.Time:
		p.OccurredAt = t.UTC()
	case string:
		if p.OccurredAt, err = parseTime(t, "UTC"); err != nil {
			return p, fmt.Errorf("occurred_at: %v", err)
		}
	default:
		return p, fmt.Errorf("occurred_at gives %T, want a timestamp", v)
	}
	for _, id := range []struct{ key, typ string }{{"phone", purchase.IdentityPhone}, {"openid", purchase.IdentityWeChatOpenID},
		{"email", "email"}, {"customer_id", "customer_id"}} {
		s, err := str(id.key)
		if err != nil {
			return p, err
		}
		if s != "" {
			p.Members = append(p.Members, purchase.Identity{Type: id.typ, Value: s})
		}
	}
	if ip, ok := c.fields["items"]; ok {
		out, _, err := ip.Eval(vars)
		if err != nil {
			return p, fmt.Errorf("items: %v", err)
		}
		b, err := json.Marshal(native(out))
		if err != nil {
			return p, fmt.Errorf("items: %v", err)
		}
		dec := json.NewDecoder(strings.NewReader(string(b)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&p.Items); err != nil {
			return p, fmt.Errorf("items: each is {sku, name, category, quantity, amount_fen}: %v", err)
		}
	}
	return p, nil
}

// native turns a CEL value into plain Go lists, maps and scalars.
func native(v ref.Val) any {
	switch x := v.(type) {
	case traits.Lister:
		var out []any
		for it := x.Iterator(); it.HasNext() == types.True; {
			out = append(out, native(it.Next()))
		}
		return out
	case traits.Mapper:
		out := map[string]any{}
		for it := x.Iterator(); it.HasNext() == types.True; {
			k := it.Next()
			out[fmt.Sprint(k.Value())] = native(x.Get(k))
		}
		return out
	}
	return v.Value()
}

var celEnv = sync.OnceValues(func() (*cel.Env, error) {
	return cel.NewEnv(
		cel.Variable("body", cel.DynType),
		cel.Variable("headers", cel.MapType(cel.StringType, cel.StringType)),
		cel.Function("toMinor", cel.Overload("toMinor_dyn_string", []*cel.Type{cel.DynType, cel.StringType}, cel.IntType,
			cel.BinaryBinding(func(a, cur ref.Val) ref.Val {
				var s string
				switch x := a.Value().(type) {
				case int64:
					s = strconv.FormatInt(x, 10)
				case string:
					s = x
				default:
					return types.NewErr("toMinor: want a decimal string or an int, got %s", a.Type().TypeName())
				}
				n, err := decimal.ToMinor(s, fmt.Sprint(cur.Value()))
				if err != nil {
					return types.NewErr("toMinor: %v", err)
				}
				return types.Int(n)
			}))),
		cel.Function("qtyMilli", cel.Overload("qtyMilli_dyn", []*cel.Type{cel.DynType}, cel.IntType,
			cel.UnaryBinding(func(a ref.Val) ref.Val {
				s := fmt.Sprint(a.Value())
				n, err := decimal.QtyMilli(s)
				if err != nil {
					return types.NewErr("qtyMilli: %v", err)
				}
				return types.Int(n)
			}))),
		cel.Function("normPhone", cel.Overload("normPhone_string_string", []*cel.Type{cel.StringType, cel.StringType}, cel.StringType,
			cel.BinaryBinding(func(a, region ref.Val) ref.Val {
				return types.String(NormPhone(fmt.Sprint(a.Value()), fmt.Sprint(region.Value())))
			}))),
		cel.Function("parseTime",
			cel.Overload("parseTime_string", []*cel.Type{cel.StringType}, cel.TimestampType,
				cel.UnaryBinding(func(a ref.Val) ref.Val { return timeVal(fmt.Sprint(a.Value()), "UTC") })),
			cel.Overload("parseTime_string_string", []*cel.Type{cel.StringType, cel.StringType}, cel.TimestampType,
				cel.BinaryBinding(func(a, zone ref.Val) ref.Val { return timeVal(fmt.Sprint(a.Value()), fmt.Sprint(zone.Value())) }))),
	)
})

func timeVal(s, zone string) ref.Val {
	t, err := parseTime(s, zone)
	if err != nil {
		return types.NewErr("parseTime: %v", err)
	}
	return types.Timestamp{Time: t}
}

func parseTime(s, zone string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	loc, err := time.LoadLocation(zone)
	if err != nil {
		return time.Time{}, err
	}
	for _, layout := range []string{"2006-01-02 15:04:05", "2006-01-02T15:04:05"} {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not RFC 3339 nor 2006-01-02 15:04:05", s)
}

// NormPhone strips spaces, dashes, dots and parentheses; with region "CN"
// an 11-digit mobile number (or one written 0086/86...) becomes +86....
func NormPhone(s, region string) string {
	s = strings.Map(func(r rune) rune {
		if strings.ContainsRune(" -.()\u00a0", r) {
			return -1
		}
		return r
	}, strings.TrimSpace(s))
	if strings.HasPrefix(s, "00") {
		s = "+" + s[2:]
	}
	if strings.EqualFold(region, "CN") {
		switch {
		case len(s) == 11 && s[0] == '1':
			s = "+86" + s
		case len(s) == 13 && strings.HasPrefix(s, "86"):
			s = "+" + s
		}
	}
	return s
}
