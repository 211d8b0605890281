package store

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/lianmeng/lianmeng/gateway/ledger"
)

// bulkChunk bounds rows per INSERT: SQLite allows at most 32766 bound
// variables per statement. A power of two (see chunkSize).
const bulkChunk = 256

// bulkInsert inserts rows with multi-row INSERT statements, in chunks of
// power-of-two sizes so that the statements repeat (stmts.go). suffix is
// appended to each statement (for upserts).
func (u *uow) bulkInsert(table string, cols []string, rows [][]any, suffix string) error {
	one := "(" + placeholders(len(cols), "?") + ")"
	// On SQLite, OR ROLLBACK: a refused row fails the whole attempt anyway
	// (the writer retries or isolates it), and a statement that cannot abort
	// half-way needs no statement journal, which copied every page a
	// multi-row INSERT touched (about 5% of the writer's time).
	verb := "INSERT INTO "
	if u.db.Dialect == SQLite {
		verb = "INSERT OR ROLLBACK INTO "
	}
	head := verb + table + " (" + strings.Join(cols, ", ") + ") VALUES "
	for start := 0; start < len(rows); {
		end := min(start+bulkChunk, len(rows))
		if u.db.cachesStmts() {
			end = start + chunkSize(len(rows)-start)
		}
		args := make([]any, 0, (end-start)*len(cols))
		for _, r := range rows[start:end] {
			args = append(args, r...)
		}
		q := head + placeholders(end-start, one) + suffix
		start = end
		if _, err := u.exec(q, args...); err != nil {
			return fmt.Errorf("insert %s: %w", table, err)
		}
	}
	return nil
}

// flush writes everything the batch buffered.
func (u *uow) flush() error {
	if len(u.newMembers) > 0 {
		var mrows, irows [][]any
		for _, m := range u.newMembers {
			mrows = append(mrows, []any{m.MemberID, Micros(u.now)})
			irows = append(irows, []any{m.Kind, m.Lookup, m.MemberID, m.Sealed, Micros(u.now)})
		}
		if err := u.bulkInsert("members", []string{"id", "created_at"}, mrows, ""); err != nil {
			return err
		}
		if err := u.bulkInsert("member_identities", []string{"kind", "lookup", "member_id", "sealed", "created_at"}, irows, ""); err != nil {
			return err
		}
	}
	if len(u.txs) > 0 {
		trows := make([][]any, 0, len(u.txs))
		var prows [][]any
		for _, t := range u.txs {
			trows = append(trows, []any{t.ID, t.Kind, t.Ref, t.Reverses, Micros(t.CreatedAt)})
			for i, p := range t.Postings {
				prows = append(prows, []any{t.ID, i, p.Account, string(p.Asset), p.Amount})
			}
		}
		if err := u.bulkInsert("ledger_transactions", []string{"id", "kind", "ref", "reverses", "created_at"}, trows, ""); err != nil {
			return err
		}
		if err := u.bulkInsert("postings", []string{"tx_id", "seq", "account", "asset", "amount"}, prows, ""); err != nil {
			return err
		}
	}
	if err := u.flushBalances(); err != nil {
		return err
	}
	if err := u.flushLots(); err != nil {
		return err
	}
	if err := u.flushPurchases(); err != nil {
		return err
	}
	if err := u.flushDebts(); err != nil {
		return err
	}
	if err := u.flushConsents(); err != nil {
		return err
	}
	if err := u.flushCounters(); err != nil {
		return err
	}
	if err := u.flushReferrals(); err != nil {
		return err
	}
	if len(u.newCons) > 0 {
		var rows [][]any
		seq := map[int64]int{}
		for _, c := range u.newCons {
			rows = append(rows, []any{c.PurchaseID, c.LotID, seq[c.PurchaseID], c.Points})
			seq[c.PurchaseID]++
		}
		if err := u.bulkInsert("lot_consumptions", []string{"purchase_id", "lot_id", "seq", "points"}, rows, ""); err != nil {
			return err
		}
	}
	if len(u.newIdem) > 0 {
		if err := u.bulkInsert("idempotency_records", idemColumns, idemRows(u.newIdem), ""); err != nil {
			return err
		}
	}
	if err := u.flushAudit(); err != nil {
		return err
	}
	if err := u.flushOutbox(); err != nil { // after lots and purchases: payloads read them
		return err
	}
	if len(u.newNonces) > 0 {
		var rows [][]any
		for i := range u.newNonces {
			n := &u.newNonces[i]
			rows = append(rows, []any{n.Hash[:], n.Expires})
		}
		if err := u.bulkInsert("request_nonce_hashes", []string{"hash", "expires_at"}, rows, ""); err != nil {
			return err
		}
	}
	return nil
}

