package inbox_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/adapters/pospal"
	"github.com/lianmeng/lianmeng/adapters/pospal/pospaltest"
	"github.com/lianmeng/lianmeng/gateway/inbox"
	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
	"github.com/lianmeng/lianmeng/sdk/pos"
)

// pospalAdapters serves the Pospal adapter in process (the plugin host
// runs it out of process; the inbox sees pos.Adapter and pos.Poller
// either way).
type pospalAdapters struct{}

func (pospalAdapters) POSAdapter(name string) (pos.Adapter, error) {
	if name != pospal.Name {
		return nil, fmt.Errorf("no plugin %s", name)
	}
	return pospal.New(context.Background(), nil)
}

// pollFixture connects the fixture's merchant to a fake Pospal, polled
// every minute from an hour before the clock.
func pollFixture(t *testing.T, f *fixture, id, appKey string) *pospaltest.Server {
	t.Helper()
	fake := pospaltest.New("app-"+id, appKey)
	t.Cleanup(fake.Close)
	fake.PageSize = 2
	start := f.clock.now().Add(-time.Hour).In(pospal.CST).Format(pospal.TimeLayout)
	conn := store.POSConnection{ID: id, MerchantID: f.merchant, Adapter: pospal.Name, Label: "till", Status: store.POSConnectionActive,
		Config:   []byte(fmt.Sprintf(`{"api_base": %q, "app_id": "app-%s", "app_key": %q, "start_at": %q, "settle_seconds": 60}`, fake.URL, id, appKey, start)),
		StoreMap: map[string]string{}, CreatedBy: "operator:t", CreatedAt: f.clock.now(), PollInterval: time.Minute}
	if err := f.db.CreatePOSConnection(context.Background(), conn); err != nil {
		t.Fatal(err)
	}
	f.in.Adapters = pospalAdapters{}
	return fake
}

func (f *fixture) poll(t *testing.T) int {
	t.Helper()
	n, err := f.in.PollDue(context.Background())
	if err != nil {
		t.Fatalf("poll: %v", err)
	}
	return n
}

func (f *fixture) count(t *testing.T, q string, args ...any) int {
	t.Helper()
	var n int
	if err := f.db.R.Get(&n, q, args...); err != nil {
		t.Fatal(err)
	}
	return n
}

// A pull-only POS: its tickets are read page by page into the inbox and
// earned once; a new inbox over the same database (a restart) resumes from
// the stored cursor, reading only what is new; pages read again (a cursor
// set back, as after a crash before the commit) store nothing twice.
func TestPollResumesWithoutGapsOrDoubles(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := setup(t, db)
		fake := pollFixture(t, f, "pc_pospal1", "key-1")
		t0 := f.clock.now()
		at := func(min int) time.Time { return t0.Add(-time.Hour + time.Duration(min)*time.Minute) }
		for i := range 5 {
			fake.Add(pospaltest.Ticket{UID: int64(100 + i), SN: fmt.Sprintf("S%d", i), At: at(i + 1), Total: "10.00", Customer: 7})
		}
		fake.Add(pospaltest.Ticket{UID: 105, SN: "R5", At: at(10), Total: "-4.00", Type: "SELL_RETURN", Customer: 7, SaleSN: "S0"})
		if n := f.poll(t); n != 1 {
			t.Fatalf("polled %d connections", n)
		}
		if n := f.count(t, `SELECT COUNT(*) FROM inbox_events WHERE connection_id = 'pc_pospal1'`); n != 6 {
			t.Fatalf("%d records stored, want 6", n)
		}
		for f.process(t) > 0 {
		}
		for i := range 5 {
			if n, _ := f.earned(t, fmt.Sprintf("S%d", i)); n != 1 {
				t.Fatalf("S%d earned %d times", i, n)
			}
		}
		if _, refunded := f.earned(t, "S0"); refunded != 400 {
			t.Fatalf("return: refunded %d fen", refunded)
		}
		st, err := db.POSPollState(context.Background(), "pc_pospal1")
		if err != nil || st.Records != 6 || st.Failures != 0 || !strings.Contains(st.Cursor, `"start"`) {
			t.Fatalf("state: %+v %v", st, err)
		}
		if n := f.poll(t); n != 0 {
			t.Fatal("polled again before the interval")
		}

		// A restart: a new inbox over the same database.
		f.in = newInbox(t, db, f.ads, f.clock)
		f.in.Adapters = pospalAdapters{}
		f.clock.add(30 * time.Minute)
		fake.Add(pospaltest.Ticket{UID: 200, SN: "S200", At: f.clock.now().Add(-10 * time.Minute), Total: "1.00", Customer: 8},
			pospaltest.Ticket{UID: 99, SN: "S-late", At: at(59), Total: "2.00", Customer: 8}) // uploaded late, within the settle time
		f.poll(t)
		if n := f.count(t, `SELECT COUNT(*) FROM inbox_events WHERE connection_id = 'pc_pospal1'`); n != 8 {
			t.Fatalf("after the restart: %d records, want 8", n)
		}

		// Pages read again store nothing twice.
		if _, err := db.W.Exec(`UPDATE pos_poll_state SET poll_cursor = '', next_at = 0`); err != nil {
			t.Fatal(err)
		}
		f.poll(t)
		for f.process(t) > 0 {
		}
		if n := f.count(t, `SELECT COUNT(*) FROM inbox_events WHERE connection_id = 'pc_pospal1'`); n != 8 {
			t.Fatalf("after reading again: %d records, want 8", n)
		}
		if n := f.count(t, `SELECT COUNT(*) FROM purchases WHERE merchant_id = ? AND kind = 'earn'`, f.merchant); n != 7 {
			t.Fatalf("%d earns, want 7", n)
		}
		if _, refused := fake.Calls(); refused != 0 {
			t.Fatalf("the fake refused %d calls", refused)
		}
	})
}

