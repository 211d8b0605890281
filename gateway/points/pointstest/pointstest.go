// Package pointstest provides an in-memory points.Tx for tests of the points
// domain, in the spirit of net/http/httptest: the flows of DESIGN §4 run in
// microseconds, without a database, against a unit of work with the store's
// semantics.
//
// A Tx is one long-lived unit of work holding the whole ledger. Like the
// store's (gateway/store/uow.go) it
//
//   - validates every posted transaction (ledger.Transaction.Validate),
//     refuses with *points.ErrInsufficient a transaction that would take a
//     ledger.NonNegative account below zero, assigns its ID and stamps it
//     with Now;
//   - takes transaction, purchase, lot and debt ids from one increasing
//     sequence (NewID);
//   - resolves members per identity kind, customer ids scoped by merchant,
//     and creates them on request (phone numbers are matched as given: the
//     store without a PII key does the same);
//   - keys purchases by (merchant, kind, order id);
//   - returns a member's lots in expiry-then-id order, due lots in
//     release (or expiry)-then-id order up to a limit, and a member's open
//     debts in creation order;
//   - hands out copies, so nothing changes until it is saved;
//   - persists on update only what the store's UPDATE statements persist
//     (a lot's remaining points and state, a purchase's refunded amount and
//     reversed points, a debt's remaining points).
//
// It is stricter than the store where the store would fail later or drop
// data silently: inserting a purchase, lot or debt that exists, updating one
// that does not, or changing a field the store never updates is an error.
//
// Atomic (and Run) apply one request all or nothing, as the store's batching
// writer does for each request of a batch. A Tx is also a points.Reader
// over the same state, so a Service's queries (balances, lots, history,
// coverage) work against it. For assertions, AllBalances, Transactions,
// AllLots, AllDebts and Purchases expose the state, Advance and SetNow move
// the clock, and CheckInvariants checks DESIGN §4 invariants 1, 2, 3, 5
// (and the one-posting-per-reference half of 4).
package pointstest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/lianmeng/lianmeng/gateway/ledger"
	"github.com/lianmeng/lianmeng/gateway/points"
)

// Tx is an in-memory points.Tx. It is not safe for concurrent use.
type Tx struct {
	now       time.Time
	lastID    int64 // ids are never given back, even by a rolled-back request
	memberSeq int
	codeSeq   int64
	st        state
	// undo reverses, last first, the changes made inside Atomic (depth > 0).
	undo  []func()
	depth int
}

var (
	_ points.Tx         = (*Tx)(nil)
	_ points.Reader     = (*Tx)(nil)
	_ points.ReferralTx = (*Tx)(nil)
)

// state is the ledger; Atomic undoes a refused request's changes to it.
type state struct {
	merchants map[string]points.Merchant
	balances  map[string]int64
	txs       []ledger.Transaction
	members   map[string]string // kind NUL lookup -> member id
	purchases map[string]*points.Purchase
	lots      map[int64]*ledger.Lot
	debts     []*points.Debt // in creation order
	cons      map[int64][]points.Consumption
	consents  map[string]*points.Consent
	counters  map[points.CounterKey]points.Counter
	referrers map[string]string // member -> referrer
	codes     map[string]string // member -> referral code
	codeOwner map[string]string // referral code -> member
	rewards   map[int64][]points.ReferralReward
}

// NewTx returns an empty ledger at now (UTC, truncated to the microsecond
// like the store's clock) that knows the given merchants.
func NewTx(now time.Time, merchants ...points.Merchant) *Tx {
	t := &Tx{now: clock(now), st: state{merchants: map[string]points.Merchant{}, balances: map[string]int64{},
		members: map[string]string{}, purchases: map[string]*points.Purchase{}, lots: map[int64]*ledger.Lot{},
		cons: map[int64][]points.Consumption{}, consents: map[string]*points.Consent{},
		counters: map[points.CounterKey]points.Counter{}, referrers: map[string]string{}, codes: map[string]string{}, codeOwner: map[string]string{},
		rewards: map[int64][]points.ReferralReward{}}}
	for _, m := range merchants {
		t.SetMerchant(m)
	}
	return t
}

