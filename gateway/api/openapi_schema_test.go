package api

// OpenAPI schema tests: for every route, the documented request body and
// success response have exactly the JSON fields of the Go types the handler
// decodes and encodes (found by reflection over json tags, embedded structs
// flattened, nested objects and array items compared too), and the error
// model matches the type errors are written with.

import (
	"encoding"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/gateway/consent"
	"github.com/lianmeng/lianmeng/gateway/ledger"
	"github.com/lianmeng/lianmeng/gateway/merchant"
	"github.com/lianmeng/lianmeng/gateway/points"
	"github.com/lianmeng/lianmeng/gateway/rules"
)

// oaContract is what a route decodes and answers.
type oaContract struct {
	Method, Path string       // as registered with Fiber
	Request      reflect.Type // the JSON body it decodes; nil: none
	Status       string       // its success status
	Response     reflect.Type // the JSON it answers with; nil: not a JSON object of ours
}

func typeOf[T any]() reflect.Type { return reflect.TypeFor[T]() }

// oaContracts lists every route with the Go types its handler decodes and
// encodes. It is written against the current names: when you rename or move
// a request or response type, update it here; when you add a route, add it
// here (TestOpenAPIContractsCoverEveryRoute fails until you do). Handlers
// that answer a fiber.Map are described by an anonymous struct with the
// map's keys.
var oaContracts = []oaContract{
	{"GET", "/healthz", nil, "200", typeOf[struct {
		Status string `json:"status"`
	}]()},
	{"GET", "/readyz", nil, "200", typeOf[readyResult]()},
	{"GET", "/v1/openapi.json", nil, "200", nil}, // this document

	{"POST", "/v1/operator/merchants", typeOf[createMerchantRequest](), "201", typeOf[merchant.Merchant]()},
	{"GET", "/v1/operator/merchants", nil, "200", typeOf[merchantList]()},
	{"GET", "/v1/operator/merchants/:merchant", nil, "200", typeOf[merchant.Merchant]()},
	{"PUT", "/v1/operator/merchants/:merchant/status", typeOf[statusRequest](), "200", typeOf[merchant.Merchant]()},
	{"POST", "/v1/operator/merchants/:merchant/stores", typeOf[createStoreRequest](), "201", typeOf[merchant.Store]()},
	{"GET", "/v1/operator/merchants/:merchant/stores", nil, "200", typeOf[struct {
		Stores []merchant.Store `json:"stores"`
	}]()},
	{"POST", "/v1/operator/merchants/:merchant/credentials", typeOf[createCredentialRequest](), "201", typeOf[credentialResponse]()},
	{"GET", "/v1/operator/merchants/:merchant/credentials", nil, "200", typeOf[struct {
		Credentials []merchant.Credential `json:"credentials"`
	}]()},
	{"POST", "/v1/operator/merchants/:merchant/credentials/:key/revoke", nil, "200", typeOf[merchant.Credential]()},
	{"POST", "/v1/operator/tokens", typeOf[createOperatorTokenRequest](), "201", typeOf[createdOperatorToken]()},
	{"GET", "/v1/operator/tokens", nil, "200", typeOf[operatorTokenList]()},
	{"POST", "/v1/operator/tokens/:token/revoke", nil, "200", typeOf[operatorTokenView]()},
	{"POST", "/v1/operator/merchants/:merchant/fund", typeOf[fundRequest](), "201", typeOf[points.FundResult]()},
	{"PUT", "/v1/operator/merchants/:merchant/earning", typeOf[points.Earning](), "200", typeOf[points.Earning]()},
	{"GET", "/v1/operator/merchants/:merchant/earning", nil, "200", typeOf[points.Earning]()},
	{"GET", "/v1/operator/merchants/:merchant/account", nil, "200", typeOf[points.MerchantAccount]()},
	{"GET", "/v1/operator/totals", nil, "200", typeOf[points.Coverage]()},
	{"GET", "/v1/public/coverage", nil, "200", typeOf[publicCoverage]()},
	{"GET", "/v1/public/merchants", nil, "200", typeOf[publicMerchantList]()},
	{"GET", "/v1/public/history", nil, "200", typeOf[publicHistory]()},
	{"GET", "/v1/operator/audit", nil, "200", typeOf[auditList]()},
	{"GET", "/v1/operator/plugins", nil, "200", typeOf[pluginList]()},
	{"POST", "/v1/operator/merchants/:merchant/staff", typeOf[createStaffRequest](), "201", typeOf[staffView]()},
	{"GET", "/v1/operator/merchants/:merchant/staff", nil, "200", typeOf[staffList]()},

	{"GET", "/v1/merchant/me", nil, "200", typeOf[merchant.Merchant]()},
	{"POST", "/v1/merchant/earn", typeOf[earnRequest](), "201", typeOf[points.EarnResult]()},
	{"POST", "/v1/merchant/earn/refund", typeOf[refundEarnRequest](), "200", typeOf[points.RefundEarnResult]()},
	{"POST", "/v1/merchant/redeem", typeOf[redeemRequest](), "201", typeOf[points.RedeemResult]()},
	{"POST", "/v1/merchant/redeem/refund", typeOf[refundRedeemRequest](), "200", typeOf[points.RefundRedeemResult]()},
	{"GET", "/v1/merchant/account", nil, "200", typeOf[points.MerchantAccount]()},
	{"POST", "/v1/merchant/members/lookup", typeOf[lookupRequest](), "200", typeOf[lookupResponse]()},
	{"POST", "/v1/merchant/members/token", typeOf[tillTokenRequest](), "200", typeOf[memberTokenResponse]()},
	{"POST", "/v1/merchant/redeem/consent", typeOf[redeemConsentRequest](), "202", typeOf[consent.ConsentRequested]()},
	{"POST", "/v1/member/signin", typeOf[signInRequest](), "202", typeOf[consent.SignInStarted]()},
	{"POST", "/v1/member/signin/verify", typeOf[signInVerifyRequest](), "200", typeOf[memberTokenResponse]()},
	{"POST", "/v1/member/redemption-codes", typeOf[redemptionCodeRequest](), "201", typeOf[consent.RedemptionCode]()},

	{"GET", "/v1/member/balance", nil, "200", typeOf[points.MemberBalance]()},
	{"GET", "/v1/member/lots", nil, "200", typeOf[struct {
		Lots []ledger.Lot `json:"lots"`
	}]()},
	{"GET", "/v1/merchant/purchases", nil, "200", typeOf[merchantPurchaseList]()},
	{"GET", "/v1/member/history", nil, "200", typeOf[struct {
		Transactions []points.HistoryEntry `json:"transactions"`
		NextCursor   string                `json:"next_cursor,omitempty"`
	}]()},

	{"GET", "/v1/evidence/checkpoint", nil, "200", typeOf[CheckpointJSON]()},
	{"GET", "/v1/evidence/public-key", nil, "200", typeOf[PublicKeyJSON]()},
	{"GET", "/v1/evidence/consistency", nil, "200", typeOf[ConsistencyJSON]()},
	{"GET", "/v1/evidence/tile/*", nil, "200", nil}, // raw hashes, application/octet-stream
	{"GET", "/v1/merchant/evidence/transactions/:tx", nil, "200", typeOf[InclusionJSON]()},
	{"GET", "/v1/member/evidence/transactions/:tx", nil, "200", typeOf[InclusionJSON]()},

	{"GET", "/v1/operator/merchants/:merchant/rules", nil, "200", typeOf[struct {
		Versions []rules.Version `json:"versions"`
	}]()},
	{"POST", "/v1/operator/merchants/:merchant/rules/drafts", typeOf[rules.Draft](), "201", typeOf[rules.Version]()},
	{"POST", "/v1/operator/merchants/:merchant/rules/drafts/:draft/publish", typeOf[publishRequest](), "200", typeOf[rules.Publication]()},
	{"POST", "/v1/operator/merchants/:merchant/rules/versions/:version/withdraw", nil, "200", typeOf[rules.Version]()},
	{"GET", "/v1/public/rules/:merchant", nil, "200", typeOf[rules.Log]()},
	{"POST", "/v1/operator/merchants/:merchant/rules/drafts/:draft/simulate", typeOf[rules.SimulationRequest](), "200", typeOf[rules.Simulation]()},
	{"GET", "/v1/public/rules/:merchant/feed.atom", nil, "200", nil}, // Atom XML
	{"GET", "/v1/merchant/rules", nil, "200", typeOf[struct {
		Versions []rules.Version `json:"versions"`
	}]()},
	{"POST", "/v1/merchant/rules/drafts", typeOf[rules.Draft](), "201", typeOf[rules.Version]()},
	{"POST", "/v1/merchant/rules/drafts/:draft/simulate", typeOf[rules.SimulationRequest](), "200", typeOf[rules.Simulation]()},
	{"POST", "/v1/merchant/rules/drafts/:draft/publish", typeOf[publishRequest](), "200", typeOf[rules.Publication]()},
	{"POST", "/v1/merchant/rules/versions/:version/withdraw", nil, "200", typeOf[rules.Version]()},
	{"POST", "/v1/merchant/rules/adopt/:industry", nil, "201", typeOf[rules.Version]()},
	{"POST", "/v1/operator/merchants/:merchant/rules/adopt/:industry", nil, "201", typeOf[rules.Version]()},
	{"PUT", "/v1/operator/rule-templates/:industry", typeOf[rules.Draft](), "200", typeOf[rules.Template]()},
	{"GET", "/v1/public/rule-templates", nil, "200", typeOf[struct {
		Templates []rules.Template `json:"templates"`
	}]()},
	{"GET", "/v1/member/referral", nil, "200", typeOf[memberReferralView]()},
	{"POST", "/v1/member/referral/code", nil, "200", typeOf[points.ReferralCodeResult]()},
	{"POST", "/v1/member/referral/referrer", typeOf[referrerRequest](), "201", typeOf[points.ReferResult]()},
	{"POST", "/v1/operator/marketing/funding", typeOf[marketingFundRequest](), "201", typeOf[points.MarketingFundResult]()},
	{"GET", "/v1/public/referral", nil, "200", typeOf[publicReferral]()},
}

