package api

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"iter"
	"reflect"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"
)

// Strict parsing (issue 10): anything a proxy, a logger or another JSON
// parser in front of the gateway could read differently from the gateway is
// refused with its own code before anything is looked up or written. The
// gateway never decodes a Content-Encoding: it hashes, verifies and decodes
// the raw body bytes exactly as sent.
const (
	CodeUnsupportedEncoding = "unsupported_content_encoding"
	CodeAmbiguousRequest    = "ambiguous_request"
	CodeUnknownQuery        = "unknown_query_parameter"
	CodeInvalidEncoding     = "invalid_encoding"
	CodeDuplicateKey        = "duplicate_json_key"
)

// singletonHeaders may appear at most once: with two, one parser reads the
// first and another the last. Every X-Lianmeng-* header is one too.
var singletonHeaders = []string{
	fiber.HeaderContentLength, fiber.HeaderTransferEncoding, fiber.HeaderContentEncoding, fiber.HeaderContentType,
	fiber.HeaderAuthorization, fiber.HeaderHost, "Idempotency-Key",
}

// strictRequest is the first middleware after the request id: it refuses
// ambiguous framing and headers, any request Content-Encoding, and JSON
// bodies that are not valid UTF-8, hold an unpaired surrogate escape or
// repeat a key (see checkJSON). It reads only the raw bytes fasthttp
// already holds (at most http.body_limit); nothing is decompressed.
func strictRequest(c *fiber.Ctx) error {
	if err := checkHeaders(&c.Request().Header); err != nil {
		if err.Code == CodeAmbiguousRequest {
			// The framing itself may be in doubt: do not reuse the
			// connection for another request.
			c.Context().SetConnectionClose()
		}
		return err
	}
	if body := c.Request().Body(); len(body) > 0 && isJSON(c.Get(fiber.HeaderContentType)) {
		if err := checkJSON(body, nil); err != nil {
			return err
		}
	}
	return c.Next()
}

// requestHeader is what checkHeaders reads of fasthttp's RequestHeader.
type requestHeader interface {
	RawHeaders() []byte
	AllInOrder() iter.Seq2[[]byte, []byte]
	All() iter.Seq2[[]byte, []byte]
}

// checkHeaders applies the header rules to a parsed request header. It
// walks the header lines as received (fasthttp keeps them: its own view
// keeps only the last Content-Length, and folds Transfer-Encoding), falling
// back to the parsed view for a header that was built rather than read.
func checkHeaders(h requestHeader) *Error {
	var (
		counts                   = map[string]int{}
		contentLength, transfers int
		transfer                 string
		encodings                []string
		dup                      string
	)
	visit := func(k, v []byte) {
		name := strings.ToLower(string(k))
		counts[name]++
		if counts[name] == 2 && dup == "" && isSingleton(name) {
			dup = string(k)
		}
		switch name {
		case "content-length":
			contentLength++
		case "transfer-encoding":
			transfers++
			transfer = strings.ToLower(strings.TrimSpace(string(v)))
		case "content-encoding":
			encodings = append(encodings, string(v))
		}
	}
	all := h.All
	if len(h.RawHeaders()) > 0 {
		all = h.AllInOrder
	}
	for k, v := range all() {
		visit(k, v)
	}
	switch {
	case contentLength > 1:
		return Errorf(fiber.StatusBadRequest, CodeAmbiguousRequest, "several Content-Length headers; send exactly one")
	case contentLength > 0 && transfers > 0:
		return Errorf(fiber.StatusBadRequest, CodeAmbiguousRequest, "Content-Length together with Transfer-Encoding; send one of them")
	case transfers > 0 && (transfers > 1 || transfer != "chunked"):
		return Errorf(fiber.StatusBadRequest, CodeAmbiguousRequest, "Transfer-Encoding may only be a single \"chunked\"")
	case dup != "":
		return Errorf(fiber.StatusBadRequest, CodeAmbiguousRequest, "header %s appears more than once; send it once", dup)
	}
	for _, e := range encodings {
		if v := strings.TrimSpace(e); v != "" && !strings.EqualFold(v, "identity") {
			return Errorf(fiber.StatusUnsupportedMediaType, CodeUnsupportedEncoding,
				"request Content-Encoding %q is not accepted: send the body uncompressed (the signature covers the bytes as sent)", clip(v, 40))
		}
	}
	return nil
}

