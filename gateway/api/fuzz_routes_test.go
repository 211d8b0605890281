package api

// Fuzz targets for every request decoder (DESIGN §11). Each one drives a
// route through the real HTTP app (authenticated, on a SQLite database
// holding a merchant, a store, a funded budget, an earn, a redemption and a
// sealed checkpoint) with the fuzzed body, and checks the property every
// route promises:
//
//   - the answer is a 2xx or a 4xx, never a 5xx, a panic or a redirect;
//   - a 2xx is the documented success status, and its JSON has the
//     documented fields (openapi.json);
//   - a 4xx is the error model {"error":{"code","message","request_id"}}
//     with a code openapi.json documents for that route and status, and
//     writes nothing (except the nonce of a signed request that passed
//     authentication, which is single-use whatever the outcome, and the id
//     allocator's sequence).
//
// The seeds (valid and invalid bodies) run as ordinary tests in go test;
// run one target for longer with, for example,
//
//	go test ./gateway/api -run '^$' -fuzz '^FuzzMerchantEarn$' -fuzztime 60s
//
// The targets know routes and JSON only, never the handlers' Go types, so
// renaming those does not touch this file.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/gateway/consent"
	"github.com/lianmeng/lianmeng/gateway/evidence"
	"github.com/lianmeng/lianmeng/gateway/scheduler"
	"github.com/lianmeng/lianmeng/gateway/settlement"
	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
	"github.com/lianmeng/lianmeng/sdk/client"
	"github.com/lianmeng/lianmeng/sdk/signature"
)

// fzAuth is how a fuzzed request authenticates.
type fzAuth int

const (
	fzPublic fzAuth = iota
	fzOperator
	fzMerchant
	fzMember
)

// fzRoute is one fuzzed route: Path is the pattern as registered (and
// documented), target fills in its parameters from the environment.
type fzRoute struct {
	Method, Path string
	Auth         fzAuth
}

// fzBodyRoutes are the routes that decode a JSON body, each with its fuzz
// target below. TestEveryRequestDecoderIsFuzzed checks the list against the
// routes whose handler decodes a body (oaContracts).
var fzBodyRoutes = map[string]fzRoute{
	"FuzzOperatorCreateMerchant":    {"POST", "/v1/operator/merchants", fzOperator},
	"FuzzOperatorSetMerchantStatus": {"PUT", "/v1/operator/merchants/:merchant/status", fzOperator},
	"FuzzOperatorCreateStore":       {"POST", "/v1/operator/merchants/:merchant/stores", fzOperator},
	"FuzzOperatorCreateCredential":  {"POST", "/v1/operator/merchants/:merchant/credentials", fzOperator},
	"FuzzOperatorFund":              {"POST", "/v1/operator/merchants/:merchant/fund", fzOperator},
	"FuzzOperatorSetEarning":        {"PUT", "/v1/operator/merchants/:merchant/earning", fzOperator},
	"FuzzOperatorCreateStaff":       {"POST", "/v1/operator/merchants/:merchant/staff", fzOperator},
	"FuzzMerchantEarn":              {"POST", "/v1/merchant/earn", fzMerchant},
	"FuzzMerchantEarnRefund":        {"POST", "/v1/merchant/earn/refund", fzMerchant},
	"FuzzMerchantRedeem":            {"POST", "/v1/merchant/redeem", fzMerchant},
	"FuzzMerchantRedeemRefund":      {"POST", "/v1/merchant/redeem/refund", fzMerchant},
	"FuzzMerchantMemberLookup":      {"POST", "/v1/merchant/members/lookup", fzMerchant},
	"FuzzMerchantMemberToken":       {"POST", "/v1/merchant/members/token", fzMerchant},
	"FuzzMerchantRedeemConsent":     {"POST", "/v1/merchant/redeem/consent", fzMerchant},
	"FuzzMemberSignIn":              {"POST", "/v1/member/signin", fzPublic},
	"FuzzMemberSignInVerify":        {"POST", "/v1/member/signin/verify", fzPublic},
	"FuzzMemberRedemptionCode":      {"POST", "/v1/member/redemption-codes", fzMember},
}

