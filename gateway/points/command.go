package points

import "github.com/lianmeng/lianmeng/gateway/ledger"

// Command is one write the domain has decided to make: what it will read
// (so the store can load it for a whole batch of commands with a few
// multi-row queries), how many ids it may allocate, and how it applies
// inside a unit of work. The HTTP API, the scheduler, and later the POS
// inbox and settlement all submit Commands through the same seam
// (store.Writer); none of them picks keys or id budgets itself.
//
// Apply returns a domain result (FundResult, EarnResult, ...): the caller
// maps it to its own protocol.
type Command struct {
	// Name is the operation, for logs and metrics ("earn", "redeem", ...).
	Name  string
	Reads Reads
	// IDs bounds the ids Apply takes: one per Tx.NewID and one per posted
	// transaction. Exceeding it is not an error (the store grows the range
	// and retries the batch), but it costs a retry.
	IDs   int
	Apply func(tx Tx) (any, error)
}

// Reads names the rows a Command will read. Rows not named are still
// loaded on demand, one query each; naming them lets a batch load them all
// at once and, on MySQL, lock debited balances in a fixed order.
type Reads struct {
	Merchants []string
	// Accounts are read and locked: the balances the command debits.
	Accounts  []string
	Members   []MemberKey
	Purchases []PurchaseKey
	// Consents are consent keys (app redemption codes) to load and lock.
	Consents []string
	// Counters are members' counters at a merchant (MemberKey.MerchantID)
	// for the batch's day and month, to load and lock.
	Counters []MemberKey
	// Referrers are members whose referrer (if any) to load.
	Referrers []MemberKey
}

// MemberKey names a member identity as seen by a merchant (customer ids
// are scoped by merchant).
type MemberKey struct {
	MerchantID string
	Identity   Identity
}

// PurchaseKey names a purchase (or a funding) of a merchant.
type PurchaseKey struct {
	MerchantID, Kind, OrderID string
}

// Id budgets of each command (ids for records and posted transactions).
const (
	fundIDs         = 2     // the transaction and the funding record
	earnIDs         = 8     // purchase, lot, earn transaction, and typically a few debt recoveries
	redeemIDs       = 2     // the transaction and the redemption record
	refundEarnIDs   = 4     // clawback, a new debt, debt settlements
	refundRedeemIDs = 2     // the reversal and a debt repayment
	lotsPerRun      = 500   // lots one release or expiry command handles
	maxLotsPerRun   = 10000 // bound on a caller's limit
)

// FundCommand records money a merchant paid into the reserve (see Fund).
func (s *Service) FundCommand(r FundRequest) Command {
	return Command{Name: "fund", IDs: fundIDs,
		Reads: Reads{Merchants: []string{r.MerchantID},
			Purchases: []PurchaseKey{{MerchantID: r.MerchantID, Kind: PurchaseFund, OrderID: r.ExternalRef}}},
		Apply: func(tx Tx) (any, error) { return s.Fund(tx, r) }}
}

// earnCommand applies an earn whose award (explicit or from the rule) was
// decided before the batch (see PrepareEarn).
func (s *Service) earnCommand(r EarnRequest) Command {
	mk := MemberKey{MerchantID: r.MerchantID, Identity: r.Member}
	reads := Reads{Merchants: []string{r.MerchantID}, Accounts: []string{ledger.MerchantBudget(r.MerchantID)},
		Members:   []MemberKey{mk},
		Purchases: []PurchaseKey{{MerchantID: r.MerchantID, Kind: PurchaseEarn, OrderID: r.OrderID}}}
	if s.referralLevels() > 0 {
		reads.Referrers = []MemberKey{mk} // whom this earn may reward
	}
	if r.counted {
		// The version in effect (as the cached view says) counts earns:
		// load the member's counters with the batch (the earn reads them
		// on demand anyway if the view was stale).
		reads.Counters = []MemberKey{mk}
	}
	return Command{Name: "earn", IDs: earnIDs + s.referralIDs(), Reads: reads, Apply: func(tx Tx) (any, error) { return s.Earn(tx, r) }}
}

// RedeemCommand spends a member's points at a merchant with the member's
// consent (see Redeem).
func (s *Service) RedeemCommand(r RedeemRequest) Command {
	reads := Reads{Merchants: []string{r.MerchantID},
		Purchases: []PurchaseKey{{MerchantID: r.MerchantID, Kind: PurchaseRedeem, OrderID: r.OrderID}}}
	if r.Member.Kind != "" {
		reads.Members = []MemberKey{{MerchantID: r.MerchantID, Identity: r.Member}}
	}
	if ValidRedemptionCode(r.Code) {
		reads.Consents = []string{RedemptionCodeKey(r.Code)}
	}
	return Command{Name: "redeem", IDs: redeemIDs, Reads: reads, Apply: func(tx Tx) (any, error) { return s.Redeem(tx, r) }}
}

// RefundEarnCommand refunds (part of) an earning purchase (see RefundEarn).
func (s *Service) RefundEarnCommand(r RefundEarnRequest) Command {
	return Command{Name: "refund_earn", IDs: refundEarnIDs + s.referralIDs(),
		Reads: Reads{Purchases: []PurchaseKey{{MerchantID: r.MerchantID, Kind: PurchaseEarn, OrderID: r.OrderID}}},
		Apply: func(tx Tx) (any, error) { return s.RefundEarn(tx, r) }}
}

// RefundRedeemCommand reverses (part of) a redemption (see RefundRedeem).
func (s *Service) RefundRedeemCommand(r RefundRedeemRequest) Command {
	return Command{Name: "refund_redeem", IDs: refundRedeemIDs,
		Reads: Reads{Purchases: []PurchaseKey{{MerchantID: r.MerchantID, Kind: PurchaseRedeem, OrderID: r.OrderID}}},
		Apply: func(tx Tx) (any, error) { return s.RefundRedeem(tx, r) }}
}

// LotsDone is the result of a release or expiry command: how many lots it
// handled, and whether it handled as many as it could (so more may be due).
type LotsDone struct {
	Lots int
	Full bool
}

// ReleaseCommand releases up to limit due pending lots (see Release).
func (s *Service) ReleaseCommand(limit int) Command {
	limit = lotLimit(limit)
	return Command{Name: "release", IDs: limit, Apply: func(tx Tx) (any, error) {
		n, err := s.Release(tx, limit)
		return LotsDone{Lots: n, Full: n == limit}, err
	}}
}

// ExpireCommand expires up to limit due available lots (see Expire).
func (s *Service) ExpireCommand(limit int) Command {
	limit = lotLimit(limit)
	return Command{Name: "expire", IDs: limit, Apply: func(tx Tx) (any, error) {
		n, err := s.Expire(tx, limit)
		return LotsDone{Lots: n, Full: n == limit}, err
	}}
}

func lotLimit(limit int) int {
	if limit <= 0 {
		return lotsPerRun
	}
	return min(limit, maxLotsPerRun)
}

// referralIDs are the ids referral rewards may add to an earn or a refund
// (per level: a transaction and a lot, or a clawback and a debt).
func (s *Service) referralIDs() int {
	return 2 * s.referralLevels()
}
