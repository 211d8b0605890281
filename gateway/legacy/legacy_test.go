package legacy_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/gateway/ledger"
	"github.com/lianmeng/lianmeng/gateway/legacy"
	"github.com/lianmeng/lianmeng/gateway/merchant"
	"github.com/lianmeng/lianmeng/gateway/points"
	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
)

var policy = points.Policy{FaceValueFen: 1, ReleaseDelay: time.Hour, Validity: 365 * 24 * time.Hour,
	ExpiryPolicy: "return_to_merchant", MaxPointsPerEarn: 1_000_000, MaxAmountFen: 1_000_000_00}

func source(s string) legacy.Source {
	return func() (io.ReadCloser, int64, error) { return io.NopCloser(strings.NewReader(s)), int64(len(s)), nil }
}

// The bad input, each on its own line; the good rows around them.
const badCSV = "\xef\xbb\xbfkind,value,points,earned_at,expires_at\n" +
	"phone,13800000001,300,2025-01-01,2027-06-30\n" + // 2 ok
	"customer,c-9,120,2025-03-01T10:00:00+08:00,2026-12-20T00:00:00Z\n" + // 3 ok, expiry raised to the minimum
	"phone,13800000001,300,2025-01-01,2027-06-30\n" + // 4 duplicate of 2
	"phone,13800000002,-5,2025-01-01,2027-06-30\n" + // 5 negative
	"phone,13800000003,99999999999,2025-01-01,2027-06-30\n" + // 6 absurd
	"email,a@example.com,10,2025-01-01,2027-06-30\n" + // 7 unknown kind
	"phone,13800000004,10,2024-01-01,2025-01-01\n" + // 8 expired
	"phone,\xc0\xaf,10,2025-01-01,2027-06-30\n" + // 9 not UTF-8 (GBK bytes)
	"phone,13800000005,ten,2025-01-01,2027-06-30\n" + // 10 not a number
	"phone,13800000006,10,2025-13-01,2027-06-30\n" + // 11 bad date
	"phone,13800000007,10\n" + // 12 missing columns
	"\n" +
	"wechat_openid,wx-7,50,2025-01-01,2028-01-01\n" // 14 ok