func TestEveryRequestDecoderIsFuzzed(t *testing.T) {
	fuzzed := map[Route]bool{}
	for _, r := range fzBodyRoutes {
		fuzzed[Route{r.Method, r.Path}] = true
	}
	for _, c := range oaContracts {
		r := Route{c.Method, c.Path}
		if c.Request != nil && !fuzzed[r] {
			t.Errorf("%s %s decodes a JSON body but has no fuzz target in fzBodyRoutes (gateway/api/fuzz_routes_test.go)", c.Method, c.Path)
		}
		if c.Request == nil && fuzzed[r] {
			t.Errorf("%s %s has a body fuzz target, but oaContracts says it decodes no body", c.Method, c.Path)
		}
		delete(fuzzed, r)
	}
	for r := range fuzzed {
		t.Errorf("fzBodyRoutes lists %s %s, which is not in oaContracts", r.Method, r.Path)
	}
}

// The member the environment knows; seeds refer to it and to the orders below.
const (
	fzPhone      = "13800138000"
	fzEarnOrder  = "fz-earn-1"
	fzRedeemOrd  = "fz-redeem-1"
	fzMemberJSON = `{"kind":"phone","value":"` + fzPhone + `"}`
)

// fzEnv is a gateway with some history, shared by the iterations of one
// fuzz target.
type fzEnv struct {
	srv      *Server
	db       *store.DB
	doc      map[string]any
	now      atomic.Int64 // unix microseconds: the gateway's clock
	merchant string
	store    string
	signer   signature.Signer
	txID     int64 // the earn's ledger transaction, sealed
	token    string
	member   string // the member id behind token
	seq      atomic.Int64
}

func (e *fzEnv) clock() time.Time { return time.UnixMicro(e.now.Load()) }

func fzSetup(tb testing.TB) *fzEnv {
	tb.Helper()
	return fzSetupOn(tb, storetest.Open(tb, store.SQLite))
}

// fzSetupOn builds the environment on db (any dialect).
func fzSetupOn(tb testing.TB, db *store.DB) *fzEnv {
	tb.Helper()
	e := &fzEnv{doc: oaDoc(tb)}
	e.now.Store(time.Now().UnixMicro())
	e.db = db
	writer := e.db.NewWriter(store.WriterOptions{BatchSize: 64, BatchWait: 100 * time.Microsecond, Now: e.clock})
	tb.Cleanup(writer.Close)
	key, err := evidence.GenerateKey()
	if err != nil {
		tb.Fatal(err)
	}
	evSigner, err := evidence.NewSigner(key)
	if err != nil {
		tb.Fatal(err)
	}
	sealer, err := evidence.NewSealer(e.db.Evidence(), evSigner, evidence.SealerOptions{Origin: "fuzz.test/lianmeng", Settle: evidence.NoSettle, CheckpointInterval: time.Nanosecond})
	if err != nil {
		tb.Fatal(err)
	}
	pubPEM, _ := evSigner.PublicKeyPEM()
	e.srv = New(Deps{Config: fndConfig(), DB: e.db, Log: fndLogger(), Now: e.clock, Writer: writer,
		Evidence: evidence.NewProofs(e.db.Evidence(), pubPEM, evSigner.KeyID()),
		Consent:  &consent.Service{Store: e.db, Sender: &captureSender{}, Now: e.clock, Channels: fundingChannels{"wechatpay": fzLoginChannel{}}},
		Refunds:  &settlement.Refunds{DB: e.db, Writer: writer, Channels: fundingChannels{}, Now: e.clock}})

	// The history, through the API.
	var m struct{ ID string }
	e.setupDo(tb, fzOperator, "POST", "/v1/operator/merchants", `{"name":"Fuzz Noodles","industry":"restaurant"}`, 201, &m)
	e.merchant = m.ID
	var st struct{ ID string }
	e.setupDo(tb, fzOperator, "POST", "/v1/operator/merchants/"+e.merchant+"/stores", `{"name":"Fuzz Noodles, Xuhui"}`, 201, &st)
	e.store = st.ID
	var cred struct{ ID, Secret string }
	e.setupDo(tb, fzOperator, "POST", "/v1/operator/merchants/"+e.merchant+"/credentials", `{"algorithm":"hmac-sha256","label":"fuzz"}`, 201, &cred)
	if e.signer, err = signature.NewHMACSigner(cred.ID, cred.Secret); err != nil {
		tb.Fatal(err)
	}
	e.setupDo(tb, fzOperator, "PUT", "/v1/operator/merchants/"+e.merchant+"/earning", `{"rate_bp":100}`, 200, nil)
	e.setupDo(tb, fzOperator, "POST", "/v1/operator/merchants/"+e.merchant+"/fund", `{"amount_fen":10000000,"external_ref":"fz-fund-1"}`, 201, nil)
	var earned struct {
		TxID     int64  `json:"tx_id"`
		MemberID string `json:"member_id"`
	}
	e.setupDo(tb, fzMerchant, "POST", "/v1/merchant/earn",
		`{"order_id":"`+fzEarnOrder+`","store_id":"`+e.store+`","member":`+fzMemberJSON+`,"amount_fen":100000}`, 201, &earned)
	e.txID = earned.TxID
	// Release the earned points (after the return window) so they can be
	// redeemed, and redeem some.
	e.now.Add((8 * 24 * time.Hour).Microseconds())
	if _, err := scheduler.PointsJobs(writer, e.srv.svc, time.Minute)[0].Run(context.Background()); err != nil {
		tb.Fatalf("release: %v", err)
	}
	// The member consents with a redemption code from their own session.
	rc, err := e.srv.consent.IssueRedemptionCode(context.Background(), earned.MemberID, 0)
	if err != nil {
		tb.Fatalf("redemption code: %v", err)
	}
	e.setupDo(tb, fzMerchant, "POST", "/v1/merchant/redeem", `{"order_id":"`+fzRedeemOrd+`","code":"`+rc.Code+`","points":100,"amount_fen":1000}`, 201, nil)
	e.member = earned.MemberID
	e.token = e.srv.signMemberToken(earned.MemberID, scopeMember, time.UnixMicro(e.now.Load()).Add(time.Hour))
	if _, err := sealer.SealOnce(context.Background()); err != nil {
		tb.Fatalf("seal: %v", err)
	}
	return e
}

