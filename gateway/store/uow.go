package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/lianmeng/lianmeng/gateway/ledger"
	"github.com/lianmeng/lianmeng/gateway/merchant"
	"github.com/lianmeng/lianmeng/gateway/points"
)

// uow implements points.Tx over one database transaction that may serve a
// whole batch of requests. Reads are cached so later requests in the batch
// see earlier ones' effects; writes are buffered and flushed once with
// multi-row statements; an undo log lets one request's partial effects be
// rolled back without failing the batch.
type uow struct {
	ctx context.Context
	db  *DB
	tx  *sqlx.Tx
	now time.Time
	ids *idRange

	accounts  map[string]*acct
	merchants map[string]*points.Merchant // nil value: known missing
	members   map[string]string           // identity key -> member id ("" known missing)
	purchases map[string]*points.Purchase // purchase key -> purchase (nil known missing)
	lots      map[int64]*ledger.Lot
	memberLot map[string][]int64 // member -> lot ids (loaded from DB + new)
	lotsDone  map[string]bool    // member's open lots loaded
	debts     map[string][]*points.Debt
	cons      map[int64][]points.Consumption
	idem      map[string]*IdemRecord     // merchant|key -> record (nil known missing)
	nonces    map[[16]byte]bool          // nonceHash -> used
	consents  map[string]*points.Consent // code key -> consent (nil known missing)
	counters  map[string]*counter        // counterKey -> member counter (counters.go)
	referrals *referralState             // made on first use (referrals.go)

	// write buffers
	txs           []ledger.Transaction
	newMembers    []memberIdentity
	dirtyLots     map[int64]bool
	newLots       map[int64]bool
	dirtyPurch    map[int64]*points.Purchase
	dirtyDebts    map[int64]*points.Debt
	dirtyConsents map[string]*points.Consent
	newCons       []points.Consumption
	newIdem       []IdemRecord
	newNonces     []nonceRow
	newAudit      []auditRow

	undo []func()

	missed []string // statements to prepare after the transaction (stmts.go)

	epoch     int64 // the admin epoch as this transaction sees it (adminEpoch)
	epochRead bool
}

type acct struct {
	known   bool  // balance read (and locked) from the database
	balance int64 // valid when known
	delta   int64 // change made by this batch
}

type memberIdentity struct {
	MemberID string
	Kind     string
	Lookup   string
	Sealed   sql.NullString
}

// nonceRow is a used nonce as request_nonce_hashes keeps it.
type nonceRow struct {
	Hash    [16]byte // nonceHash
	Expires int64
}

var _ points.Tx = (*uow)(nil)

func newUOW(ctx context.Context, db *DB, tx *sqlx.Tx, now time.Time, ids *idRange) *uow {
	return &uow{ctx: ctx, db: db, tx: tx, now: now.UTC().Truncate(time.Microsecond), ids: ids,
		accounts: map[string]*acct{}, merchants: map[string]*points.Merchant{}, members: map[string]string{},
		purchases: map[string]*points.Purchase{}, lots: map[int64]*ledger.Lot{}, memberLot: map[string][]int64{},
		lotsDone: map[string]bool{}, debts: map[string][]*points.Debt{}, cons: map[int64][]points.Consumption{},
		idem: map[string]*IdemRecord{}, nonces: map[[16]byte]bool{}, consents: map[string]*points.Consent{}, counters: map[string]*counter{},
		dirtyConsents: map[string]*points.Consent{},
		dirtyLots:     map[int64]bool{}, newLots: map[int64]bool{}, dirtyPurch: map[int64]*points.Purchase{}, dirtyDebts: map[int64]*points.Debt{}}
}

// unseen returns the keys the cache has no entry for and records each as
// known-missing (the zero value) until the caller's query fills it in, so a
// key is asked of the database at most once per batch.
func unseen[K any, V any](cache map[string]V, keys []K, key func(K) string) []K {
	var want []K
	for _, k := range keys {
		s := key(k)
		if _, ok := cache[s]; !ok {
			var zero V
			cache[s] = zero
			want = append(want, k)
		}
	}
	return want
}