// headError turns the errors fasthttp itself raises while reading a
// request head into the error model: the framing ambiguities it refuses
// before any handler runs (a repeated Content-Length, Transfer-Encoding or
// Host, conflicting Content-Type headers, a Transfer-Encoding it does not
// support, an unparsable Content-Length) are ambiguous_request like the
// ones strictRequest refuses, and no message echoes the raw request back.
// The server's ErrorHandler calls it before errorHandler.
func headError(err error) error {
	var fe *fiber.Error
	if !errors.As(err, &fe) || fe.Code != fiber.StatusBadRequest {
		return err
	}
	reason, ok := strings.CutPrefix(fe.Message, "error when reading request headers: ")
	if !ok {
		return err
	}
	reason, _, _ = strings.Cut(reason, ": buffer size=")
	reason = strings.TrimPrefix(reason, "fasthttp: ")
	low := strings.ToLower(reason)
	for _, s := range []string{"content-length", "transfer-encoding", "content-type", "host header", "duplicate", "conflict"} {
		if strings.Contains(low, s) {
			return Errorf(fiber.StatusBadRequest, CodeAmbiguousRequest, "ambiguous request head (%s); send each header once, and one of Content-Length or a single chunked Transfer-Encoding", clip(reason, 120))
		}
	}
	return Errorf(fiber.StatusBadRequest, "bad_request", "malformed request head (%s)", clip(reason, 120))
}

func isSingleton(lower string) bool {
	if strings.HasPrefix(lower, "x-lianmeng-") {
		return true
	}
	for _, h := range singletonHeaders {
		if strings.EqualFold(h, lower) {
			return true
		}
	}
	return false
}

// refuseQuery guards write routes (POST, PUT, PATCH, DELETE): they read
// only their path and JSON body, so a query parameter is refused rather
// than silently ignored (?dry_run=true must never write for real).
func refuseQuery(c *fiber.Ctx) error {
	q := c.Request().URI().QueryString()
	if len(q) == 0 {
		return c.Next()
	}
	name, _, _ := strings.Cut(string(q), "&")
	name, _, _ = strings.Cut(name, "=")
	return Errorf(fiber.StatusBadRequest, CodeUnknownQuery, "unknown query parameter %q: %s %s takes no query parameters (send everything in the JSON body)",
		clip(name, 40), c.Method(), c.Route().Path)
}

// isJSON reports whether a Content-Type names application/json.
func isJSON(ct string) bool {
	mt, _, _ := strings.Cut(ct, ";")
	return strings.EqualFold(strings.TrimSpace(mt), fiber.MIMEApplicationJSON)
}

// clip shortens s for an error message.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}

// checkJSON refuses, in a JSON text, what encoding/json would silently
// accept and read differently from other parsers:
//
//   - bytes that are not UTF-8 (encoding/json turns them into U+FFFD, so
//     two different GBK customer ids became one member): invalid_encoding;
//   - \uXXXX escapes of a lone surrogate (also turned into U+FFFD):
//     invalid_encoding;
//   - a key repeated in one object, at any depth, also when the repeats
//     differ only in case (encoding/json matches keys case-insensitively
//     and keeps the last value): duplicate_json_key;
//   - with t (the type the body decodes into), a key that names a field
//     only up to case ("Amount_fen"): validation_failed.
//
// Malformed JSON is not its concern: it returns nil and leaves the syntax
// error to the decoder, so a body has one answer whatever the order of the
// checks.
func checkJSON(body []byte, t reflect.Type) *Error {
	if !utf8.Valid(body) {
		return Errorf(fiber.StatusBadRequest, CodeInvalidEncoding, "the body is not valid UTF-8 (send text as UTF-8, never GBK or Latin-1)")
	}
	strictErr, ok := scanJSON(body, t)
	if !ok {
		return nil // malformed: the decoder reports it
	}
	if at, bad := loneSurrogate(body); bad {
		return Errorf(fiber.StatusBadRequest, CodeInvalidEncoding, "unpaired UTF-16 surrogate escape at byte %d: \\uD800-\\uDFFF must come as a high-low pair", at)
	}
	return strictErr
}