// A provider error keeps the cursor and backs the connection off, doubling
// per failure in a row, without holding up another connection; success
// resets it. A disabled connection is not polled.
func TestPollBacksOffPerConnection(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := setup(t, db)
		good := pollFixture(t, f, "pc_good", "key-g")
		bad := pollFixture(t, f, "pc_bad", "key-b")
		tk := func(uid int64) pospaltest.Ticket {
			return pospaltest.Ticket{UID: uid, SN: fmt.Sprint("S", uid), At: f.clock.now().Add(-30 * time.Minute), Total: "1", Customer: 1}
		}
		good.Add(tk(1))
		bad.Add(tk(2))
		bad.Fail(100)
		if n := f.poll(t); n != 2 {
			t.Fatalf("polled %d", n)
		}
		st, _ := db.POSPollState(ctx, "pc_bad")
		if st.Failures != 1 || !strings.Contains(st.LastError, "503") || st.Cursor != "" || st.NextAt != store.Micros(f.clock.now().Add(time.Minute)) {
			t.Fatalf("after one failure: %+v", st)
		}
		if g, _ := db.POSPollState(ctx, "pc_good"); g.Records != 1 || g.Failures != 0 {
			t.Fatalf("the good connection: %+v", g)
		}
		f.clock.add(time.Minute)
		f.poll(t)
		st, _ = db.POSPollState(ctx, "pc_bad")
		if st.Failures != 2 || st.NextAt != store.Micros(f.clock.now().Add(2*time.Minute)) {
			t.Fatalf("after two failures: %+v", st)
		}
		if inbox.PollBackoff(time.Minute, 12) != inbox.MaxPollBackoff {
			t.Fatal("backoff unbounded")
		}
		bad.Fail(0)
		bad.Error(1) // Pospal's own refusal ("status": "error")
		f.clock.add(2 * time.Minute)
		f.poll(t)
		if st, _ = db.POSPollState(ctx, "pc_bad"); st.Failures != 3 || !strings.Contains(st.LastError, "请求太频繁") {
			t.Fatalf("a refused call: %+v", st)
		}
		f.clock.add(4 * time.Minute)
		f.poll(t)
		if st, _ = db.POSPollState(ctx, "pc_bad"); st.Failures != 0 || st.Records != 1 || st.LastError != "" {
			t.Fatalf("recovered: %+v", st)
		}
		if err := db.SetPOSConnectionStatus(ctx, "pc_good", f.merchant, store.POSConnectionDisabled, "closed", "operator:t", f.clock.now()); err != nil {
			t.Fatal(err)
		}
		f.in.Forget("pc_good")
		good.Add(tk(3))
		f.clock.add(time.Hour)
		calls, _ := good.Calls()
		f.poll(t)
		if after, _ := good.Calls(); after != calls {
			t.Fatal("a disabled connection was polled")
		}
	})
}
