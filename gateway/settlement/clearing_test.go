package settlement_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/gateway/evidence"
	"github.com/lianmeng/lianmeng/gateway/settlement"
	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
)

// A day's statement: the payable at the cut-off before, each kind of
// movement, the payable after, exact to the fen; signed with the evidence
// key; the same after a re-run; other days untouched.
func TestClearingStatements(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		x, ctx := setup(t, db), context.Background()
		cst := time.FixedZone("CST", 8*3600)
		c := &clock{t: time.Date(2026, 11, 29, 20, 0, 0, 0, cst)} // the day before
		x.w.Close()
		x.w = db.NewWriter(store.WriterOptions{Now: c.now})
		t.Cleanup(x.w.Close)
		x.owe(t, 70_000) // opening payable: 70000 (29 Nov)
		c.t = time.Date(2026, 11, 30, 10, 0, 0, 0, cst)
		x.owe(t, 5_000)
		x.owe(t, 2_500)
		_ = db.SetPayoutAccounts(ctx, x.merchant, []store.PayoutAccount{{Channel: "wechatpay", PayeeType: "wechat_openid", Account: "o1"}})
		p := x.payouts(c)
		if _, err := p.Request(ctx, settlement.PayoutRequest{MerchantID: x.merchant, AmountFen: 30_000, IdemKey: "s1"}); err != nil {
			t.Fatal(err)
		}
		c.t = time.Date(2026, 12, 1, 9, 0, 0, 0, cst) // the next day: not in the statement
		x.owe(t, 1)

		key, err := evidence.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		cl := &settlement.Clearing{DB: db, Signer: settlement.SM2Signer{Key: key, ID: "ev-key"}}
		var firstBody string
		for run := 0; run < 2; run++ {
			var calls int
			sts, err := cl.Run(ctx, "2026-11-30", func(done, total int) { calls++ })
			if err != nil {
				t.Fatal(err)
			}
			if len(sts) != 1 || calls != 1 {
				t.Fatalf("run %d: %d statements, %d progress calls", run, len(sts), calls)
			}
			st := sts[0]
			lines := map[string]settlement.StatementLine{}
			for _, l := range st.Lines {
				lines[l.Kind] = l
			}
			if st.OpeningFen != 70_000 || st.NetFen != 5_000+2_500-30_000 || st.ClosingFen != 47_500 ||
				lines["test_owe"].AmountFen != 7_500 || lines["test_owe"].Count != 2 || lines["payout_hold"].AmountFen != -30_000 {
				t.Fatalf("statement: %+v", st)
			}
			stored, err := db.Statement(ctx, x.merchant, "2026-11-30")
			if err != nil {
				t.Fatal(err)
			}
			if !settlement.VerifyStatement(&key.PublicKey, []byte(stored.Body), stored.Signature) || stored.KeyID != "ev-key" {
				t.Fatalf("the stored statement's signature does not verify: %+v", stored)
			}
			if settlement.VerifyStatement(&key.PublicKey, []byte(strings.Replace(stored.Body, "47500", "47501", 1)), stored.Signature) {
				t.Fatal("a changed statement verifies")
			}
			var back settlement.Statement
			if err := json.Unmarshal([]byte(stored.Body), &back); err != nil || back.ClosingFen != 47_500 {
				t.Fatalf("stored body: %s %v", stored.Body, err)
			}
			if run == 0 {
				firstBody = stored.Body
			} else if stored.Body != firstBody {
				t.Fatalf("a re-run changed the statement:\n%s\n%s", firstBody, stored.Body)
			}
			csv := string(st.CSV())
			if !strings.Contains(csv, ",opening,,70000\n") || !strings.Contains(csv, ",closing,,47500\n") {
				t.Fatalf("csv:\n%s", csv)
			}
		}
		if _, err := db.Statement(ctx, x.merchant, "2026-12-01"); err == nil {
			t.Fatal("a statement for a day that was not run")
		}
	})
}

func evidenceKey(t *testing.T) (settlement.SM2Signer, error) {
	t.Helper()
	key, err := evidence.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return settlement.SM2Signer{Key: key, ID: "ev-key"}, nil
}

