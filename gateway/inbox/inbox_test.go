package inbox_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/gateway/inbox"
	"github.com/lianmeng/lianmeng/gateway/merchant"
	"github.com/lianmeng/lianmeng/gateway/pii"
	"github.com/lianmeng/lianmeng/gateway/points"
	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
	"github.com/lianmeng/lianmeng/sdk"
	"github.com/lianmeng/lianmeng/sdk/pos"
	"github.com/lianmeng/lianmeng/sdk/purchase"
	"github.com/lianmeng/lianmeng/sdk/webhook"
)

// testPOS is an adapter for a made-up POS: JSON events signed with a hex
// HMAC-SHA256 of the body in X-Test-Signature, acknowledged with "OK".
type testPOS struct{}

type testEvent struct {
	ID        string `json:"id"`
	Type      string `json:"type"` // paid, refund or other
	Order     string `json:"order"`
	Original  string `json:"original,omitempty"`
	AmountFen int64  `json:"amount_fen"`
	Phone     string `json:"phone,omitempty"`
	Location  string `json:"location,omitempty"`
}

func (testPOS) HandleWebhook(_ context.Context, req pos.Request) (pos.Result, error) {
	var cfg struct {
		Secret string `json:"secret"`
	}
	if err := sdk.DecodeConfig(req.MerchantConfig, &cfg); err != nil {
		return pos.Result{}, err
	}
	want := sign(cfg.Secret, req.HTTP.Body)
	if subtle.ConstantTimeCompare([]byte(req.HTTP.Header.Get("X-Test-Signature")), []byte(want)) != 1 {
		return pos.Result{Outcome: pos.Rejected, Reason: "bad signature", Ack: webhook.Text(http.StatusUnauthorized, "BAD")}, nil
	}
	var ev testEvent
	if err := json.Unmarshal(req.HTTP.Body, &ev); err != nil {
		return pos.Result{}, fmt.Errorf("%w: %v", sdk.ErrInvalidInput, err)
	}
	ok := webhook.Text(http.StatusOK, "OK")
	p := purchase.Purchase{MerchantID: req.MerchantID, StoreID: ev.Location, ExternalOrderID: ev.Order, AmountFen: ev.AmountFen,
		Currency: "CNY", OccurredAt: time.Unix(1764547200, 0).UTC()}
	if ev.Phone != "" {
		p.Members = []purchase.Identity{{Type: purchase.IdentityPhone, Value: ev.Phone}}
	}
	switch ev.Type {
	case "paid":
	case "refund":
		p.Type, p.OriginalOrderID = purchase.TypeRefund, ev.Original
	default:
		return pos.Result{Outcome: pos.Ignored, EventID: ev.ID, EventType: ev.Type, Ack: ok, Reason: "not used"}, nil
	}
	return pos.Result{Outcome: pos.Accepted, EventID: ev.ID, EventType: ev.Type, Events: []purchase.Purchase{p}, Ack: ok}, nil
}

func sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// adapters serves testPOS as "testpos", or fails like a crashed plugin
// while down is set, or hangs until its context ends while slow is set.
type adapters struct{ down, slow atomic.Bool }

func (a *adapters) POSAdapter(name string) (pos.Adapter, error) {
	if a.down.Load() || name != "testpos" {
		return nil, errors.New("plugin testpos unavailable")
	}
	if a.slow.Load() {
		return slowPOS{}, nil
	}
	return testPOS{}, nil
}

// slowPOS answers only when its deadline passes, as a hung plugin would.
type slowPOS struct{}

func (slowPOS) HandleWebhook(ctx context.Context, _ pos.Request) (pos.Result, error) {
	<-ctx.Done()
	return pos.Result{}, ctx.Err()
}

const secret = "whsec_test"

