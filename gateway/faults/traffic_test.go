//go:build faults

package faults

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/gateway/loadgen"
	"github.com/lianmeng/lianmeng/sdk/client"
)

// Kinds of write the load sends.
const (
	kindEarn         = "earn"
	kindRedeem       = "redeem"
	kindEarnRefund   = "earn_refund"
	kindRedeemRefund = "redeem_refund"
)

var paths = map[string]string{
	kindEarn:         "/v1/merchant/earn",
	kindRedeem:       "/v1/merchant/redeem",
	kindEarnRefund:   "/v1/merchant/earn/refund",
	kindRedeemRefund: "/v1/merchant/redeem/refund",
}

// expectedRefusals are the refusals a well-formed request of each kind may
// get under this load (they must write nothing); any other code fails the
// scenario.
var expectedRefusals = map[string]map[string]bool{
	kindEarn:         {},
	kindRedeem:       {"insufficient_points": true},
	kindEarnRefund:   {},
	kindRedeemRefund: {},
}

// request is one logical write: the same key and body on every attempt
// (each attempt signed afresh), until the gateway gives a definite answer.
type request struct {
	kind     string
	merchant int
	key      string
	body     []byte
	order    string // the purchase the write creates or refunds
	amount   int64  // refund amount (earn refund)

	attempts int
	acked    bool
	code     string // the definite refusal, if any
	resp     map[string]any
	sentAt   time.Time // the last attempt
	ackedAt  time.Time
}

func (r *request) int(field string) int64 {
	f, _ := r.resp[field].(float64)
	return int64(f)
}

// member is a phone in the load's pool, signed in once it has earned and
// again whenever its token (15 minutes) has expired.
type member struct {
	phone string
	mu    sync.Mutex // one sign-in at a time: the sender throttles resends
	token string
}

// currentToken is the member's token now.
func (m *member) currentToken() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.token
}

// load drives signed traffic at one or more gateways and records every
// answer.
type load struct {
	t       testing.TB
	run     string // prefix of every order id and key: unique per scenario
	ms      []loadgen.Merchant
	hc      *http.Client
	bases   []string // gateways; client w uses bases[w % len]
	members []*member
	hostile bool
	// lookup finds the sign-in code the dev sender logged for a phone
	// after the given time ("" if none yet).
	lookup func(phone string, after time.Time) string
	// feeds, if set, mixes in POS webhooks and channel fundings (feeds_test.go).
	feeds *feeds
	// hang mixes in earns the rule plugin sleeps past its deadline on, at
	// the merchants in ruleMerchants (which earn through the plugin).
	hang          bool
	ruleMerchants map[int]bool
	deadline      time.Duration // how long one request is retried before it counts as unanswered

	mu        sync.Mutex
	reqs      []*request
	hostiles  []*request
	rejected  map[string]int // definite refusals by code (hostile ones included)
	transient map[string]int // answers that were retried: 503 codes, 5xx, transport

	acked   atomic.Int64
	stop    atomic.Bool
	paused  atomic.Bool
	wg      sync.WaitGroup
	started time.Time
}

