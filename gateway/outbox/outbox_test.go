package outbox_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/gateway/ledger"
	"github.com/lianmeng/lianmeng/gateway/merchant"
	"github.com/lianmeng/lianmeng/gateway/outbox"
	"github.com/lianmeng/lianmeng/gateway/pii"
	"github.com/lianmeng/lianmeng/gateway/points"
	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
)

var policy = points.Policy{FaceValueFen: 1, ReleaseDelay: time.Hour, Validity: 48 * time.Hour,
	ExpiryPolicy: "return_to_merchant", MaxPointsPerEarn: 1_000_000, MaxAmountFen: 1_000_000_00}

func keyring(t *testing.T) *pii.Keyring {
	t.Helper()
	k, err := pii.NewKeyring("k1:"+strings.Repeat("11", 16), strings.Repeat("22", 32))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newMerchant(t *testing.T, db *store.DB, name string) string {
	t.Helper()
	m, err := merchant.NewMerchant(name, "restaurant", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Merchants().CreateMerchant(context.Background(), m, "test"); err != nil {
		t.Fatal(err)
	}
	return m.ID
}

// submit applies f through the writer with the domain's own command shape.
func submit(t *testing.T, w *store.Writer, f func(tx points.Tx) (any, error)) error {
	t.Helper()
	return w.Submit(context.Background(), &store.Op{Command: points.Command{Name: "test", IDs: 16, Apply: f}}).Err
}

func pts(n int64) *int64 { return &n }

func earn(svc *points.Service, m, order, member string, n int64) func(points.Tx) (any, error) {
	return func(tx points.Tx) (any, error) {
		return svc.Earn(tx, points.EarnRequest{MerchantID: m, StoreID: "s1", OrderID: order, Member: points.Identity{Kind: points.IdentityCustomer, Value: member},
			AmountFen: 1000, Points: pts(n)})
	}
}

func fund(svc *points.Service, m, ref string, fen int64) func(points.Tx) (any, error) {
	return func(tx points.Tx) (any, error) {
		return svc.Fund(tx, points.FundRequest{MerchantID: m, AmountFen: fen, ExternalRef: ref})
	}
}

func register(t *testing.T, db *store.DB, m, url string, events ...string) outbox.Registered {
	t.Helper()
	eps := &outbox.Endpoints{DB: db, Targets: outbox.Targets{Development: true}}
	r, err := eps.Register(context.Background(), m, url, events, "merchant:"+m)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func deliveries(t *testing.T, db *store.DB, f store.OutboxFilter) []store.OutboxDelivery {
	t.Helper()
	f.Limit = 1000
	ds, err := db.OutboxDeliveries(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

func types(ds []store.OutboxDelivery) string {
	var s []string
	for _, d := range ds {
		s = append(s, d.EventType)
	}
	return strings.Join(s, ",")
}

// An event exists exactly when its ledger change committed: every committed
// transaction touching a merchant with an endpoint is announced to it, in
// order, with the purchase behind it; a refused request, and a request that
// posted and then failed, leave none; a merchant without endpoints gets no
// rows, and an endpoint gets only the types it asked for.
func TestEventsCommitWithTheLedger(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		db.SetPII(keyring(t))
		now := time.Now().UTC()
		clock := func() time.Time { return now }
		w := db.NewWriter(store.WriterOptions{Now: func() time.Time { return clock() }})
		defer w.Close()
		svc := &points.Service{Policy: policy}
		a, b := newMerchant(t, db, "A"), newMerchant(t, db, "B")
		all := register(t, db, a, "http://127.0.0.1:1/all")
		only := register(t, db, a, "http://127.0.0.1:1/earned", "points.earned")

		if err := submit(t, w, fund(svc, a, "pay-1", 500)); err != nil {
			t.Fatal(err)
		}
		if err := submit(t, w, fund(svc, b, "pay-2", 500)); err != nil {
			t.Fatal(err)
		}
		if err := submit(t, w, earn(svc, a, "o1", "c1", 300)); err != nil {
			t.Fatal(err)
		}
		// Refused by the rules: no budget for it.
		if err := submit(t, w, earn(svc, a, "o2", "c1", 900)); err == nil {
			t.Fatal("earn beyond the budget was accepted")
		}
		// Posted, then refused: the posting is undone, and so is its event.
		err := submit(t, w, func(tx points.Tx) (any, error) {
			if err := tx.Post(&ledger.Transaction{Kind: ledger.KindEarn, Ref: "manual",
				Postings: ledger.Move(ledger.MerchantBudget(a), ledger.MemberPending("mbr_x"), 10)}); err != nil {
				return nil, err
			}
			return nil, &points.Error{Class: points.Unprocessable, Code: "refused_after_posting"}
		})
		if err == nil {
			t.Fatal("the refusing command succeeded")
		}
		if err := submit(t, w, func(tx points.Tx) (any, error) {
			return svc.RefundEarn(tx, points.RefundEarnRequest{MerchantID: a, OrderID: "o1", AmountFen: 500})
		}); err != nil {
			t.Fatal(err)
		}
		// Release and expiry are announced to the lot's issuer.
		now = now.Add(2 * time.Hour)
		if err := submit(t, w, func(tx points.Tx) (any, error) { return svc.Release(tx, 10) }); err != nil {
			t.Fatal(err)
		}
		now = now.Add(72 * time.Hour)
		if err := submit(t, w, func(tx points.Tx) (any, error) { return svc.Expire(tx, 10) }); err != nil {
			t.Fatal(err)
		}

		got := deliveries(t, db, store.OutboxFilter{EndpointID: all.ID})
		if want := "budget.funded,points.earned,points.refunded,points.released,points.expired"; types(got) != want {
			t.Fatalf("events %s, want %s", types(got), want)
		}
		if e := deliveries(t, db, store.OutboxFilter{EndpointID: only.ID}); types(e) != "points.earned" {
			t.Fatalf("filtered endpoint got %s", types(e))
		}
		if e := deliveries(t, db, store.OutboxFilter{MerchantID: b}); len(e) != 0 {
			t.Fatalf("merchant without endpoints got %d rows", len(e))
		}
		var p struct {
			ID, Type   string
			MerchantID string `json:"merchant_id"`
			Data       struct {
				Kind         string
				MemberID     string `json:"member_id"`
				Points       int64
				BudgetPoints int64  `json:"budget_points"`
				OrderID      string `json:"order_id"`
				StoreID      string `json:"store_id"`
				AmountFen    int64  `json:"amount_fen"`
			}
		}
		if err := json.Unmarshal(got[1].Body(), &p); err != nil {
			t.Fatal(err)
		}
		if p.ID != got[1].EventID || p.Type != "points.earned" || p.MerchantID != a || p.Data.Points != 300 || p.Data.BudgetPoints != -300 ||
			p.Data.OrderID != "o1" || p.Data.StoreID != "s1" || p.Data.AmountFen != 1000 || !strings.HasPrefix(p.Data.MemberID, "mbr_") {
			t.Fatalf("earned payload %s", got[1].Payload)
		}
		for _, d := range got {
			if d.State != store.OutboxPending {
				t.Fatalf("delivery %d is %s before any attempt", d.ID, d.State)
			}
		}
	})
}

// receiver is a local merchant system that checks signatures and can be
// told to fail, to hang past the deliverer's timeout, or to redirect.
type receiver struct {
	t      *testing.T
	secret func() []byte
	mu     sync.Mutex
	script []string // per request: "ok", "fail", "hang", "redirect" (then "ok")
	seen   []string // webhook-id of every request
	acked  []string // webhook-id of every request answered 2xx in time
	hang   time.Duration
	// skew is how far the deliverer's clock may be from the receiver's
	// (tests that move the deliverer's clock set it).
	skew time.Duration
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	id := req.Header.Get(outbox.HeaderID)
	if err := outbox.Verify(r.secret(), id, req.Header.Get(outbox.HeaderTimestamp), req.Header.Get(outbox.HeaderSignature), body, time.Now(), max(r.skew, 5*time.Minute)); err != nil {
		r.t.Errorf("delivery %s: %v", id, err)
	}
	r.mu.Lock()
	r.seen = append(r.seen, id)
	step := "ok"
	if len(r.script) > 0 {
		step, r.script = r.script[0], r.script[1:]
	}
	r.mu.Unlock()
	switch step {
	case "fail":
		http.Error(w, "down", http.StatusServiceUnavailable)
	case "hang":
		time.Sleep(r.hang)
		w.WriteHeader(http.StatusOK) // too late: the deliverer gave up
	case "redirect":
		http.Redirect(w, req, "http://127.0.0.1:1/elsewhere", http.StatusFound)
	default:
		r.mu.Lock()
		r.acked = append(r.acked, id)
		r.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}
}

func (r *receiver) lists() (seen, acked []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.seen...), append([]string(nil), r.acked...)
}

// drain runs the deliverer until nothing is pending (or the test's patience
// ends: a bound on a hang, not a timing assertion).
func drain(t *testing.T, db *store.DB, d *outbox.Deliverer, endpoint string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := d.ProcessDue(context.Background()); err != nil {
			t.Fatal(err)
		}
		if len(deliveries(t, db, store.OutboxFilter{EndpointID: endpoint, State: store.OutboxPending})) == 0 {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("deliveries still pending")
}

// Against a receiver that fails, times out and redirects before it
// recovers, every event is acknowledged exactly once per endpoint, in the
// order of the ledger; later events wait behind a failing one.
func TestDeliveryInOrderThroughFailures(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		db.SetPII(keyring(t))
		w := db.NewWriter(store.WriterOptions{})
		defer w.Close()
		svc := &points.Service{Policy: policy}
		m := newMerchant(t, db, "A")
		var secret atomic.Pointer[[]byte]
		rcv := &receiver{t: t, secret: func() []byte { return *secret.Load() },
			script: []string{"fail", "hang", "ok", "redirect", "fail", "ok"}, hang: 400 * time.Millisecond}
		srv := httptest.NewServer(rcv)
		defer srv.Close()
		reg := register(t, db, m, srv.URL+"/hooks")
		key, err := outbox.ParseSecret(reg.Secret)
		if err != nil {
			t.Fatal(err)
		}
		secret.Store(&key)
		if err := submit(t, w, fund(svc, m, "pay", 10000)); err != nil {
			t.Fatal(err)
		}
		for i := range 5 {
			if err := submit(t, w, earn(svc, m, "o"+string(rune('a'+i)), "c", 10)); err != nil {
				t.Fatal(err)
			}
		}
		want := deliveries(t, db, store.OutboxFilter{EndpointID: reg.ID})
		if len(want) != 6 {
			t.Fatalf("%d events, want 6", len(want))
		}
		d := &outbox.Deliverer{DB: db, Targets: outbox.Targets{Development: true}, Timeout: 150 * time.Millisecond,
			BaseDelay: time.Millisecond, MaxDelay: 4 * time.Millisecond}
		drain(t, db, d, reg.ID)

		seen, acked := rcv.lists()
		if len(acked) != len(want) {
			t.Fatalf("acknowledged %v, want each of %d events once", acked, len(want))
		}
		for i, e := range want {
			if acked[i] != e.EventID {
				t.Fatalf("acknowledged in order %v, want %s at %d", acked, e.EventID, i)
			}
		}
		// First arrivals are in order too, and only the head was retried.
		var first []string
		had := map[string]bool{}
		for _, id := range seen {
			if !had[id] {
				had[id] = true
				first = append(first, id)
			}
		}
		for i, e := range want {
			if first[i] != e.EventID {
				t.Fatalf("first arrivals %v out of order", first)
			}
		}
		if len(seen) != len(want)+4 {
			t.Fatalf("%d requests, want %d (four failures retried)", len(seen), len(want)+4)
		}
		for _, dl := range deliveries(t, db, store.OutboxFilter{EndpointID: reg.ID}) {
			if dl.State != store.OutboxDelivered {
				t.Fatalf("delivery %d is %s", dl.ID, dl.State)
			}
		}
	})
}

// A delivery that keeps failing past MaxAge is dead-lettered; the events
// behind it then go out; a replay sends the dead one again.
func TestDeadLetterAndReplay(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		db.SetPII(keyring(t))
		w := db.NewWriter(store.WriterOptions{})
		defer w.Close()
		svc := &points.Service{Policy: policy}
		m := newMerchant(t, db, "A")
		var secret atomic.Pointer[[]byte]
		rcv := &receiver{t: t, secret: func() []byte { return *secret.Load() }, script: []string{"fail", "fail"}, skew: time.Hour}
		srv := httptest.NewServer(rcv)
		defer srv.Close()
		reg := register(t, db, m, srv.URL)
		key, _ := outbox.ParseSecret(reg.Secret)
		secret.Store(&key)
		if err := submit(t, w, fund(svc, m, "pay", 1000)); err != nil {
			t.Fatal(err)
		}
		if err := submit(t, w, earn(svc, m, "o1", "c", 10)); err != nil {
			t.Fatal(err)
		}
		var offset atomic.Int64
		d := &outbox.Deliverer{DB: db, Targets: outbox.Targets{Development: true}, BaseDelay: time.Minute, MaxDelay: time.Minute, MaxAge: 150 * time.Second,
			Now: func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }}
		step := func() {
			t.Helper()
			if _, err := d.ProcessDue(context.Background()); err != nil {
				t.Fatal(err)
			}
			offset.Add(int64(2 * time.Minute)) // past any backoff
		}
		step() // fail 1, retry
		step() // fail 2: the next retry would pass MaxAge: dead
		all := deliveries(t, db, store.OutboxFilter{EndpointID: reg.ID})
		if all[0].State != store.OutboxDead || all[0].Attempts != 2 || all[0].LastStatus != http.StatusServiceUnavailable {
			t.Fatalf("head after two failures: %+v", all[0])
		}
		step() // the receiver has recovered: the event behind the dead one goes out
		all = deliveries(t, db, store.OutboxFilter{EndpointID: reg.ID})
		if all[1].State != store.OutboxDelivered {
			t.Fatalf("second event %s", all[1].State)
		}
		eps := &outbox.Endpoints{DB: db, Now: d.Now}
		if err := eps.Replay(context.Background(), "other-merchant", all[0].ID, "x"); err == nil {
			t.Fatal("another merchant replayed the delivery")
		}
		if err := eps.Replay(context.Background(), m, all[1].ID, "x"); err == nil {
			t.Fatal("a delivered event was replayed")
		}
		if err := eps.Replay(context.Background(), m, all[0].ID, "merchant:"+m); err != nil {
			t.Fatal(err)
		}
		drain(t, db, d, reg.ID)
		_, acked := rcv.lists()
		if strings.Join(acked, ",") != all[1].EventID+","+all[0].EventID {
			t.Fatalf("acknowledged %v", acked)
		}
	})
}