type fixture struct {
	db       *store.DB
	in       *inbox.Inbox
	ads      *adapters
	merchant string
	conn     string
	clock    *clock
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

var keyring = func() *pii.Keyring {
	e, err := pii.NewKeyEntry("k1")
	if err != nil {
		panic(err)
	}
	k, err := pii.NewKeyring(e, pii.NewIndexKey())
	if err != nil {
		panic(err)
	}
	return k
}()

func policy() points.Policy {
	return points.Policy{FaceValueFen: 1, ReleaseDelay: time.Hour, Validity: 24 * time.Hour, ExpiryPolicy: "breakage", MaxPointsPerEarn: 1e6, MaxAmountFen: 1e9}
}

// newInbox builds an inbox over db (a writer closed with the test).
func newInbox(t testing.TB, db *store.DB, ads *adapters, c *clock) *inbox.Inbox {
	t.Helper()
	db.SetPII(keyring)
	w := db.NewWriter(store.WriterOptions{})
	t.Cleanup(w.Close)
	svc := &points.Service{Policy: policy(), Earnings: db, Reader: db, Now: c.now}
	return &inbox.Inbox{DB: db, Writer: w, Points: svc, Adapters: ads, Now: c.now, MaxAttempts: 3, BaseBackoff: time.Second, MaxBackoff: time.Minute}
}

func setup(t testing.TB, db *store.DB) *fixture {
	t.Helper()
	ctx := context.Background()
	c := &clock{t: time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)}
	ads := &adapters{}
	in := newInbox(t, db, ads, c)
	m, _ := merchant.NewMerchant("Noodles", "restaurant", c.now())
	if err := db.Merchants().CreateMerchant(ctx, m, "operator"); err != nil {
		t.Fatal(err)
	}
	if r := in.Writer.Submit(ctx, &store.Op{Command: in.Points.FundCommand(points.FundRequest{MerchantID: m.ID, AmountFen: 1_000_000, ExternalRef: "f1"})}); r.Err != nil {
		t.Fatal(r.Err)
	}
	conn := store.POSConnection{ID: "pc_test1", MerchantID: m.ID, Adapter: "testpos", Label: "till", Status: "active",
		Config: []byte(`{"secret":"` + secret + `"}`), StoreMap: map[string]string{}, CreatedBy: "operator:t", CreatedAt: c.now()}
	if err := db.CreatePOSConnection(ctx, conn); err != nil {
		t.Fatal(err)
	}
	return &fixture{db: db, in: in, ads: ads, merchant: m.ID, conn: conn.ID, clock: c}
}

func request(ev testEvent, sig string) webhook.Request {
	body, _ := json.Marshal(ev)
	if sig == "" {
		sig = sign(secret, body)
	}
	return webhook.Request{Method: http.MethodPost, Path: "/v1/pos/pc_test1",
		Header: http.Header{"X-Test-Signature": {sig}, "Authorization": {"Bearer not-stored"}, "Content-Type": {"application/json"}}, Body: body}
}

func (f *fixture) receive(t *testing.T, req webhook.Request) webhook.Response {
	t.Helper()
	res, err := f.in.Receive(context.Background(), f.conn, req)
	if err != nil {
		t.Fatalf("receive: %v", err)
	}
	return res
}

func (f *fixture) process(t *testing.T) int {
	t.Helper()
	n, err := f.in.ProcessDue(context.Background())
	if err != nil {
		t.Fatalf("process: %v", err)
	}
	return n
}

