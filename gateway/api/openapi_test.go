package api

// OpenAPI tests: the document served at /v1/openapi.json is valid, covers
// every registered route (and nothing else), and documents the
// Idempotency-Key header on every ledger write.

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/lianmeng/lianmeng/gateway/config"
	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
)

// oaIdempotentWrites are the routes that go through (*Server).write and so
// require an Idempotency-Key. Add new ledger writes here.
var oaIdempotentWrites = []Route{
	{"POST", "/v1/merchant/earn"},
	{"POST", "/v1/merchant/earn/refund"},
	{"POST", "/v1/merchant/redeem"},
	{"POST", "/v1/merchant/redeem/refund"},
	{"POST", "/v1/operator/merchants/:merchant/fund"},
}

var oaMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

func oaServer(t *testing.T) *Server {
	t.Helper()
	cfg := config.Default()
	cfg.Operator.Token = "op-token-openapi-0123456789"
	return New(Deps{Config: cfg, DB: storetest.Open(t, store.SQLite), Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
}

func oaDoc(t testing.TB) map[string]any {
	t.Helper()
	var doc map[string]any
	dec := json.NewDecoder(bytes.NewReader(openAPIDoc))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("openapi.json is not valid JSON: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		t.Fatalf("openapi.json has data after the document")
	}
	return doc
}

var oaParam = regexp.MustCompile(`:([A-Za-z0-9_]+)\??`)

// oaPath converts a Fiber route path to its OpenAPI form: /a/:b -> /a/{b}.
func oaPath(p string) string { return oaParam.ReplaceAllString(p, "{$1}") }

// oaOps returns every documented operation keyed by "METHOD path".
func oaOps(t *testing.T, doc map[string]any) map[string]map[string]any {
	t.Helper()
	paths, ok := doc["paths"].(map[string]any)
	if !ok || len(paths) == 0 {
		t.Fatal("openapi.json has no paths")
	}
	ops := map[string]map[string]any{}
	for p, item := range paths {
		pi, ok := item.(map[string]any)
		if !ok {
			t.Fatalf("path %s is not an object", p)
		}
		for m, v := range pi {
			if !slices.Contains(oaMethods, m) {
				continue
			}
			op, ok := v.(map[string]any)
			if !ok {
				t.Fatalf("%s %s is not an object", m, p)
			}
			ops[strings.ToUpper(m)+" "+p] = op
		}
	}
	return ops
}

// oaResolve follows a local $ref ("#/components/...") once.
func oaResolve(t *testing.T, doc map[string]any, v any) (any, bool) {
	t.Helper()
	m, ok := v.(map[string]any)
	if !ok {
		return v, true
	}
	r, ok := m["$ref"].(string)
	if !ok {
		return v, true
	}
	if !strings.HasPrefix(r, "#/") {
		return nil, false
	}
	var cur any = doc
	for _, part := range strings.Split(r[2:], "/") {
		part = strings.NewReplacer("~1", "/", "~0", "~").Replace(part)
		obj, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = obj[part]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// oaParams returns an operation's parameters (path-level and its own),
// with references resolved.
func oaParams(t *testing.T, doc map[string]any, path string, op map[string]any) []map[string]any {
	t.Helper()
	var raw []any
	if item, ok := doc["paths"].(map[string]any)[path].(map[string]any); ok {
		if ps, ok := item["parameters"].([]any); ok {
			raw = append(raw, ps...)
		}
	}
	if ps, ok := op["parameters"].([]any); ok {
		raw = append(raw, ps...)
	}
	var out []map[string]any
	for _, p := range raw {
		v, ok := oaResolve(t, doc, p)
		pm, isMap := v.(map[string]any)
		if !ok || !isMap {
			t.Fatalf("%s: parameter %v does not resolve", path, p)
		}
		out = append(out, pm)
	}
	return out
}

func TestOpenAPIDocumentValid(t *testing.T) {
	doc := oaDoc(t)
	if v, _ := doc["openapi"].(string); !strings.HasPrefix(v, "3.") {
		t.Fatalf("openapi = %q, want 3.x", v)
	}
	info, _ := doc["info"].(map[string]any)
	if info["title"] == nil || info["version"] == nil {
		t.Fatal("info.title and info.version are required")
	}

	// Every local reference resolves.
	var walk func(at string, v any)
	walk = func(at string, v any) {
		switch x := v.(type) {
		case map[string]any:
			if r, ok := x["$ref"].(string); ok {
				if _, ok := oaResolve(t, doc, x); !ok {
					t.Errorf("%s: $ref %q does not resolve", at, r)
				}
			}
			// Amounts are integer fen and points integers: never a
			// JSON number type.
			if x["type"] == "number" {
				t.Errorf("%s: type number; amounts are integer fen and points are integers", at)
			}
			if props, ok := x["properties"].(map[string]any); ok {
				for name, p := range props {
					pm, _ := p.(map[string]any)
					money := strings.HasSuffix(name, "_fen") || name == "points" || strings.HasSuffix(name, "_points")
					if money && pm["$ref"] == nil && (pm["type"] != "integer" || pm["format"] != "int64") {
						t.Errorf("%s.%s: want type integer, format int64", at, name)
					}
				}
			}
			for k, e := range x {
				walk(at+"/"+k, e)
			}
		case []any:
			for i, e := range x {
				walk(at+"/"+strconv.Itoa(i), e)
			}
		}
	}
	walk("#", doc)

	ids := map[string]string{}
	for key, op := range oaOps(t, doc) {
		method, path, _ := strings.Cut(key, " ")
		if id, _ := op["operationId"].(string); id == "" {
			t.Errorf("%s: no operationId", key)
		} else if prev, dup := ids[id]; dup {
			t.Errorf("%s: operationId %q already used by %s", key, id, prev)
		} else {
			ids[id] = key
		}

		responses, _ := op["responses"].(map[string]any)
		has2xx := false
		for code, r := range responses {
			if strings.HasPrefix(code, "2") {
				has2xx = true
			}
			rv, ok := oaResolve(t, doc, r)
			rm, isMap := rv.(map[string]any)
			if !ok || !isMap || rm["description"] == nil {
				t.Errorf("%s: response %s does not resolve to a response with a description", key, code)
				continue
			}
			// Error responses (except /readyz's 503, which reports its
			// checks) use the error model and name their codes.
			if (strings.HasPrefix(code, "4") || strings.HasPrefix(code, "5")) && path != "/readyz" {
				desc, _ := rm["description"].(string)
				if !strings.Contains(desc, "`") {
					t.Errorf("%s: response %s does not list its error codes", key, code)
				}
				schema, _ := oaResolve(t, doc, oaDig(rm, "content", "application/json", "schema"))
				if !strings.Contains(oaJSON(t, schema), "ErrorDetail") {
					t.Errorf("%s: response %s does not use the error model", key, code)
				}
			}
		}
		if !has2xx {
			t.Errorf("%s: no 2xx response", key)
		}

		// Path parameters match the template.
		want := map[string]bool{}
		for _, m := range regexp.MustCompile(`\{([^}]+)\}`).FindAllStringSubmatch(path, -1) {
			want[m[1]] = true
		}
		got := map[string]bool{}
		for _, p := range oaParams(t, doc, path, op) {
			if p["in"] == "path" {
				name, _ := p["name"].(string)
				got[name] = true
				if p["required"] != true {
					t.Errorf("%s: path parameter %s must be required", key, name)
				}
			}
		}
		for n := range want {
			if !got[n] {
				t.Errorf("%s: path parameter {%s} is not declared", key, n)
			}
		}
		for n := range got {
			if !want[n] {
				t.Errorf("%s: declares path parameter %s that is not in the path", key, n)
			}
		}

		// Writes with a JSON body document it.
		if method == "GET" && op["requestBody"] != nil {
			t.Errorf("%s: GET with a request body", key)
		}
	}
}

func TestOpenAPICoversEveryRoute(t *testing.T) {
	s := oaServer(t)
	doc := oaDoc(t)
	ops := oaOps(t, doc)
	routes := s.Routes()
	if len(routes) == 0 {
		t.Fatal("server registered no routes")
	}
	registered := map[string]bool{}
	var missing []string
	for _, r := range routes {
		key := strings.ToUpper(r.Method) + " " + oaPath(r.Path)
		registered[key] = true
		if ops[key] == nil {
			missing = append(missing, key+" (route "+r.Path+")")
		}
	}
	var stale []string
	for key := range ops {
		if !registered[key] {
			stale = append(stale, key)
		}
	}
	sort.Strings(missing)
	sort.Strings(stale)
	for _, k := range missing {
		t.Errorf("route %s is not documented in gateway/api/openapi.json", k)
	}
	for _, k := range stale {
		t.Errorf("openapi.json documents %s but no route serves it (stale documentation)", k)
	}
}

func TestOpenAPIIdempotencyKey(t *testing.T) {
	s := oaServer(t)
	doc := oaDoc(t)
	ops := oaOps(t, doc)
	for _, w := range oaIdempotentWrites {
		if !slices.Contains(s.Routes(), w) {
			t.Errorf("%s %s is listed as an idempotent write but is not a registered route", w.Method, w.Path)
			continue
		}
		path := oaPath(w.Path)
		key := w.Method + " " + path
		op := ops[key]
		if op == nil {
			continue // reported by TestOpenAPICoversEveryRoute
		}
		found := false
		for _, p := range oaParams(t, doc, path, op) {
			if p["in"] == "header" && strings.EqualFold(p["name"].(string), "Idempotency-Key") {
				found = true
				if p["required"] != true {
					t.Errorf("%s: Idempotency-Key must be required", key)
				}
			}
		}
		if !found {
			t.Errorf("%s: does not document the Idempotency-Key header", key)
		}
		for _, code := range []string{"idempotency_key_required", "idempotency_key_reused"} {
			if !strings.Contains(oaJSON(t, op["responses"]), code) {
				t.Errorf("%s: does not document error code %s", key, code)
			}
		}
	}
}

func TestOpenAPIServed(t *testing.T) {
	s := oaServer(t)
	resp, err := s.App().Test(httptest.NewRequest(http.MethodGet, "/v1/openapi.json", nil), -1)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /v1/openapi.json: %d %s", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("Content-Type = %q, want application/json", ct)
	}
	var doc map[string]any
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatalf("served document is not JSON: %v", err)
	}
	if v, _ := doc["openapi"].(string); !strings.HasPrefix(v, "3.") {
		t.Fatalf("served openapi = %q, want 3.x", v)
	}
	if !bytes.Equal(body, OpenAPIDocument()) {
		t.Fatal("served document differs from the embedded one")
	}
}

func oaDig(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

func oaJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
