package api

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/lianmeng/lianmeng/gateway/ledger"
	"github.com/lianmeng/lianmeng/gateway/merchant"
	"github.com/lianmeng/lianmeng/gateway/points"
	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
)

// Issue 16, "no forced conversion, by construction", checked on the
// running gateway rather than its source: every route the server has
// registered (Server.Routes, whatever file registered it) is called, as
// the operator, as the merchant (signed), as the member and anonymously,
// with bodies built from its documented request schema and filled with the
// member's identity, the known orders and amounts. Afterwards every ledger
// transaction that took points from a member must be one of the allowed
// flows, moving them to the allowed place:
//
//	redeem        available -> alliance:burned, with the member's consent used for it
//	clawback      pending/available -> the earning merchant's budget (a refunded purchase)
//	debt_recovery available -> the merchant's budget (repaying a clawback shortfall)
//	release       pending -> the member's own available
//	expire        -> alliance:expired (a lot's published expiry)
//
// Nothing else: no operator adjustment, no conversion of points into
// anything (cash, another asset, "equity"), no transfer to another member.
func TestNoRouteTakesMembersPoints(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := fzSetupOn(t, db)
		before := lastTxID(t, db)
		available := memberPoints(t, db, e.member)
		if available == 0 {
			t.Fatal("the member holds no points: the probe would prove nothing")
		}
		// The wind-down closes issuance for good: probe it last. A probe
		// that suspended the merchant is undone before the next route, so
		// every route meets a working merchant.
		routes := slices.Clone(e.srv.Routes())
		slices.SortStableFunc(routes, func(a, b Route) int {
			return cmpBool(strings.Contains(a.Path, "wind-down"), strings.Contains(b.Path, "wind-down"))
		})
		answered := map[string]int{}
		for _, r := range routes {
			if err := e.db.Merchants().SetMerchantStatus(t.Context(), e.merchant, merchant.StatusActive, e.clock(), "test"); err != nil {
				t.Fatal(err)
			}
			e.srv.cache.forgetAll()
			target := e.probeTarget(r.Path)
			for _, auth := range []fzAuth{fzOperator, fzMerchant, fzMember, fzPublic} {
				for _, body := range e.probeBodies(t, r) {
					resp := e.do(t, auth, r.Method, target, body)
					if resp.Status < 300 {
						answered[r.Method+" "+r.Path]++
					}
				}
			}
		}
		// The probe did write: at least the routes that earn, refund and
		// fund answered 2xx, and the refund clawed back points (an allowed
		// debit the check below must see).
		for _, must := range []string{"POST /v1/merchant/earn", "POST /v1/merchant/earn/refund", "POST /v1/operator/merchants/:merchant/fund"} {
			if answered[must] == 0 {
				t.Errorf("%s never succeeded: the probe did not exercise it", must)
			}
		}
		debits := memberDebits(t, db, before)
		if bad := forbidden(t, db, debits); len(bad) > 0 {
			t.Fatalf("routes took members' points outside the allowed flows:\n%s", strings.Join(bad, "\n"))
		}
		kinds := map[string]bool{}
		for _, d := range debits {
			kinds[d.Kind] = true
		}
		if !kinds[ledger.KindClawback] {
			t.Fatalf("no clawback seen (%v): the check saw no member debit at all", kinds)
		}
		t.Logf("%d routes probed, %d answered 2xx at least once; member debits by kind: %v", len(routes), len(answered), kinds)

		// The check itself can fail: an operator-style adjustment written
		// straight to the ledger is caught.
		mark := lastTxID(t, db)
		if err := submitRaw(e, &ledger.Transaction{Kind: "adjustment", Ref: "operator:bulk", Postings: ledger.Move(ledger.MemberAvailable(e.member), ledger.MerchantBudget(e.merchant), 1)}); err != nil {
			t.Fatal(err)
		}
		if bad := forbidden(t, db, memberDebits(t, db, mark)); len(bad) != 1 {
			t.Fatalf("a forged adjustment was not flagged: %v", bad)
		}
	})
}

// probeTarget fills every path parameter with something the environment
// knows (the merchant, the sealed transaction) or a plausible value.
func (e *fzEnv) probeTarget(pattern string) string {
	parts := strings.Split(pattern, "/")
	for i, p := range parts {
		switch {
		case p == ":merchant":
			parts[i] = e.merchant
		case p == ":tx":
			parts[i] = fmt.Sprint(e.txID)
		case p == ":industry":
			parts[i] = "restaurant"
		case p == ":version" || p == ":draft":
			parts[i] = "1"
		case p == ":date":
			parts[i] = "2026-12-01"
		case p == "*":
			parts[i] = "0/000"
		case strings.HasPrefix(p, ":"):
			parts[i] = e.member
		}
	}
	return strings.Join(parts, "/")
}

