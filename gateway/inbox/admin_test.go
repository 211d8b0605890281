package inbox_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/gateway/inbox"
	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
)

// Refused webhooks are kept with their reason and without their body,
// folded when identical, visible per merchant (an unknown connection's to
// the operator only), bounded per connection and by age, and never
// processed.
func TestRejectionsAreKeptBoundedAndNeverProcessed(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := setup(t, db)
		rj := &inbox.Rejections{DB: db, Now: f.clock.now, PerConnection: 3, Retention: time.Hour, Buffer: 4}
		f.in.Rejections = rj
		ev := testEvent{ID: "evt-r1", Type: "paid", Order: "o-r1", AmountFen: 100, Phone: "13800138000"}
		forged := request(ev, sign("guess", []byte("x")))
		forged.RemoteAddr = "203.0.113.9"
		for range 3 {
			if _, err := f.in.Receive(ctx, f.conn, forged); !errors.Is(err, inbox.ErrRejected) {
				t.Fatalf("forged: %v", err)
			}
		}
		if _, err := f.in.Receive(ctx, "pc_nope", request(ev, "")); !errors.Is(err, inbox.ErrUnknownConnection) {
			t.Fatalf("unknown: %v", err)
		}
		rj.RecordTooLarge(f.conn, "203.0.113.9", "curl", 5<<20)
		if err := rj.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		own, err := db.POSRejections(ctx, store.RejectionFilter{MerchantID: f.merchant})
		if err != nil || len(own) != 2 {
			t.Fatalf("merchant's rejections: %+v %v", own, err)
		}
		// Newest first: the oversized body, then the three forgeries in one row.
		if own[0].Code != inbox.RejectTooLarge || own[0].BodyBytes != 5<<20 || own[1].Code != inbox.RejectSignature || own[1].Repeats != 3 ||
			own[1].Reason != "bad signature" || own[1].RemoteAddr != "203.0.113.9" || len(own[1].BodySHA256) != 64 {
			t.Fatalf("rows: %+v", own)
		}
		all, _ := db.POSRejections(ctx, store.RejectionFilter{ConnectionID: "pc_nope"})
		if len(all) != 1 || all[0].MerchantID != "" || all[0].Code != inbox.RejectUnknownConnection {
			t.Fatalf("unknown connection's: %+v", all)
		}
		var n int
		if err := db.R.Get(&n, `SELECT COUNT(*) FROM inbox_events`); err != nil || n != 0 {
			t.Fatalf("%d inbox events from refusals (%v)", n, err)
		}
		if err := db.R.Get(&n, `SELECT COUNT(*) FROM pos_rejections WHERE reason LIKE '%13800138000%' OR user_agent LIKE '%13800138000%'`); err != nil || n != 0 {
			t.Fatalf("a body's content stored: %d %v", n, err)
		}

		// A flood of distinct refusals: at most Buffer rows per flush, the
		// rest only counted.
		for i := range 10 {
			rj.Record("pc_flood", "", inbox.RejectUnknownConnection, strings.Repeat("x", i+1), forged)
		}
		if rj.Dropped() != 6 {
			t.Fatalf("dropped %d, want 6", rj.Dropped())
		}
		if err := rj.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := rj.Prune(ctx); err != nil {
			t.Fatal(err)
		}
		if flood, _ := db.POSRejections(ctx, store.RejectionFilter{ConnectionID: "pc_flood"}); len(flood) != 3 {
			t.Fatalf("per-connection bound: %d rows", len(flood))
		}
		f.clock.add(2 * time.Hour)
		if _, err := rj.Prune(ctx); err != nil {
			t.Fatal(err)
		}
		if left, _ := db.POSRejections(ctx, store.RejectionFilter{}); len(left) != 0 {
			t.Fatalf("past retention: %+v", left)
		}
	})
}