// target fills a route pattern's parameters.
func (e *fzEnv) target(pattern string) string {
	return strings.NewReplacer(":merchant", e.merchant, ":tx", fmt.Sprint(e.txID)).Replace(pattern)
}

type fzResp struct {
	Status int
	Header http.Header
	Body   []byte
}

// do sends one request through the app, authenticated as auth. Writes get
// a fresh Idempotency-Key, signed requests a fresh nonce.
func (e *fzEnv) do(tb testing.TB, auth fzAuth, method, target string, body []byte) fzResp {
	tb.Helper()
	req := httptest.NewRequest(method, target, bytes.NewReader(body))
	if method != "GET" {
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", fmt.Sprintf("fz-%d-%d", time.Now().UnixNano(), e.seq.Add(1)))
	}
	switch auth {
	case fzOperator:
		req.Header.Set("Authorization", "Bearer "+fndOperatorToken)
	case fzMember:
		req.Header.Set("Authorization", "Bearer "+e.token)
	case fzMerchant:
		if err := client.Sign(req, e.merchant, e.signer, e.clock(), signature.NewNonce(), body); err != nil {
			tb.Fatal(err)
		}
	}
	resp, err := e.srv.App().Test(req, -1)
	if err != nil {
		tb.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return fzResp{resp.StatusCode, resp.Header, b}
}

func (e *fzEnv) setupDo(tb testing.TB, auth fzAuth, method, target, body string, status int, out any) {
	tb.Helper()
	r := e.do(tb, auth, method, target, []byte(body))
	if r.Status != status {
		tb.Fatalf("setup %s %s: %d %s, want %d", method, target, r.Status, r.Body, status)
	}
	if out != nil {
		if err := json.Unmarshal(r.Body, out); err != nil {
			tb.Fatalf("setup %s %s: %v", method, target, err)
		}
	}
}

// snapshot hashes each table's rows, except the nonces (consumed by any
// authenticated signed request, whatever its outcome) and the id
// allocator's reservations (a sequence: the writer reserves the next block
// of ids when it runs low, whichever request it is serving; gaps are
// harmless).
func (e *fzEnv) snapshot(tb testing.TB) map[string]string {
	tb.Helper()
	var tables []string
	if err := e.db.R.Select(&tables, `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`); err != nil {
		tb.Fatal(err)
	}
	out := map[string]string{}
	for _, tbl := range tables {
		if strings.Contains(tbl, "nonce") || tbl == "id_blocks" {
			continue
		}
		rows, err := e.db.R.Queryx("SELECT * FROM " + tbl)
		if err != nil {
			tb.Fatal(err)
		}
		h := sha256.New()
		n := 0
		for rows.Next() {
			vs, err := rows.SliceScan()
			if err != nil {
				tb.Fatal(err)
			}
			fmt.Fprintf(h, "%q\n", vs)
			n++
		}
		if err := rows.Err(); err != nil {
			tb.Fatal(err)
		}
		rows.Close()
		out[tbl] = fmt.Sprintf("%d rows %x", n, h.Sum(nil)[:8])
	}
	return out
}

// check sends body to route and checks the property in the file comment.
func (e *fzEnv) check(t *testing.T, r fzRoute, target string, body []byte) {
	t.Helper()
	before := e.snapshot(t)
	resp := e.do(t, r.Auth, r.Method, target, body)
	e.checkAnswer(t, r, resp, body)
	if resp.Status >= 400 && resp.Status < 500 {
		after := e.snapshot(t)
		var changed []string
		for tbl, h := range after {
			if before[tbl] != h {
				changed = append(changed, fmt.Sprintf("%s (%s, was %s)", tbl, h, before[tbl]))
			}
		}
		if len(changed) > 0 {
			t.Fatalf("%s %s answered %d but wrote to the database: %v\nbody: %q\nanswer: %s", r.Method, target, resp.Status, changed, body, resp.Body)
		}
	}
}

func (e *fzEnv) checkAnswer(t *testing.T, r fzRoute, resp fzResp, body []byte) {
	t.Helper()
	key := r.Method + " " + oaPath(r.Path)
	op := oaOps(t, e.doc)[key]
	if op == nil {
		t.Fatalf("%s is not documented", key)
	}
	status := fmt.Sprint(resp.Status)
	responses, _ := op["responses"].(map[string]any)
	documented, _ := oaResolve(t, e.doc, responses[status])
	switch {
	case resp.Status >= 200 && resp.Status < 300:
		if documented == nil {
			t.Fatalf("%s answered %s, which is not documented\nbody: %q\nanswer: %s", key, status, body, resp.Body)
		}
		var got map[string]any
		if err := json.Unmarshal(resp.Body, &got); err != nil {
			t.Fatalf("%s answered %s with a body that is not a JSON object (%v): %s", key, status, err, resp.Body)
		}
		o := (&oaComparer{t: t, doc: e.doc}).object(key+" "+status, oaDig(documented, "content", "application/json", "schema"))
		for k := range got {
			if _, ok := o.props[k]; !ok {
				t.Errorf("%s %s answer has field %q that openapi.json does not document: %s", key, status, k, resp.Body)
			}
		}
		for _, k := range o.required {
			if _, ok := got[k]; !ok {
				t.Errorf("%s %s answer lacks required field %q: %s", key, status, k, resp.Body)
			}
		}
	case resp.Status >= 400 && resp.Status < 500:
		var eb fndErrBody
		if err := json.Unmarshal(resp.Body, &eb); err != nil || eb.Error.Code == "" || eb.Error.Message == "" || eb.Error.RequestID == "" {
			t.Fatalf("%s answered %s without the error model (%v): %s", key, status, err, resp.Body)
		}
		if !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
			t.Fatalf("%s %s: Content-Type %q", key, status, resp.Header.Get("Content-Type"))
		}
		if documented == nil {
			t.Fatalf("%s answered %s (%s), which is not documented\nbody: %q", key, status, eb.Error.Code, body)
		}
		if codes := oaErrorCodes(t, e.doc, documented); !slices.Contains(codes, eb.Error.Code) {
			t.Fatalf("%s answered %s with code %q; openapi.json documents %v for that status\nbody: %q\nanswer: %s",
				key, status, eb.Error.Code, codes, body, resp.Body)
		}
	default:
		t.Fatalf("%s answered %s (neither 2xx nor 4xx)\nbody: %q\nanswer: %s", key, status, body, resp.Body)
	}
}

