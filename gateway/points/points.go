// Package points is the core points module: fund, earn, release, redeem,
// refund and expire, decided as ledger transactions (DESIGN §4). It is pure
// domain logic and knows nothing of HTTP or SQL.
//
// Every write is a Command (command.go): the domain decides what it reads,
// how many ids it needs and how it applies; the store's batching writer
// applies it inside one database transaction shared with other commands
// (the Tx interface). Earns are prepared outside the batch by PrepareEarn,
// which asks the merchant's earning rule (the RuleEvaluator port) so that
// no plugin is ever called while a batch holds the ledger. Queries
// (queries.go) read committed state through the Reader port.
//
// Package pointstest provides an in-memory Tx for tests of the flows.
package points

import (
	"errors"
	"fmt"
	"time"

	"github.com/lianmeng/lianmeng/gateway/ledger"
)

// Policy is the alliance's published points policy.
type Policy struct {
	FaceValueFen     int64
	ReleaseDelay     time.Duration
	Validity         time.Duration
	ExpiryPolicy     string // "return_to_merchant" or "breakage"
	MaxPointsPerEarn int64
	MaxAmountFen     int64
}

// Identity kinds a member can be found by.
const (
	IdentityPhone        = "phone"
	IdentityWeChatOpenID = "wechat_openid"
	IdentityAlipayUserID = "alipay_user_id"
	IdentityCustomer     = "customer" // merchant-scoped customer id
)

// Identity names a member. For IdentityCustomer the store scopes Value by
// merchant.
type Identity struct {
	Kind  string `json:"kind"`
	Value string `json:"value"`
}

// Purchase kinds.
const (
	PurchaseEarn   = "earn"
	PurchaseRedeem = "redeem"
	// PurchaseFund records a payment into the reserve (OrderID is the
	// channel's payment reference), so one payment funds once.
	PurchaseFund = "fund"
)

// Purchase is a merchant's order that earned or redeemed points.
type Purchase struct {
	ID         int64
	Kind       string
	MerchantID string
	StoreID    string
	OrderID    string
	MemberID   string
	AmountFen  int64
	Points     int64 // points earned (earn) or redeemed (redeem)
	// RefundedFen is the purchase amount refunded so far (earn).
	RefundedFen int64
	// ReversedPoints is points clawed back (earn) or given back (redeem).
	ReversedPoints int64
	LotID          int64
	TxID           int64
	RuleVersion    string
	CreatedAt      time.Time
	New            bool // set by the domain for a purchase not yet stored
	// Breakdown explains a rule expression's award (stored with a new
	// purchase; nil otherwise).
	Breakdown *Breakdown
}

// Debt is points a member owes a merchant after a refund clawback found
// the points already spent; later earnings repay it first.
type Debt struct {
	ID         int64
	MemberID   string
	MerchantID string // owed to
	PurchaseID int64
	Points     int64
	Remaining  int64
	CreatedAt  time.Time
	New        bool
}

// Creditor is the account a debt's repayment goes to: the budget of the
// merchant owed, or the marketing budget for a referral reward.
func (d Debt) Creditor() string {
	if d.MerchantID == ReferralIssuer {
		return ledger.Marketing
	}
	return ledger.MerchantBudget(d.MerchantID)
}

// Consumption records how many points of a lot a redemption used, so a
// redemption refund restores the same lots.
type Consumption struct {
	PurchaseID int64
	LotID      int64
	Points     int64
}

// Merchant is what the points module needs to know about a merchant.
type Merchant struct {
	ID     string
	Active bool
	Earning
}

