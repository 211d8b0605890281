// Package ledger is Lianmeng's double-entry, append-only ledger model:
// accounts, assets, transactions of balanced postings, reversals and point
// lots. It knows no SQL and no HTTP; package store persists it and package
// points decides what to post.
//
// Sign convention: a posting adds Amount to its account's balance. A
// transaction's postings sum to zero per asset, so value only moves.
// Source accounts outside the alliance (the payment channel, the points
// mint) go negative as value enters; every member and budget account must
// stay at or above zero.
package ledger

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// Asset is what an account holds.
type Asset string

const (
	// PTS is points, counted in whole points.
	PTS Asset = "PTS"
	// CNY is money, counted in fen.
	CNY Asset = "CNY"
)

// Well-known alliance accounts.
const (
	Reserve   = "alliance:reserve"   // CNY held through licensed channels, backing every outstanding point
	Mint      = "alliance:mint"      // PTS source: negative of all points ever minted against funding
	Burned    = "alliance:burned"    // PTS sink for redeemed points
	Expired   = "alliance:expired"   // PTS sink for expired points
	Breakage  = "alliance:breakage"  // CNY behind expired points under the breakage policy
	Marketing = "alliance:marketing" // PTS budget for referral rewards and campaigns
	Funding   = "external:funding"   // CNY source: money received through payment channels
	Paid      = "external:paid"      // CNY sink: money paid out to merchants
	// Payouts holds CNY taken from merchants' payables for payouts a channel
	// has not yet confirmed: to external:paid on confirmation, back to the
	// payable on failure (gateway/settlement).
	Payouts = "alliance:payouts"
	// Refunds holds CNY taken from the reserve for refunds of merchants'
	// fundings a channel has not yet confirmed: to external:refunded on
	// confirmation, back to the reserve on failure (gateway/settlement).
	Refunds = "alliance:refunds"
	// Refunded is the CNY sink of funding refunds: money returned to
	// merchants through the channel they paid with.
	Refunded = "external:refunded"
)

// Kind is the family an account belongs to: what it holds and for whom.
type Kind string

// Account kinds. Owned kinds (budget, payable, pending, available) have one
// account per merchant or member; the others name a single alliance or
// external account.
const (
	KindBudget    Kind = "budget"    // merchant:{m}:budget (PTS)
	KindPayable   Kind = "payable"   // merchant:{m}:payable (CNY)
	KindPending   Kind = "pending"   // member:{u}:pending (PTS)
	KindAvailable Kind = "available" // member:{u}:available (PTS)
	KindAlliance  Kind = "alliance"  // alliance:* (reserve, burned, ...)
	KindExternal  Kind = "external"  // external:* (funding source, payouts)
)

// Account is a parsed account name: its kind, the merchant or member that
// owns it (for owned kinds), the asset it holds, and whether it is guarded
// (may never go below zero, invariant 2). Every rule about account names
// lives in ParseAccount, so no other package parses them.
type Account struct {
	Name    string
	Kind    Kind
	Owner   string // merchant id (budget, payable) or member id (pending, available)
	Asset   Asset
	Guarded bool
}

// MerchantBudget is the funded points budget a merchant issues from.
func MerchantBudget(m string) string { return "merchant:" + m + ":budget" }

// MerchantPayable is what the alliance owes merchant m in fen.
func MerchantPayable(m string) string { return "merchant:" + m + ":payable" }

// MemberPending holds earned points inside the return window.
func MemberPending(u string) string { return "member:" + u + ":pending" }

// MemberAvailable holds spendable points.
func MemberAvailable(u string) string { return "member:" + u + ":available" }

// ParseAccount reads an account name. Names that fit no known family parse
// as kind "" (an unknown PTS account, not guarded); Validate refuses
// postings to them.
func ParseAccount(name string) Account {
	a := Account{Name: name, Asset: PTS}
	if owner, ok := strings.CutPrefix(name, "merchant:"); ok {
		if m, ok := strings.CutSuffix(owner, ":budget"); ok && m != "" {
			a.Kind, a.Owner, a.Guarded = KindBudget, m, true
		} else if m, ok := strings.CutSuffix(owner, ":payable"); ok && m != "" {
			a.Kind, a.Owner, a.Asset, a.Guarded = KindPayable, m, CNY, true
		}
		return a
	}
	if owner, ok := strings.CutPrefix(name, "member:"); ok {
		if u, ok := strings.CutSuffix(owner, ":pending"); ok && u != "" {
			a.Kind, a.Owner, a.Guarded = KindPending, u, true
		} else if u, ok := strings.CutSuffix(owner, ":available"); ok && u != "" {
			a.Kind, a.Owner, a.Guarded = KindAvailable, u, true
		}
		return a
	}
	switch name {
	case Reserve, Payouts, Refunds:
		a.Kind, a.Asset, a.Guarded = KindAlliance, CNY, true
	case Marketing:
		a.Kind, a.Guarded = KindAlliance, true
	case Breakage:
		a.Kind, a.Asset = KindAlliance, CNY
	case Mint, Burned, Expired:
		a.Kind = KindAlliance
	case Funding, Paid, Refunded:
		a.Kind, a.Asset = KindExternal, CNY
	}
	return a
}