// oaErrorCodes returns the codes a documented error response lists: the
// enums of error.code in its schema, through $ref and allOf.
func oaErrorCodes(t *testing.T, doc map[string]any, response any) []string {
	t.Helper()
	c := &oaComparer{t: t, doc: doc}
	var out []string
	var walk func(s any)
	walk = func(s any) {
		m := c.resolve("error response", s)
		if props, ok := m["properties"].(map[string]any); ok {
			if code := c.resolve("error code", props["code"]); code != nil {
				if en, ok := code["enum"].([]any); ok {
					for _, v := range en {
						out = append(out, fmt.Sprint(v))
					}
				}
			}
			if e, ok := props["error"]; ok {
				walk(e)
			}
		}
		if all, ok := m["allOf"].([]any); ok {
			for _, a := range all {
				walk(a)
			}
		}
	}
	walk(oaDig(response, "content", "application/json", "schema"))
	slices.Sort(out)
	return slices.Compact(out)
}

// fuzzRoute runs the named target's route over the seeds and the fuzzer's
// inputs.
func fuzzRoute(f *testing.F, name string, seeds ...string) {
	r, ok := fzBodyRoutes[name]
	if !ok {
		f.Fatalf("%s is not in fzBodyRoutes", name)
	}
	for _, s := range append(seeds, fzCommonSeeds...) {
		f.Add([]byte(s))
	}
	e := fzSetup(f)
	target := e.target(r.Path)
	f.Fuzz(func(t *testing.T, body []byte) {
		e.check(t, r, target, bytes.ReplaceAll(bytes.ReplaceAll(body, []byte("$MERCHANT"), []byte(e.merchant)), []byte("$STORE"), []byte(e.store)))
	})
}