func self(s string) string { return s }

// mark and rollback bound one request's effects inside the batch.
func (u *uow) mark() int { return len(u.undo) }

func (u *uow) rollback(m int) {
	for i := len(u.undo) - 1; i >= m; i-- {
		u.undo[i]()
	}
	u.undo = u.undo[:m]
}

func (u *uow) onUndo(f func()) { u.undo = append(u.undo, f) }

func (u *uow) forUpdate() string {
	if u.db.Dialect == MySQL {
		return " FOR UPDATE"
	}
	return ""
}

func (u *uow) Now() time.Time { return u.now }

func (u *uow) NewID() (int64, error) { return u.ids.take() }

// ---- merchants

func (u *uow) Merchant(id string) (points.Merchant, error) {
	if m, ok := u.merchants[id]; ok {
		if m == nil {
			return points.Merchant{}, points.ErrNotFound
		}
		return *m, nil
	}
	if err := u.loadMerchants([]string{id}); err != nil {
		return points.Merchant{}, err
	}
	return u.Merchant(id)
}

func (u *uow) loadMerchants(ids []string) error {
	want := unseen(u.merchants, ids, self)
	if len(want) == 0 {
		return nil
	}
	// Merchants and their published rule versions come from the cache
	// (merchantCache), checked against the admin epoch inside this
	// transaction; the version in effect is chosen at the batch's time.
	epoch, err := u.adminEpoch()
	if err != nil {
		return err
	}
	found, missing := u.db.merchantCache.get(epoch, want)
	if len(missing) > 0 {
		loaded, err := u.readMerchants(missing)
		if err != nil {
			return err
		}
		u.db.merchantCache.put(epoch, loaded)
		for id, e := range loaded {
			found[id] = e
		}
	}
	for id, e := range found {
		m := &points.Merchant{ID: id, Active: e.status == merchant.StatusActive}
		if v := e.effective(u.now); v != nil {
			m.Earning = v.earning
		}
		u.merchants[id] = m
	}
	return nil
}

// readMerchants reads merchants' status and every published rule version.
func (u *uow) readMerchants(ids []string) (map[string]*cachedMerchant, error) {
	in, args := u.inList("?", 1, toAny(ids))
	var rows []struct {
		ID     string `db:"id"`
		Status string `db:"status"`
	}
	if err := u.selectAll(&rows, `SELECT id, status FROM merchants WHERE id IN (`+in+`)`, args...); err != nil {
		return nil, fmt.Errorf("load merchants: %w", err)
	}
	var versions []ruleRow
	if err := u.selectAll(&versions, publishedVersionsSQL+in+`) AND v.status = 'published' ORDER BY v.merchant_id, v.version`, args...); err != nil {
		return nil, fmt.Errorf("load rule versions: %w", err)
	}
	out := make(map[string]*cachedMerchant, len(rows))
	for _, r := range rows {
		out[r.ID] = &cachedMerchant{status: r.Status}
	}
	for _, v := range versions {
		if m := out[v.MerchantID]; m != nil {
			m.versions = append(m.versions, cachedVersion{number: v.Version.Int64, effectiveAt: v.EffectiveAt, earning: v.earning()})
		}
	}
	return out, nil
}

// adminEpoch reads the admin epoch once per batch, inside its transaction.
func (u *uow) adminEpoch() (int64, error) {
	if u.epochRead {
		return u.epoch, nil
	}
	if err := u.get(&u.epoch, `SELECT epoch FROM admin_epoch WHERE id = 1`); err != nil {
		return 0, fmt.Errorf("admin epoch: %w", err)
	}
	u.epochRead = true
	return u.epoch, nil
}

// ---- accounts

func (u *uow) Balance(account string) (int64, error) {
	a, err := u.lockAccounts([]string{account})
	if err != nil {
		return 0, err
	}
	return a[0].balance, nil
}

