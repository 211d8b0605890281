package pointstest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/gateway/ledger"
	"github.com/lianmeng/lianmeng/gateway/points"
)

var t0 = time.Date(2025, 3, 1, 8, 0, 0, 123456789, time.FixedZone("CST", 8*3600))

func fund(t *testing.T, tx *Tx, m string, fen, pts int64) {
	t.Helper()
	lt := &ledger.Transaction{Kind: ledger.KindFund, Ref: "fund:" + m}
	lt.Postings = append(ledger.Move(ledger.Funding, ledger.Reserve, fen), ledger.Move(ledger.Mint, ledger.MerchantBudget(m), pts)...)
	if err := tx.Post(lt); err != nil {
		t.Fatal(err)
	}
}

func TestClock(t *testing.T) {
	tx := NewTx(t0)
	want := time.Date(2025, 3, 1, 0, 0, 0, 123456000, time.UTC)
	if got := tx.Now(); !got.Equal(want) || got.Location() != time.UTC {
		t.Fatalf("now %v, want %v in UTC", got, want)
	}
	tx.Advance(time.Hour + time.Nanosecond)
	if got := tx.Now(); !got.Equal(want.Add(time.Hour)) {
		t.Fatalf("advanced to %v", got)
	}
	tx.SetNow(t0.Add(-time.Hour))
	if got := tx.Now(); !got.Equal(want.Add(-time.Hour)) {
		t.Fatalf("set to %v", got)
	}
}

func TestPost(t *testing.T) {
	tx := NewTx(t0)
	fund(t, tx, "m", 100, 100)
	if id, _ := tx.NewID(); id != 2 {
		t.Fatalf("ids are one sequence: next id %d, want 2", id)
	}
	over := &ledger.Transaction{Kind: ledger.KindEarn, Ref: "x", Postings: ledger.Move(ledger.MerchantBudget("m"), ledger.MemberPending("u"), 101)}
	var ins *points.ErrInsufficient
	if err := tx.Post(over); !errors.As(err, &ins) || *ins != (points.ErrInsufficient{Account: "merchant:m:budget", Balance: 100, Need: 101}) {
		t.Fatalf("overdraft: %v", err)
	}
	if over.ID != 0 {
		t.Fatalf("a refused transaction got id %d", over.ID)
	}
	// Postings are netted per account before the check.
	net := &ledger.Transaction{Kind: ledger.KindEarn, Ref: "y", Postings: append(ledger.Move(ledger.MerchantBudget("m"), ledger.MemberPending("u"), 150),
		ledger.Move(ledger.MemberPending("u"), ledger.MerchantBudget("m"), 60)...)}
	if err := tx.Post(net); err != nil {
		t.Fatal(err)
	}
	if net.ID != 3 || !net.CreatedAt.Equal(tx.Now()) {
		t.Fatalf("posted as %d at %v", net.ID, net.CreatedAt)
	}
	unbalanced := &ledger.Transaction{Kind: ledger.KindEarn, Postings: []ledger.Posting{{Account: "member:u:pending", Asset: ledger.PTS, Amount: 1}, {Account: "alliance:burned", Asset: ledger.PTS, Amount: 1}}}
	if err := tx.Post(unbalanced); !errors.Is(err, ledger.ErrUnbalanced) {
		t.Fatalf("unbalanced: %v", err)
	}
	// Unguarded sources may go negative.
	want := map[string]int64{"external:funding": -100, "alliance:reserve": 100, "alliance:mint": -100, "merchant:m:budget": 10, "member:u:pending": 90}
	got := tx.AllBalances()
	if len(got) != len(want) {
		t.Fatalf("balances %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("balances %v, want %v", got, want)
		}
	}
	if txs := tx.Transactions(); len(txs) != 2 || txs[1].ID != 3 || len(txs[1].Postings) != 4 {
		t.Fatalf("transactions %+v", txs)
	}
}

