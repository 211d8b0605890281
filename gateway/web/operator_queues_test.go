package web_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
)

// The operator console's dead letters and reconciliation exceptions, in
// Chromium: a dead-lettered POS event shows with its reason and is
// replayed through the API's replay route; a day's exceptions show with
// both amounts. A read-only token sees them but its replay is refused and
// the event stays dead.
func TestOperatorDeadLettersAndReconciliation(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		g := startGateway(t, db)
		m := g.merchant(t, "Tea", "restaurant", 100, 0, 0)
		bg := context.Background()
		if _, err := db.W.ExecContext(bg, `INSERT INTO pos_connections (id, merchant_id, adapter, label, config_sealed, store_map, status, created_by, created_at)
			VALUES ('pos_tea', ?, 'shopify', 'Front till', '', '{}', 'active', 'test', ?)`, m.ID, store.Micros(time.Now())); err != nil {
			t.Fatal(err)
		}
		dead := func(key, reason string) int64 {
			id, _, err := db.InsertInboxEvent(bg, store.InboxEvent{ConnectionID: "pos_tea", MerchantID: m.ID, EventKey: key, EventType: "orders/paid",
				ReceivedAt: time.Now(), BodySHA256: strings.Repeat("ab", 32), Request: []byte(`{}`), State: store.InboxDead, Attempts: 8,
				LastError: reason, NextAt: time.Now()})
			if err != nil {
				t.Fatal(err)
			}
			return id
		}
		first := dead("evt-1", "unknown_store: location 77 is not mapped")
		second := dead("evt-2", "budget_exhausted: the merchant's budget is empty")
		for _, x := range []store.ReconException{
			{Channel: "sandbox", BillDate: "2026-11-30", Kind: "amount_mismatch", TransactionID: "tx-1", ChannelRef: "sbx-1", LedgerFen: 10_000, ChannelFen: 9_900, Detail: "the bill says 99.00", CreatedAt: time.Now()},
			{Channel: "sandbox", BillDate: "2026-11-30", Kind: "missing_in_ledger", ChannelRef: "sbx-2", ChannelFen: 5_000, Detail: "paid but never credited", CreatedAt: time.Now()},
			{Channel: "sandbox", BillDate: "2026-11-29", Kind: "missing_in_bill", TransactionID: "tx-9", LedgerFen: 1, CreatedAt: time.Now()},
		} {
			if _, err := db.RecordReconException(bg, x); err != nil {
				t.Fatal(err)
			}
		}
		stateOf := func(id int64) string {
			e, err := db.InboxEventByID(bg, id)
			if err != nil {
				t.Fatal(err)
			}
			return e.State
		}

		ctx := browser(t)
		row := func(id int64) string { return `#dead-rows tr[data-event="` + strconv.FormatInt(id, 10) + `"]` }
		do(t, ctx, chromedp.Navigate(g.base+"/operator"), chromedp.WaitVisible(chromedp.CSS(`body[data-loaded="true"]`)),
			chromedp.SendKeys(chromedp.CSS("#token"), g.opTok), chromedp.Click(chromedp.CSS("#token-form button")),
			chromedp.WaitVisible(chromedp.CSS(row(second))))
		if r := text(t, ctx, row(first)+" .reason"); r != "unknown_store: location 77 is not mapped" {
			t.Errorf("dead event reason %q", r)
		}
		do(t, ctx, chromedp.SetValue(chromedp.CSS("#recon-date"), "2026-11-30"), chromedp.Click(chromedp.CSS("#recon-form button")),
			chromedp.WaitVisible(chromedp.CSS(`#recon-rows tr[data-kind="missing_in_ledger"]`)))
		got := eval[[]string](t, ctx, `[...document.querySelectorAll('#recon-rows tr')].map(r => [...r.children].map(c => c.textContent).join('|'))`)
		if len(got) != 2 || !strings.Contains(strings.Join(got, "\n"), "amount_mismatch|payment|tx-1|sbx-1|¥100.00|¥99.00|the bill says 99.00") {
			t.Errorf("exceptions of 2026-11-30:\n%s", strings.Join(got, "\n"))
		}
		accessible(t, ctx, "the operator console's dead letters and exceptions")
		screenshot(t, ctx, "operator-queues-"+db.Dialect)

		do(t, ctx, chromedp.Click(chromedp.CSS(row(first)+" button")), chromedp.WaitNotPresent(chromedp.CSS(row(first))))
		if s := stateOf(first); s == store.InboxDead {
			t.Errorf("replayed event is still %s", s)
		}
		if s := stateOf(second); s != store.InboxDead {
			t.Errorf("the other event is %s", s)
		}

		// A read-only token: the replay is refused, the event stays dead.
		var ro struct{ Token string }
		if err := g.op.Do(bg, "POST", "/v1/operator/tokens", map[string]any{"label": "auditor", "scopes": []string{"read"}}, &ro); err != nil {
			t.Fatal(err)
		}
		do(t, ctx, chromedp.Click(chromedp.CSS("#signout")), chromedp.WaitVisible(chromedp.CSS("#token")),
			chromedp.SendKeys(chromedp.CSS("#token"), ro.Token), chromedp.Click(chromedp.CSS("#token-form button")),
			chromedp.WaitVisible(chromedp.CSS(row(second)+" button")), chromedp.Click(chromedp.CSS(row(second)+" button")),
			chromedp.WaitVisible(chromedp.CSS("#error:not(:empty)")))
		if e := text(t, ctx, "#error"); !strings.Contains(e, "[scope_denied]") {
			t.Errorf("read-only replay: %q", e)
		}
		if s := stateOf(second); s != store.InboxDead {
			t.Errorf("after a refused replay the event is %s", s)
		}
	})
}