// TestCalendarCutoff: a day ends at its cut-off by the wall clock of the
// alliance's zone; the instant of the cut-off belongs to the next day.
func TestCalendarCutoff(t *testing.T) {
	cst := time.FixedZone("CST", 8*3600)
	c := settlement.Calendar{Location: cst, Cutoff: 22 * time.Hour}
	from, to, err := c.Window("2026-11-30")
	if err != nil {
		t.Fatal(err)
	}
	if !from.Equal(time.Date(2026, 11, 29, 22, 0, 0, 0, cst)) || !to.Equal(time.Date(2026, 11, 30, 22, 0, 0, 0, cst)) {
		t.Fatalf("window %s .. %s", from, to)
	}
	for _, tc := range []struct {
		at        time.Time
		day, last string
	}{
		{time.Date(2026, 11, 30, 21, 59, 59, 999_999_000, cst), "2026-11-30", "2026-11-29"},
		{time.Date(2026, 11, 30, 22, 0, 0, 0, cst), "2026-12-01", "2026-11-30"},
		{time.Date(2026, 12, 31, 23, 0, 0, 0, cst), "2027-01-01", "2026-12-31"},
		{time.Date(2026, 11, 30, 0, 0, 0, 0, cst), "2026-11-30", "2026-11-29"},
	} {
		if d := c.DayOf(tc.at); d != tc.day {
			t.Errorf("DayOf(%s) = %s, want %s", tc.at, d, tc.day)
		}
		if l := c.LastClosed(tc.at); l != tc.last {
			t.Errorf("LastClosed(%s) = %s, want %s", tc.at, l, tc.last)
		}
	}
	// The zero Calendar is midnight, UTC+8.
	var zero settlement.Calendar
	if d := zero.DayOf(time.Date(2026, 11, 30, 15, 59, 59, 0, time.UTC)); d != "2026-11-30" {
		t.Errorf("zero calendar: %s", d)
	}
	if d := zero.DayOf(time.Date(2026, 11, 30, 16, 0, 0, 0, time.UTC)); d != "2026-12-01" {
		t.Errorf("zero calendar: %s", d)
	}
	// Across a daylight-saving change the day is 23 hours long, still cut
	// at the wall clock's cut-off.
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	from, to, _ = settlement.Calendar{Location: berlin, Cutoff: 2*time.Hour + 30*time.Minute}.Window("2026-03-30")
	if to.Sub(from) != 23*time.Hour {
		t.Fatalf("the day after the spring change is %s long", to.Sub(from))
	}
	for _, bad := range []string{"2026-02-30", "2026-11-3", "30.11.2026", ""} {
		if _, _, err := c.Window(bad); !errors.Is(err, settlement.ErrInvalid) {
			t.Errorf("Window(%q): %v", bad, err)
		}
	}
}

// A 22:00 cut-off: a redemption at 21:59:59.999999 is on that day's
// statement, one at 22:00:00 on the next day's, and the next day's
// opening is the day's closing; on both databases.
func TestClearingCutoffBoundary(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		x, ctx := setup(t, db), context.Background()
		cst := time.FixedZone("CST", 8*3600)
		c := &clock{t: time.Date(2026, 11, 29, 23, 0, 0, 0, cst)}
		x.w.Close()
		x.w = db.NewWriter(store.WriterOptions{Now: c.now})
		t.Cleanup(x.w.Close)
		x.owe(t, 1_000) // after the 29th's cut-off: the 30th
		c.t = time.Date(2026, 11, 30, 21, 59, 59, 999_999_000, cst)
		x.owe(t, 200)
		c.t = time.Date(2026, 11, 30, 22, 0, 0, 0, cst)
		x.owe(t, 30)
		c.t = time.Date(2026, 12, 1, 21, 59, 59, 0, cst)
		x.owe(t, 4)
		c.t = time.Date(2026, 12, 1, 22, 0, 0, 0, cst)
		x.owe(t, 50_000) // the 2nd

		cl := &settlement.Clearing{DB: db, Calendar: settlement.Calendar{Location: cst, Cutoff: 22 * time.Hour}}
		day := func(date string) settlement.Statement {
			t.Helper()
			sts, err := cl.Run(ctx, date, nil)
			if err != nil || len(sts) != 1 {
				t.Fatalf("%s: %v %+v", date, err, sts)
			}
			return sts[0]
		}
		d30, d1 := day("2026-11-30"), day("2026-12-01")
		if d30.OpeningFen != 0 || d30.NetFen != 1_200 || d30.ClosingFen != 1_200 || d30.Lines[0].Count != 2 {
			t.Fatalf("30 Nov: %+v", d30)
		}
		if d1.OpeningFen != 1_200 || d1.NetFen != 34 || d1.ClosingFen != 1_234 || d1.Lines[0].Count != 2 {
			t.Fatalf("1 Dec: %+v", d1)
		}
		// Midnight cut-off, the same ledger: the days split elsewhere.
		cl.Calendar = settlement.Calendar{Location: cst}
		if m30 := day("2026-11-30"); m30.OpeningFen != 1_000 || m30.NetFen != 230 {
			t.Fatalf("30 Nov at midnight: %+v", m30)
		}
	})
}