func TestMember(t *testing.T) {
	tx := NewTx(t0)
	phone := points.Identity{Kind: points.IdentityPhone, Value: "13800000000"}
	if _, err := tx.Member("a", phone, false); !errors.Is(err, points.ErrNotFound) {
		t.Fatalf("unknown member: %v", err)
	}
	u, err := tx.Member("a", phone, true)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := tx.Member("b", phone, false); v != u {
		t.Fatalf("a phone is alliance-wide: %q vs %q", v, u)
	}
	// The same value under another kind is another member.
	if v, _ := tx.Member("a", points.Identity{Kind: points.IdentityAlipayUserID, Value: phone.Value}, true); v == u {
		t.Fatal("kinds share members")
	}
	// Customer ids are scoped by merchant.
	c := points.Identity{Kind: points.IdentityCustomer, Value: "c1"}
	ca, _ := tx.Member("a", c, true)
	if _, err := tx.Member("b", c, false); !errors.Is(err, points.ErrNotFound) {
		t.Fatalf("customer c1 of a found at b: %v", err)
	}
	cb, _ := tx.Member("b", c, true)
	if ca == cb {
		t.Fatal("customer ids not scoped by merchant")
	}
	if v, _ := tx.Member("a", c, true); v != ca {
		t.Fatal("create made a second member for a known identity")
	}
}

func TestPurchases(t *testing.T) {
	tx := NewTx(t0)
	p := &points.Purchase{ID: 7, Kind: points.PurchaseEarn, MerchantID: "m", OrderID: "o", AmountFen: 100, Points: 10, CreatedAt: tx.Now(), New: true}
	if err := tx.SavePurchase(p); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Purchase("m", points.PurchaseRedeem, "o"); !errors.Is(err, points.ErrNotFound) {
		t.Fatalf("kind is part of the key: %v", err)
	}
	if _, err := tx.Purchase("n", points.PurchaseEarn, "o"); !errors.Is(err, points.ErrNotFound) {
		t.Fatalf("merchant is part of the key: %v", err)
	}
	got, err := tx.Purchase("m", points.PurchaseEarn, "o")
	if err != nil || got.ID != 7 || got.New {
		t.Fatalf("got %+v %v", got, err)
	}
	got.RefundedFen = 50 // a copy: nothing changes until saved
	if again, _ := tx.Purchase("m", points.PurchaseEarn, "o"); again.RefundedFen != 0 {
		t.Fatal("Purchase returned shared state")
	}
	got.ReversedPoints = 5
	if err := tx.SavePurchase(got); err != nil {
		t.Fatal(err)
	}
	if again, _ := tx.Purchase("m", points.PurchaseEarn, "o"); again.RefundedFen != 50 || again.ReversedPoints != 5 {
		t.Fatalf("update lost: %+v", again)
	}
	dup := *p
	dup.ID = 8
	if err := tx.SavePurchase(&dup); err == nil {
		t.Fatal("a second insert of one order was accepted")
	}
	got.Points = 11
	if err := tx.SavePurchase(got); err == nil || !strings.Contains(err.Error(), "does not update") {
		t.Fatalf("changing points on update: %v", err)
	}
	ghost := points.Purchase{ID: 9, Kind: points.PurchaseEarn, MerchantID: "m", OrderID: "ghost"}
	if err := tx.SavePurchase(&ghost); err == nil {
		t.Fatal("update of a purchase never inserted was accepted")
	}
}