func oaContractFor(method, path string) (oaContract, bool) {
	for _, c := range oaContracts {
		if c.Method == method && c.Path == path {
			return c, true
		}
	}
	return oaContract{}, false
}

func TestOpenAPIContractsCoverEveryRoute(t *testing.T) {
	routes := oaServer(t).Routes()
	for _, r := range routes {
		if _, ok := oaContractFor(r.Method, r.Path); !ok {
			t.Errorf("route %s %s has no entry in oaContracts (gateway/api/openapi_schema_test.go): add its request and response types", r.Method, r.Path)
		}
	}
	for _, c := range oaContracts {
		if !slices.Contains(routes, Route{c.Method, c.Path}) {
			t.Errorf("oaContracts lists %s %s, which is not a registered route", c.Method, c.Path)
		}
	}
}

// TestOpenAPISchemasMatchGoTypes compares, route by route, the documented
// request body and success response with the Go types.
func TestOpenAPISchemasMatchGoTypes(t *testing.T) {
	doc := oaDoc(t)
	ops := oaOps(t, doc)
	for _, c := range oaContracts {
		key := c.Method + " " + oaPath(c.Path)
		op := ops[key]
		if op == nil {
			continue // reported by TestOpenAPICoversEveryRoute
		}
		t.Run(strings.ReplaceAll(key, "/", "_"), func(t *testing.T) {
			cmp := &oaComparer{t: t, doc: doc}

			body, _ := oaResolve(t, doc, op["requestBody"])
			reqSchema := oaDig(body, "content", "application/json", "schema")
			switch {
			case c.Request == nil && op["requestBody"] != nil:
				t.Errorf("documents a request body, but the handler decodes none")
			case c.Request != nil && reqSchema == nil:
				t.Errorf("the handler decodes %s, but no application/json request body is documented", c.Request)
			case c.Request != nil:
				if b, _ := body.(map[string]any); b["required"] != true {
					t.Errorf("request body is not marked required")
				}
				cmp.compare("request", reqSchema, c.Request, true)
			}

			responses, _ := op["responses"].(map[string]any)
			var ok2xx []string
			for code := range responses {
				if strings.HasPrefix(code, "2") {
					ok2xx = append(ok2xx, code)
				}
			}
			if !slices.Equal(ok2xx, []string{c.Status}) {
				t.Errorf("documented success statuses %v, the handler answers %s", ok2xx, c.Status)
			}
			if c.Response == nil {
				return
			}
			resp, _ := oaResolve(t, doc, responses[c.Status])
			respSchema := oaDig(resp, "content", "application/json", "schema")
			if respSchema == nil {
				t.Errorf("%s response has no application/json schema; the handler answers %s", c.Status, c.Response)
				return
			}
			cmp.compare("response "+c.Status, respSchema, c.Response, false)
		})
	}
}