// scanFrame is an object or array being scanned.
type scanFrame struct {
	object bool
	keys   objectKeys              // object: the keys seen, folded
	fields map[string]reflect.Type // object of a struct type: its JSON fields
	folded map[string]string       // folded field name -> field name
	elem   reflect.Type            // map value or array element type (nil: any)
}

// objectKeys are an object's keys so far, folded (foldKey) with the key as
// sent: a short list, a map once the object is large.
type objectKeys struct {
	list []keySeen
	m    map[string]string
}

type keySeen struct{ folded, key string }

// add records key (folded as f) and returns the key it repeats, if any.
func (k *objectKeys) add(f, key string) (string, bool) {
	if k.m != nil {
		if prev, ok := k.m[f]; ok {
			return prev, true
		}
		k.m[f] = key
		return "", false
	}
	for _, s := range k.list {
		if s.folded == f {
			return s.key, true
		}
	}
	k.list = append(k.list, keySeen{f, key})
	if len(k.list) > 16 { // a large object: bound the work per key
		k.m = make(map[string]string, 2*len(k.list))
		for _, s := range k.list {
			k.m[s.folded] = s.key
		}
	}
	return "", false
}

// scanJSON walks the first JSON value of body (RFC 8259, as encoding/json
// reads it: its Decoder.Token accepts exactly the same texts). It returns
// the first strict-parsing error (nil if none) and whether the value was
// syntactically complete; nesting costs heap, never stack, so a body of
// brackets cannot exhaust the goroutine stack. It reads the bytes in place:
// no token is decoded but object keys (FuzzScanJSONAgrees checks it against
// the tokenizer it replaced).
func scanJSON(body []byte, t reflect.Type) (*Error, bool) {
	sc := jsonScan{b: body}
	var stack []scanFrame
	var first *Error
	fail := func(e *Error) {
		if first == nil {
			first = e
		}
	}
	typ := rootType(t) // the type of the value to scan next
	for {
		// A value.
		sc.space()
		if sc.i >= len(body) {
			return nil, false
		}
		switch c := body[sc.i]; {
		case c == '{':
			sc.i++
			stack = append(stack, objectFrame(typ))
			sc.space()
			if sc.i < len(body) && body[sc.i] == '}' {
				sc.i++
				stack = stack[:len(stack)-1]
				break
			}
			var ok bool
			if typ, ok = sc.key(&stack[len(stack)-1], fail); !ok {
				return nil, false
			}
			continue
		case c == '[':
			sc.i++
			stack = append(stack, scanFrame{elem: elemType(typ)})
			sc.space()
			if sc.i < len(body) && body[sc.i] == ']' {
				sc.i++
				stack = stack[:len(stack)-1]
				break
			}
			typ = stack[len(stack)-1].elem
			continue
		case c == '"':
			if _, _, ok := sc.str(); !ok {
				return nil, false
			}
		case c == 't':
			if !sc.literal("true") {
				return nil, false
			}
		case c == 'f':
			if !sc.literal("false") {
				return nil, false
			}
		case c == 'n':
			if !sc.literal("null") {
				return nil, false
			}
		default:
			if !sc.number() {
				return nil, false
			}
		}
		// A value is complete: close what it completes, up to the next
		// value to scan.
		for {
			if len(stack) == 0 {
				return first, true
			}
			top := &stack[len(stack)-1]
			sc.space()
			if sc.i >= len(body) {
				return nil, false
			}
			c := body[sc.i]
			sc.i++
			switch {
			case c == ',' && top.object:
				var ok bool
				if typ, ok = sc.key(top, fail); !ok {
					return nil, false
				}
			case c == ',':
				typ = top.elem
			case c == '}' && top.object, c == ']' && !top.object:
				stack = stack[:len(stack)-1]
				continue
			default:
				return nil, false
			}
			break
		}
	}
}