// lockAccounts reads (and on MySQL locks, in name order) accounts not yet
// known, creating missing rows at zero.
func (u *uow) lockAccounts(names []string) ([]*acct, error) {
	var want []string
	for _, n := range names {
		if a, ok := u.accounts[n]; !ok || !a.known {
			want = append(want, n)
		}
	}
	if len(want) > 0 {
		sort.Strings(want)
		ins := "INSERT OR IGNORE INTO accounts (name, asset, kind, balance) VALUES "
		if u.db.Dialect == MySQL {
			ins = "INSERT IGNORE INTO accounts (name, asset, kind, balance) VALUES "
		}
		var args []any
		for _, n := range want {
			a := ledger.ParseAccount(n)
			args = append(args, n, string(a.Asset), string(a.Kind))
		}
		// Padding repeats the last row, which the IGNORE skips.
		vals, args := u.inList("(?, ?, ?, 0)", 3, args)
		if _, err := u.exec(ins+vals, args...); err != nil {
			return nil, fmt.Errorf("create accounts: %w", err)
		}
		in, qargs := u.inList("?", 1, toAny(want))
		rows, err := u.queryx(`SELECT name, balance FROM accounts WHERE name IN (`+in+`) ORDER BY name`+u.forUpdate(), qargs...)
		if err != nil {
			return nil, fmt.Errorf("lock accounts: %w", err)
		}
		for rows.Next() {
			var n string
			var b int64
			if err := rows.Scan(&n, &b); err != nil {
				rows.Close()
				return nil, err
			}
			a := u.accounts[n]
			if a == nil {
				a = &acct{}
				u.accounts[n] = a
			}
			// Known-ness is a cache fact, not a change: it survives undo.
			a.known, a.balance = true, b+a.delta
		}
		if err := rows.Err(); err != nil {
			rows.Close()
			return nil, fmt.Errorf("lock accounts: %w", err)
		}
		if err := rows.Close(); err != nil {
			return nil, err
		}
	}
	out := make([]*acct, len(names))
	for i, n := range names {
		if u.accounts[n] == nil || !u.accounts[n].known {
			return nil, fmt.Errorf("lock accounts: %s was not read", n)
		}
		out[i] = u.accounts[n]
	}
	return out, nil
}

func (u *uow) Post(t *ledger.Transaction) error {
	if err := t.Validate(); err != nil {
		return err
	}
	// Debits of guarded accounts need the real balance.
	var guard []string
	for _, p := range t.Postings {
		if p.Amount < 0 && ledger.NonNegative(p.Account) {
			guard = append(guard, p.Account)
		}
	}
	if len(guard) > 0 {
		if _, err := u.lockAccounts(guard); err != nil {
			return err
		}
	}
	net := map[string]int64{}
	for _, p := range t.Postings {
		net[p.Account] += p.Amount
	}
	for name, d := range net {
		if d < 0 && ledger.NonNegative(name) {
			if a := u.accounts[name]; a.balance+d < 0 {
				return &points.ErrInsufficient{Account: name, Balance: a.balance, Need: -d}
			}
		}
	}
	id, err := u.ids.take()
	if err != nil {
		return err
	}
	t.ID = id
	t.CreatedAt = u.now
	for name, d := range net {
		a := u.accounts[name]
		if a == nil {
			a = &acct{}
			u.accounts[name] = a
		}
		a.balance += d
		a.delta += d
		u.onUndo(func() { a.balance -= d; a.delta -= d })
	}
	u.txs = append(u.txs, *t)
	n := len(u.txs) - 1
	u.onUndo(func() { u.txs = u.txs[:n] })
	return nil
}

// ---- members

