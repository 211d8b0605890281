package points

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/lianmeng/lianmeng/gateway/ledger"
)

// The alliance's published history: one snapshot per day, derived from
// the append-only ledger alone (never from the balances as they are when
// the job runs), so a day's row is the same whenever it is computed: a
// missed day is filled later, a wiped table is rebuilt identically.

// DayZone is the alliance's day: midnight to midnight China Standard Time
// (UTC+8, no daylight saving). Snapshots and the console's "today" use it.
var DayZone = time.FixedZone("CST", 8*3600)

// DayLayout is how a day is written (2026-12-01).
const DayLayout = "2006-01-02"

// DayBounds returns the first instant of day (a DayLayout string) and of
// the day after.
func DayBounds(day string) (from, to time.Time, err error) {
	d, err := time.ParseInLocation(DayLayout, day, DayZone)
	if err != nil {
		return time.Time{}, time.Time{}, err
	}
	return d, d.AddDate(0, 0, 1), nil
}

// DayOf is the alliance day t falls in.
func DayOf(t time.Time) string { return t.In(DayZone).Format(DayLayout) }

// Movement is the sum of a day's postings into one account family (an
// account kind such as pending, or an alliance account's name) by one
// transaction kind. The store reads them; the domain gives them meaning.
type Movement struct {
	Family string `db:"family"`
	TxKind string `db:"tx_kind"`
	Amount int64  `db:"amount"`
}

// Balances are the running sums a snapshot carries to the next day: the
// ledger's balances at the end of the day, by family.
type Balances struct {
	ReserveFen      int64 `json:"reserve_fen" db:"reserve_fen"`
	BudgetPoints    int64 `json:"budget_points" db:"budget_points"`
	PendingPoints   int64 `json:"pending_points" db:"pending_points"`
	AvailablePoints int64 `json:"available_points" db:"available_points"`
	MarketingPoints int64 `json:"marketing_points" db:"marketing_points"`
	PayableFen      int64 `json:"payable_fen" db:"payable_fen"`
	BurnedPoints    int64 `json:"burned_points" db:"burned_points"`
	ExpiredPoints   int64 `json:"expired_points" db:"expired_points"`
	MintedPoints    int64 `json:"minted_points" db:"minted_points"`
	FundedFen       int64 `json:"funded_fen" db:"funded_fen"`
	BreakageFen     int64 `json:"breakage_fen" db:"breakage_fen"`
}

// Outstanding is the points the reserve must back (as in Totals).
func (b Balances) Outstanding() int64 {
	return b.BudgetPoints + b.PendingPoints + b.AvailablePoints + b.MarketingPoints
}

// add moves amount into family; mint and funding are sources, kept as
// positive totals like Totals does.
func (b *Balances) add(family string, amount int64) {
	switch family {
	case string(ledger.KindBudget):
		b.BudgetPoints += amount
	case string(ledger.KindPayable):
		b.PayableFen += amount
	case string(ledger.KindPending):
		b.PendingPoints += amount
	case string(ledger.KindAvailable):
		b.AvailablePoints += amount
	case ledger.Reserve:
		b.ReserveFen += amount
	case ledger.Marketing:
		b.MarketingPoints += amount
	case ledger.Burned:
		b.BurnedPoints += amount
	case ledger.Expired:
		b.ExpiredPoints += amount
	case ledger.Mint:
		b.MintedPoints -= amount
	case ledger.Funding:
		b.FundedFen -= amount
	case ledger.Breakage:
		b.BreakageFen += amount
	}
}

// DaySnapshot is one day of the alliance's published history: the
// balances at the end of the day, the coverage they give, and what moved
// for members during the day.
type DaySnapshot struct {
	Day string `json:"day"`
	Balances
	OutstandingPoints int64 `json:"outstanding_points" db:"outstanding_points"`
	FaceValueFen      int64 `json:"face_value_fen" db:"face_value_fen"`
	CoverageBP        int64 `json:"coverage_bp" db:"coverage_bp"`
	Covered           bool  `json:"covered" db:"covered"`
	// IssuedPoints were credited to members by earns and imports;
	// RedeemedPoints spent by members, net of refunded redemptions;
	// ExpiredPoints taken from members' expired lots.
	IssuedPoints   int64 `json:"issued_points" db:"issued_points"`
	RedeemedPoints int64 `json:"redeemed_points" db:"redeemed_points"`
	ExpiredToday   int64 `json:"expired_today_points" db:"expired_today_points"`
	// FundedTodayFen is the money merchants paid into the reserve.
	FundedTodayFen int64 `json:"funded_today_fen" db:"funded_today_fen"`
}