// AssetOf returns the asset an account name holds.
func AssetOf(account string) Asset { return ParseAccount(account).Asset }

// NonNegative reports whether account may never go below zero
// (invariant 2): member balances, merchant budgets and payables, the
// reserve and the marketing budget.
func NonNegative(account string) bool { return ParseAccount(account).Guarded }

// Posting moves Amount into Account (negative moves it out).
type Posting struct {
	Account string `json:"account"`
	Asset   Asset  `json:"asset"`
	Amount  int64  `json:"amount"`
}

// Transaction kinds.
const (
	KindFund           = "fund"
	KindEarn           = "earn"
	KindRelease        = "release"
	KindRedeem         = "redeem"
	KindRedeemReversal = "redeem_reversal"
	KindClawback       = "clawback"
	KindDebtRecovery   = "debt_recovery"
	KindExpire         = "expire"
	// KindReferral pays a referrer's reward from alliance:marketing.
	KindReferral = "referral"
	// Funding refunds (points.Service.HoldFundingRefund): the unused
	// budget's points go back to the mint and their cash from the reserve to
	// alliance:refunds; then to external:refunded when the channel confirms,
	// or back (cash to the reserve, points to the budget) when it refused.
	KindFundingRefundHold   = "funding_refund_hold"
	KindFundingRefundPaid   = "funding_refund_paid"
	KindFundingRefundReturn = "funding_refund_return"
	// Payouts (gateway/settlement): payable to alliance:payouts, then to
	// external:paid or back to the payable.
	KindPayoutHold   = "payout_hold"
	KindPayoutPaid   = "payout_paid"
	KindPayoutReturn = "payout_return"
)

// Transaction is one balanced, immutable ledger entry. Corrections are new
// transactions whose Reverses names the original.
type Transaction struct {
	ID        int64     `json:"id"`
	Kind      string    `json:"kind"`
	Ref       string    `json:"ref"`
	Reverses  int64     `json:"reverses,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	Postings  []Posting `json:"postings"`
}

// Errors.
var (
	ErrUnbalanced = errors.New("ledger: transaction does not balance")
	ErrInvalid    = errors.New("ledger: invalid transaction")
)

// Validate checks a transaction before it is posted: kind set, at least two
// postings, no zero amounts, assets matching account names, and a zero sum
// per asset (computed without overflow).
func (t *Transaction) Validate() error {
	if t.Kind == "" {
		return fmt.Errorf("%w: no kind", ErrInvalid)
	}
	if len(t.Postings) < 2 {
		return fmt.Errorf("%w: %s has fewer than two postings", ErrInvalid, t.Kind)
	}
	sums := map[Asset]int64{}
	for _, p := range t.Postings {
		if p.Amount == 0 {
			return fmt.Errorf("%w: zero posting to %s", ErrInvalid, p.Account)
		}
		acc := ParseAccount(p.Account)
		if acc.Kind == "" {
			return fmt.Errorf("%w: unknown account %q", ErrInvalid, p.Account)
		}
		if p.Asset != acc.Asset {
			return fmt.Errorf("%w: %s holds %s, not %s", ErrInvalid, p.Account, acc.Asset, p.Asset)
		}
		s, ok := AddChecked(sums[p.Asset], p.Amount)
		if !ok {
			return fmt.Errorf("%w: amount overflow", ErrInvalid)
		}
		sums[p.Asset] = s
	}
	for a, s := range sums {
		if s != 0 {
			return fmt.Errorf("%w: %s sums to %d", ErrUnbalanced, a, s)
		}
	}
	return nil
}

// Move returns the two postings that move amount of asset from one account
// to another.
func Move(from, to string, amount int64) []Posting {
	a := AssetOf(from)
	return []Posting{{Account: from, Asset: a, Amount: -amount}, {Account: to, Asset: a, Amount: amount}}
}

// AddChecked adds without overflow.
func AddChecked(a, b int64) (int64, bool) {
	if b > 0 && a > math.MaxInt64-b || b < 0 && a < math.MinInt64-b {
		return 0, false
	}
	return a + b, true
}

// MulChecked multiplies without overflow.
func MulChecked(a, b int64) (int64, bool) {
	if a == 0 || b == 0 {
		return 0, true
	}
	c := a * b
	if c/b != a || (a == -1 && b == math.MinInt64) || (b == -1 && a == math.MinInt64) {
		return 0, false
	}
	return c, true
}

// Lot states.
const (
	LotPending   = "pending"
	LotAvailable = "available"
	LotClosed    = "closed" // fully consumed, clawed back or expired
)

// Lot is a parcel of points earned on one purchase. Remaining decreases as
// points are redeemed, clawed back or expire; the terms (release and expiry
// times, rule version) are fixed when the lot is created.
type Lot struct {
	ID          int64     `json:"id"`
	MemberID    string    `json:"member_id"`
	MerchantID  string    `json:"merchant_id"`
	PurchaseID  int64     `json:"purchase_id"`
	Points      int64     `json:"points"`
	Remaining   int64     `json:"remaining"`
	State       string    `json:"state"`
	RuleVersion string    `json:"rule_version"`
	EarnedAt    time.Time `json:"earned_at"`
	ReleaseAt   time.Time `json:"release_at"`
	ExpiresAt   time.Time `json:"expires_at"`
}