// objectFrame starts an object whose Go type is t (nil: any).
func objectFrame(t reflect.Type) scanFrame {
	f := scanFrame{object: true}
	switch {
	case t == nil:
	case t.Kind() == reflect.Struct:
		jf := keyFieldsOf(t)
		f.fields, f.folded = jf.types, jf.folded
	case t.Kind() == reflect.Map:
		f.elem = rootType(t.Elem())
	}
	return f
}

// jsonScan reads JSON tokens from b at i.
type jsonScan struct {
	b []byte
	i int
}

func (sc *jsonScan) space() {
	for sc.i < len(sc.b) {
		switch sc.b[sc.i] {
		case ' ', '\t', '\n', '\r':
			sc.i++
		default:
			return
		}
	}
}

// key reads an object's key and its colon, checks the key against the
// object's other keys and its fields, and returns the type of its value.
func (sc *jsonScan) key(top *scanFrame, fail func(*Error)) (reflect.Type, bool) {
	sc.space()
	if sc.i >= len(sc.b) || sc.b[sc.i] != '"' {
		return nil, false
	}
	raw, escaped, ok := sc.str()
	if !ok {
		return nil, false
	}
	var key string
	if escaped {
		// As encoding/json reads it (a lone surrogate escape becomes
		// U+FFFD there too).
		if json.Unmarshal(sc.b[sc.i-len(raw)-2:sc.i], &key) != nil {
			return nil, false
		}
	} else {
		key = string(raw)
	}
	sc.space()
	if sc.i >= len(sc.b) || sc.b[sc.i] != ':' {
		return nil, false
	}
	sc.i++
	f := foldKey(key)
	if prev, seen := top.keys.add(f, key); seen {
		if prev == key {
			fail(Errorf(fiber.StatusBadRequest, CodeDuplicateKey, "key %q appears twice in one object; send each key once", clip(key, 40)))
		} else {
			fail(Errorf(fiber.StatusBadRequest, CodeDuplicateKey, "keys %q and %q differ only in case; send each key once, spelled exactly", clip(prev, 40), clip(key, 40)))
		}
	}
	if top.fields != nil {
		if ft, ok := top.fields[key]; ok {
			return ft, true
		} else if name, ok := top.folded[f]; ok {
			fail(Errorf(fiber.StatusBadRequest, CodeValidation, "unknown field %q: field names are case-sensitive (the field is %q)", clip(key, 40), name))
		}
	}
	return top.elem, true
}

// str reads a string at i (its opening quote) and returns what is between
// the quotes and whether it holds an escape.
func (sc *jsonScan) str() (raw []byte, escaped, ok bool) {
	b := sc.b
	for i := sc.i + 1; i < len(b); {
		switch c := b[i]; {
		case c == '"':
			raw, sc.i = b[sc.i+1:i], i+1
			return raw, escaped, true
		case c == '\\':
			escaped = true
			if i+1 >= len(b) {
				return nil, false, false
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if _, ok := hex4(b, i+2); !ok {
					return nil, false, false
				}
				i += 6
			default:
				return nil, false, false
			}
		case c < 0x20:
			return nil, false, false
		default:
			i++
		}
	}
	return nil, false, false
}

func (sc *jsonScan) literal(word string) bool {
	if !bytes.HasPrefix(sc.b[sc.i:], []byte(word)) {
		return false
	}
	sc.i += len(word)
	return true
}

// number reads -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? at i.
func (sc *jsonScan) number() bool {
	b, i := sc.b, sc.i
	digits := func() bool {
		j := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		return i > j
	}
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case !digits():
		return false
	}
	if i < len(b) && b[i] == '.' {
		i++
		if !digits() {
			return false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if !digits() {
			return false
		}
	}
	sc.i = i
	return true
}