func TestLots(t *testing.T) {
	tx := NewTx(t0)
	now := tx.Now()
	lot := func(id int64, state string, release, expiry time.Duration) *ledger.Lot {
		return &ledger.Lot{ID: id, MemberID: "u", MerchantID: "m", Points: 10, Remaining: 10, State: state,
			EarnedAt: now, ReleaseAt: now.Add(release), ExpiresAt: now.Add(expiry)}
	}
	for _, l := range []*ledger.Lot{
		lot(5, ledger.LotAvailable, 0, 3*time.Hour),
		lot(4, ledger.LotAvailable, 0, 2*time.Hour),
		lot(3, ledger.LotAvailable, 0, 3*time.Hour),
		lot(2, ledger.LotPending, 2*time.Hour, 9*time.Hour),
		lot(1, ledger.LotPending, time.Hour, 9*time.Hour),
		{ID: 6, MemberID: "v", State: ledger.LotAvailable, Points: 1, Remaining: 1, ExpiresAt: now},
	} {
		if err := tx.SaveLot(l, true); err != nil {
			t.Fatal(err)
		}
	}
	ids := func(ls []*ledger.Lot, err error) string {
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		for _, l := range ls {
			b.WriteByte(byte('0' + l.ID))
		}
		return b.String()
	}
	for _, c := range []struct {
		name string
		got  string
		want string
	}{
		{"available by expiry then id", ids(tx.Lots("u", ledger.LotAvailable)), "435"},
		{"pending", ids(tx.Lots("u", ledger.LotPending)), "12"},
		{"due available", ids(tx.DueLots(ledger.LotAvailable, now.Add(3*time.Hour), 10)), "6435"},
		{"due available, limited", ids(tx.DueLots(ledger.LotAvailable, now.Add(3*time.Hour), 2)), "64"},
		{"due at the instant", ids(tx.DueLots(ledger.LotAvailable, now.Add(2*time.Hour), 10)), "64"},
		{"due pending by release", ids(tx.DueLots(ledger.LotPending, now.Add(time.Hour), 10)), "1"},
		{"nothing due", ids(tx.DueLots(ledger.LotPending, now, 10)), ""},
		{"limit 0", ids(tx.DueLots(ledger.LotPending, now.Add(time.Hour), 0)), ""},
	} {
		if c.got != c.want {
			t.Errorf("%s: lots %q, want %q", c.name, c.got, c.want)
		}
	}
	if _, err := tx.DueLots(ledger.LotClosed, now, 1); err == nil {
		t.Error("due closed lots: no error")
	}
	l, err := tx.Lot(4)
	if err != nil {
		t.Fatal(err)
	}
	l.Remaining, l.State = 0, ledger.LotClosed
	if err := tx.SaveLot(l, false); err != nil {
		t.Fatal(err)
	}
	if got := ids(tx.Lots("u", ledger.LotAvailable)); got != "35" {
		t.Errorf("after closing lot 4: %q", got)
	}
	l.ExpiresAt = l.ExpiresAt.Add(time.Hour)
	if err := tx.SaveLot(l, false); err == nil {
		t.Error("moving a lot's expiry was accepted: the store never updates it")
	}
	if err := tx.SaveLot(lot(1, ledger.LotPending, 0, 0), true); err == nil {
		t.Error("a second insert of lot 1 was accepted")
	}
	if _, err := tx.Lot(99); !errors.Is(err, points.ErrNotFound) {
		t.Errorf("lot 99: %v", err)
	}
}

func TestDebts(t *testing.T) {
	tx := NewTx(t0)
	now := tx.Now()
	for _, d := range []points.Debt{
		{ID: 3, MemberID: "u", MerchantID: "a", Points: 5, Remaining: 5, CreatedAt: now.Add(time.Hour), New: true},
		{ID: 2, MemberID: "u", MerchantID: "b", Points: 5, Remaining: 5, CreatedAt: now, New: true},
		{ID: 1, MemberID: "u", MerchantID: "c", Points: 5, Remaining: 5, CreatedAt: now, New: true},
		{ID: 4, MemberID: "v", MerchantID: "c", Points: 5, Remaining: 5, CreatedAt: now, New: true},
	} {
		if err := tx.SaveDebt(&d); err != nil {
			t.Fatal(err)
		}
	}
	ds, _ := tx.Debts("u")
	if len(ds) != 3 || ds[0].ID != 1 || ds[1].ID != 2 || ds[2].ID != 3 || ds[0].New {
		t.Fatalf("debts %+v", ds)
	}
	ds[0].Remaining = 0
	if err := tx.SaveDebt(ds[0]); err != nil {
		t.Fatal(err)
	}
	if ds, _ := tx.Debts("u"); len(ds) != 2 || ds[0].ID != 2 {
		t.Fatalf("repaid debt still open: %+v", ds)
	}
	if all := tx.AllDebts(); len(all) != 4 || all[0].ID != 1 || all[0].Remaining != 0 {
		t.Fatalf("all debts %+v", all)
	}
	ds[0].MerchantID = "z"
	if err := tx.SaveDebt(ds[0]); err == nil {
		t.Fatal("changing whom a debt is owed to was accepted")
	}
}