func (u *uow) Member(merchantID string, id points.Identity, create bool) (string, error) {
	lookup := u.db.identityLookup(merchantID, id)
	row := identityRow{id.Kind, lookup}
	k := row.String()
	if _, ok := u.members[k]; !ok {
		if err := u.loadMembers([]identityRow{row}); err != nil {
			return "", err
		}
	}
	if mid := u.members[k]; mid != "" {
		return mid, nil
	}
	if !create {
		return "", points.ErrNotFound
	}
	sealed, err := u.db.sealIdentity(merchantID, id)
	if err != nil {
		return "", err
	}
	mid := newMemberID(u.now)
	u.members[k] = mid
	u.newMembers = append(u.newMembers, memberIdentity{MemberID: mid, Kind: id.Kind, Lookup: lookup, Sealed: sealed})
	// A new member has no lots, debts or referrer: no need to ask the
	// database.
	u.lotsDone[mid] = true
	u.debts[mid] = nil
	if u.referrals != nil {
		u.referrals.referrers[mid] = ""
	}
	n := len(u.newMembers) - 1
	u.onUndo(func() { u.members[k] = ""; u.newMembers = u.newMembers[:n] })
	return mid, nil
}

func (u *uow) loadMembers(keys []identityRow) error {
	want := unseen(u.members, keys, identityRow.String)
	if len(want) == 0 {
		return nil
	}
	args := make([]any, 0, 2*len(want))
	for _, k := range want {
		args = append(args, k.Kind, k.Lookup)
	}
	in, args := u.inList("(?, ?)", 2, args)
	rows, err := u.queryx(`SELECT kind, lookup, member_id FROM member_identities WHERE (kind, lookup) IN (`+in+`)`, args...)
	if err != nil {
		return fmt.Errorf("load members: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var kind, lookup, mid string
		if err := rows.Scan(&kind, &lookup, &mid); err != nil {
			return err
		}
		u.members[identityRow{kind, lookup}.String()] = mid
	}
	return rows.Err()
}

func toAny(s []string) []any {
	out := make([]any, len(s))
	for i, x := range s {
		out[i] = x
	}
	return out
}

func placeholders(n int, one string) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(one)
	}
	return b.String()
}

// ---- purchases

// purchaseKey is the batch cache's key of a purchase.
func purchaseKey(k points.PurchaseKey) string {
	return k.MerchantID + "\x00" + k.Kind + "\x00" + k.OrderID
}

const purchaseCols = `id, kind, merchant_id, store_id, order_id, member_id, amount_fen, points, refunded_fen, reversed_points, lot_id, tx_id, rule_version, created_at`

type purchaseRow struct {
	ID             int64  `db:"id"`
	Kind           string `db:"kind"`
	MerchantID     string `db:"merchant_id"`
	StoreID        string `db:"store_id"`
	OrderID        string `db:"order_id"`
	MemberID       string `db:"member_id"`
	AmountFen      int64  `db:"amount_fen"`
	Points         int64  `db:"points"`
	RefundedFen    int64  `db:"refunded_fen"`
	ReversedPoints int64  `db:"reversed_points"`
	LotID          int64  `db:"lot_id"`
	TxID           int64  `db:"tx_id"`
	RuleVersion    string `db:"rule_version"`
	CreatedAt      int64  `db:"created_at"`
}

func (r purchaseRow) domain() *points.Purchase {
	return &points.Purchase{ID: r.ID, Kind: r.Kind, MerchantID: r.MerchantID, StoreID: r.StoreID, OrderID: r.OrderID, MemberID: r.MemberID,
		AmountFen: r.AmountFen, Points: r.Points, RefundedFen: r.RefundedFen, ReversedPoints: r.ReversedPoints, LotID: r.LotID, TxID: r.TxID,
		RuleVersion: r.RuleVersion, CreatedAt: FromMicros(r.CreatedAt)}
}

func (u *uow) Purchase(merchantID, kind, orderID string) (*points.Purchase, error) {
	pk := points.PurchaseKey{MerchantID: merchantID, Kind: kind, OrderID: orderID}
	k := purchaseKey(pk)
	if _, ok := u.purchases[k]; !ok {
		if err := u.loadPurchases([]points.PurchaseKey{pk}); err != nil {
			return nil, err
		}
	}
	p := u.purchases[k]
	if p == nil {
		return nil, points.ErrNotFound
	}
	cp := *p
	return &cp, nil
}