// newLoad sets up merchants through the first gateway (operator API) and
// signs the member pool in after one earn each.
// With rulePlugin, as many merchants again earn through that plugin.
func newLoad(t testing.TB, run string, bases []string, merchants, members int, lookup func(phone string, after time.Time) string, rulePlugin ...string) *load {
	t.Helper()
	l := &load{t: t, run: run, bases: bases, hc: loadgen.NewHTTPClient(64, 10*time.Second),
		rejected: map[string]int{}, transient: map[string]int{}, deadline: 180 * time.Second, lookup: lookup}
	t.Cleanup(l.hc.CloseIdleConnections)
	ctx, cancel := withTimeout(2 * time.Minute)
	defer cancel()
	ms, err := loadgen.Setup(ctx, loadgen.Config{BaseURL: bases[0], OperatorToken: operatorToken}, merchants, l.hc,
		loadgen.SetupOptions{RateBP: 1000})
	if err != nil {
		t.Fatalf("setup: %v", err)
	}
	l.ms = ms
	if len(rulePlugin) > 0 {
		// As many merchants again, earning through the rule plugin.
		ps, err := loadgen.Setup(ctx, loadgen.Config{BaseURL: bases[0], OperatorToken: operatorToken}, merchants, l.hc,
			loadgen.SetupOptions{RulePlugin: rulePlugin[0]})
		if err != nil {
			t.Fatalf("setup with the rule plugin: %v", err)
		}
		l.ruleMerchants = map[int]bool{}
		for i := range ps {
			l.ruleMerchants[len(l.ms)+i] = true
		}
		l.ms = append(l.ms, ps...)
	}
	// Every member earns once, then signs in with the code the dev sender
	// logged (sequentially: the sender is throttled per phone, not here).
	for i := 0; i < members; i++ {
		m := &member{phone: fmt.Sprintf("1390%07d", mrand.IntN(10_000_000))}
		l.members = append(l.members, m)
		r := l.earn(0, i%len(ms), m)
		l.do(ctx, 0, r)
		if !r.acked {
			t.Fatalf("first earn of member %s: %s", m.phone, r.code)
		}
		if err := l.signIn(ctx, 0, m, ""); err != nil {
			t.Fatal(err)
		}
	}
	return l
}

// signIn signs the member in with the code the dev sender logs, unless
// another worker already replaced the expired token stale meanwhile.
func (l *load) signIn(ctx context.Context, w int, m *member, stale string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.token != stale {
		return nil
	}
	op := client.NewOperator(l.bases[w%len(l.bases)], "", client.WithHTTPClient(l.hc))
	// Only a code logged after this request is the one it issued: the
	// member's previous code (already used) may still be the last logged.
	sent := time.Now()
	if err := op.Do(ctx, "POST", "/v1/member/signin", map[string]string{"phone": m.phone}, nil); err != nil {
		return fmt.Errorf("signin %s: %w", m.phone, err)
	}
	var code string
	for end := time.Now().Add(10 * time.Second); code == "" && time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		code = l.lookup(m.phone, sent)
	}
	if code == "" {
		return fmt.Errorf("no sign-in code logged for %s", m.phone)
	}
	var tok struct {
		Token string `json:"token"`
	}
	if err := op.Do(ctx, "POST", "/v1/member/signin/verify", map[string]string{"phone": m.phone, "code": code}, &tok); err != nil {
		return fmt.Errorf("signin verify %s: %w", m.phone, err)
	}
	m.token = tok.Token
	return nil
}

func (l *load) merchantAt(w, i int) *loadgen.Merchant {
	m := l.ms[i].At(l.bases[w%len(l.bases)], l.hc)
	return &m
}

var seq atomic.Int64

func (l *load) newRequest(kind string, merchant int, order string, body any) *request {
	b, err := json.Marshal(body)
	if err != nil {
		l.t.Fatal(err)
	}
	n := seq.Add(1)
	return &request{kind: kind, merchant: merchant, order: order, body: b, key: fmt.Sprintf("%s-%s-%d", l.run, kind, n)}
}

func (l *load) earn(w, merchant int, m *member) *request {
	order := fmt.Sprintf("%s-e-%d-%d", l.run, w, seq.Add(1))
	return l.newRequest(kindEarn, merchant, order, loadgen.EarnBody{OrderID: order,
		Member: loadgen.Member{Kind: "phone", Value: m.phone}, AmountFen: 2000 + mrand.Int64N(18000)})
}