func (f *fixture) events(t *testing.T, state string) []store.InboxEvent {
	t.Helper()
	evs, err := f.db.InboxEvents(context.Background(), store.InboxFilter{ConnectionID: f.conn, State: state})
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// earned returns the purchase rows for order: how many and the refunded fen.
func (f *fixture) earned(t *testing.T, order string) (n int, refunded int64) {
	t.Helper()
	if err := f.db.R.QueryRow(`SELECT COUNT(*), COALESCE(SUM(refunded_fen), 0) FROM purchases WHERE merchant_id = ? AND kind = 'earn' AND order_id = ?`,
		f.merchant, order).Scan(&n, &refunded); err != nil {
		t.Fatal(err)
	}
	return n, refunded
}

// An acknowledged event is processed, once: a redelivery is stored once,
// and re-processing after a crash between the effect and the done mark
// replays the recorded result instead of earning again.
func TestAcknowledgedEventHasOneEffect(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := setup(t, db)
		ev := testEvent{ID: "evt-1", Type: "paid", Order: "o-1", AmountFen: 12800, Phone: "+86 138-0013-8000"}
		if res := f.receive(t, request(ev, "")); res.Status != 200 || string(res.Body) != "OK" {
			t.Fatalf("ack: %d %q", res.Status, res.Body)
		}
		f.receive(t, request(ev, "")) // the POS redelivers
		if got := f.events(t, store.InboxPending); len(got) != 1 || got[0].EventKey != "evt-1" {
			t.Fatalf("pending after two deliveries: %+v", got)
		}
		if n := f.process(t); n != 1 {
			t.Fatalf("processed %d events, want 1", n)
		}
		if n, _ := f.earned(t, "o-1"); n != 1 {
			t.Fatalf("order earned %d times", n)
		}
		done := f.events(t, store.InboxDone)
		if len(done) != 1 || !strings.Contains(done[0].Outcome, "earn o-1 12800 fen") {
			t.Fatalf("done: %+v", done)
		}
		// The gateway died after the earn committed, before the done mark:
		// the row is pending again with its claim lapsed.
		if _, err := db.W.Exec(`UPDATE inbox_events SET state = 'pending', done_at = 0`); err != nil {
			t.Fatal(err)
		}
		if n := f.process(t); n != 1 {
			t.Fatalf("re-processed %d events, want 1", n)
		}
		if n, _ := f.earned(t, "o-1"); n != 1 {
			t.Fatalf("order earned %d times after re-processing", n)
		}
		if done := f.events(t, store.InboxDone); len(done) != 1 || !strings.Contains(done[0].Outcome, "already applied") {
			t.Fatalf("re-processed: %+v", done)
		}
		// The raw request is sealed at rest, without the Authorization header.
		var raw string
		if err := db.R.QueryRow(`SELECT request FROM inbox_events`).Scan(&raw); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(raw, "13800138000") || strings.Contains(raw, "o-1") {
			t.Fatalf("request stored in plaintext: %q", raw)
		}
		got, err := db.InboxEventByID(context.Background(), done[0].ID)
		if err != nil || strings.Contains(string(got.Request), "not-stored") || !strings.Contains(string(got.Request), "X-Test-Signature") {
			t.Fatalf("opened request: %s %v", got.Request, err)
		}
	})
}

// An event acknowledged by one gateway process is processed by the next:
// nothing but the database carries it across the restart.
func TestAcknowledgedEventSurvivesRestart(t *testing.T) {
	for _, d := range storetest.Dialects() {
		t.Run(d, func(t *testing.T) {
			driver, dsn := storetest.NewDatabase(t, d)
			ctx := context.Background()
			db1, err := store.Open(ctx, driver, dsn, store.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := db1.Migrate(ctx, nil); err != nil {
				t.Fatal(err)
			}
			f := setup(t, db1)
			f.receive(t, request(testEvent{ID: "evt-r", Type: "paid", Order: "o-r", AmountFen: 500, Phone: "13800138001"}, ""))
			f.in.Writer.Close()
			db1.Close() // the process dies here, before any worker ran

			db2, err := store.Open(ctx, driver, dsn, store.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db2.Close() })
			f2 := *f
			f2.db = db2
			f2.in = newInbox(t, db2, f.ads, f.clock)
			if n := f2.process(t); n != 1 {
				t.Fatalf("after restart processed %d, want 1", n)
			}
			if n, _ := f2.earned(t, "o-r"); n != 1 {
				t.Fatalf("order earned %d times after restart", n)
			}
		})
	}
}