// Automatic payouts at a 22:00 cut-off: a merchant's payable at the cut-off
// (the redemption at 21:59:59 in, the one at 22:00 out), less a payout it
// requested by hand after the cut-off, is requested once for the day
// however often the job runs; a merchant below the minimum is left alone;
// a day that has not ended is refused. On both databases.
func TestAutoPayoutAtCutoff(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		x, ctx := setup(t, db), context.Background()
		cst := time.FixedZone("CST", 8*3600)
		c := &clock{t: time.Date(2026, 11, 30, 9, 0, 0, 0, cst)}
		x.w.Close()
		x.w = db.NewWriter(store.WriterOptions{Now: c.now})
		t.Cleanup(x.w.Close)
		if err := db.SetPayoutAccounts(ctx, x.merchant, []store.PayoutAccount{{Channel: "wechatpay", PayeeType: "wechat_openid", Account: "o1"}}); err != nil {
			t.Fatal(err)
		}
		x.owe(t, 50_000)
		c.t = time.Date(2026, 11, 30, 21, 59, 59, 0, cst)
		x.owe(t, 7_000)
		c.t = time.Date(2026, 11, 30, 22, 0, 0, 0, cst) // the next day's
		x.owe(t, 100_000)
		p := x.payouts(c)
		if _, err := p.Request(ctx, settlement.PayoutRequest{MerchantID: x.merchant, AmountFen: 5_000, IdemKey: "by-hand"}); err != nil {
			t.Fatal(err)
		}
		cal := settlement.Calendar{Location: cst, Cutoff: 22 * time.Hour}
		if _, err := p.RequestSettled(ctx, cal, "2026-12-01", 1_000); !errors.Is(err, settlement.ErrInvalid) {
			t.Fatalf("a day not ended: %v", err)
		}
		c.t = time.Date(2026, 11, 30, 23, 0, 0, 0, cst)
		for run := 0; run < 2; run++ {
			res, err := p.RequestSettled(ctx, cal, "2026-11-30", 1_000)
			if err != nil || res.Requested != 1 || res.TotalFen != 52_000 {
				t.Fatalf("run %d: %+v %v", run, res, err)
			}
		}
		po, err := db.PayoutByKey(ctx, x.merchant, "auto:2026-11-30")
		if err != nil || po.AmountFen != 52_000 || po.State != store.PayoutRequested {
			t.Fatalf("automatic payout: %+v %v", po, err)
		}
		if payable, held, _ := x.balances(t); payable != 100_000 || held != 57_000 {
			t.Fatalf("payable %d held %d: only the settled day may be held", payable, held)
		}
		// Below the minimum: nothing.
		if res, err := p.RequestSettled(ctx, cal, "2026-11-29", 1_000); err != nil || res.Requested != 0 || res.Skipped != 1 {
			t.Fatalf("an empty day: %+v %v", res, err)
		}
	})
}