// elemType is the element type of a JSON array decoded into t.
func elemType(t reflect.Type) reflect.Type {
	if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
		return rootType(t.Elem())
	}
	return nil
}

var (
	unmarshalerJSON = reflect.TypeFor[json.Unmarshaler]()
	unmarshalerText = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// rootType is the type whose JSON fields are checked for a value decoded
// into t: pointers are followed, and types with their own decoding (time
// values, ...) are opaque (nil).
func rootType(t reflect.Type) reflect.Type {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Kind() == reflect.Interface {
		return nil
	}
	pt := reflect.PointerTo(t)
	if t.Implements(unmarshalerJSON) || pt.Implements(unmarshalerJSON) || t.Implements(unmarshalerText) || pt.Implements(unmarshalerText) {
		return nil
	}
	return t
}

type keyFields struct {
	types  map[string]reflect.Type
	folded map[string]string
}

var keyFieldCache sync.Map // reflect.Type -> keyFields

// keyFieldsOf lists the JSON object keys encoding/json decodes into the
// struct type t, with embedded structs' fields promoted (the shallower
// field wins, as in encoding/json).
func keyFieldsOf(t reflect.Type) keyFields {
	if v, ok := keyFieldCache.Load(t); ok {
		return v.(keyFields)
	}
	jf := keyFields{types: map[string]reflect.Type{}, folded: map[string]string{}}
	var walk func(t reflect.Type, depth int)
	depthOf := map[string]int{}
	walk = func(t reflect.Type, depth int) {
		if depth > 8 {
			return
		}
		for i := 0; i < t.NumField(); i++ {
			sf := t.Field(i)
			tag := sf.Tag.Get("json")
			if tag == "-" {
				continue
			}
			name, _, _ := strings.Cut(tag, ",")
			ft := sf.Type
			if sf.Anonymous && name == "" {
				et := ft
				if et.Kind() == reflect.Pointer {
					et = et.Elem()
				}
				if et.Kind() == reflect.Struct {
					walk(et, depth+1)
					continue
				}
			}
			if !sf.IsExported() {
				continue
			}
			if name == "" {
				name = sf.Name
			}
			if d, ok := depthOf[name]; ok && d <= depth {
				continue
			}
			depthOf[name] = depth
			jf.types[name] = rootType(ft)
			jf.folded[foldKey(name)] = name
		}
	}
	walk(t, 0)
	keyFieldCache.Store(t, jf)
	return jf
}

// foldKey folds a key as encoding/json matches keys to fields (the same
// equivalence as bytes.EqualFold), so keys it would read as one field fold
// to the same string.
func foldKey(k string) string {
	ascii := true
	for i := 0; i < len(k); i++ {
		if k[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		return strings.ToUpper(k)
	}
	return strings.Map(func(r rune) rune { return unicode.ToUpper(unicode.ToLower(r)) }, k)
}

// loneSurrogate finds a \uXXXX escape of a surrogate that is not part of a
// high-low pair in the strings of a syntactically valid JSON text.
func loneSurrogate(b []byte) (int, bool) {
	in := false
	for i := 0; i < len(b); i++ {
		c := b[i]
		if !in {
			in = c == '"'
			continue
		}
		switch c {
		case '"':
			in = false
		case '\\':
			if i+1 < len(b) && b[i+1] != 'u' {
				i++
				continue
			}
			r, ok := hex4(b, i+2)
			if !ok {
				return i, true
			}
			switch {
			case r >= 0xD800 && r < 0xDC00:
				if i+11 < len(b) && b[i+6] == '\\' && b[i+7] == 'u' {
					if lo, ok := hex4(b, i+8); ok && lo >= 0xDC00 && lo < 0xE000 {
						i += 11
						continue
					}
				}
				return i, true
			case r >= 0xDC00 && r < 0xE000:
				return i, true
			}
			i += 5
		}
	}
	return 0, false
}

func hex4(b []byte, at int) (rune, bool) {
	if at+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[at : at+4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}