// A disabled connection refuses a verified webhook (ErrDisabled) and
// treats an unverified one like an unknown connection; the events it took
// before are still processed; enabling takes webhooks again. Each change
// is audited.
func TestDisabledConnectionRefusesWebhooks(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := setup(t, db)
		f.receive(t, request(testEvent{ID: "evt-d1", Type: "paid", Order: "o-d1", AmountFen: 100, Phone: "13800138000"}, ""))
		if err := db.SetPOSConnectionStatus(ctx, f.conn, "m_other", store.POSConnectionDisabled, "x", "operator:t", f.clock.now()); !errors.Is(err, store.ErrPOSConnectionNotFound) {
			t.Fatalf("another merchant's connection: %v", err)
		}
		if err := db.SetPOSConnectionStatus(ctx, f.conn, f.merchant, store.POSConnectionDisabled, "till replaced", "operator:t", f.clock.now()); err != nil {
			t.Fatal(err)
		}
		f.in.Forget(f.conn) // as the API does after a change
		if err := db.SetPOSConnectionStatus(ctx, f.conn, f.merchant, store.POSConnectionDisabled, "again", "operator:t", f.clock.now()); !errors.Is(err, store.ErrPOSConnectionUnchanged) {
			t.Fatalf("disabled twice: %v", err)
		}
		ev := testEvent{ID: "evt-d2", Type: "paid", Order: "o-d2", AmountFen: 100, Phone: "13800138000"}
		if _, err := f.in.Receive(ctx, f.conn, request(ev, "")); !errors.Is(err, inbox.ErrDisabled) {
			t.Fatalf("verified, disabled: %v", err)
		}
		if _, err := f.in.Receive(ctx, f.conn, request(ev, sign("guess", []byte("x")))); !errors.Is(err, inbox.ErrUnknownConnection) {
			t.Fatalf("unverified, disabled: %v", err)
		}
		f.process(t)
		if n, _ := f.earned(t, "o-d1"); n != 1 {
			t.Fatalf("event taken before disabling: earned %d times", n)
		}
		if n, _ := f.earned(t, "o-d2"); n != 0 {
			t.Fatal("a disabled connection's webhook earned")
		}
		c, err := db.POSConnection(ctx, f.conn)
		if err != nil || c.Status != store.POSConnectionDisabled || c.StatusReason != "till replaced" {
			t.Fatalf("connection: %+v %v", c, err)
		}
		if err := db.SetPOSConnectionStatus(ctx, f.conn, f.merchant, store.POSConnectionActive, "", "operator:t", f.clock.now()); err != nil {
			t.Fatal(err)
		}
		f.in.Forget(f.conn) // as the API does after a change
		f.receive(t, request(ev, ""))
		f.process(t)
		if n, _ := f.earned(t, "o-d2"); n != 1 {
			t.Fatalf("after enabling: earned %d", n)
		}
		var kinds []string
		if err := db.R.Select(&kinds, `SELECT kind FROM audit_events WHERE subject = ? ORDER BY id`, f.conn); err != nil {
			t.Fatal(err)
		}
		if strings.Join(kinds, ",") != "pos_connection.created,pos_connection.disabled,pos_connection.enabled" {
			t.Fatalf("audit: %v", kinds)
		}
	})
}

// A rotated secret: the new one verifies at once, the old one only within
// the grace; an event stored under the old one still parses after the
// grace; a zero grace ends the old one at once. The audit never holds a
// secret.
func TestRotationKeepsTheOldSecretForTheGrace(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := setup(t, db)
		const next = "the-new-secret"
		if err := db.RotatePOSConnection(ctx, f.conn, f.merchant, []byte(`{"secret":"`+next+`"}`), time.Hour, "operator:t", f.clock.now()); err != nil {
			t.Fatal(err)
		}
		f.in.Forget(f.conn) // as the API does after a change
		old := testEvent{ID: "evt-o1", Type: "paid", Order: "o-o1", AmountFen: 100, Phone: "13800138000"}
		f.receive(t, request(old, "")) // signed with the old secret, within the grace
		nw := testEvent{ID: "evt-n1", Type: "paid", Order: "o-n1", AmountFen: 100, Phone: "13800138000"}
		f.receive(t, request(nw, signEvent(next, nw)))
		f.clock.add(2 * time.Hour)
		late := testEvent{ID: "evt-o2", Type: "paid", Order: "o-o2", AmountFen: 100, Phone: "13800138000"}
		if _, err := f.in.Receive(ctx, f.conn, request(late, "")); !errors.Is(err, inbox.ErrRejected) {
			t.Fatalf("old secret after the grace: %v", err)
		}
		f.process(t) // after the grace: the stored old-secret event still parses
		for _, o := range []string{"o-o1", "o-n1"} {
			if n, _ := f.earned(t, o); n != 1 {
				t.Fatalf("%s earned %d times", o, n)
			}
		}
		if err := db.RotatePOSConnection(ctx, f.conn, f.merchant, []byte(`{"secret":"third"}`), 0, "operator:t", f.clock.now()); err != nil {
			t.Fatal(err)
		}
		f.in.Forget(f.conn) // as the API does after a change
		e2 := testEvent{ID: "evt-n2", Type: "paid", Order: "o-n2", AmountFen: 1, Phone: "13800138000"}
		if _, err := f.in.Receive(ctx, f.conn, request(e2, signEvent(next, e2))); !errors.Is(err, inbox.ErrRejected) {
			t.Fatalf("zero grace: %v", err)
		}
		var n int
		if err := db.R.Get(&n, `SELECT COUNT(*) FROM audit_events WHERE kind = 'pos_connection.rotated' AND subject = ? AND payload NOT LIKE '%secret%'`, f.conn); err != nil || n != 2 {
			t.Fatalf("rotation audits: %d %v", n, err)
		}
	})
}

func signEvent(secret string, ev testEvent) string {
	body, _ := json.Marshal(ev)
	return sign(secret, body)
}

// A connection changed through another instance (no Forget here) is
// noticed within a second: the admin epoch moved.
func TestConnectionCacheNoticesOtherInstances(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := setup(t, db)
		ev := testEvent{ID: "evt-c1", Type: "paid", Order: "o-c1", AmountFen: 100, Phone: "13800138000"}
		f.receive(t, request(ev, "")) // the connection is cached
		if err := db.SetPOSConnectionStatus(ctx, f.conn, f.merchant, store.POSConnectionDisabled, "elsewhere", "operator:t", f.clock.now()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(1100 * time.Millisecond)
		ev.ID = "evt-c2"
		if _, err := f.in.Receive(ctx, f.conn, request(ev, "")); !errors.Is(err, inbox.ErrDisabled) {
			t.Fatalf("after another instance disabled it: %v", err)
		}
	})
}