// do sends r until the gateway answers it definitely: success or a 4xx.
// 503s, other 5xx and transport errors are retried with the same key and
// body (a new signature and nonce each time), as a careful client does.
func (l *load) do(ctx context.Context, w int, r *request) {
	l.mu.Lock()
	l.reqs = append(l.reqs, r)
	l.mu.Unlock()
	end := time.Now().Add(l.deadline)
	for time.Now().Before(end) {
		r.attempts++
		r.sentAt = time.Now()
		// A retry goes to the next gateway, as behind a load balancer.
		m := l.merchantAt(w+r.attempts-1, r.merchant)
		var out map[string]any
		err := m.Client.Do(ctx, "POST", paths[r.kind], r.body, &out, client.IdempotencyKey(r.key))
		if err == nil {
			r.acked, r.resp, r.ackedAt = true, out, time.Now()
			l.acked.Add(1)
			return
		}
		var ae *client.APIError
		wait := 100 * time.Millisecond
		if errors.As(err, &ae) && ae.Status < 500 {
			r.code = ae.Code
			l.count(l.rejected, ae.Code)
			return
		}
		if errors.As(err, &ae) {
			l.count(l.transient, fmt.Sprintf("%d %s", ae.Status, ae.Code))
			if ae.Status == 503 && ae.RetryAfter == 0 {
				l.count(l.transient, "503 "+ae.Code+" no Retry-After")
			}
			if ae.RetryAfter > 0 && ae.RetryAfter < time.Second {
				wait = ae.RetryAfter
			}
		} else {
			l.count(l.transient, loadgen.ErrorCode(err))
		}
		if ctx.Err() != nil {
			return
		}
		time.Sleep(wait + time.Duration(mrand.Int64N(int64(50*time.Millisecond))))
	}
}

// transientCount is how many retried answers so far start with prefix.
func (l *load) transientCount(prefix string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for k, v := range l.transient {
		if strings.HasPrefix(k, prefix) {
			n += v
		}
	}
	return n
}

// transientSnapshot copies the retried answers by code.
func (l *load) transientSnapshot() map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string]int{}
	for k, v := range l.transient {
		out[k] = v
	}
	return out
}

func (l *load) count(m map[string]int, code string) {
	l.mu.Lock()
	m[code]++
	l.mu.Unlock()
}

// start runs clients until halt. Each client mixes earns, refunds of its
// own acknowledged earns, redemptions with a fresh member code, and refunds
// of its redemptions; with hostile set, bad requests too.
func (l *load) start(clients int) {
	l.started = time.Now()
	for w := 0; w < clients; w++ {
		l.wg.Add(1)
		go func(w int) {
			defer l.wg.Done()
			l.client(w)
		}(w)
	}
}

// halt stops the clients after their current request is answered.
func (l *load) halt() {
	l.stop.Store(true)
	l.wg.Wait()
}

func (l *load) client(w int) {
	ctx := context.Background()
	var earns, redeems []*request
	for !l.stop.Load() {
		if l.paused.Load() {
			time.Sleep(20 * time.Millisecond)
			continue
		}
		p := mrand.Float64()
		switch {
		case l.feeds != nil && p < 0.06:
			l.feeds.webhook(l.t, l)
		case l.feeds != nil && p < 0.08:
			l.feeds.fund(l.t, l)
		case l.hostile && p < 0.12:
			l.sendHostile(ctx, w)
		case l.hang && p < 0.03:
			l.sendHang(ctx, w)
		case p < 0.6 || len(earns) == 0:
			r := l.earn(w, mrand.IntN(len(l.ms)), l.members[mrand.IntN(len(l.members))])
			l.do(ctx, w, r)
			if r.acked {
				earns = append(earns, r)
			}
		case p < 0.72:
			// Refund half of an earn, once: applied twice it would refund
			// the whole purchase and the check below would see it.
			i := mrand.IntN(len(earns))
			e := earns[i]
			earns = append(earns[:i], earns[i+1:]...)
			var body loadgen.EarnBody
			json.Unmarshal(e.body, &body)
			r := l.newRequest(kindEarnRefund, e.merchant, e.order, map[string]any{"order_id": e.order, "amount_fen": body.AmountFen / 2})
			r.amount = body.AmountFen / 2
			l.do(ctx, w, r)
		case p < 0.9:
			m := l.members[mrand.IntN(len(l.members))]
			code, ok := l.redemptionCode(ctx, w, m)
			if !ok {
				continue
			}
			order := fmt.Sprintf("%s-r-%d-%d", l.run, w, seq.Add(1))
			pts := 10 + mrand.Int64N(40)
			merchant := mrand.IntN(len(l.ms))
			r := l.newRequest(kindRedeem, merchant, order, map[string]any{"order_id": order, "code": code, "points": pts, "amount_fen": pts + 100})
			l.do(ctx, w, r)
			if r.acked {
				redeems = append(redeems, r)
			}
		default:
			if len(redeems) == 0 {
				continue
			}
			i := mrand.IntN(len(redeems))
			rd := redeems[i]
			redeems = append(redeems[:i], redeems[i+1:]...)
			r := l.newRequest(kindRedeemRefund, rd.merchant, rd.order, map[string]any{"order_id": rd.order, "points": rd.int("points") / 2})
			l.do(ctx, w, r)
		}
	}
}