// flushBalances applies each touched account's net change in one upsert.
// Adding deltas (rather than writing absolute values) keeps accounts this
// batch only credited correct without locking them.
func (u *uow) flushBalances() error {
	names := make([]string, 0, len(u.accounts))
	for n, a := range u.accounts {
		if a.delta != 0 {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return nil
	}
	sort.Strings(names)
	rows := make([][]any, len(names))
	for i, n := range names {
		a := ledger.ParseAccount(n)
		rows[i] = []any{n, string(a.Asset), string(a.Kind), u.accounts[n].delta}
	}
	suffix := " ON CONFLICT(name) DO UPDATE SET balance = balance + excluded.balance"
	if u.db.Dialect == MySQL {
		suffix = " ON DUPLICATE KEY UPDATE balance = balance + VALUES(balance)"
	}
	return u.bulkInsert("accounts", []string{"name", "asset", "kind", "balance"}, rows, suffix)
}

// Column lists of the multi-row INSERTs, derived once from the SELECT lists.
var (
	lotColumns      = columns(lotCols)
	purchaseColumns = columns(purchaseCols)
)

func columns(list string) []string { return strings.Split(strings.ReplaceAll(list, " ", ""), ",") }

// sortedIDs returns the keys of m in ascending order: rows are written in
// id order, so concurrent batches on MySQL lock them in the same order.
func sortedIDs[V any](m map[int64]V) []int64 {
	ids := make([]int64, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

func (u *uow) flushLots() error {
	var ins [][]any
	for _, id := range sortedIDs(u.dirtyLots) {
		l := u.lots[id]
		if u.newLots[id] {
			ins = append(ins, []any{l.ID, l.MemberID, l.MerchantID, l.PurchaseID, l.Points, l.Remaining, l.State, l.RuleVersion,
				Micros(l.EarnedAt), Micros(l.ReleaseAt), Micros(l.ExpiresAt)})
			continue
		}
		if _, err := u.exec(`UPDATE lots SET remaining = ?, state = ? WHERE id = ?`, l.Remaining, l.State, l.ID); err != nil {
			return fmt.Errorf("update lot: %w", err)
		}
	}
	return u.bulkInsert("lots", lotColumns, ins, "")
}

func (u *uow) flushPurchases() error {
	var ins [][]any
	for _, id := range sortedIDs(u.dirtyPurch) {
		p := u.dirtyPurch[id]
		if p.New {
			ins = append(ins, []any{p.ID, p.Kind, p.MerchantID, p.StoreID, p.OrderID, p.MemberID, p.AmountFen, p.Points, p.RefundedFen,
				p.ReversedPoints, p.LotID, p.TxID, p.RuleVersion, Micros(p.CreatedAt)})
			continue
		}
		if _, err := u.exec(`UPDATE purchases SET refunded_fen = ?, reversed_points = ? WHERE id = ?`, p.RefundedFen, p.ReversedPoints, p.ID); err != nil {
			return fmt.Errorf("update purchase: %w", err)
		}
	}
	if err := u.bulkInsert("purchases", purchaseColumns, ins, ""); err != nil {
		return err
	}
	return u.flushBreakdowns() // rules.go
}

func (u *uow) flushDebts() error {
	var ins [][]any
	for _, id := range sortedIDs(u.dirtyDebts) {
		d := u.dirtyDebts[id]
		if d.New {
			ins = append(ins, []any{d.ID, d.MemberID, d.MerchantID, d.PurchaseID, d.Points, d.Remaining, Micros(d.CreatedAt)})
			continue
		}
		if _, err := u.exec(`UPDATE member_debts SET remaining = ? WHERE id = ?`, d.Remaining, d.ID); err != nil {
			return fmt.Errorf("update debt: %w", err)
		}
	}
	return u.bulkInsert("member_debts", []string{"id", "member_id", "merchant_id", "purchase_id", "points", "remaining", "created_at"}, ins, "")
}