// During a rotation's overlap both secrets sign; afterwards only the new.
func TestSecretRotationOverlap(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		db.SetPII(keyring(t))
		m := newMerchant(t, db, "A")
		reg := register(t, db, m, "http://127.0.0.1:9/x")
		now := time.Now()
		eps := &outbox.Endpoints{DB: db, Overlap: time.Hour, Now: func() time.Time { return now }}
		rot, err := eps.Rotate(context.Background(), m, reg.ID, "merchant:"+m)
		if err != nil {
			t.Fatal(err)
		}
		if rot.Secret == reg.Secret || rot.PrevID != reg.SecretID {
			t.Fatalf("rotation %+v", rot.WebhookEndpoint)
		}
		if _, err := eps.Rotate(context.Background(), "other", reg.ID, "x"); err == nil {
			t.Fatal("another merchant rotated the secret")
		}
		old, _ := outbox.ParseSecret(reg.Secret)
		cur, _ := outbox.ParseSecret(rot.Secret)
		for _, c := range []struct {
			at   time.Time
			want [][]byte
		}{{now.Add(time.Minute), [][]byte{cur, old}}, {now.Add(2 * time.Hour), [][]byte{cur}}} {
			e, err := db.WebhookEndpointSecrets(context.Background(), reg.ID, c.at)
			if err != nil {
				t.Fatal(err)
			}
			if len(e.Secrets) != len(c.want) {
				t.Fatalf("at %v: %d secrets, want %d", c.at, len(e.Secrets), len(c.want))
			}
			var keys [][]byte
			for i, s := range e.Secrets {
				if string(s.Secret) != string(c.want[i]) {
					t.Fatalf("secret %d differs", i)
				}
				keys = append(keys, s.Secret)
			}
			sig := outbox.Sign(keys, "evt_1", c.at, []byte("{}"))
			for _, k := range c.want {
				if err := outbox.Verify(k, "evt_1", itoa(c.at.Unix()), sig, []byte("{}"), c.at, time.Minute); err != nil {
					t.Fatalf("a signing secret does not verify: %v", err)
				}
			}
			if len(c.want) == 1 {
				if err := outbox.Verify(old, "evt_1", itoa(c.at.Unix()), sig, []byte("{}"), c.at, time.Minute); err == nil {
					t.Fatal("the old secret still verifies after the overlap")
				}
			}
		}
		// Disabled endpoints get no new events and their queue waits.
		if _, err := eps.SetStatus(context.Background(), m, reg.ID, store.EndpointDisabled, "x"); err != nil {
			t.Fatal(err)
		}
		list, _ := db.WebhookEndpoints(context.Background(), m)
		if list[0].Status != store.EndpointDisabled {
			t.Fatalf("status %s", list[0].Status)
		}
	})
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// The batch keeps the active endpoints cached under the admin epoch and
// checks the epoch inside its own transaction, on both databases: an
// endpoint registered or disabled through another gateway instance (a
// second handle on the same database) is seen by the very next batch,
// never a stale set after the change.
func TestEndpointChangesSeenByTheNextBatch(t *testing.T) {
	for _, dialect := range storetest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			ctx := context.Background()
			driver, dsn := storetest.NewDatabase(t, dialect)
			open := func() *store.DB {
				db, err := store.Open(ctx, driver, dsn, store.Options{MaxOpenConns: 8})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { db.Close() })
				return db
			}
			db := open()
			if _, err := db.Migrate(ctx, nil); err != nil {
				t.Fatal(err)
			}
			other := open() // the second instance
			other.SetPII(keyring(t))
			db.SetPII(keyring(t))
			w := db.NewWriter(store.WriterOptions{})
			defer w.Close()
			svc := &points.Service{Policy: policy}
			a := newMerchant(t, db, "A")
			if err := submit(t, w, fund(svc, a, "pay-1", 500)); err != nil {
				t.Fatal(err)
			}
			if err := submit(t, w, earn(svc, a, "o1", "c1", 10)); err != nil { // no endpoint yet: cached empty
				t.Fatal(err)
			}
			ep := register(t, other, a, "http://127.0.0.1:1/new")
			if err := submit(t, w, earn(svc, a, "o2", "c1", 10)); err != nil {
				t.Fatal(err)
			}
			if got := deliveries(t, db, store.OutboxFilter{EndpointID: ep.ID}); types(got) != "points.earned" {
				t.Fatalf("after registration: %q", types(got))
			}
			if err := other.SetWebhookEndpointStatus(ctx, ep.ID, a, store.EndpointDisabled, "test", time.Now()); err != nil {
				t.Fatal(err)
			}
			if err := submit(t, w, earn(svc, a, "o3", "c1", 10)); err != nil {
				t.Fatal(err)
			}
			if got := deliveries(t, db, store.OutboxFilter{EndpointID: ep.ID}); len(got) != 1 {
				t.Fatalf("a disabled endpoint got %d rows", len(got))
			}
			if err := other.SetWebhookEndpointStatus(ctx, ep.ID, a, store.EndpointActive, "test", time.Now()); err != nil {
				t.Fatal(err)
			}
			if err := submit(t, w, earn(svc, a, "o4", "c1", 10)); err != nil {
				t.Fatal(err)
			}
			if got := deliveries(t, db, store.OutboxFilter{EndpointID: ep.ID}); len(got) != 2 {
				t.Fatalf("a re-enabled endpoint has %d rows, want 2", len(got))
			}
		})
	}
}