func clock(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// SetMerchant adds a merchant or replaces what the ledger knows of it (to
// deactivate it or change its earning configuration, say).
func (t *Tx) SetMerchant(m points.Merchant) {
	old, had := t.st.merchants[m.ID]
	t.st.merchants[m.ID] = m
	t.onUndo(func() {
		if had {
			t.st.merchants[m.ID] = old
		} else {
			delete(t.st.merchants, m.ID)
		}
	})
}

// Advance moves the clock forward by d.
func (t *Tx) Advance(d time.Duration) { t.now = clock(t.now.Add(d)) }

// SetNow sets the clock.
func (t *Tx) SetNow(now time.Time) { t.now = clock(now) }

// Atomic runs f against t, all or nothing: if f returns an error, every
// change it made is undone (ids it took stay taken), as the store's writer
// rolls back one refused request without failing its batch. Calls nest.
func (t *Tx) Atomic(f func(tx points.Tx) error) error {
	mark := len(t.undo)
	t.depth++
	err := f(t)
	t.depth--
	if err != nil {
		for i := len(t.undo) - 1; i >= mark; i-- {
			t.undo[i]()
		}
		t.undo = t.undo[:mark]
	} else if t.depth == 0 {
		t.undo = t.undo[:0]
	}
	return err
}

// onUndo records how to reverse a change made inside Atomic.
func (t *Tx) onUndo(f func()) {
	if t.depth > 0 {
		t.undo = append(t.undo, f)
	}
}

// Run applies f to tx all or nothing (see Tx.Atomic) and returns its
// result, for example:
//
//	res, err := pointstest.Run(tx, func(tx points.Tx) (points.EarnResult, error) { return svc.Earn(tx, req) })
func Run[R any](tx *Tx, f func(points.Tx) (R, error)) (R, error) {
	var res R
	err := tx.Atomic(func(ptx points.Tx) error {
		var err error
		res, err = f(ptx)
		return err
	})
	return res, err
}

func copyTx(x ledger.Transaction) ledger.Transaction {
	x.Postings = slices.Clone(x.Postings)
	return x
}

// ---- points.Tx

// Now returns the ledger's clock.
func (t *Tx) Now() time.Time { return t.now }

// NewID returns the next id of the sequence shared by transactions,
// purchases, lots and debts.
func (t *Tx) NewID() (int64, error) {
	t.lastID++
	return t.lastID, nil
}

// Merchant returns a merchant set by NewTx or SetMerchant, or
// points.ErrNotFound.
func (t *Tx) Merchant(id string) (points.Merchant, error) {
	m, ok := t.st.merchants[id]
	if !ok {
		return points.Merchant{}, points.ErrNotFound
	}
	return m, nil
}

// Balance returns an account's balance (zero for an account never posted to).
func (t *Tx) Balance(account string) (int64, error) { return t.st.balances[account], nil }

// Post validates lt, refuses it with *points.ErrInsufficient if it would
// take a NonNegative account below zero (netting its postings per account),
// then applies it, setting lt.ID and lt.CreatedAt.
func (t *Tx) Post(lt *ledger.Transaction) error {
	if err := lt.Validate(); err != nil {
		return err
	}
	net := map[string]int64{}
	for _, p := range lt.Postings {
		net[p.Account] += p.Amount
	}
	for _, name := range slices.Sorted(maps.Keys(net)) {
		d := net[name]
		if bal := t.st.balances[name]; d < 0 && ledger.NonNegative(name) && bal+d < 0 {
			return &points.ErrInsufficient{Account: name, Balance: bal, Need: -d}
		}
	}
	id, _ := t.NewID()
	lt.ID, lt.CreatedAt = id, t.now
	for name, d := range net {
		old, had := t.st.balances[name]
		t.st.balances[name] = old + d
		t.onUndo(func() {
			if had {
				t.st.balances[name] = old
			} else {
				delete(t.st.balances, name)
			}
		})
	}
	n := len(t.st.txs)
	t.st.txs = append(t.st.txs, copyTx(*lt))
	t.onUndo(func() { t.st.txs = t.st.txs[:n] })
	return nil
}

// Member resolves id as seen by merchantID (customer ids are scoped by
// merchant); with create it makes a new member.
func (t *Tx) Member(merchantID string, id points.Identity, create bool) (string, error) {
	k := identityKey(merchantID, id)
	if mid, ok := t.st.members[k]; ok {
		return mid, nil
	}
	if !create {
		return "", points.ErrNotFound
	}
	t.memberSeq++
	mid := fmt.Sprintf("mbr_%d", t.memberSeq)
	t.st.members[k] = mid
	t.onUndo(func() { delete(t.st.members, k) })
	return mid, nil
}

// identityKey is the store's (kind, lookup) key of an identity.
func identityKey(merchantID string, id points.Identity) string {
	lookup := id.Value
	if id.Kind == points.IdentityCustomer {
		lookup = merchantID + ":" + id.Value
	}
	return id.Kind + "\x00" + lookup
}

func purchaseKey(merchantID, kind, orderID string) string {
	return merchantID + "\x00" + kind + "\x00" + orderID
}

// Purchase returns a copy of a merchant's purchase (or funding) of kind, or
// points.ErrNotFound.
func (t *Tx) Purchase(merchantID, kind, orderID string) (*points.Purchase, error) {
	p, ok := t.st.purchases[purchaseKey(merchantID, kind, orderID)]
	if !ok {
		return nil, points.ErrNotFound
	}
	cp := *p
	return &cp, nil
}

// SavePurchase inserts a purchase (p.New) or updates its refunded amount
// and reversed points.
func (t *Tx) SavePurchase(p *points.Purchase) error {
	k := purchaseKey(p.MerchantID, p.Kind, p.OrderID)
	old, ok := t.st.purchases[k]
	if p.New {
		if ok {
			return fmt.Errorf("pointstest: purchase %s/%s/%s inserted twice (ids %d and %d)", p.MerchantID, p.Kind, p.OrderID, old.ID, p.ID)
		}
		cp := *p
		cp.New = false
		t.st.purchases[k] = &cp
		t.onUndo(func() { delete(t.st.purchases, k) })
		return nil
	}
	if !ok || old.ID != p.ID {
		return fmt.Errorf("pointstest: update of purchase %d (%s/%s/%s), which was never inserted", p.ID, p.MerchantID, p.Kind, p.OrderID)
	}
	want := *old
	want.RefundedFen, want.ReversedPoints = p.RefundedFen, p.ReversedPoints
	if !samePurchase(want, *p) {
		return fmt.Errorf("pointstest: update of purchase %d changes fields the store does not update: %+v, stored %+v", p.ID, *p, *old)
	}
	prev := *old
	old.RefundedFen, old.ReversedPoints = p.RefundedFen, p.ReversedPoints
	t.onUndo(func() { *old = prev })
	return nil
}

func samePurchase(a, b points.Purchase) bool {
	ta, tb := a.CreatedAt, b.CreatedAt
	a.CreatedAt, b.CreatedAt = time.Time{}, time.Time{}
	a.New, b.New = false, false
	return a == b && ta.Equal(tb)
}

// Lots returns copies of a member's lots in state, ordered by expiry, then id.
func (t *Tx) Lots(memberID, state string) ([]*ledger.Lot, error) {
	var out []*ledger.Lot
	for _, l := range t.st.lots {
		if l.MemberID == memberID && l.State == state {
			cp := *l
			out = append(out, &cp)
		}
	}
	sortLots(out, func(l *ledger.Lot) time.Time { return l.ExpiresAt })
	return out, nil
}

// SpendableLots returns the points of the member's available lots unexpired
// at now and copies of the first-expiring ones that cover need (none if
// they do not).
func (t *Tx) SpendableLots(memberID string, now time.Time, need int64) ([]*ledger.Lot, int64, error) {
	all, err := t.Lots(memberID, ledger.LotAvailable)
	if err != nil {
		return nil, 0, err
	}
	out, spendable := points.CoverNeed(all, now, need)
	if spendable < need {
		return nil, spendable, nil
	}
	return out, spendable, nil
}

func sortLots(ls []*ledger.Lot, at func(*ledger.Lot) time.Time) {
	slices.SortFunc(ls, func(a, b *ledger.Lot) int {
		if c := at(a).Compare(at(b)); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
}

// Lot returns a copy of a lot, or points.ErrNotFound.
func (t *Tx) Lot(id int64) (*ledger.Lot, error) {
	l, ok := t.st.lots[id]
	if !ok {
		return nil, points.ErrNotFound
	}
	cp := *l
	return &cp, nil
}

// SaveLot inserts a lot (isNew) or updates its remaining points and state.
func (t *Tx) SaveLot(l *ledger.Lot, isNew bool) error {
	old, ok := t.st.lots[l.ID]
	if isNew {
		if ok {
			return fmt.Errorf("pointstest: lot %d inserted twice", l.ID)
		}
		cp := *l
		t.st.lots[l.ID] = &cp
		t.onUndo(func() { delete(t.st.lots, cp.ID) })
		return nil
	}
	if !ok {
		return fmt.Errorf("pointstest: update of lot %d, which was never inserted", l.ID)
	}
	want := *old
	want.Remaining, want.State = l.Remaining, l.State
	if !sameLot(want, *l) {
		return fmt.Errorf("pointstest: update of lot %d changes fields the store does not update: %+v, stored %+v", l.ID, *l, *old)
	}
	prev := *old
	old.Remaining, old.State = l.Remaining, l.State
	t.onUndo(func() { *old = prev })
	return nil
}

func sameLot(a, b ledger.Lot) bool {
	times := [][2]time.Time{{a.EarnedAt, b.EarnedAt}, {a.ReleaseAt, b.ReleaseAt}, {a.ExpiresAt, b.ExpiresAt}}
	a.EarnedAt, a.ReleaseAt, a.ExpiresAt = time.Time{}, time.Time{}, time.Time{}
	b.EarnedAt, b.ReleaseAt, b.ExpiresAt = time.Time{}, time.Time{}, time.Time{}
	if a != b {
		return false
	}
	for _, p := range times {
		if !p[0].Equal(p[1]) {
			return false
		}
	}
	return true
}

// DueLots returns copies of up to limit lots in state (pending or
// available) whose release (pending) or expiry (available) time is at or
// before now, in that time's order, then by id.
func (t *Tx) DueLots(state string, now time.Time, limit int) ([]*ledger.Lot, error) {
	var at func(*ledger.Lot) time.Time
	switch state {
	case ledger.LotPending:
		at = func(l *ledger.Lot) time.Time { return l.ReleaseAt }
	case ledger.LotAvailable:
		at = func(l *ledger.Lot) time.Time { return l.ExpiresAt }
	default:
		return nil, fmt.Errorf("pointstest: due lots: no schedule for state %q", state)
	}
	if limit < 0 {
		return nil, fmt.Errorf("pointstest: due lots: negative limit %d", limit)
	}
	var out []*ledger.Lot
	for _, l := range t.st.lots {
		if l.State == state && !at(l).After(now) {
			cp := *l
			out = append(out, &cp)
		}
	}
	sortLots(out, at)
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// Debts returns copies of a member's debts with points left to repay, in
// creation order.
func (t *Tx) Debts(memberID string) ([]*points.Debt, error) {
	var out []*points.Debt
	for _, d := range t.st.debts {
		if d.MemberID == memberID && d.Remaining > 0 {
			cp := *d
			out = append(out, &cp)
		}
	}
	return out, nil
}

// SaveDebt inserts a debt (d.New) or updates its remaining points.
func (t *Tx) SaveDebt(d *points.Debt) error {
	i := slices.IndexFunc(t.st.debts, func(x *points.Debt) bool { return x.ID == d.ID })
	if d.New {
		if i >= 0 {
			return fmt.Errorf("pointstest: debt %d inserted twice", d.ID)
		}
		cp := *d
		cp.New = false
		prev := slices.Clone(t.st.debts)
		t.onUndo(func() { t.st.debts = prev })
		t.st.debts = append(t.st.debts, &cp)
		// Creation order: created_at, then id (as the store loads them).
		sort.SliceStable(t.st.debts, func(a, b int) bool {
			da, db := t.st.debts[a], t.st.debts[b]
			if !da.CreatedAt.Equal(db.CreatedAt) {
				return da.CreatedAt.Before(db.CreatedAt)
			}
			return da.ID < db.ID
		})
		return nil
	}
	if i < 0 {
		return fmt.Errorf("pointstest: update of debt %d, which was never inserted", d.ID)
	}
	old := t.st.debts[i]
	want := *old
	want.Remaining = d.Remaining
	got := *d
	got.New = false
	if want.ID != got.ID || want.MemberID != got.MemberID || want.MerchantID != got.MerchantID || want.PurchaseID != got.PurchaseID ||
		want.Points != got.Points || want.Remaining != got.Remaining || !want.CreatedAt.Equal(got.CreatedAt) {
		return fmt.Errorf("pointstest: update of debt %d changes fields the store does not update: %+v, stored %+v", d.ID, *d, *old)
	}
	prev := old.Remaining
	old.Remaining = d.Remaining
	t.onUndo(func() { old.Remaining = prev })
	return nil
}

// Consumptions returns what a redemption took from each lot, in the order
// recorded.
func (t *Tx) Consumptions(purchaseID int64) ([]points.Consumption, error) {
	return slices.Clone(t.st.cons[purchaseID]), nil
}

// AddConsumption records what a redemption took from a lot.
func (t *Tx) AddConsumption(c points.Consumption) error {
	prev, had := t.st.cons[c.PurchaseID]
	t.st.cons[c.PurchaseID] = append(slices.Clip(prev), c)
	t.onUndo(func() {
		if had {
			t.st.cons[c.PurchaseID] = prev
		} else {
			delete(t.st.cons, c.PurchaseID)
		}
	})
	return nil
}

// ---- inspection

// AllBalances returns the balance of every account a transaction has
// touched, including accounts back at zero.
func (t *Tx) AllBalances() map[string]int64 { return maps.Clone(t.st.balances) }

// Transactions returns copies of the posted transactions, in posting order.
func (t *Tx) Transactions() []ledger.Transaction {
	out := make([]ledger.Transaction, len(t.st.txs))
	for i, x := range t.st.txs {
		out[i] = copyTx(x)
	}
	return out
}

// AllLots returns copies of every lot, in any state, by id.
func (t *Tx) AllLots() []ledger.Lot {
	out := make([]ledger.Lot, 0, len(t.st.lots))
	for _, id := range slices.Sorted(maps.Keys(t.st.lots)) {
		out = append(out, *t.st.lots[id])
	}
	return out
}

// AllDebts returns copies of every debt, repaid or not, in creation order.
func (t *Tx) AllDebts() []points.Debt {
	out := make([]points.Debt, len(t.st.debts))
	for i, d := range t.st.debts {
		out[i] = *d
	}
	return out
}

// Purchases returns copies of every purchase and funding, by id.
func (t *Tx) Purchases() []points.Purchase {
	out := make([]points.Purchase, 0, len(t.st.purchases))
	for _, p := range t.st.purchases {
		out = append(out, *p)
	}
	slices.SortFunc(out, func(a, b points.Purchase) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// ---- points.Reader

// Balances returns the named accounts' balances (0 for accounts never
// posted to).
func (t *Tx) Balances(_ context.Context, accounts ...string) (map[string]int64, error) {
	out := make(map[string]int64, len(accounts))
	for _, a := range accounts {
		out[a] = t.st.balances[a]
	}
	return out, nil
}

// FindMember resolves an identity as seen by a merchant, or
// points.ErrNotFound.
func (t *Tx) FindMember(_ context.Context, merchantID string, id points.Identity) (string, error) {
	return t.Member(merchantID, id, false)
}

// MemberLots returns up to limit of a member's lots (closed ones only with
// includeClosed), by expiry, then id.
func (t *Tx) MemberLots(_ context.Context, memberID string, includeClosed bool, limit int) ([]ledger.Lot, error) {
	var ls []*ledger.Lot
	for _, l := range t.st.lots {
		if l.MemberID == memberID && (includeClosed || l.State != ledger.LotClosed) {
			ls = append(ls, l)
		}
	}
	sortLots(ls, func(l *ledger.Lot) time.Time { return l.ExpiresAt })
	out := make([]ledger.Lot, 0, min(len(ls), max(limit, 0)))
	for _, l := range ls[:min(len(ls), max(limit, 0))] {
		out = append(out, *l)
	}
	return out, nil
}

// AccountHistory returns up to limit transactions touching any of
// accounts, newest first, with ids below before (0: from the newest).
func (t *Tx) AccountHistory(_ context.Context, accounts []string, before int64, limit int) ([]ledger.Transaction, error) {
	var out []ledger.Transaction
	for i := len(t.st.txs) - 1; i >= 0 && len(out) < limit; i-- {
		x := t.st.txs[i]
		if before > 0 && x.ID >= before {
			continue
		}
		if slices.ContainsFunc(x.Postings, func(p ledger.Posting) bool { return slices.Contains(accounts, p.Account) }) {
			out = append(out, copyTx(x))
		}
	}
	return out, nil
}

// MemberDebt is the points a member still owes, across merchants.
func (t *Tx) MemberDebt(_ context.Context, memberID string) (int64, error) {
	var n int64
	for _, d := range t.st.debts {
		if d.MemberID == memberID {
			n += d.Remaining
		}
	}
	return n, nil
}

// Totals sums balances by account kind, as the store does.
func (t *Tx) Totals(context.Context) (points.Totals, error) { return t.totals(), nil }

func (t *Tx) totals() points.Totals {
	var tot points.Totals
	for name, b := range t.st.balances {
		switch a := ledger.ParseAccount(name); {
		case a.Kind == ledger.KindBudget:
			tot.BudgetPoints += b
		case a.Kind == ledger.KindPayable:
			tot.PayableFen += b
		case a.Kind == ledger.KindPending:
			tot.PendingPoints += b
		case a.Kind == ledger.KindAvailable:
			tot.AvailablePoints += b
		case name == ledger.Reserve:
			tot.ReserveFen = b
		case name == ledger.Marketing:
			tot.MarketingPoints = b
		case name == ledger.Burned:
			tot.BurnedPoints = b
		case name == ledger.Expired:
			tot.ExpiredPoints = b
		case name == ledger.Mint:
			tot.MintedPoints = -b
		case name == ledger.Funding:
			tot.FundedFen = -b
		case name == ledger.Breakage:
			tot.BreakageFen = b
		}
	}
	tot.OutstandingPts = tot.BudgetPoints + tot.PendingPoints + tot.AvailablePoints + tot.MarketingPoints
	for _, d := range t.st.debts {
		tot.MemberDebtPoints += d.Remaining
	}
	return tot
}

// CheckInvariants checks the ledger against DESIGN §4 and returns every
// violation found, joined, or nil:
//
//  1. every transaction validates: it balances per asset, has at least two
//     postings, no zero amounts, assets matching accounts;
//  2. no NonNegative account (member balances, budgets, payables, the
//     reserve, marketing) is below zero;
//  3. the reserve covers faceValueFen × the outstanding points (budgets,
//     pending and available points, the marketing budget), as
//     points.CoverageOf computes it from Totals;
//  4. no earn, redeem or fund reference is posted twice;
//  5. every balance is the sum of its postings; each member's pending and
//     available lots sum to the member's pending and available balances;
//     every lot's remaining points are within 0..points (zero once closed);
//     every debt's remaining points are within 0..points.
func (t *Tx) CheckInvariants(faceValueFen int64) error {
	var errs []string
	add := func(inv int, format string, a ...any) {
		errs = append(errs, fmt.Sprintf("invariant %d: %s", inv, fmt.Sprintf(format, a...)))
	}
	sums := make(map[string]int64, len(t.st.balances))
	refs := map[string]int{}
	ids := make(map[int64]bool, len(t.st.txs))
	for _, x := range t.st.txs {
		if err := x.Validate(); err != nil {
			add(1, "transaction %d (%s %s): %v", x.ID, x.Kind, x.Ref, err)
		}
		if x.ID <= 0 || ids[x.ID] {
			add(1, "transaction %d (%s %s): id missing or reused", x.ID, x.Kind, x.Ref)
		}
		ids[x.ID] = true
		for _, p := range x.Postings {
			sums[p.Account] += p.Amount
		}
		switch x.Kind {
		case ledger.KindEarn, ledger.KindRedeem, ledger.KindFund:
			if refs[x.Ref]++; refs[x.Ref] == 2 {
				add(4, "%s posted more than once", x.Ref)
			}
		}
	}
	lotSums := map[string]int64{}
	for _, l := range t.st.lots {
		if l.Remaining < 0 || l.Remaining > l.Points {
			add(5, "lot %d has %d remaining, outside 0..%d", l.ID, l.Remaining, l.Points)
		}
		switch l.State {
		case ledger.LotPending:
			lotSums[ledger.MemberPending(l.MemberID)] += l.Remaining
		case ledger.LotAvailable:
			lotSums[ledger.MemberAvailable(l.MemberID)] += l.Remaining
		case ledger.LotClosed:
			if l.Remaining != 0 {
				add(5, "lot %d is closed with %d remaining", l.ID, l.Remaining)
			}
		default:
			add(5, "lot %d has unknown state %q", l.ID, l.State)
		}
	}
	for name, b := range t.st.balances {
		if b < 0 && ledger.NonNegative(name) {
			add(2, "account %s is %d", name, b)
		}
		if b != sums[name] {
			add(5, "account %s is %d but its postings sum to %d", name, b, sums[name])
		}
		if k := ledger.ParseAccount(name).Kind; (k == ledger.KindPending || k == ledger.KindAvailable) && b != lotSums[name] {
			add(5, "lots of %s sum to %d but the balance is %d", name, lotSums[name], b)
		}
	}
	for name, sum := range sums {
		if _, ok := t.st.balances[name]; !ok && sum != 0 {
			add(5, "account %s has postings summing to %d but no balance", name, sum)
		}
	}
	for name, sum := range lotSums {
		if _, ok := t.st.balances[name]; !ok && sum != 0 {
			add(5, "lots of %s sum to %d but the balance is 0", name, sum)
		}
	}
	if faceValueFen <= 0 {
		add(3, "face value %d fen is not positive", faceValueFen)
	} else if tot := t.totals(); !points.CoverageOf(tot, faceValueFen).Covered {
		add(3, "reserve %d fen does not cover %d outstanding points × %d fen", tot.ReserveFen, tot.OutstandingPts, faceValueFen)
	}
	for _, d := range t.st.debts {
		if d.Remaining < 0 || d.Remaining > d.Points {
			add(5, "debt %d has %d remaining, outside 0..%d", d.ID, d.Remaining, d.Points)
		}
	}
	if len(errs) == 0 {
		return nil
	}
	slices.Sort(errs)
	return errors.New(strings.Join(errs, "\n"))
}

// Consent returns a stored consent by key.
func (t *Tx) Consent(key string) (*points.Consent, error) {
	c, ok := t.st.consents[key]
	if !ok {
		return nil, fmt.Errorf("consent: %w", points.ErrNotFound)
	}
	cp := *c
	return &cp, nil
}

// SaveConsent updates a stored consent: the store only ever marks one used.
func (t *Tx) SaveConsent(c *points.Consent) error {
	old, ok := t.st.consents[c.Key]
	if !ok {
		return fmt.Errorf("pointstest: update of consent %s, which was never stored", c.Key)
	}
	want := *old
	want.UsedAt, want.PurchaseID = c.UsedAt, c.PurchaseID
	if want != *c {
		return fmt.Errorf("pointstest: update of consent changes fields the store does not update: %+v, stored %+v", *c, *old)
	}
	prev := *old
	*old = want
	t.onUndo(func() { *old = prev })
	return nil
}

// AddConsent stores a consent, as the member's session or the SMS flow
// would before a redemption.
func (t *Tx) AddConsent(c points.Consent) {
	cp := c
	t.st.consents[c.Key] = &cp
	t.onUndo(func() { delete(t.st.consents, c.Key) })
}

// RedemptionCode gives the member of id (as merchantID sees it) a fresh
// app redemption code valid for a minute from the clock, capped at
// maxPoints (0: no cap), and returns it. An identity that is no member
// gets a well-formed code that is not stored.
func (t *Tx) RedemptionCode(merchantID string, id points.Identity, maxPoints int64) string {
	t.codeSeq++
	code := points.RedemptionCodeFrom(fmt.Sprintf("%016d", t.codeSeq))
	if mid, err := t.Member(merchantID, id, false); err == nil {
		t.AddConsent(points.Consent{Key: points.RedemptionCodeKey(code), Kind: points.ConsentApp, MemberID: mid, MaxPoints: maxPoints,
			CreatedAt: t.now, ExpiresAt: t.now.Add(time.Minute)})
	}
	return code
}

// Counter returns a counter (zero if nothing was counted).
func (t *Tx) Counter(k points.CounterKey) (points.Counter, error) { return t.st.counters[k], nil }

// AddCounter adds to a counter.
func (t *Tx) AddCounter(k points.CounterKey, purchases, pts int64) error {
	if k.MemberID == "" || k.Scope == "" || k.Period == "" {
		return fmt.Errorf("pointstest: counter key %+v is incomplete", k)
	}
	old, had := t.st.counters[k]
	t.st.counters[k] = points.Counter{Purchases: old.Purchases + purchases, Points: old.Points + pts}
	t.onUndo(func() {
		if had {
			t.st.counters[k] = old
		} else {
			delete(t.st.counters, k)
		}
	})
	return nil
}

// Counters returns every counter, for assertions.
func (t *Tx) Counters() map[points.CounterKey]points.Counter { return maps.Clone(t.st.counters) }

// Referrer returns who referred a member.
func (t *Tx) Referrer(memberID string) (string, error) {
	if r, ok := t.st.referrers[memberID]; ok {
		return r, nil
	}
	return "", points.ErrNotFound
}

// SaveReferral stores a referral (once per member, like the store's key).
func (t *Tx) SaveReferral(r points.Referral) error {
	if _, ok := t.st.referrers[r.MemberID]; ok {
		return fmt.Errorf("pointstest: member %s was referred already", r.MemberID)
	}
	t.st.referrers[r.MemberID] = r.ReferrerID
	t.onUndo(func() { delete(t.st.referrers, r.MemberID) })
	return nil
}

// ReferralCode returns a member's referral code.
func (t *Tx) ReferralCode(memberID string) (string, error) {
	if c, ok := t.st.codes[memberID]; ok {
		return c, nil
	}
	return "", points.ErrNotFound
}

// ReferralCodeOwner returns the member of a referral code.
func (t *Tx) ReferralCodeOwner(code string) (string, error) {
	if m, ok := t.st.codeOwner[code]; ok {
		return m, nil
	}
	return "", points.ErrNotFound
}

// SaveReferralCode stores a member's code (both unique, as in the store).
func (t *Tx) SaveReferralCode(memberID, code string) error {
	if _, ok := t.st.codes[memberID]; ok {
		return fmt.Errorf("pointstest: member %s has a code already", memberID)
	}
	if _, ok := t.st.codeOwner[code]; ok {
		return fmt.Errorf("pointstest: code %s is taken", code)
	}
	t.st.codes[memberID], t.st.codeOwner[code] = code, memberID
	t.onUndo(func() { delete(t.st.codes, memberID); delete(t.st.codeOwner, code) })
	return nil
}

// ReferralRewards returns the rewards a purchase paid, by level.
func (t *Tx) ReferralRewards(purchaseID int64) ([]points.ReferralReward, error) {
	return slices.Clone(t.st.rewards[purchaseID]), nil
}

// SaveReferralReward inserts a new reward or updates its reversed points.
func (t *Tx) SaveReferralReward(r *points.ReferralReward) error {
	old := t.st.rewards[r.PurchaseID]
	i := slices.IndexFunc(old, func(x points.ReferralReward) bool { return x.Level == r.Level })
	if r.New != (i < 0) {
		return fmt.Errorf("pointstest: reward %d/%d: new %v, stored %v", r.PurchaseID, r.Level, r.New, i >= 0)
	}
	next := slices.Clone(old)
	cp := *r
	cp.New = false
	if i < 0 {
		next = append(next, cp)
	} else {
		if want := next[i]; want.MemberID != cp.MemberID || want.LotID != cp.LotID || want.Points != cp.Points {
			return fmt.Errorf("pointstest: update of reward %d/%d changes fields the store does not update", r.PurchaseID, r.Level)
		}
		next[i] = cp
	}
	t.st.rewards[r.PurchaseID] = next
	t.onUndo(func() { t.st.rewards[r.PurchaseID] = old })
	return nil
}