// fzCommonSeeds are bodies every decoder must refuse cleanly.
var fzCommonSeeds = []string{
	``, ` `, `null`, `[]`, `{}`, `{`, `}`, `"x"`, `0`, `true`,
	`{}{}`, `{} x`, `{"a":1}`, `{"":""}`, "{\"\xff\":1}", `{"order_id":}`,
	`{"amount_fen":1e3}`, `{"amount_fen":-1}`, `{"amount_fen":99999999999999999999}`, `{"amount_fen":"100"}`,
	`{"points":1.5}`, `{"member":"13800138000"}`, `{"member":{"kind":"phone"}}`, `{"member":null}`,
	strings.Repeat(`[`, 10000), `{"name":"` + strings.Repeat("長", 5000) + `"}`,
}

func FuzzOperatorCreateMerchant(f *testing.F) {
	fuzzRoute(f, "FuzzOperatorCreateMerchant",
		`{"name":"Noodle House","industry":"restaurant"}`,
		`{"name":"  ","industry":"restaurant"}`,
		`{"name":"Noodle House","industry":"bank"}`,
		`{"name":"Noodle House"}`,
		`{"name":"Noodle House","industry":"restaurant","extra":1}`,
		`{"name":"`+strings.Repeat("x", 101)+`","industry":"other"}`,
	)
}

func FuzzOperatorSetMerchantStatus(f *testing.F) {
	fuzzRoute(f, "FuzzOperatorSetMerchantStatus",
		`{"status":"active"}`, `{"status":"suspended"}`, `{"status":"closed"}`, `{"status":""}`, `{"status":1}`)
}

func FuzzOperatorCreateStore(f *testing.F) {
	fuzzRoute(f, "FuzzOperatorCreateStore",
		`{"name":"Noodle House, Xuhui"}`, `{"name":""}`, `{"name":null}`, `{"name":"a","merchant_id":"$MERCHANT"}`)
}

func FuzzOperatorCreateCredential(f *testing.F) {
	fuzzRoute(f, "FuzzOperatorCreateCredential",
		`{"algorithm":"hmac-sha256","label":"POS"}`,
		`{"algorithm":"ed25519","public_key":"-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\n-----END PUBLIC KEY-----\n"}`,
		`{"algorithm":"ed25519","public_key":"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"}`,
		`{"algorithm":"sm2","public_key":"not pem"}`,
		`{"algorithm":"hmac-sha256","public_key":"x"}`,
		`{"algorithm":"rsa"}`, `{"label":"no algorithm"}`,
	)
}

func FuzzOperatorFund(f *testing.F) {
	fuzzRoute(f, "FuzzOperatorFund",
		`{"amount_fen":100000,"external_ref":"wx-4200001234"}`,
		`{"amount_fen":100000,"external_ref":"fz-fund-1"}`, // already recorded
		`{"amount_fen":0,"external_ref":"x"}`, `{"amount_fen":1000000000001,"external_ref":"x"}`,
		`{"amount_fen":100}`, `{"amount_fen":100,"external_ref":""}`,
		`{"amount_fen":100,"external_ref":"`+strings.Repeat("r", 129)+`"}`,
	)
}

