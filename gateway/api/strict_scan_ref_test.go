package api

// The token-based strict scan that scanJSON replaced (encoding/json's
// Decoder.Token for every token, a reflection decode for every scalar),
// kept as the reference scanJSON must agree with (FuzzScanJSONAgrees).

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/gofiber/fiber/v2"
)

// refFrame is an object or array being scanned.
type refFrame struct {
	object    bool
	wantKey   bool                    // object: the next token is a key (or '}')
	keys      map[string]string       // object: folded key -> key as sent
	fields    map[string]reflect.Type // object of a struct type: its JSON fields
	folded    map[string]string       // folded field name -> field name
	elem      reflect.Type            // map value or array element type (nil: any)
	valueType reflect.Type            // object: the type of the value after the current key
}

// scanJSON walks the first JSON value of body with encoding/json's
// tokenizer. It returns the first strict-parsing error (nil if none) and
// whether the value was syntactically complete; nesting costs heap, never
// stack, so a body of brackets cannot exhaust the goroutine stack.
func scanJSONTokens(body []byte, t reflect.Type) (*Error, bool) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var stack []*refFrame
	var first *Error
	fail := func(e *Error) {
		if first == nil {
			first = e
		}
	}
	next := rootType(t)
	for {
		tok, err := dec.Token()
		if err != nil {
			return nil, false
		}
		var top *refFrame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.object && top.wantKey {
			if d, ok := tok.(json.Delim); ok && d == '}' {
				stack = stack[:len(stack)-1]
			} else if key, ok := tok.(string); ok {
				top.wantKey = false
				top.valueType = top.elem
				f := foldKey(key)
				if prev, seen := top.keys[f]; seen {
					if prev == key {
						fail(Errorf(fiber.StatusBadRequest, CodeDuplicateKey, "key %q appears twice in one object; send each key once", clip(key, 40)))
					} else {
						fail(Errorf(fiber.StatusBadRequest, CodeDuplicateKey, "keys %q and %q differ only in case; send each key once, spelled exactly", clip(prev, 40), clip(key, 40)))
					}
				} else {
					top.keys[f] = key
				}
				if top.fields != nil {
					if ft, ok := top.fields[key]; ok {
						top.valueType = ft
					} else if name, ok := top.folded[f]; ok {
						fail(Errorf(fiber.StatusBadRequest, CodeValidation, "unknown field %q: field names are case-sensitive (the field is %q)", clip(key, 40), name))
					}
				}
				continue
			} else {
				return nil, false // cannot happen: the tokenizer checks syntax
			}
		} else {
			var typ reflect.Type
			switch {
			case top == nil:
				typ = next
			case top.object:
				typ = top.valueType
			default:
				typ = top.elem
			}
			if d, ok := tok.(json.Delim); ok {
				switch d {
				case '{':
					stack = append(stack, refObjectFrame(typ))
					continue
				case '[':
					stack = append(stack, &refFrame{elem: elemType(typ)})
					continue
				default: // ']' (a '}' is handled above)
					stack = stack[:len(stack)-1]
				}
			}
		}
		// A value is complete.
		if len(stack) == 0 {
			return first, true
		}
		if top := stack[len(stack)-1]; top.object {
			top.wantKey = true
		}
	}
}

// refObjectFrame starts an object whose Go type is t (nil: any), with the
// fields objectFrame finds for it: the reference differs in how it reads
// tokens, not in what a type allows.
func refObjectFrame(t reflect.Type) *refFrame {
	o := objectFrame(t)
	return &refFrame{object: true, wantKey: true, keys: map[string]string{}, fields: o.fields, folded: o.folded, elem: o.elem}
}

// FuzzScanJSONAgrees: scanJSON answers every body as the token-based scan
// did, untyped (strictRequest) and for the request types (decodeJSON): the
// same error (code and message) and the same verdict on whether the first
// value is complete. The seeds run as an ordinary test.
func FuzzScanJSONAgrees(f *testing.F) {
	for _, seed := range []string{
		`{"order_id":"o-1","member":{"kind":"phone","value":"13800138000"},"amount_fen":12345}`,
		`{"id":"A-1","amount":1,"opt":0,"flag":true,"lines":[{"kind":"x","value":"y"}],"attrs":{"k":"v"},"at":"2026-11-24T12:00:00Z"}`,
		`{"id":"a","id":"b"}`, `{"id":"a","ID":"b"}`, `{"ID":"x"}`, `{"Amount":1}`, `{"ref":{"kind":"a","\u212aind":"b"}}`,
		`{"attrs":{"k":"v","K":"w"}}`, `{"a":{"b":1,"b":2},"a":3}`, `{"\u0061":1,"a":2}`, `{"a\"b":1}`,
		`{"id":"\ud800"}`, `{"id":"\ud83d\ude00"}`, `{"id":"\x"}`, `{"id":"\u12"}`, "{\"id\":\"a\tb\"}",
		`[]`, `[1,2,[3,{"a":[]}]]`, `[1,]`, `[,1]`, `[1 2]`, `{"a":1,}`, `{,}`, `{"a" 1}`, `{"a":}`, `{1:2}`,
		`null`, `true`, `false`, `nul`, `truex`, `[truex]`, `{"a":tru}`, `"str"`, `"str"x`, `123abc`, `{"a":01}`, `01`,
		`-`, `-0`, `-0.5e+3`, `1.`, `1.e3`, `1e`, `1e+`, `[1.5E-7]`, `.5`, `+1`, `{"a":-}`,
		`{`, `{"a":1}{}`, `{} `, ` {}`, "", " ", "\t\n{\r}", `{"a":1`, `[`, `"unterminated`,
		`{"lines":[{"kind":"x","KIND":"y"}]}`, `{"attrs":{"a":{"b":1}}}`, `{"member":{"kind":"phone","Value":"1"}}`,
	} {
		f.Add([]byte(seed))
	}
	types := []reflect.Type{nil, reflect.TypeFor[earnRequest](), reflect.TypeFor[fzDecodeTarget](), reflect.TypeFor[map[string]any]()}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, typ := range types {
			gotErr, gotOK := scanJSON(body, typ)
			wantErr, wantOK := scanJSONTokens(body, typ)
			if gotOK != wantOK || (gotErr == nil) != (wantErr == nil) ||
				gotErr != nil && (gotErr.Code != wantErr.Code || gotErr.Message != wantErr.Message) {
				t.Fatalf("%q as %v: scanJSON %v %v, the tokenizer %v %v", body, typ, gotErr, gotOK, wantErr, wantOK)
			}
		}
	})
}