func TestAtomic(t *testing.T) {
	tx := NewTx(t0)
	fund(t, tx, "m", 100, 100)
	before := tx.AllBalances()
	boom := errors.New("boom")
	_, err := Run(tx, func(ptx points.Tx) (int, error) {
		lt := &ledger.Transaction{Kind: ledger.KindEarn, Ref: "e", Postings: ledger.Move(ledger.MerchantBudget("m"), ledger.MemberPending("u"), 40)}
		if err := ptx.Post(lt); err != nil {
			return 0, err
		}
		if _, err := ptx.Member("m", points.Identity{Kind: points.IdentityPhone, Value: "1"}, true); err != nil {
			return 0, err
		}
		if err := ptx.SaveLot(&ledger.Lot{ID: 50, MemberID: "u", Points: 40, Remaining: 40, State: ledger.LotPending}, true); err != nil {
			return 0, err
		}
		return 1, boom
	})
	if err != boom {
		t.Fatalf("err %v", err)
	}
	if got := tx.AllBalances(); got["member:u:pending"] != 0 || got["merchant:m:budget"] != before["merchant:m:budget"] {
		t.Fatalf("rolled back request left %v", got)
	}
	if len(tx.Transactions()) != 1 || len(tx.AllLots()) != 0 {
		t.Fatal("rolled back request left a transaction or a lot")
	}
	if _, err := tx.Member("m", points.Identity{Kind: points.IdentityPhone, Value: "1"}, false); !errors.Is(err, points.ErrNotFound) {
		t.Fatal("rolled back request left a member")
	}
	n, err := Run(tx, func(ptx points.Tx) (int, error) { return 2, nil })
	if n != 2 || err != nil {
		t.Fatalf("run: %d %v", n, err)
	}
}