// redemptionCode asks a member's redemption code (a consent row, not a
// ledger write: on failure the client simply asks again).
func (l *load) redemptionCode(ctx context.Context, w int, m *member) (string, bool) {
	for end := time.Now().Add(l.deadline); time.Now().Before(end) && !l.stop.Load(); {
		tok := m.currentToken()
		mc := client.NewOperator(l.bases[w%len(l.bases)], tok, client.WithHTTPClient(l.hc))
		var out struct {
			Code string `json:"code"`
		}
		err := mc.Do(ctx, "POST", "/v1/member/redemption-codes", map[string]any{}, &out)
		if err == nil {
			return out.Code, true
		}
		var ae *client.APIError
		if errors.As(err, &ae) && ae.Code == "member_token_invalid" {
			// The token lasts 15 minutes; a member app signs in again.
			if err := l.signIn(ctx, w, m, tok); err != nil {
				l.t.Logf("signing %s in again: %v", m.phone, err)
				time.Sleep(time.Second)
			}
			continue
		}
		if errors.As(err, &ae) && ae.Status < 500 {
			l.t.Errorf("redemption code for %s: %v", m.phone, err)
			return "", false
		}
		time.Sleep(100 * time.Millisecond)
	}
	return "", false
}

// hostileExpect is what each bad request must be answered (a transport
// error is also accepted while the gateway is down); none may write.
var hostileExpect = map[string]map[string]bool{
	"malformed":  {"malformed_json": true},
	"oversized":  {"body_too_large": true},
	"missigned":  {"signature_invalid": true},
	"replayed":   {"nonce_replayed": true},
	"key_reused": {"idempotency_key_reused": true},
}