func newMerchant(t *testing.T, db *store.DB) string {
	t.Helper()
	m, err := merchant.NewMerchant("Joining Tea House", "restaurant", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Merchants().CreateMerchant(context.Background(), m, "test"); err != nil {
		t.Fatal(err)
	}
	return m.ID
}

// TestPlanAndCommit runs on both databases, with the plan's external sort
// in memory and spilling to disk every record (repeats found across runs).
func TestPlanAndCommit(t *testing.T) {
	t.Run("in-memory", testPlanAndCommit)
	t.Run("spilled", func(t *testing.T) {
		defer legacy.SpillEvery(1)()
		testPlanAndCommit(t)
	})
}

func testPlanAndCommit(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
		w := db.NewWriter(store.WriterOptions{Now: func() time.Time { return now }})
		defer w.Close()
		svc := &points.Service{Policy: policy}
		m := newMerchant(t, db)
		submit := func(c points.Command) (any, error) {
			r := w.Submit(ctx, &store.Op{Command: c})
			return r.Value, r.Err
		}
		// A member the alliance knows already (earned elsewhere).
		if _, err := submit(svc.FundCommand(points.FundRequest{MerchantID: m, AmountFen: 10, ExternalRef: "seed"})); err != nil {
			t.Fatal(err)
		}
		ten := int64(10)
		if _, err := submit(points.Command{Name: "earn", IDs: 8, Apply: func(tx points.Tx) (any, error) {
			return svc.Earn(tx, points.EarnRequest{MerchantID: m, OrderID: "o1", AmountFen: 100, Points: &ten, Member: points.Identity{Kind: "wechat_openid", Value: "wx-7"}})
		}}); err != nil {
			t.Fatal(err)
		}
		o := legacy.Options{MerchantID: m, Format: legacy.CSV, MinValidity: 30 * 24 * time.Hour, Chunk: 2, Now: func() time.Time { return now },
			TempDir: t.TempDir()}
		rep, err := legacy.Plan(ctx, db, svc, source(badCSV), o)
		if err != nil {
			t.Fatal(err)
		}
		defer rep.Close()
		if rep.Repeats.Len() != 1 {
			t.Fatalf("%d repeated lines, want 1", rep.Repeats.Len())
		}
		var got []string
		for _, e := range rep.Errors {
			got = append(got, fmt.Sprintf("%d:%s", e.Line, e.Code))
		}
		want := "4:import_duplicate_row 5:invalid_points 6:invalid_points 7:invalid_member_identity 8:import_expired 9:invalid_encoding 10:invalid_points 11:import_dates_invalid 12:malformed_row"
		if strings.Join(got, " ") != want {
			t.Fatalf("refused lines\n got %s\nwant %s", strings.Join(got, " "), want)
		}
		if rep.Rows != 12 || rep.Valid != 3 || rep.Points != 470 || rep.Matches != 1 || rep.NewMembers != 2 {
			t.Fatalf("report %+v", rep)
		}
		if n := count(t, db, "purchases WHERE kind = 'import'"); n != 0 {
			t.Fatalf("the dry run wrote %d rows", n)
		}
		// Not funded: refused whole, nothing written.
		if _, err := legacy.Commit(ctx, svc, submit, source(badCSV), rep, o); err == nil {
			t.Fatal("an unfunded import committed")
		}
		if n := count(t, db, "purchases WHERE kind = 'import'"); n != 0 {
			t.Fatalf("the refused import wrote %d rows", n)
		}
		if _, err := submit(svc.FundCommand(points.FundRequest{MerchantID: m, AmountFen: 470, ExternalRef: "import"})); err != nil {
			t.Fatal(err)
		}
		res, err := legacy.Commit(ctx, svc, submit, source(badCSV), rep, o)
		if err != nil || res.Imported != 3 || res.Points != 470 {
			t.Fatalf("commit %+v %v", res, err)
		}
		res, err = legacy.Commit(ctx, svc, submit, source(badCSV), rep, o)
		if err != nil || res.Imported != 0 || res.Skipped != 3 {
			t.Fatalf("second commit %+v %v", res, err)
		}
		if n, _ := db.ImportedPoints(ctx, m, rep.ImportID); n != 470 {
			t.Fatalf("imported points %d", n)
		}
		mid, _ := db.FindMember(ctx, m, points.Identity{Kind: "customer", Value: "c-9"})
		lots, err := db.MemberLots(ctx, mid, false, 10)
		if err != nil || len(lots) != 1 {
			t.Fatalf("lots %v %v", lots, err)
		}
		if !lots[0].ExpiresAt.Equal(now.Add(30*24*time.Hour)) || lots[0].State != ledger.LotAvailable ||
			!lots[0].EarnedAt.Equal(time.Date(2025, 3, 1, 2, 0, 0, 0, time.UTC)) {
			t.Fatalf("lot %+v", lots[0])
		}
		b, _ := db.Balances(ctx, ledger.MerchantBudget(m), ledger.MemberAvailable(mid))
		if b[ledger.MerchantBudget(m)] != 0 || b[ledger.MemberAvailable(mid)] != 120 {
			t.Fatalf("balances %v", b)
		}
		if vs, err := db.CheckInvariants(ctx, 1, nil); err != nil || len(vs) != 0 {
			t.Fatalf("invariants: %v %v", vs, err)
		}
	})
}

func count(t *testing.T, db *store.DB, from string) int {
	t.Helper()
	var n int
	if err := db.R.Get(&n, "SELECT COUNT(*) FROM "+from); err != nil {
		t.Fatal(err)
	}
	return n
}

// JSON lines read like CSV; unknown keys and trailing values are refused.
func TestJSONLines(t *testing.T) {
	in := `{"kind":"phone","value":"13800000001","points":5,"earned_at":"2025-01-01","expires_at":"2027-01-01"}
{"kind":"phone","value":"13800000001","points":5,"earned_at":"2025-01-01","expires_at":"2027-01-01","extra":1}
{"kind":"phone","value":"13800000002","points":5.5,"earned_at":"2025-01-01","expires_at":"2027-01-01"}
{"kind":"phone"} {}
`
	rd, err := legacy.NewReader(bytes.NewReader([]byte(in)), legacy.JSONL)
	if err != nil {
		t.Fatal(err)
	}
	var errs []string
	for {
		r, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if r.Err != nil {
			errs = append(errs, fmt.Sprint(r.Line))
		} else if r.Points != 5 || r.Member.Value != "13800000001" {
			t.Fatalf("row %+v", r)
		}
	}
	if strings.Join(errs, ",") != "2,3,4" {
		t.Fatalf("refused lines %v", errs)
	}
}

// One million rows are read in bounded memory: the reader keeps nothing
// per row (the plan and commit keep an 8-byte fingerprint per row).
func BenchmarkReadCSV(b *testing.B) {
	var buf bytes.Buffer
	buf.WriteString("kind,value,points,earned_at,expires_at\n")
	for i := range 10000 {
		fmt.Fprintf(&buf, "phone,138%08d,%d,2025-01-01,2027-06-30\n", i, i%5000+1)
	}
	data := buf.Bytes()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		rd, _ := legacy.NewReader(bytes.NewReader(data), legacy.CSV)
		for {
			if _, err := rd.Next(); err != nil {
				break
			}
		}
	}
}