func (u *uow) loadPurchases(keys []points.PurchaseKey) error {
	want := unseen(u.purchases, keys, purchaseKey)
	if len(want) == 0 {
		return nil
	}
	args := make([]any, 0, 3*len(want))
	for _, k := range want {
		args = append(args, k.MerchantID, k.Kind, k.OrderID)
	}
	in, args := u.inList("(?, ?, ?)", 3, args)
	q := `SELECT ` + purchaseCols + ` FROM purchases WHERE (merchant_id, kind, order_id) IN (` + in + `)` + u.forUpdate()
	var rows []purchaseRow
	if err := u.selectAll(&rows, q, args...); err != nil {
		return fmt.Errorf("load purchases: %w", err)
	}
	for _, r := range rows {
		u.purchases[purchaseKey(points.PurchaseKey{MerchantID: r.MerchantID, Kind: r.Kind, OrderID: r.OrderID})] = r.domain()
	}
	return nil
}

func (u *uow) SavePurchase(p *points.Purchase) error {
	k := purchaseKey(points.PurchaseKey{MerchantID: p.MerchantID, Kind: p.Kind, OrderID: p.OrderID})
	prev, hadPrev := u.purchases[k]
	prevDirty, hadDirty := u.dirtyPurch[p.ID]
	cp := *p
	u.purchases[k] = &cp
	u.dirtyPurch[p.ID] = &cp
	u.onUndo(func() {
		if hadPrev {
			u.purchases[k] = prev
		} else {
			delete(u.purchases, k)
		}
		if hadDirty {
			u.dirtyPurch[p.ID] = prevDirty
		} else {
			delete(u.dirtyPurch, p.ID)
		}
	})
	return nil
}

// ---- lots

const lotCols = `id, member_id, merchant_id, purchase_id, points, remaining, state, rule_version, earned_at, release_at, expires_at`

type lotRow struct {
	ID          int64  `db:"id"`
	MemberID    string `db:"member_id"`
	MerchantID  string `db:"merchant_id"`
	PurchaseID  int64  `db:"purchase_id"`
	Points      int64  `db:"points"`
	Remaining   int64  `db:"remaining"`
	State       string `db:"state"`
	RuleVersion string `db:"rule_version"`
	EarnedAt    int64  `db:"earned_at"`
	ReleaseAt   int64  `db:"release_at"`
	ExpiresAt   int64  `db:"expires_at"`
}

func (r lotRow) domain() *ledger.Lot {
	return &ledger.Lot{ID: r.ID, MemberID: r.MemberID, MerchantID: r.MerchantID, PurchaseID: r.PurchaseID, Points: r.Points,
		Remaining: r.Remaining, State: r.State, RuleVersion: r.RuleVersion, EarnedAt: FromMicros(r.EarnedAt),
		ReleaseAt: FromMicros(r.ReleaseAt), ExpiresAt: FromMicros(r.ExpiresAt)}
}

func (u *uow) cacheLot(r lotRow) *ledger.Lot {
	if l, ok := u.lots[r.ID]; ok {
		return l
	}
	l := r.domain()
	u.lots[r.ID] = l
	return l
}

func (u *uow) loadMemberLots(memberID string) error {
	if u.lotsDone[memberID] {
		return nil
	}
	var rows []lotRow
	if err := u.selectAll(&rows, `SELECT `+lotCols+` FROM lots WHERE member_id = ? AND state <> ?`+u.forUpdate(), memberID, ledger.LotClosed); err != nil {
		return fmt.Errorf("load lots: %w", err)
	}
	have := map[int64]bool{}
	for _, id := range u.memberLot[memberID] {
		have[id] = true
	}
	for _, r := range rows {
		l := u.cacheLot(r)
		if !have[l.ID] {
			u.memberLot[memberID] = append(u.memberLot[memberID], l.ID)
		}
	}
	u.lotsDone[memberID] = true
	return nil
}