// sendHostile sends one bad request: malformed JSON, a body over the
// limit, a signature that does not verify, a captured request sent again
// verbatim, or a used idempotency key with another body.
func (l *load) sendHostile(ctx context.Context, w int) {
	kinds := []string{"malformed", "oversized", "missigned", "replayed", "key_reused"}
	kind := kinds[mrand.IntN(len(kinds))]
	mi := mrand.IntN(len(l.ms))
	m := l.merchantAt(w, mi)
	order := fmt.Sprintf("%s-x-%s-%d", l.run, kind, seq.Add(1))
	key := fmt.Sprintf("%s-x-%d", l.run, seq.Add(1))
	good, _ := json.Marshal(loadgen.EarnBody{OrderID: order, Member: loadgen.Member{Kind: "phone", Value: l.members[0].phone}, AmountFen: 5000})
	body := good
	switch kind {
	case "malformed":
		body = []byte(`{"order_id":"` + order + `","amount_fen":`)
	case "oversized":
		body = append([]byte(`{"order_id":"`+order+`","pad":"`), bytes.Repeat([]byte("x"), 2<<20)...)
		body = append(body, `"}`...)
	case "key_reused":
		// An acknowledged earn's key with another body: 409, and the
		// first effect stays the only one.
		l.mu.Lock()
		var prev *request
		for i := len(l.reqs) - 1; i >= 0 && i > len(l.reqs)-200; i-- {
			if r := l.reqs[i]; r.kind == kindEarn && r.acked {
				prev = r
				break
			}
		}
		l.mu.Unlock()
		if prev == nil {
			return
		}
		key, mi = prev.key, prev.merchant
		m = l.merchantAt(w, mi)
	}
	req, err := m.Client.NewRequest(ctx, "POST", paths[kindEarn], body, client.IdempotencyKey(key))
	if err != nil {
		l.t.Fatal(err)
	}
	if kind == "missigned" {
		sig := []byte(req.Header.Get("X-Lianmeng-Signature"))
		sig[len(sig)/2] ^= 1
		if sig[len(sig)/2] == '=' || sig[len(sig)/2] < '+' {
			sig[len(sig)/2] = 'A'
		}
		req.Header.Set("X-Lianmeng-Signature", string(sig))
	}
	h := &request{kind: "hostile:" + kind, merchant: mi, key: key, order: order, body: body}
	if kind == "key_reused" {
		h.key = "" // the key is legitimately present
	}
	var out map[string]any
	send := func() (int, string, error) {
		rq := req.Clone(ctx)
		rq.Body = io.NopCloser(bytes.NewReader(body))
		resp, err := l.hc.Do(rq)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		var e struct {
			Error struct {
				Code string `json:"code"`
			} `json:"error"`
		}
		raw, _ := io.ReadAll(resp.Body)
		json.Unmarshal(raw, &e)
		if resp.StatusCode == 201 {
			json.Unmarshal(raw, &out)
		}
		return resp.StatusCode, e.Error.Code, nil
	}
	status, code, err := send()
	if kind == "replayed" {
		// The first send is a good earn, recorded like any other (and
		// resolved by retries if its answer is lost).
		r := &request{kind: kindEarn, merchant: mi, key: key, body: body, order: order, attempts: 1}
		if err != nil || status >= 500 {
			l.do(ctx, w, r)
			return
		}
		l.mu.Lock()
		l.reqs = append(l.reqs, r)
		l.mu.Unlock()
		if status != 201 {
			r.code = code
			l.count(l.rejected, code)
			return
		}
		r.acked, r.resp, r.ackedAt = true, out, time.Now()
		r.sentAt = r.ackedAt
		l.acked.Add(1)
		h.key, h.order = "", "" // the order is legitimately present
		status, code, err = send()
	}
	l.mu.Lock()
	l.hostiles = append(l.hostiles, h)
	l.mu.Unlock()
	switch {
	case err != nil || status >= 500:
		h.code = "transport"
		l.count(l.transient, "hostile "+loadgen.ErrorCode(err))
	default:
		h.code = code
		l.count(l.rejected, code)
		if !hostileExpect[kind][code] {
			l.t.Errorf("hostile %s request answered %d %q", kind, status, code)
		}
	}
}

// sendHang sends an earn the rule plugin overruns its deadline on: 503
// rule_unavailable with Retry-After, and no effect. It is not retried (it
// would hang again).
func (l *load) sendHang(ctx context.Context, w int) {
	var mi int
	for mi = range l.ruleMerchants {
		break
	}
	order := fmt.Sprintf("%s-h-%d", l.run, seq.Add(1))
	r := l.newRequest("hang", mi, order, map[string]any{"order_id": order, "amount_fen": 5000,
		"member": loadgen.Member{Kind: "phone", Value: l.members[0].phone}, "attributes": map[string]string{"sleep": "1500ms"}})
	err := l.merchantAt(w, mi).Client.Do(ctx, "POST", paths[kindEarn], r.body, nil, client.IdempotencyKey(r.key))
	l.mu.Lock()
	l.hostiles = append(l.hostiles, r)
	l.mu.Unlock()
	var ae *client.APIError
	switch {
	case errors.As(err, &ae) && ae.Status == 503 && ae.Code == "rule_unavailable" && ae.RetryAfter > 0:
		r.code = ae.Code
		l.count(l.rejected, "hang: "+ae.Code)
	case errors.As(err, &ae) && ae.Status == 503:
		r.code = ae.Code
		l.count(l.rejected, "hang: "+ae.Code)
		if ae.RetryAfter == 0 {
			l.t.Errorf("earn on a hanging plugin: 503 %s without Retry-After", ae.Code)
		}
	default:
		l.t.Errorf("earn on a hanging plugin answered %v, want 503 rule_unavailable", err)
	}
}