func FuzzOperatorSetEarning(f *testing.F) {
	fuzzRoute(f, "FuzzOperatorSetEarning",
		`{"rate_bp":100}`, `{"rate_bp":100,"max_points":5000,"rule_plugin":""}`, `{"rule_plugin":"restaurant"}`,
		`{"rate_bp":-1}`, `{"rate_bp":10001}`, `{"max_points":-5}`, `{"max_points":99999999999}`,
		`{"rule_plugin":"`+strings.Repeat("p", 33)+`"}`,
	)
}

func FuzzMerchantEarn(f *testing.F) {
	fuzzRoute(f, "FuzzMerchantEarn",
		`{"order_id":"A-1","member":{"kind":"phone","value":"13800138000"},"amount_fen":12800}`,
		`{"order_id":"A-2","store_id":"$STORE","member":{"kind":"customer","value":"c-1"},"amount_fen":1,"points":0,"items":[{"sku":"x","name":"Noodles","category":"food","quantity":1,"amount_fen":1}],"attributes":{"channel":"pos"},"occurred_at":"2026-11-24T12:00:00Z"}`,
		`{"order_id":"A-3","member":{"kind":"wechat_openid","value":"o6_bmjrPTlm6_2sgVt7hMZOPfL2M"},"amount_fen":500,"points":5}`,
		`{"order_id":"`+fzEarnOrder+`","member":{"kind":"phone","value":"13800138000"},"amount_fen":100000}`, // already earned
		`{"order_id":"A-4","member":{"kind":"phone","value":"13800138000"},"amount_fen":100000000000000}`,    // over the budget
		`{"order_id":"A-5","member":{"kind":"phone","value":"138"},"amount_fen":100}`,
		`{"order_id":"A-6","member":{"kind":"email","value":"a@b"},"amount_fen":100}`,
		`{"order_id":"","member":{"kind":"phone","value":"13800138000"},"amount_fen":100}`,
		`{"order_id":"A-7","store_id":"sto_nosuchstore000000","member":{"kind":"phone","value":"13800138000"},"amount_fen":100}`,
		`{"order_id":"A-8","member":{"kind":"phone","value":"13800138000"},"amount_fen":100,"points":-1}`,
		`{"order_id":"A-9","member":{"kind":"phone","value":"13800138000"},"amount_fen":100,"items":[{"quantity":-1}]}`,
		`{"order_id":"A-10","member":{"kind":"phone","value":"13800138000"},"amount_fen":100,"attributes":{"":"x"}}`,
		`{"order_id":"A-11","member":{"kind":"phone","value":"13800138000"},"amount_fen":100,"occurred_at":"yesterday"}`,
	)
}

func FuzzMerchantEarnRefund(f *testing.F) {
	fuzzRoute(f, "FuzzMerchantEarnRefund",
		`{"order_id":"`+fzEarnOrder+`","amount_fen":1000}`,
		`{"order_id":"`+fzEarnOrder+`","amount_fen":100001}`, // more than the purchase
		`{"order_id":"no-such-order","amount_fen":100}`,
		`{"order_id":"`+fzEarnOrder+`","amount_fen":0}`,
		`{"order_id":"`+fzEarnOrder+`"}`,
	)
}

func FuzzMerchantRedeem(f *testing.F) {
	fuzzRoute(f, "FuzzMerchantRedeem",
		`{"order_id":"R-1","member":{"kind":"phone","value":"13800138000"},"points":10}`,
		`{"order_id":"R-2","store_id":"$STORE","member":{"kind":"phone","value":"13800138000"},"points":10,"amount_fen":100}`,
		`{"order_id":"R-3","member":{"kind":"phone","value":"13800138000"},"points":100000}`, // more than available
		`{"order_id":"R-4","member":{"kind":"phone","value":"13900139000"},"points":1}`,      // unknown member
		`{"order_id":"R-5","member":{"kind":"phone","value":"13800138000"},"points":10,"amount_fen":5}`,
		`{"order_id":"`+fzRedeemOrd+`","member":{"kind":"phone","value":"13800138000"},"points":1}`,
		`{"order_id":"R-6","member":{"kind":"phone","value":"13800138000"},"points":0}`,
	)
}

func FuzzMerchantRedeemRefund(f *testing.F) {
	fuzzRoute(f, "FuzzMerchantRedeemRefund",
		`{"order_id":"`+fzRedeemOrd+`","points":10}`,
		`{"order_id":"`+fzRedeemOrd+`"}`,
		`{"order_id":"`+fzRedeemOrd+`","points":101}`,
		`{"order_id":"`+fzRedeemOrd+`","points":-1}`,
		`{"order_id":"no-such-order"}`,
	)
}