// TestOpenAPIErrorModelMatchesGo checks the documented error model against
// the type every error is written with.
func TestOpenAPIErrorModelMatchesGo(t *testing.T) {
	doc := oaDoc(t)
	cmp := &oaComparer{t: t, doc: doc}
	cmp.compare("components.schemas.Error", map[string]any{"$ref": "#/components/schemas/Error"}, typeOf[errorBody](), false)
}

// oaComparer compares OpenAPI schemas with Go types.
type oaComparer struct {
	t   *testing.T
	doc map[string]any
}

// oaObject is an object schema with allOf merged.
type oaObject struct {
	props       map[string]any
	required    []string
	closed      bool // additionalProperties: false
	mapOf       any  // additionalProperties schema (a map)
	freeForm    bool // additionalProperties: true, or an object without properties
	isObjectish bool
}

func (c *oaComparer) resolve(at string, s any) map[string]any {
	c.t.Helper()
	for range 10 {
		v, ok := oaResolve(c.t, c.doc, s)
		if !ok {
			c.t.Errorf("%s: $ref does not resolve", at)
			return nil
		}
		m, _ := v.(map[string]any)
		if m == nil || m["$ref"] == nil {
			return m
		}
		s = m
	}
	c.t.Errorf("%s: $ref loop", at)
	return nil
}

