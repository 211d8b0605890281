package points

import (
	"context"
	"errors"
	"math/big"
	"time"

	"github.com/lianmeng/lianmeng/gateway/ledger"
)

// Reader is the read side the queries need: committed state, read outside
// any batch. The store implements it.
type Reader interface {
	// Balances returns the named accounts' balances (0 if never moved).
	Balances(ctx context.Context, accounts ...string) (map[string]int64, error)
	// FindMember resolves an identity as seen by a merchant; ErrNotFound.
	FindMember(ctx context.Context, merchantID string, id Identity) (string, error)
	// MemberLots lists a member's lots, open ones by expiry.
	MemberLots(ctx context.Context, memberID string, includeClosed bool, limit int) ([]ledger.Lot, error)
	// AccountHistory lists transactions touching any of accounts, newest
	// first, with ids below before (0: from the newest).
	AccountHistory(ctx context.Context, accounts []string, before int64, limit int) ([]ledger.Transaction, error)
	// MemberDebt is what a member owes, in points, across all merchants.
	MemberDebt(ctx context.Context, memberID string) (int64, error)
	// Totals sums balances by account kind.
	Totals(ctx context.Context) (Totals, error)
}

// Totals are alliance-wide sums of balances.
type Totals struct {
	ReserveFen       int64 `json:"reserve_fen"`
	BudgetPoints     int64 `json:"budget_points"`
	PendingPoints    int64 `json:"pending_points"`
	AvailablePoints  int64 `json:"available_points"`
	MarketingPoints  int64 `json:"marketing_points"`
	OutstandingPts   int64 `json:"outstanding_points"`
	PayableFen       int64 `json:"payable_fen"`
	BurnedPoints     int64 `json:"burned_points"`
	ExpiredPoints    int64 `json:"expired_points"`
	MintedPoints     int64 `json:"minted_points"`
	FundedFen        int64 `json:"funded_fen"`
	BreakageFen      int64 `json:"breakage_fen"`
	MemberDebtPoints int64 `json:"member_debt_points"`
}

// Coverage is the reserve measured against the points it must back
// (invariant 3), as published.
type Coverage struct {
	Totals
	FaceValueFen int64 `json:"face_value_fen"`
	// BasisPoints is reserve ÷ (face value × outstanding points) in basis
	// points, rounded down: 10000 means fully covered. With nothing
	// outstanding it is 10000.
	BasisPoints int64     `json:"coverage_bp"`
	Covered     bool      `json:"covered"`
	AsOf        time.Time `json:"as_of"`
}

// CoverageOf computes coverage exactly (no overflow whatever the sums):
// the one place the ratio is computed, used by the API and by verify.
func CoverageOf(t Totals, faceValueFen int64) Coverage {
	c := Coverage{Totals: t, FaceValueFen: faceValueFen, BasisPoints: 10000}
	need := new(big.Int).Mul(big.NewInt(t.OutstandingPts), big.NewInt(faceValueFen))
	reserve := big.NewInt(t.ReserveFen)
	c.Covered = reserve.Cmp(need) >= 0
	if need.Sign() > 0 {
		bp := new(big.Int).Mul(reserve, big.NewInt(10000))
		bp.Quo(bp, need)
		if bp.IsInt64() {
			c.BasisPoints = bp.Int64()
		} else {
			c.BasisPoints = 1<<63 - 1
		}
	}
	return c
}

// Coverage reads the totals and computes the published coverage.
func (s *Service) Coverage(ctx context.Context) (Coverage, error) {
	t, err := s.Reader.Totals(ctx)
	if err != nil {
		return Coverage{}, err
	}
	c := CoverageOf(t, s.Policy.FaceValueFen)
	c.AsOf = s.now().UTC().Truncate(time.Second)
	return c, nil
}

// MerchantAccount is a merchant's balances.
type MerchantAccount struct {
	MerchantID   string `json:"merchant_id"`
	BudgetPoints int64  `json:"budget_points"`
	PayableFen   int64  `json:"payable_fen"`
}

// MerchantAccount reads a merchant's budget and payable.
func (s *Service) MerchantAccount(ctx context.Context, merchantID string) (MerchantAccount, error) {
	budget, payable := ledger.MerchantBudget(merchantID), ledger.MerchantPayable(merchantID)
	b, err := s.Reader.Balances(ctx, budget, payable)
	if err != nil {
		return MerchantAccount{}, err
	}
	return MerchantAccount{MerchantID: merchantID, BudgetPoints: b[budget], PayableFen: b[payable]}, nil
}

// MemberBalance is a member's points.
type MemberBalance struct {
	MemberID  string `json:"member_id"`
	Pending   int64  `json:"pending"`
	Available int64  `json:"available"`
	// Debt is points the member owes after refunds clawed back points
	// already spent; later earnings at any merchant repay it first.
	Debt int64 `json:"debt"`
}

// MemberBalance reads a member's pending and available points and debt.
func (s *Service) MemberBalance(ctx context.Context, memberID string) (MemberBalance, error) {
	pending, avail := ledger.MemberPending(memberID), ledger.MemberAvailable(memberID)
	b, err := s.Reader.Balances(ctx, pending, avail)
	if err != nil {
		return MemberBalance{}, err
	}
	debt, err := s.Reader.MemberDebt(ctx, memberID)
	if err != nil {
		return MemberBalance{}, err
	}
	return MemberBalance{MemberID: memberID, Pending: b[pending], Available: b[avail], Debt: debt}, nil
}

// FindMember resolves the member a merchant names; unknown_member (404)
// when no member has the identity.
func (s *Service) FindMember(ctx context.Context, merchantID string, id Identity) (string, error) {
	if err := CheckIdentity(id); err != nil {
		return "", err
	}
	mid, err := s.Reader.FindMember(ctx, merchantID, id)
	if errors.Is(err, ErrNotFound) {
		return "", errf(NotFound, CodeUnknownMember, "no member with this %s", id.Kind)
	}
	return mid, err
}

// MemberLots lists a member's lots.
func (s *Service) MemberLots(ctx context.Context, memberID string, includeClosed bool, limit int) ([]ledger.Lot, error) {
	lots, err := s.Reader.MemberLots(ctx, memberID, includeClosed, limit)
	if lots == nil {
		lots = []ledger.Lot{}
	}
	return lots, err
}

// MemberHistory lists a member's transactions, newest first, each with
// only the member's own postings: the merchant and alliance accounts on
// the other side would tell anyone holding a member token where that
// member shops.
func (s *Service) MemberHistory(ctx context.Context, memberID string, before int64, limit int) ([]ledger.Transaction, error) {
	txs, err := s.Reader.AccountHistory(ctx, []string{ledger.MemberPending(memberID), ledger.MemberAvailable(memberID)}, before, limit)
	if err != nil {
		return nil, err
	}
	for i := range txs {
		var own []ledger.Posting
		for _, p := range txs[i].Postings {
			if a := ledger.ParseAccount(p.Account); a.Owner == memberID && (a.Kind == ledger.KindPending || a.Kind == ledger.KindAvailable) {
				own = append(own, p)
			}
		}
		txs[i].Postings = own
	}
	if txs == nil {
		txs = []ledger.Transaction{}
	}
	return txs, nil
}