// A bad signature is 401 with nothing stored; an unknown connection is
// ErrUnknownConnection; a down adapter stores nothing and answers
// ErrUnavailable, so the POS redelivers.
func TestRefusedWebhooksStoreNothing(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := setup(t, db)
		ev := testEvent{ID: "evt-2", Type: "paid", Order: "o-2", AmountFen: 100, Phone: "13800138000"}
		if _, err := f.in.Receive(context.Background(), f.conn, request(ev, sign("guess", []byte("x")))); !errors.Is(err, inbox.ErrRejected) {
			t.Fatalf("bad signature: %v", err)
		}
		if _, err := f.in.Receive(context.Background(), "pc_nope", request(ev, "")); !errors.Is(err, inbox.ErrUnknownConnection) {
			t.Fatalf("unknown connection: %v", err)
		}
		f.ads.down.Store(true)
		if _, err := f.in.Receive(context.Background(), f.conn, request(ev, "")); !errors.Is(err, inbox.ErrUnavailable) {
			t.Fatalf("adapter down: %v", err)
		}
		f.ads.down.Store(false)
		if res := f.receive(t, request(testEvent{ID: "evt-3", Type: "other"}, "")); res.Status != 200 {
			t.Fatalf("ignored: %d", res.Status)
		}
		if evs := f.events(t, ""); len(evs) != 0 {
			t.Fatalf("stored: %+v", evs)
		}
	})
}

// A verified body that does not parse is stored dead with the parse error
// and acknowledged; replay puts it back, and it dies again while the cause
// remains.
func TestMalformedBodyIsDeadLettered(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := setup(t, db)
		body := []byte(`{"id": "evt-4", "type": "paid", "amount_fen": "not a number"}`)
		req := webhook.Request{Method: http.MethodPost, Path: "/v1/pos/pc_test1", Header: http.Header{"X-Test-Signature": {sign(secret, body)}}, Body: body}
		if res := f.receive(t, req); res.Status != 200 {
			t.Fatalf("ack: %d", res.Status)
		}
		dead := f.events(t, store.InboxDead)
		if len(dead) != 1 || !strings.Contains(dead[0].LastError, "cannot unmarshal") {
			t.Fatalf("dead: %+v", dead)
		}
		ctx := context.Background()
		if err := db.ReplayInboxEvent(ctx, dead[0].ID, "someone-else", f.clock.now(), "operator:t"); !errors.Is(err, store.ErrInboxEventNotFound) {
			t.Fatalf("replay of another merchant's event: %v", err)
		}
		if err := db.ReplayInboxEvent(ctx, dead[0].ID, f.merchant, f.clock.now(), "operator:t"); err != nil {
			t.Fatal(err)
		}
		if err := db.ReplayInboxEvent(ctx, dead[0].ID, "", f.clock.now(), "operator:t"); !errors.Is(err, store.ErrInboxEventNotFound) {
			t.Fatalf("replay of a pending event: %v", err)
		}
		f.process(t)
		if dead := f.events(t, store.InboxDead); len(dead) != 1 || !strings.Contains(dead[0].LastError, "parse") {
			t.Fatalf("after replay: %+v", dead)
		}
	})
}

// A refund that arrives before its purchase waits with backoff, is applied
// once the purchase is in, and dead-letters if the purchase never comes;
// a plugin down while processing only delays.
func TestRefundBeforePurchaseAndAdapterDown(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := setup(t, db)
		f.receive(t, request(testEvent{ID: "evt-rf", Type: "refund", Order: "rf-1", Original: "o-5", AmountFen: 1000}, ""))
		f.process(t)
		pend := f.events(t, store.InboxPending)
		if len(pend) != 1 || pend[0].Attempts != 1 || !strings.Contains(pend[0].LastError, points.CodeUnknownPurchase) ||
			!pend[0].NextAt.Equal(f.clock.now().Add(time.Second)) {
			t.Fatalf("refund before purchase: %+v", pend)
		}
		if n := f.process(t); n != 0 {
			t.Fatalf("processed %d before the backoff elapsed", n)
		}
		f.receive(t, request(testEvent{ID: "evt-5", Type: "paid", Order: "o-5", AmountFen: 4000, Phone: "13800138005"}, ""))
		f.ads.down.Store(true) // the plugin crashed
		f.clock.add(time.Second)
		f.process(t)
		if n, _ := f.earned(t, "o-5"); n != 0 {
			t.Fatal("earned while the adapter was down")
		}
		f.ads.down.Store(false) // restarted
		f.clock.add(time.Minute)
		f.process(t)
		if n, refunded := f.earned(t, "o-5"); n != 1 || refunded != 1000 {
			t.Fatalf("after restart: earned %d, refunded %d", n, refunded)
		}
		if done := f.events(t, store.InboxDone); len(done) != 2 {
			t.Fatalf("done: %+v", done)
		}
		// Another event reporting the same refund (its "updated" twin) has
		// no second effect.
		f.receive(t, request(testEvent{ID: "evt-rf-again", Type: "refund", Order: "rf-1", Original: "o-5", AmountFen: 1000}, ""))
		f.process(t)
		if _, refunded := f.earned(t, "o-5"); refunded != 1000 {
			t.Fatalf("refund reported twice refunded %d", refunded)
		}
		// A refund whose purchase never comes dies after MaxAttempts.
		f.receive(t, request(testEvent{ID: "evt-rf2", Type: "refund", Order: "rf-2", Original: "o-never", AmountFen: 1}, ""))
		for range 3 {
			f.process(t)
			f.clock.add(time.Hour)
		}
		dead := f.events(t, store.InboxDead)
		if len(dead) != 1 || dead[0].Attempts != 3 || !strings.Contains(dead[0].LastError, points.CodeUnknownPurchase) {
			t.Fatalf("dead: %+v", dead)
		}
		if err := f.in.Health(context.Background(), time.Hour); !errors.Is(err, inbox.ErrBacklog) {
			t.Fatalf("health with a dead letter: %v", err)
		}
	})
}