// object flattens s (following $ref and allOf) into its properties.
func (c *oaComparer) object(at string, s any) oaObject {
	c.t.Helper()
	o := oaObject{props: map[string]any{}}
	var walk func(s any)
	walk = func(s any) {
		m := c.resolve(at, s)
		if m == nil {
			return
		}
		if m["type"] == "object" || m["properties"] != nil || m["allOf"] != nil {
			o.isObjectish = true
		}
		if ps, ok := m["properties"].(map[string]any); ok {
			for k, v := range ps {
				o.props[k] = v
			}
		}
		if rs, ok := m["required"].([]any); ok {
			for _, r := range rs {
				o.required = append(o.required, fmt.Sprint(r))
			}
		}
		switch ap := m["additionalProperties"].(type) {
		case bool:
			o.closed = !ap
			o.freeForm = o.freeForm || ap
		case map[string]any:
			o.mapOf = ap
		}
		if all, ok := m["allOf"].([]any); ok {
			for _, a := range all {
				walk(a)
			}
		}
	}
	walk(s)
	if o.isObjectish && len(o.props) == 0 && o.mapOf == nil && !o.closed {
		o.freeForm = true
	}
	return o
}

var (
	timeType          = reflect.TypeFor[time.Time]()
	jsonMarshalerType = reflect.TypeFor[json.Marshaler]()
	textMarshalerType = reflect.TypeFor[encoding.TextMarshaler]()
	jsonUnmarshaler   = reflect.TypeFor[json.Unmarshaler]()
)

func customJSON(t reflect.Type) bool {
	for _, x := range []reflect.Type{t, reflect.PointerTo(t)} {
		if x.Implements(jsonMarshalerType) || x.Implements(textMarshalerType) || x.Implements(jsonUnmarshaler) {
			return true
		}
	}
	return false
}

// compare checks schema s against Go type typ at path at. In a request
// the schema must refuse unknown fields (the decoder does); in a response
// every field the Go type always writes must be required and no field it
// may omit may be.
func (c *oaComparer) compare(at string, s any, typ reflect.Type, request bool) {
	c.t.Helper()
	for typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	m := c.resolve(at, s)
	if m == nil {
		c.t.Errorf("%s: no schema for %s", at, typ)
		return
	}
	wantType := func(want string) {
		c.t.Helper()
		if got, _ := m["type"].(string); got != want {
			c.t.Errorf("%s: schema type %q, Go type %s is a JSON %s", at, got, typ, want)
		}
	}
	switch {
	case typ == timeType:
		wantType("string")
		if m["format"] != "date-time" {
			c.t.Errorf("%s: a time.Time should be format date-time, is %v", at, m["format"])
		}
		return
	case customJSON(typ):
		return // its own encoding
	}
	switch typ.Kind() {
	case reflect.String:
		wantType("string")
	case reflect.Bool:
		wantType("boolean")
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		wantType("integer")
	case reflect.Slice, reflect.Array:
		if typ.Elem().Kind() == reflect.Uint8 {
			wantType("string") // base64
			return
		}
		wantType("array")
		if m["items"] == nil {
			c.t.Errorf("%s: array without items", at)
			return
		}
		c.compare(at+"[]", m["items"], typ.Elem(), request)
	case reflect.Map:
		o := c.object(at, s)
		if !o.isObjectish {
			c.t.Errorf("%s: Go type %s is a JSON object, the schema is not", at, typ)
		}
		if len(o.props) > 0 {
			c.t.Errorf("%s: Go type %s is a map, the schema lists properties %v", at, typ, oaKeys(o.props))
		}
		if o.mapOf != nil {
			c.compare(at+"{}", o.mapOf, typ.Elem(), request)
		} else if typ.Elem().Kind() != reflect.Interface {
			c.t.Errorf("%s: Go type %s is a map of %s, the schema has no additionalProperties schema", at, typ, typ.Elem())
		}
	case reflect.Struct:
		c.compareStruct(at, s, typ, request)
	case reflect.Interface:
		// anything
	default:
		c.t.Errorf("%s: Go type %s has no JSON schema counterpart here", at, typ)
	}
}