func (u *uow) Lots(memberID, state string) ([]*ledger.Lot, error) {
	if err := u.loadMemberLots(memberID); err != nil {
		return nil, err
	}
	var out []*ledger.Lot
	for _, id := range u.memberLot[memberID] {
		if l := u.lots[id]; l.State == state {
			cp := *l
			out = append(out, &cp)
		}
	}
	sortByExpiry(out)
	return out, nil
}

// spendableLotsPage is the first page SpendableLots reads; each next one
// is twice as long. Most redemptions are covered by a lot or two.
const spendableLotsPage = 16

// SpendableLots reads from the database only the first-expiring available
// lots that cover need, and the sum of all (both locking on MySQL, as Lots
// does). It used to be Lots: every redemption loaded, locked and copied
// every open lot of the member, which the 30-minute soak saw as a heap
// rising with the lots its few members piled up. Lots of the member this
// batch changed or created (not yet written) stand in for their rows;
// after Lots loaded them all, the batch's list is the answer.
func (u *uow) SpendableLots(memberID string, now time.Time, need int64) ([]*ledger.Lot, int64, error) {
	if u.lotsDone[memberID] {
		all, err := u.Lots(memberID, ledger.LotAvailable)
		if err != nil {
			return nil, 0, err
		}
		out, spendable := points.CoverNeed(all, now, need)
		if spendable < need {
			out = nil
		}
		return out, spendable, nil
	}
	touched := u.memberLot[memberID]
	var mine []*ledger.Lot // the batch's own, in expiry order
	for _, id := range touched {
		if l := u.lots[id]; l.State == ledger.LotAvailable && l.Remaining > 0 && l.ExpiresAt.After(now) {
			cp := *l
			mine = append(mine, &cp)
		}
	}
	sortByExpiry(mine)
	// The state is a literal (SQLite's partial indexes); lots_by_member
	// (member_id, state, expires_at) serves both queries.
	where := ` FROM lots WHERE member_id = ? AND state = 'available' AND expires_at > ? AND remaining > 0`
	args := []any{memberID, Micros(now)}
	if len(touched) > 0 {
		ids := make([]any, len(touched))
		for i, id := range touched {
			ids[i] = id
		}
		in, ids := u.inList("?", 1, ids)
		where += ` AND id NOT IN (` + in + `)`
		args = append(args, ids...)
	}
	var stored int64
	if err := u.get(&stored, `SELECT COALESCE(SUM(remaining), 0)`+where+u.forUpdate(), args...); err != nil {
		return nil, 0, fmt.Errorf("spendable points: %w", err)
	}
	_, spendable := points.CoverNeed(mine, now, 0)
	spendable += stored
	if spendable < need {
		return nil, spendable, nil // refused: no lot is needed
	}
	// Read pages in expiry order until the rows read, with the batch's own
	// lots that come no later than the last row, cover need.
	var rows []*ledger.Lot
	var got int64
	lastExp, lastID, exhausted := int64(0), int64(0), stored == 0
	for page := spendableLotsPage; !exhausted; page *= 2 {
		var rs []lotRow
		q := `SELECT ` + lotCols + where + ` AND (expires_at > ? OR expires_at = ? AND id > ?) ORDER BY expires_at, id LIMIT ?` + u.forUpdate()
		if err := u.selectAll(&rs, q, append(args, lastExp, lastExp, lastID, page)...); err != nil {
			return nil, 0, fmt.Errorf("spendable lots: %w", err)
		}
		for _, r := range rs {
			lastExp, lastID = r.ExpiresAt, r.ID
			cp := *u.cacheLot(r)
			rows = append(rows, &cp)
			got += cp.Remaining
		}
		exhausted = len(rs) < page || got >= stored
		c := got
		for _, l := range mine {
			if e := Micros(l.ExpiresAt); e < lastExp || e == lastExp && l.ID < lastID {
				c += l.Remaining
			}
		}
		if c >= need {
			break
		}
	}
	all := rows
	for _, l := range mine {
		if e := Micros(l.ExpiresAt); exhausted || e < lastExp || e == lastExp && l.ID < lastID {
			all = append(all, l)
		}
	}
	sortByExpiry(all)
	out, _ := points.CoverNeed(all, now, need)
	return out, spendable, nil
}