func FuzzMerchantMemberLookup(f *testing.F) {
	fuzzRoute(f, "FuzzMerchantMemberLookup",
		`{"member":`+fzMemberJSON+`}`,
		`{"member":{"kind":"phone","value":"+8613800138000"}}`,
		`{"member":{"kind":"phone","value":"13900139000"}}`,
		`{"member":{"kind":"phone","value":"abc"}}`,
		`{"member":{"kind":"customer","value":""}}`,
		`{"member":{"kind":"passport","value":"E123"}}`,
	)
}

func FuzzMerchantMemberToken(f *testing.F) {
	fuzzRoute(f, "FuzzMerchantMemberToken",
		`{"code":"612345678901234566"}`, `{"code":"612345678901234563"}`, `{"code":""}`,
		`{"member":`+fzMemberJSON+`}`,
	)
}

func FuzzMerchantRedeemConsent(f *testing.F) {
	fuzzRoute(f, "FuzzMerchantRedeemConsent",
		`{"member":`+fzMemberJSON+`,"points":10}`,
		`{"member":{"kind":"phone","value":"13999999999"},"points":10}`,
		`{"member":{"kind":"customer","value":"c1"},"points":10}`,
		`{"member":`+fzMemberJSON+`,"points":0}`,
	)
}

func FuzzMemberSignIn(f *testing.F) {
	fuzzRoute(f, "FuzzMemberSignIn", `{"phone":"13800138000"}`, `{"phone":"+8613800138000"}`, `{"phone":"abc"}`, `{"phone":""}`)
}

func FuzzMemberSignInVerify(f *testing.F) {
	fuzzRoute(f, "FuzzMemberSignInVerify", `{"phone":"13800138000","code":"123456"}`, `{"phone":"13800138000","code":""}`, `{"phone":"x","code":"1"}`)
}

func FuzzMemberRedemptionCode(f *testing.F) {
	fuzzRoute(f, "FuzzMemberRedemptionCode", `{}`, `{"max_points":100}`, `{"max_points":-1}`, `{"max_points":1e3}`)
}

// FuzzEvidenceQueries fuzzes the evidence routes' query and path
// parameters: the consistency proof's from/to and a transaction id, as a
// merchant and as a member.
func FuzzEvidenceQueries(f *testing.F) {
	for _, s := range []string{"from=0&to=1", "from=1&to=1", "from=1&to=2", "from=2&to=1", "from=-1&to=1", "from=x", "", "to=99999999999999999999",
		"from=1&from=2&to=3", "from=%00&to=1", "1", "999999", "-1", "0", "0x10", "1e3", "%2e%2e", "01"} {
		f.Add(s)
	}
	e := fzSetup(f)
	consistency := fzRoute{"GET", "/v1/evidence/consistency", fzPublic}
	asMerchant := fzRoute{"GET", "/v1/merchant/evidence/transactions/:tx", fzMerchant}
	asMember := fzRoute{"GET", "/v1/member/evidence/transactions/:tx", fzMember}
	f.Fuzz(func(t *testing.T, s string) {
		// Only what a client can put on a request line.
		q := strings.Map(func(r rune) rune {
			if r <= ' ' || r >= 0x7f || r == '#' {
				return -1
			}
			return r
		}, s)
		if _, err := url.ParseRequestURI("/?" + q); err != nil {
			return // not a request line a client can send
		}
		e.check(t, consistency, "/v1/evidence/consistency?"+q, nil)
		if seg := strings.NewReplacer("/", "", "?", "", "%", "").Replace(q); seg != "" {
			e.check(t, asMerchant, "/v1/merchant/evidence/transactions/"+seg, nil)
			e.check(t, asMember, "/v1/member/evidence/transactions/"+seg, nil)
		}
	})
}

func FuzzOperatorCreateStaff(f *testing.F) {
	fuzzRoute(f, "FuzzOperatorCreateStaff",
		`{"login":"cashier1","role":"cashier","password":"correct horse battery staple"}`,
		`{"login":"owner","role":"owner","password":"short"}`,
		`{"login":"","role":"cashier","password":"x"}`,
		`{"login":"a","role":"admin","password":"correct horse battery staple"}`,
	)
}