// A hung adapter costs a webhook its call deadline, never the ledger: the
// webhook is refused unstored (the POS redelivers), a stored event waits
// without spending attempts, and earning through the writer goes on
// meanwhile.
func TestSlowAdapterBlocksNothing(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := setup(t, db)
		f.in.CallTimeout = 300 * time.Millisecond
		f.receive(t, request(testEvent{ID: "evt-s1", Type: "paid", Order: "o-s1", AmountFen: 100, Phone: "13800138009"}, ""))
		f.ads.slow.Store(true)
		ctx := context.Background()
		done := make(chan error, 1)
		go func() {
			_, err := f.in.Receive(ctx, f.conn, request(testEvent{ID: "evt-s2", Type: "paid", Order: "o-s2", AmountFen: 100}, ""))
			done <- err
		}()
		// While the adapter hangs, a direct earn commits.
		pts := int64(1)
		cmd, err := f.in.Points.PrepareEarn(ctx, points.EarnRequest{MerchantID: f.merchant, OrderID: "direct-1", AmountFen: 100, Points: &pts,
			Member: points.Identity{Kind: points.IdentityPhone, Value: "13800138010"}})
		if err != nil {
			t.Fatal(err)
		}
		if r := f.in.Writer.Submit(ctx, &store.Op{Command: cmd}); r.Err != nil {
			t.Fatalf("direct earn while the adapter hangs: %v", r.Err)
		}
		select {
		case err := <-done:
			t.Fatalf("the webhook's adapter call ended (%v) before the earn was shown not to wait for it", err)
		default:
		}
		if err := <-done; !errors.Is(err, inbox.ErrUnavailable) {
			t.Fatalf("receive through a hung adapter: %v", err)
		}
		if _, err := f.in.ProcessDue(ctx); err != nil {
			t.Fatal(err)
		}
		pend := f.events(t, store.InboxPending)
		if len(pend) != 1 || pend[0].EventKey != "evt-s1" || pend[0].Attempts != 0 {
			t.Fatalf("pending while the adapter hangs: %+v", pend)
		}
		f.ads.slow.Store(false)
		f.clock.add(time.Minute)
		f.process(t)
		if n, _ := f.earned(t, "o-s1"); n != 1 {
			t.Fatalf("earned %d after the adapter recovered", n)
		}
	})
}

func TestBackoff(t *testing.T) {
	in := &inbox.Inbox{BaseBackoff: time.Second, MaxBackoff: 10 * time.Second}
	for n, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 4: 8 * time.Second, 5: 10 * time.Second, 50: 10 * time.Second} {
		if got := in.Backoff(n); got != want {
			t.Errorf("Backoff(%d) = %v, want %v", n, got, want)
		}
	}
}