// Tx is one unit of work. Implementations apply reads and writes against a
// consistent view that includes this unit's own earlier writes, and commit
// all or nothing. Methods return ErrNotFound-wrapping errors only where the
// doc says so.
type Tx interface {
	Now() time.Time
	Merchant(id string) (Merchant, error) // ErrNotFound
	Balance(account string) (int64, error)
	// Post validates t, checks no NonNegative account goes below zero
	// (ErrInsufficient), applies it and assigns t.ID.
	Post(t *ledger.Transaction) error
	// Member resolves an identity (scoped by merchant for customer ids);
	// with create it makes a new member. ErrNotFound without create.
	Member(merchantID string, id Identity, create bool) (string, error)
	Purchase(merchantID, kind, orderID string) (*Purchase, error) // ErrNotFound
	SavePurchase(p *Purchase) error
	// Lots returns a member's lots in state ordered by expiry, then id.
	Lots(memberID, state string) ([]*ledger.Lot, error)
	// SpendableLots returns the points all the member's available lots
	// unexpired at now hold (spendable) and, first-expiring first, only as
	// many of those lots as cover need (none if spendable < need). A
	// redemption reads these rather than every lot: its memory and time
	// no longer grow with how many lots the member holds.
	SpendableLots(memberID string, now time.Time, need int64) (lots []*ledger.Lot, spendable int64, err error)
	Lot(id int64) (*ledger.Lot, error)
	SaveLot(l *ledger.Lot, isNew bool) error
	Debts(memberID string) ([]*Debt, error)
	SaveDebt(d *Debt) error
	Consumptions(purchaseID int64) ([]Consumption, error)
	AddConsumption(c Consumption) error
	// Consent returns a stored consent by its key (ErrNotFound);
	// SaveConsent stores a changed one (marked used).
	Consent(key string) (*Consent, error)
	SaveConsent(c *Consent) error
	// DueLots returns up to limit lots in state whose release (pending) or
	// expiry (available) time is at or before now.
	DueLots(state string, now time.Time, limit int) ([]*ledger.Lot, error)
	NewID() (int64, error)
	// Counter returns a counter (zero if nothing was counted yet);
	// AddCounter adds to it. On MySQL the store locks the counter's row.
	Counter(k CounterKey) (Counter, error)
	AddCounter(k CounterKey, purchases, points int64) error
}

// ErrNotFound is wrapped by Tx lookups that find nothing.
var ErrNotFound = errors.New("not found")

// ErrInsufficient is returned by Tx.Post when an account would go negative.
type ErrInsufficient struct {
	Account string
	Balance int64
	Need    int64
}

func (e *ErrInsufficient) Error() string {
	return fmt.Sprintf("account %s has %d, needs %d", e.Account, e.Balance, e.Need)
}

// Class groups domain errors for the API's status mapping.
type Class int

const (
	Invalid       Class = iota + 1 // malformed request: 400
	NotFound                       // unknown merchant, member or purchase: 404
	Conflict                       // duplicate purchase: 409
	Unprocessable                  // well-formed but refused by the rules: 422
	Unavailable                    // a dependency is down: 503
	Forbidden                      // the member did not consent: 403
)

// Error is a refusal with a stable code.
type Error struct {
	Class   Class
	Code    string
	Message string
	// RetryAfter hints when an Unavailable refusal may succeed.
	RetryAfter time.Duration
	cause      error
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Unwrap returns the failure behind an Unavailable refusal, if any.
func (e *Error) Unwrap() error { return e.cause }

func errf(class Class, code, format string, a ...any) *Error {
	return &Error{Class: class, Code: code, Message: fmt.Sprintf(format, a...)}
}

// Stable error codes.
const (
	CodeInvalidAmount      = "invalid_amount"
	CodeInvalidPoints      = "invalid_points"
	CodeInvalidOrder       = "invalid_order_id"
	CodeInvalidIdentity    = "invalid_member_identity"
	CodeUnknownMerchant    = "unknown_merchant"
	CodeMerchantInactive   = "merchant_inactive"
	CodeUnknownMember      = "unknown_member"
	CodeUnknownPurchase    = "unknown_purchase"
	CodeAlreadyEarned      = "purchase_already_earned"
	CodeAlreadyRedeemed    = "purchase_already_redeemed"
	CodeInsufficientBudget = "insufficient_budget"
	CodeInsufficientPoints = "insufficient_points"
	CodeRefundExceeds      = "refund_exceeds_purchase"
	CodeAlreadyRefunded    = "purchase_fully_refunded"
	CodePayableShort       = "insufficient_payable"
	CodeRuleUnavailable    = "rule_unavailable"
	CodeAlreadyFunded      = "funding_already_recorded"
	// CodeValidation is the general "a field is out of range" refusal
	// (earning configuration, purchase items and attributes).
	CodeValidation = "validation_failed"
)

// CoverNeed is what SpendableLots answers, worked out from lots already in
// expiry order: the first of them unexpired at now (and not empty) that
// together cover need, and the points all unexpired ones hold. Ports share
// it so that "spendable" means one thing.
func CoverNeed(lots []*ledger.Lot, now time.Time, need int64) (cover []*ledger.Lot, spendable int64) {
	var covered int64
	for _, l := range lots {
		if !l.ExpiresAt.After(now) || l.Remaining == 0 {
			continue
		}
		spendable += l.Remaining
		if covered < need {
			cover = append(cover, l)
			covered += l.Remaining
		}
	}
	return cover, spendable
}