// probeBodies builds request bodies for a route from its documented
// request schema: every property filled, with the member's identity, the
// known orders and several amounts; nil for routes without a body.
func (e *fzEnv) probeBodies(t *testing.T, r Route) [][]byte {
	op := oaOps(t, e.doc)[r.Method+" "+oaPath(r.Path)]
	var schema any
	if op != nil && op["requestBody"] != nil {
		body, _ := oaResolve(t, e.doc, op["requestBody"])
		schema = oaDig(body, "content", "application/json", "schema")
	}
	if schema == nil {
		return [][]byte{nil}
	}
	var out [][]byte
	for v := 0; v < 4; v++ {
		b, err := json.Marshal(e.probeValue(t, "", schema, v, 0))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// probeValue fills a schema: variant 0 only the required properties,
// the others every property; strings by what the property names.
func (e *fzEnv) probeValue(t *testing.T, key string, s any, v, depth int) any {
	c := &oaComparer{t: t, doc: e.doc}
	m := c.resolve("probe", s)
	if m == nil || depth > 6 {
		return nil
	}
	if en, ok := m["enum"].([]any); ok && len(en) > 0 {
		return en[v%len(en)]
	}
	typ, _ := m["type"].(string)
	if typ == "" && (m["properties"] != nil || m["allOf"] != nil) {
		typ = "object"
	}
	switch typ {
	case "object":
		o := c.object("probe", s)
		out := map[string]any{}
		for k, ps := range o.props {
			if v == 0 && !slices.Contains(o.required, k) {
				continue
			}
			if k == "member" { // the member's identity where one is asked for
				out[k] = map[string]string{"kind": "phone", "value": fzPhone}
				continue
			}
			out[k] = e.probeValue(t, k, ps, v, depth+1)
		}
		return out
	case "array":
		return []any{e.probeValue(t, key, m["items"], v, depth+1)}
	case "integer", "number":
		return []int64{100, 1, 100000, 1000}[v%4]
	case "boolean":
		return v%2 == 0
	case "string":
		if f, _ := m["format"].(string); f == "date-time" {
			return "2026-12-31T00:00:00Z"
		}
		fresh := fmt.Sprintf("probe-%d", e.seq.Add(1))
		var cands []string
		switch key {
		case "order_id":
			cands = []string{fresh, fzEarnOrder, fzRedeemOrd, fresh}
		case "store_id":
			cands = []string{e.store}
		case "external_ref", "idempotency_key":
			cands = []string{fresh}
		case "merchant_id":
			cands = []string{e.merchant}
		case "member_id":
			cands = []string{e.member}
		case "channel":
			cands = []string{"wechatpay", "sandbox"}
		default:
			cands = []string{fzPhone, e.member, fzEarnOrder, "all"}
		}
		return cands[v%len(cands)]
	}
	return nil
}

// memberDebit is one posting that took points from a member.
type memberDebit struct {
	TxID    int64  `db:"tx_id"`
	Kind    string `db:"kind"`
	Ref     string `db:"ref"`
	Account string `db:"account"`
	Amount  int64  `db:"amount"`
}

func lastTxID(t *testing.T, db *store.DB) int64 {
	t.Helper()
	var id int64
	if err := db.W.Get(&id, `SELECT COALESCE(MAX(id), 0) FROM ledger_transactions`); err != nil {
		t.Fatal(err)
	}
	return id
}

func memberPoints(t *testing.T, db *store.DB, member string) int64 {
	t.Helper()
	b, err := db.Balances(t.Context(), ledger.MemberAvailable(member))
	if err != nil {
		t.Fatal(err)
	}
	return b[ledger.MemberAvailable(member)]
}

func memberDebits(t *testing.T, db *store.DB, after int64) []memberDebit {
	t.Helper()
	var ds []memberDebit
	if err := db.W.Select(&ds, `SELECT t.id AS tx_id, t.kind AS kind, t.ref AS ref, p.account AS account, p.amount AS amount
		FROM ledger_transactions t JOIN postings p ON p.tx_id = t.id JOIN accounts a ON a.name = p.account
		WHERE t.id > ? AND a.kind IN ('pending', 'available') AND p.amount < 0 ORDER BY t.id`, after); err != nil {
		t.Fatal(err)
	}
	return ds
}

// forbidden returns a line for every member debit that is not an allowed
// flow moving the points to the allowed place.
func forbidden(t *testing.T, db *store.DB, ds []memberDebit) []string {
	t.Helper()
	var bad []string
	for _, d := range ds {
		var postings []struct {
			Account string `db:"account"`
			Amount  int64  `db:"amount"`
		}
		if err := db.W.Select(&postings, `SELECT account, amount FROM postings WHERE tx_id = ?`, d.TxID); err != nil {
			t.Fatal(err)
		}
		member := ledger.ParseAccount(d.Account).Owner
		ok := true
		for _, p := range postings {
			if p.Amount <= 0 {
				continue
			}
			to := ledger.ParseAccount(p.Account)
			if to.Asset != ledger.PTS {
				continue // the cash leg (reserve -> payable) of a redemption or an expiry
			}
			switch d.Kind {
			case ledger.KindRedeem:
				ok = ok && p.Account == ledger.Burned
			case ledger.KindClawback, ledger.KindDebtRecovery:
				ok = ok && to.Kind == ledger.KindBudget
			case ledger.KindRelease:
				ok = ok && p.Account == ledger.MemberAvailable(member)
			case ledger.KindExpire:
				ok = ok && p.Account == ledger.Expired
			default:
				ok = false
			}
		}
		if ok && d.Kind == ledger.KindRedeem {
			// The member's own consent was used for exactly this redemption.
			var n int
			id := strings.TrimPrefix(d.Ref, "purchase:")
			if err := db.W.Get(&n, `SELECT COUNT(*) FROM member_consents WHERE member_id = ? AND purchase_id = ? AND used_at > 0`, member, id); err != nil {
				t.Fatal(err)
			}
			ok = n == 1
		}
		if !ok {
			bad = append(bad, fmt.Sprintf("tx %d kind %s ref %s took %d from %s: postings %+v", d.TxID, d.Kind, d.Ref, -d.Amount, d.Account, postings))
		}
	}
	return bad
}

// submitRaw posts a transaction through the writer, bypassing the domain:
// what a forbidden route would have to do.
func submitRaw(e *fzEnv, tr *ledger.Transaction) error {
	cmd := points.Command{Name: "raw", IDs: 2, Apply: func(tx points.Tx) (any, error) { return nil, tx.Post(tr) }}
	return e.srv.writer.Submit(context.Background(), &store.Op{Command: cmd}).Err
}

func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}
