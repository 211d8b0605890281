package outbox_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/gateway/ledger"
	"github.com/lianmeng/lianmeng/gateway/points"
	"github.com/lianmeng/lianmeng/gateway/rules"
	"github.com/lianmeng/lianmeng/gateway/settlement"
	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
	"github.com/lianmeng/lianmeng/sdk/payment"
)

// payoutChannel answers payouts as told: the channel itself is not under
// test here, the events its answers cause are.
type payoutChannel struct {
	payment.Channel
	status payment.Status
}

func (c *payoutChannel) Payout(_ context.Context, r payment.PayoutRequest) (payment.Result, error) {
	return payment.Result{Status: c.status, TransactionID: r.TransactionID, ChannelReference: "ref-" + r.TransactionID, AmountFen: r.AmountFen}, nil
}

type oneChannel struct{ ch payment.Channel }

func (o oneChannel) PaymentChannel(string) (payment.Channel, error) { return o.ch, nil }

// Payouts are announced to their merchant as they move: requested when the
// payable is held, then succeeded (the channel confirmed; no merchant
// account moves, the reference names the merchant) or failed (the money
// back in the payable), each with the amount, in order, in the ledger's
// transaction.
func TestPayoutEvents(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		db.SetPII(keyring(t))
		ctx := context.Background()
		w := db.NewWriter(store.WriterOptions{})
		defer w.Close()
		svc := &points.Service{Policy: policy}
		a := newMerchant(t, db, "A")
		ep := register(t, db, a, "http://127.0.0.1:1/hook", "payout.requested", "payout.succeeded", "payout.failed")
		// A payable of 1,000 fen: funded, then moved as a redemption would.
		if err := submit(t, w, fund(svc, a, "pay-1", 1000)); err != nil {
			t.Fatal(err)
		}
		if err := submit(t, w, earn(svc, a, "o1", "c1", 500)); err != nil {
			t.Fatal(err)
		}
		if err := db.SetPayoutAccounts(ctx, a, []store.PayoutAccount{{Channel: "x", PayeeType: "wechat_openid", Account: "o1"}}); err != nil {
			t.Fatal(err)
		}
		owe := points.Command{Name: "test", IDs: 2, Apply: func(tx points.Tx) (any, error) {
			return nil, tx.Post(ledgerOwe(a, 1000))
		}}
		if r := w.Submit(ctx, &store.Op{Command: owe}); r.Err != nil {
			t.Fatal(r.Err)
		}
		ch := &payoutChannel{status: payment.StatusSucceeded}
		p := &settlement.Payouts{DB: db, Writer: w, Channels: oneChannel{ch}}
		ok, err := p.Request(ctx, settlement.PayoutRequest{MerchantID: a, AmountFen: 600, IdemKey: "k1"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.ProcessDue(ctx); err != nil {
			t.Fatal(err)
		}
		ch.status = payment.StatusFailed
		bad, err := p.Request(ctx, settlement.PayoutRequest{MerchantID: a, AmountFen: 400, IdemKey: "k2"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.ProcessDue(ctx); err != nil {
			t.Fatal(err)
		}
		ds := deliveries(t, db, store.OutboxFilter{EndpointID: ep.ID})
		if got := types(ds); got != "payout.requested,payout.succeeded,payout.requested,payout.failed" {
			t.Fatalf("events %s", got)
		}
		wantRef := []string{ok.ID, ok.ID, bad.ID, bad.ID}
		wantFen := []int64{600, 600, 400, 400}
		for i, d := range ds {
			var body struct {
				MerchantID string `json:"merchant_id"`
				Data       struct {
					Ref       string `json:"ref"`
					AmountFen int64  `json:"amount_fen"`
				} `json:"data"`
			}
			if err := json.Unmarshal(d.Body(), &body); err != nil {
				t.Fatal(err)
			}
			if body.MerchantID != a || body.Data.AmountFen != wantFen[i] || body.Data.Ref[len(body.Data.Ref)-len(wantRef[i]):] != wantRef[i] {
				t.Fatalf("event %d: %s", i, d.Body())
			}
		}
	})
}

// A rule change is announced when it is published (scheduled for later, or
// in effect now) and when a scheduled version is withdrawn, in the same
// transaction as the change; an endpoint gets only the types it wants.
func TestRuleChangeEvents(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		db.SetPII(keyring(t))
		ctx := context.Background()
		now := time.Now().UTC().Truncate(time.Second)
		a, b := newMerchant(t, db, "A"), newMerchant(t, db, "B")
		all := register(t, db, a, "http://127.0.0.1:1/all")
		sched := register(t, db, a, "http://127.0.0.1:1/sched", store.EventRuleScheduled)
		rs := &rules.Service{Policy: policy, Notice: 30 * 24 * time.Hour, Store: db, Now: func() time.Time { return now }}
		if _, err := rs.PublishNow(ctx, a, "restaurant", rules.Draft{RateBP: 200}, "operator"); err != nil { // more favourable: now
			t.Fatal(err)
		}
		d, err := rs.CreateDraft(ctx, a, rules.Draft{RateBP: 50}, "operator")
		if err != nil {
			t.Fatal(err)
		}
		at := now.Add(31 * 24 * time.Hour)
		pub, err := rs.Publish(ctx, a, "restaurant", d.ID, at, "operator")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := rs.Withdraw(ctx, a, pub.Version.Number, "operator"); err != nil {
			t.Fatal(err)
		}
		if _, err := rs.PublishNow(ctx, b, "restaurant", rules.Draft{RateBP: 300}, "operator"); err != nil {
			t.Fatal(err)
		}
		if got := types(deliveries(t, db, store.OutboxFilter{EndpointID: all.ID})); got != "rule_change.published,rule_change.scheduled,rule_change.withdrawn" {
			t.Fatalf("all: %s", got)
		}
		ds := deliveries(t, db, store.OutboxFilter{EndpointID: sched.ID})
		if types(ds) != "rule_change.scheduled" {
			t.Fatalf("scheduled only: %s", types(ds))
		}
		var body struct {
			Type string `json:"type"`
			Data struct {
				Version     int64     `json:"version"`
				EffectiveAt time.Time `json:"effective_at"`
			} `json:"data"`
		}
		if err := json.Unmarshal(ds[0].Body(), &body); err != nil || body.Data.Version != pub.Version.Number || !body.Data.EffectiveAt.Equal(at) {
			t.Fatalf("scheduled event %s %v", ds[0].Body(), err)
		}
		if n := len(deliveries(t, db, store.OutboxFilter{MerchantID: b})); n != 0 {
			t.Fatalf("%d events for a merchant without endpoints", n)
		}
	})
}

// ledgerOwe makes the alliance owe merchant m fen, as redemptions at its
// stores would.
func ledgerOwe(m string, fen int64) *ledger.Transaction {
	return &ledger.Transaction{Kind: "test_owe", Ref: "owe:" + m, Postings: ledger.Move(ledger.Reserve, ledger.MerchantPayable(m), fen)}
}