// waitAck returns how long after from the first write sent after from was
// acknowledged (the time to recover), or false if none was within d.
func (l *load) waitAck(from time.Time, d time.Duration) (time.Duration, bool) {
	return l.waitAckWhere(from, d, func(*request) bool { return true })
}

// waitAckWhere is waitAck for the requests match accepts.
func (l *load) waitAckWhere(from time.Time, d time.Duration, match func(*request) bool) (time.Duration, bool) {
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		l.mu.Lock()
		var first time.Time
		for i := len(l.reqs) - 1; i >= 0 && i > len(l.reqs)-5000; i-- {
			if r := l.reqs[i]; r.acked && r.sentAt.After(from) && match(r) && (first.IsZero() || r.ackedAt.Before(first)) {
				first = r.ackedAt
			}
		}
		l.mu.Unlock()
		if !first.IsZero() {
			return first.Sub(from), true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return 0, false
}

// report is what a scenario prints.
type report struct {
	Scenario   string         `json:"scenario"`
	Database   string         `json:"database"`
	Seconds    float64        `json:"seconds"`
	Faults     int            `json:"faults"`
	Requests   int            `json:"requests"`
	Acked      int            `json:"acknowledged"`
	Retried    int            `json:"retried"`
	Attempts   int            `json:"attempts"`
	Hostile    int            `json:"hostile"`
	Rejected   map[string]int `json:"rejected_by_code"`
	Transient  map[string]int `json:"retried_answers"`
	RecoverMs  []int64        `json:"recover_ms"`
	Unanswered int            `json:"unanswered"`
}

func (l *load) report(scenario, database string, faults int, recover []time.Duration) report {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := report{Scenario: scenario, Database: database, Seconds: time.Since(l.started).Seconds(), Faults: faults,
		Requests: len(l.reqs) + len(l.hostiles), Hostile: len(l.hostiles),
		Rejected: map[string]int{}, Transient: map[string]int{}}
	for k, v := range l.rejected {
		r.Rejected[k] = v
	}
	for k, v := range l.transient {
		r.Transient[k] = v
	}
	for _, q := range l.reqs {
		r.Attempts += q.attempts
		if q.acked {
			r.Acked++
		}
		if q.attempts > 1 {
			r.Retried++
		}
		if !q.acked && q.code == "" {
			r.Unanswered++
		}
	}
	for _, d := range recover {
		r.RecoverMs = append(r.RecoverMs, d.Milliseconds())
	}
	return r
}

// emit logs the report and appends it as one JSON line to $FAULTS_REPORT.
func (r report) emit(t testing.TB) {
	codes := func(m map[string]int) string {
		var ks []string
		for k, v := range m {
			ks = append(ks, fmt.Sprintf("%s=%d", k, v))
		}
		sort.Strings(ks)
		return strings.Join(ks, " ")
	}
	t.Logf("REPORT %s/%s: %.0fs, %d faults, %d requests (%d hostile), %d acknowledged, %d retried (%d attempts), unanswered %d; rejected: %s; retried answers: %s; recover ms: %v",
		r.Scenario, r.Database, r.Seconds, r.Faults, r.Requests, r.Hostile, r.Acked, r.Retried, r.Attempts, r.Unanswered,
		codes(r.Rejected), codes(r.Transient), r.RecoverMs)
	if p := os.Getenv("FAULTS_REPORT"); p != "" {
		f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			t.Errorf("report: %v", err)
			return
		}
		defer f.Close()
		b, _ := json.Marshal(r)
		f.Write(append(b, '\n'))
	}
}