// sortByExpiry orders lots by expiry, then id: the order Lots answers in
// and redemptions spend in.
func sortByExpiry(ls []*ledger.Lot) {
	sort.Slice(ls, func(i, j int) bool {
		if !ls[i].ExpiresAt.Equal(ls[j].ExpiresAt) {
			return ls[i].ExpiresAt.Before(ls[j].ExpiresAt)
		}
		return ls[i].ID < ls[j].ID
	})
}

func (u *uow) Lot(id int64) (*ledger.Lot, error) {
	if l, ok := u.lots[id]; ok {
		cp := *l
		return &cp, nil
	}
	var r lotRow
	err := u.get(&r, `SELECT `+lotCols+` FROM lots WHERE id = ?`+u.forUpdate(), id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, points.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("load lot: %w", err)
	}
	cp := *u.cacheLot(r)
	return &cp, nil
}

func (u *uow) SaveLot(l *ledger.Lot, isNew bool) error {
	cp := *l
	prev, had := u.lots[l.ID]
	wasDirty := u.dirtyLots[l.ID]
	u.lots[l.ID] = &cp
	u.dirtyLots[l.ID] = true
	// A lot the member's list does not hold yet (new, or reopened by a
	// redemption refund after the list was loaded without closed lots)
	// must be seen by later Lots calls in this batch.
	listed := false
	for _, id := range u.memberLot[l.MemberID] {
		listed = listed || id == l.ID
	}
	if isNew {
		u.newLots[l.ID] = true
	}
	if !listed {
		u.memberLot[l.MemberID] = append(u.memberLot[l.MemberID], l.ID)
	}
	u.onUndo(func() {
		if had {
			u.lots[l.ID] = prev
		} else {
			delete(u.lots, l.ID)
		}
		if !wasDirty {
			delete(u.dirtyLots, l.ID)
		}
		if isNew {
			delete(u.newLots, l.ID)
		}
		if !listed {
			ids := u.memberLot[l.MemberID]
			u.memberLot[l.MemberID] = ids[:len(ids)-1]
		}
	})
	return nil
}

func (u *uow) DueLots(state string, now time.Time, limit int) ([]*ledger.Lot, error) {
	// The state is a literal, not a parameter, so SQLite can use the
	// partial indexes that hold only pending (or only available) lots.
	q := `SELECT ` + lotCols + ` FROM lots WHERE state = 'pending' AND release_at <= ? ORDER BY release_at, id LIMIT ?`
	if state == ledger.LotAvailable {
		q = `SELECT ` + lotCols + ` FROM lots WHERE state = 'available' AND expires_at <= ? ORDER BY expires_at, id LIMIT ?`
	} else if state != ledger.LotPending {
		return nil, fmt.Errorf("due lots: no schedule for state %q", state)
	}
	var rows []lotRow
	if err := u.selectAll(&rows, q+u.forUpdate(), Micros(now), limit); err != nil {
		return nil, fmt.Errorf("due lots: %w", err)
	}
	out := make([]*ledger.Lot, 0, len(rows))
	for _, r := range rows {
		l := u.cacheLot(r)
		if l.State != state { // changed earlier in this batch
			continue
		}
		cp := *l
		out = append(out, &cp)
	}
	return out, nil
}

// ---- debts and consumptions

func (u *uow) Debts(memberID string) ([]*points.Debt, error) {
	ds, ok := u.debts[memberID]
	if !ok {
		if err := u.loadDebts([]string{memberID}); err != nil {
			return nil, err
		}
		ds = u.debts[memberID]
	}
	out := make([]*points.Debt, 0, len(ds))
	for _, d := range ds {
		if d.Remaining > 0 {
			cp := *d
			out = append(out, &cp)
		}
	}
	return out, nil
}