func TestCheckInvariants(t *testing.T) {
	// build returns a clean ledger: funded 1000 fen (face value 10), an earn
	// of 30 points into a pending lot.
	build := func() *Tx {
		tx := NewTx(t0)
		fund(t, tx, "m", 1000, 100)
		if err := tx.Post(&ledger.Transaction{Kind: ledger.KindEarn, Ref: "e", Postings: ledger.Move(ledger.MerchantBudget("m"), ledger.MemberPending("u"), 30)}); err != nil {
			t.Fatal(err)
		}
		if err := tx.SaveLot(&ledger.Lot{ID: 100, MemberID: "u", MerchantID: "m", Points: 30, Remaining: 30, State: ledger.LotPending}, true); err != nil {
			t.Fatal(err)
		}
		return tx
	}
	if err := build().CheckInvariants(10); err != nil {
		t.Fatalf("clean ledger: %v", err)
	}
	if tot, _ := build().Totals(context.Background()); tot.ReserveFen != 1000 || tot.OutstandingPts != 100 || tot.BudgetPoints != 70 || tot.PendingPoints != 30 {
		t.Fatalf("totals %+v", tot)
	}
	for _, c := range []struct {
		name   string
		face   int64
		tamper func(tx *Tx)
		want   string
	}{
		{"unbalanced transaction", 10, func(tx *Tx) { tx.st.txs[1].Postings[1].Amount++ }, "invariant 1: transaction 2 (earn e): ledger: transaction does not balance: PTS sums to 1"},
		{"reused id", 10, func(tx *Tx) { tx.st.txs[1].ID = 1 }, "invariant 1: transaction 1 (earn e): id missing or reused"},
		{"negative budget", 10, func(tx *Tx) { tx.st.balances["merchant:m:budget"] = -1 }, "invariant 2: account merchant:m:budget is -1"},
		{"coverage with the face value", 11, func(*Tx) {}, "invariant 3: reserve 1000 fen does not cover 100 outstanding points × 11 fen"},
		{"reserve drained", 10, func(tx *Tx) { tx.st.balances[ledger.Reserve] = 999 }, "invariant 3: reserve 999 fen"},
		{"double earn", 10, func(tx *Tx) { tx.st.txs = append(tx.st.txs, copyTx(tx.st.txs[1])); tx.st.txs[2].ID = 9 }, "invariant 4: e posted more than once"},
		{"balance drift", 10, func(tx *Tx) { tx.st.balances["alliance:mint"]-- }, "invariant 5: account alliance:mint is -101 but its postings sum to -100"},
		{"lot drift", 10, func(tx *Tx) { tx.st.lots[100].Remaining = 29 }, "invariant 5: lots of member:u:pending sum to 29 but the balance is 30"},
		{"lot state", 10, func(tx *Tx) { tx.st.lots[100].State = ledger.LotAvailable }, "lots of member:u:available sum to 30 but the balance is 0"},
		{"closed lot with points", 10, func(tx *Tx) { tx.st.lots[100].State = ledger.LotClosed }, "invariant 5: lot 100 is closed with 30 remaining"},
		{"lot over its points", 10, func(tx *Tx) { tx.st.lots[100].Remaining = 31 }, "invariant 5: lot 100 has 31 remaining, outside 0..30"},
		{"balance without a lot", 10, func(tx *Tx) { delete(tx.st.lots, 100) }, "invariant 5: lots of member:u:pending sum to 0 but the balance is 30"},
		{"debt out of range", 10, func(tx *Tx) { tx.st.debts = append(tx.st.debts, &points.Debt{ID: 5, Points: 1, Remaining: 2}) }, "invariant 5: debt 5 has 2 remaining"},
	} {
		tx := build()
		c.tamper(tx)
		err := tx.CheckInvariants(c.face)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
}

func TestReader(t *testing.T) {
	ctx := context.Background()
	tx := NewTx(t0)
	fund(t, tx, "m", 100, 100)
	u, _ := tx.Member("m", points.Identity{Kind: points.IdentityPhone, Value: "1"}, true)
	earn := func(pts int64) int64 {
		lt := &ledger.Transaction{Kind: ledger.KindEarn, Ref: fmt.Sprint("e", pts), Postings: ledger.Move(ledger.MerchantBudget("m"), ledger.MemberPending(u), pts)}
		if err := tx.Post(lt); err != nil {
			t.Fatal(err)
		}
		return lt.ID
	}
	e1, e2 := earn(10), earn(20)
	for _, l := range []ledger.Lot{
		{ID: 10, MemberID: u, Points: 10, Remaining: 10, State: ledger.LotPending, ExpiresAt: tx.Now().Add(2 * time.Hour)},
		{ID: 11, MemberID: u, Points: 20, Remaining: 20, State: ledger.LotPending, ExpiresAt: tx.Now().Add(time.Hour)},
		{ID: 12, MemberID: u, Points: 5, State: ledger.LotClosed, ExpiresAt: tx.Now()},
	} {
		if err := tx.SaveLot(&l, true); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.SaveDebt(&points.Debt{ID: 13, MemberID: u, MerchantID: "m", Points: 7, Remaining: 4, New: true}); err != nil {
		t.Fatal(err)
	}
	if b, _ := tx.Balances(ctx, ledger.MerchantBudget("m"), "merchant:x:budget"); b[ledger.MerchantBudget("m")] != 70 || len(b) != 2 {
		t.Errorf("balances %v", b)
	}
	if id, err := tx.FindMember(ctx, "other", points.Identity{Kind: points.IdentityPhone, Value: "1"}); id != u || err != nil {
		t.Errorf("find member: %q %v", id, err)
	}
	lotIDs := func(ls []ledger.Lot) (ids []int64) {
		for _, l := range ls {
			ids = append(ids, l.ID)
		}
		return ids
	}
	if ls, _ := tx.MemberLots(ctx, u, false, 10); fmt.Sprint(lotIDs(ls)) != "[11 10]" {
		t.Errorf("open lots %v", lotIDs(ls))
	}
	if ls, _ := tx.MemberLots(ctx, u, true, 2); fmt.Sprint(lotIDs(ls)) != "[12 11]" {
		t.Errorf("all lots, 2 %v", lotIDs(ls))
	}
	h, _ := tx.AccountHistory(ctx, []string{ledger.MemberPending(u)}, 0, 10)
	if len(h) != 2 || h[0].ID != e2 || h[1].ID != e1 {
		t.Errorf("history %+v", h)
	}
	if h, _ := tx.AccountHistory(ctx, []string{ledger.MemberPending(u)}, e2, 10); len(h) != 1 || h[0].ID != e1 {
		t.Errorf("history before %d: %+v", e2, h)
	}
	if d, _ := tx.MemberDebt(ctx, u); d != 4 {
		t.Errorf("debt %d", d)
	}
	// The Service's queries run against it.
	s := &points.Service{Policy: points.Policy{FaceValueFen: 1}, Reader: tx}
	if c, err := s.Coverage(ctx); err != nil || !c.Covered || c.OutstandingPts != 100 || c.MemberDebtPoints != 4 || c.FundedFen != 100 {
		t.Errorf("coverage %+v %v", c, err)
	}
}

// TestAtomicUndoesUpdates rolls back updates of records that existed, and
// keeps what a nested call that succeeded did only if the outer one does.
func TestAtomicUndoesUpdates(t *testing.T) {
	tx := NewTx(t0)
	now := tx.Now()
	if err := tx.SavePurchase(&points.Purchase{ID: 1, Kind: points.PurchaseEarn, MerchantID: "m", OrderID: "o", AmountFen: 100, CreatedAt: now, New: true}); err != nil {
		t.Fatal(err)
	}
	if err := tx.SaveLot(&ledger.Lot{ID: 2, MemberID: "u", Points: 10, Remaining: 10, State: ledger.LotAvailable}, true); err != nil {
		t.Fatal(err)
	}
	if err := tx.SaveDebt(&points.Debt{ID: 3, MemberID: "u", MerchantID: "m", Points: 5, Remaining: 5, CreatedAt: now, New: true}); err != nil {
		t.Fatal(err)
	}
	tx.AddConsumption(points.Consumption{PurchaseID: 9, LotID: 2, Points: 1})
	boom := errors.New("boom")
	err := tx.Atomic(func(ptx points.Tx) error {
		p, _ := ptx.Purchase("m", points.PurchaseEarn, "o")
		p.RefundedFen, p.ReversedPoints = 50, 5
		l, _ := ptx.Lot(2)
		l.Remaining, l.State = 0, ledger.LotClosed
		ds, _ := ptx.Debts("u")
		ds[0].Remaining = 0
		for _, err := range []error{ptx.SavePurchase(p), ptx.SaveLot(l, false), ptx.SaveDebt(ds[0]),
			ptx.SaveDebt(&points.Debt{ID: 4, MemberID: "u", MerchantID: "m", Points: 1, Remaining: 1, CreatedAt: now.Add(-time.Hour), New: true}),
			ptx.AddConsumption(points.Consumption{PurchaseID: 9, LotID: 2, Points: 2})} {
			if err != nil {
				t.Fatal(err)
			}
		}
		// A nested request that succeeds is still undone with its caller.
		if err := tx.Atomic(func(ptx points.Tx) error {
			tx.SetMerchant(points.Merchant{ID: "n", Active: true})
			return ptx.Post(&ledger.Transaction{Kind: "x", Ref: "x", Postings: ledger.Move(ledger.Mint, ledger.MerchantBudget("n"), 3)})
		}); err != nil {
			t.Fatal(err)
		}
		// A nested request that fails is undone at once.
		if err := tx.Atomic(func(ptx points.Tx) error {
			ptx.Post(&ledger.Transaction{Kind: "y", Ref: "y", Postings: ledger.Move(ledger.Mint, ledger.MerchantBudget("n"), 4)})
			return boom
		}); err != boom {
			t.Fatal(err)
		}
		if b, _ := ptx.Balance(ledger.MerchantBudget("n")); b != 3 {
			t.Fatalf("inside: budget %d, want 3", b)
		}
		return boom
	})
	if err != boom {
		t.Fatal(err)
	}
	p, _ := tx.Purchase("m", points.PurchaseEarn, "o")
	l, _ := tx.Lot(2)
	ds, _ := tx.Debts("u")
	cs, _ := tx.Consumptions(9)
	if p.RefundedFen != 0 || p.ReversedPoints != 0 || l.Remaining != 10 || l.State != ledger.LotAvailable ||
		len(ds) != 1 || ds[0].ID != 3 || ds[0].Remaining != 5 || len(cs) != 1 || cs[0].Points != 1 {
		t.Errorf("after rollback: %+v %+v %+v %+v", p, l, ds, cs)
	}
	if _, err := tx.Merchant("n"); !errors.Is(err, points.ErrNotFound) {
		t.Errorf("merchant set in a rolled-back request: %v", err)
	}
	if len(tx.AllBalances()) != 0 || len(tx.Transactions()) != 0 {
		t.Errorf("balances %v, transactions %v", tx.AllBalances(), tx.Transactions())
	}
}