// NextSnapshot is day's snapshot: prev (the end of the day before; zero
// before the first transaction) moved by the day's movements, with the
// coverage at faceValueFen computed by CoverageOf.
func NextSnapshot(day string, prev Balances, moves []Movement, faceValueFen int64) DaySnapshot {
	s := DaySnapshot{Day: day, Balances: prev, FaceValueFen: faceValueFen}
	for _, m := range moves {
		s.add(m.Family, m.Amount)
		member := m.Family == string(ledger.KindPending) || m.Family == string(ledger.KindAvailable)
		switch {
		case member && (m.TxKind == ledger.KindEarn || m.TxKind == KindImport):
			s.IssuedPoints += m.Amount
		case member && (m.TxKind == ledger.KindRedeem || m.TxKind == ledger.KindRedeemReversal):
			s.RedeemedPoints -= m.Amount
		case member && m.TxKind == ledger.KindExpire:
			s.ExpiredToday -= m.Amount
		case m.Family == ledger.Reserve && m.TxKind == ledger.KindFund:
			s.FundedTodayFen += m.Amount
		}
	}
	s.OutstandingPoints = s.Outstanding()
	c := CoverageOf(Totals{ReserveFen: s.ReserveFen, OutstandingPts: s.OutstandingPoints}, faceValueFen)
	s.CoverageBP, s.Covered = c.BasisPoints, c.Covered
	return s
}

// PurchaseDetail is what a member may know of a purchase behind an entry
// of their history: where, how much, the rule version the points were
// computed under, and how (the breakdown kept with the purchase; for a
// flat-rate earning without one, the version's terms).
type PurchaseDetail struct {
	ID           int64         `json:"id" db:"id"`
	Kind         string        `json:"kind" db:"kind"`
	MerchantID   string        `json:"merchant_id" db:"merchant_id"`
	MerchantName string        `json:"merchant_name" db:"merchant_name"`
	OrderID      string        `json:"order_id" db:"order_id"`
	AmountFen    int64         `json:"amount_fen" db:"amount_fen"`
	Points       int64         `json:"points" db:"points"`
	RuleVersion  string        `json:"rule_version" db:"rule_version"`
	Terms        *VersionTerms `json:"terms,omitempty" db:"-"`
	Breakdown    *Breakdown    `json:"breakdown,omitempty" db:"-"`
}

// MerchantPurchase is a purchase in its merchant's history: the detail a
// member sees, plus who bought (the member's id), at which store, when,
// and what refunds took back.
type MerchantPurchase struct {
	PurchaseDetail
	MemberID       string    `json:"member_id" db:"member_id"`
	StoreID        string    `json:"store_id" db:"store_id"`
	RefundedFen    int64     `json:"refunded_fen" db:"refunded_fen"`
	ReversedPoints int64     `json:"reversed_points" db:"reversed_points"`
	CreatedAt      time.Time `json:"created_at" db:"-"`
}

// MerchantPurchaseKinds are the kinds a merchant's history lists (funding
// is in the merchant's account, not here).
var MerchantPurchaseKinds = []string{PurchaseEarn, PurchaseRedeem, PurchaseImport}

// VersionTerms are a published rule version's earning terms.
type VersionTerms struct {
	Version    int64  `json:"version" db:"version"`
	RateBP     int64  `json:"rate_bp" db:"rate_bp"`
	MaxPoints  int64  `json:"max_points" db:"max_points"`
	RulePlugin string `json:"rule_plugin,omitempty" db:"rule_plugin"`
}

// HistoryEntry is a transaction of a member's history with the purchase
// it belongs to, if any.
type HistoryEntry struct {
	ledger.Transaction
	Purchase *PurchaseDetail `json:"purchase,omitempty"`
}

// PurchaseDetails reads a member's purchases by id (the store); ids of
// another member's purchases are left out.
type PurchaseDetails interface {
	MemberPurchases(ctx context.Context, memberID string, ids []int64) (map[int64]PurchaseDetail, error)
}

// PurchaseOf is the purchase a transaction's ref names: "purchase:N" and
// "purchase:N:..." (refunds, debt recovery) are purchase N.
func PurchaseOf(ref string) (int64, bool) {
	rest, ok := strings.CutPrefix(ref, "purchase:")
	if !ok {
		return 0, false
	}
	if i := strings.IndexByte(rest, ':'); i >= 0 {
		rest = rest[:i]
	}
	id, err := strconv.ParseInt(rest, 10, 64)
	return id, err == nil && id > 0
}

// VersionNumber is the rule set version a purchase's rule version label
// names ("v3" and "v3:plugin-version" are 3), or 0.
func VersionNumber(label string) int64 {
	rest, ok := strings.CutPrefix(label, "v")
	if !ok {
		return 0
	}
	if i := strings.IndexByte(rest, ':'); i >= 0 {
		rest = rest[:i]
	}
	n, err := strconv.ParseInt(rest, 10, 64)
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// ExplainedHistory is MemberHistory with each entry's purchase and how its
// points were computed.
func (s *Service) ExplainedHistory(ctx context.Context, d PurchaseDetails, memberID string, before int64, limit int) ([]HistoryEntry, error) {
	txs, err := s.MemberHistory(ctx, memberID, before, limit)
	if err != nil {
		return nil, err
	}
	var ids []int64
	for _, t := range txs {
		if id, ok := PurchaseOf(t.Ref); ok {
			ids = append(ids, id)
		}
	}
	var ps map[int64]PurchaseDetail
	if len(ids) > 0 {
		if ps, err = d.MemberPurchases(ctx, memberID, ids); err != nil {
			return nil, err
		}
	}
	out := make([]HistoryEntry, len(txs))
	for i, t := range txs {
		out[i].Transaction = t
		if id, ok := PurchaseOf(t.Ref); ok {
			if p, found := ps[id]; found {
				out[i].Purchase = &p
			}
		}
	}
	return out, nil
}