func (u *uow) loadDebts(members []string) error {
	want := unseen(u.debts, members, self)
	if len(want) == 0 {
		return nil
	}
	in, args := u.inList("?", 1, toAny(want))
	q := `SELECT id, member_id, merchant_id, purchase_id, points, remaining, created_at FROM member_debts
		WHERE member_id IN (` + in + `) AND remaining > 0 ORDER BY created_at, id` + u.forUpdate()
	var rows []struct {
		ID         int64  `db:"id"`
		MemberID   string `db:"member_id"`
		MerchantID string `db:"merchant_id"`
		PurchaseID int64  `db:"purchase_id"`
		Points     int64  `db:"points"`
		Remaining  int64  `db:"remaining"`
		CreatedAt  int64  `db:"created_at"`
	}
	if err := u.selectAll(&rows, q, args...); err != nil {
		return fmt.Errorf("load debts: %w", err)
	}
	for _, r := range rows {
		u.debts[r.MemberID] = append(u.debts[r.MemberID], &points.Debt{ID: r.ID, MemberID: r.MemberID, MerchantID: r.MerchantID,
			PurchaseID: r.PurchaseID, Points: r.Points, Remaining: r.Remaining, CreatedAt: FromMicros(r.CreatedAt)})
	}
	return nil
}

func (u *uow) SaveDebt(d *points.Debt) error {
	if _, err := u.Debts(d.MemberID); err != nil {
		return err
	}
	list := u.debts[d.MemberID]
	idx := -1
	for i, x := range list {
		if x.ID == d.ID {
			idx = i
		}
	}
	cp := *d
	if idx < 0 {
		u.debts[d.MemberID] = append(list, &cp)
		u.onUndo(func() { u.debts[d.MemberID] = list })
	} else {
		prev := list[idx]
		list[idx] = &cp
		u.onUndo(func() { list[idx] = prev })
	}
	prevDirty, had := u.dirtyDebts[d.ID]
	if had && prevDirty.New {
		cp.New = true // still an insert
	}
	u.dirtyDebts[d.ID] = &cp
	u.onUndo(func() {
		if had {
			u.dirtyDebts[d.ID] = prevDirty
		} else {
			delete(u.dirtyDebts, d.ID)
		}
	})
	return nil
}

func (u *uow) Consumptions(purchaseID int64) ([]points.Consumption, error) {
	if c, ok := u.cons[purchaseID]; ok {
		return append([]points.Consumption(nil), c...), nil
	}
	var rows []struct {
		PurchaseID int64 `db:"purchase_id"`
		LotID      int64 `db:"lot_id"`
		Points     int64 `db:"points"`
	}
	if err := u.selectAll(&rows, `SELECT purchase_id, lot_id, points FROM lot_consumptions WHERE purchase_id = ? ORDER BY seq`, purchaseID); err != nil {
		return nil, fmt.Errorf("load consumptions: %w", err)
	}
	var out []points.Consumption
	for _, r := range rows {
		out = append(out, points.Consumption{PurchaseID: r.PurchaseID, LotID: r.LotID, Points: r.Points})
	}
	u.cons[purchaseID] = out
	return append([]points.Consumption(nil), out...), nil
}

func (u *uow) AddConsumption(c points.Consumption) error {
	prev, had := u.cons[c.PurchaseID]
	u.cons[c.PurchaseID] = append(append([]points.Consumption(nil), prev...), c)
	u.newCons = append(u.newCons, c)
	n := len(u.newCons) - 1
	u.onUndo(func() {
		if had {
			u.cons[c.PurchaseID] = prev
		} else {
			delete(u.cons, c.PurchaseID)
		}
		u.newCons = u.newCons[:n]
	})
	return nil
}

// newMemberID returns "mbr_" + 12 hex digits of milliseconds + 8 random hex
// digits. Ids that grow with time keep inserts into the members table and
// the member accounts at the right edge of their B-trees, so a batch
// dirties a few pages instead of one page per new member.
func newMemberID(now time.Time) string {
	r := merchant.NewID("")
	return fmt.Sprintf("mbr_%012x%s", now.UnixMilli(), r[:8])
}