func (c *oaComparer) compareStruct(at string, s any, typ reflect.Type, request bool) {
	c.t.Helper()
	o := c.object(at, s)
	fields := jsonFields(typ)
	if o.freeForm || len(o.props) == 0 {
		c.t.Errorf("%s: the schema is a free-form object, Go type %s has fields %v: document them", at, typ, oaFieldNames(fields))
		return
	}
	var missing, extra []string
	for name := range fields {
		if _, ok := o.props[name]; !ok {
			missing = append(missing, name)
		}
	}
	for name := range o.props {
		if _, ok := fields[name]; !ok {
			extra = append(extra, name)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	if len(missing) > 0 {
		c.t.Errorf("%s: Go type %s has JSON fields %v the schema does not document", at, typ, missing)
	}
	if len(extra) > 0 {
		c.t.Errorf("%s: the schema documents properties %v that Go type %s does not have", at, extra, typ)
	}
	for _, r := range o.required {
		f, ok := fields[r]
		if !ok {
			c.t.Errorf("%s: required property %q is not a field of %s", at, r, typ)
			continue
		}
		if !request && f.omitEmpty {
			c.t.Errorf("%s: %q is required, but %s omits it when empty (omitempty)", at, r, typ)
		}
	}
	if request {
		if !o.closed {
			c.t.Errorf("%s: request schema for %s must say additionalProperties: false (the decoder refuses unknown fields)", at, typ)
		}
	} else {
		for name, f := range fields {
			if !f.omitEmpty && !slices.Contains(o.required, name) {
				c.t.Errorf("%s: %s always writes %q, but the schema does not list it as required", at, typ, name)
			}
		}
	}
	for name, f := range fields {
		if p, ok := o.props[name]; ok {
			c.compare(at+"."+name, p, f.typ, request)
		}
	}
}

// jsonField is one field as encoding/json sees it.
type jsonField struct {
	typ       reflect.Type
	omitEmpty bool
}

// jsonFields returns the JSON object keys encoding/json uses for struct
// type typ: exported fields by tag name (or Go name), "-" skipped, and the
// fields of untagged embedded structs promoted.
func jsonFields(typ reflect.Type) map[string]jsonField {
	out := map[string]jsonField{}
	for i := 0; i < typ.NumField(); i++ {
		f := typ.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		ft := f.Type
		if f.Anonymous && name == "" {
			et := ft
			if et.Kind() == reflect.Pointer {
				et = et.Elem()
			}
			if et.Kind() == reflect.Struct {
				for k, v := range jsonFields(et) {
					if _, dup := out[k]; !dup {
						out[k] = v
					}
				}
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = jsonField{typ: ft, omitEmpty: slices.Contains(strings.Split(opts, ","), "omitempty")}
	}
	return out
}

func oaFieldNames(fs map[string]jsonField) []string {
	var out []string
	for k := range fs {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func oaKeys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func TestJSONFieldsFollowsEncodingJSON(t *testing.T) {
	type inner struct {
		A int `json:"a"`
		B int `json:"b,omitempty"`
	}
	type outer struct {
		inner
		C      string `json:"c"`
		D      string `json:"-"`
		E      string
		f      string
		Nested inner `json:"nested"`
	}
	_ = outer{}.f
	got := oaFieldNames(jsonFields(typeOf[outer]()))
	b, _ := json.Marshal(outer{inner: inner{B: 1}})
	var m map[string]any
	json.Unmarshal(b, &m)
	if want := oaKeys(m); !slices.Equal(got, want) {
		t.Fatalf("jsonFields = %v, encoding/json writes %v", got, want)
	}
	if !jsonFields(typeOf[outer]())["b"].omitEmpty {
		t.Fatal("omitempty not seen")
	}
}
