package points

import (
	"errors"
	"fmt"

	"github.com/lianmeng/lianmeng/gateway/ledger"
)

// Funding refunds: a merchant's unused budget goes back to it through the
// channel it paid with (gateway/settlement sends the refunds). The domain
// decides the money: the hold takes the budget's points out of circulation
// and their cash out of the reserve at once, so nothing can issue them
// while the channel works; the reserve keeps covering every outstanding
// point. A refund never touches a member's points.

// Purchase kinds recording each posting once (OrderID is the refund id
// for the hold, the part id for the paid and returned postings; a kind is
// at most 16 characters).
const (
	PurchaseFundingRefund       = "fund_refund"
	PurchaseFundingRefundPaid   = "fund_refund_paid"
	PurchaseFundingRefundReturn = "fund_refund_back"
)

// Error codes of funding refunds.
const (
	// CodeReserveWouldNotCover: the refund would leave the reserve short of
	// what outstanding points need (never happens while the ledger is
	// consistent; checked all the same).
	CodeReserveWouldNotCover = "reserve_would_not_cover"
	// CodeNothingToRefund: the merchant has no unused budget.
	CodeNothingToRefund = "nothing_to_refund"
)

// FundingRefundHold takes AmountFen of a merchant's unused budget (as
// points at face value) out of circulation for refund RefundID.
type FundingRefundHold struct {
	MerchantID string
	RefundID   string
	AmountFen  int64
}

// FundingRefundResult is a refund posting's outcome.
type FundingRefundResult struct {
	TxID   int64 `json:"tx_id"`
	Points int64 `json:"points"`
	// Budget is the merchant's budget after the posting.
	Budget int64 `json:"budget"`
	// Again is set when the posting had been made before (the same answer).
	Again bool `json:"-"`
}

// HoldFundingRefundCommand holds a refund (see HoldFundingRefund).
func (s *Service) HoldFundingRefundCommand(r FundingRefundHold) Command {
	return Command{Name: "funding_refund_hold", IDs: 2,
		Reads: Reads{Merchants: []string{r.MerchantID}, Accounts: []string{ledger.MerchantBudget(r.MerchantID), ledger.Reserve},
			Purchases: []PurchaseKey{{MerchantID: r.MerchantID, Kind: PurchaseFundingRefund, OrderID: r.RefundID}}},
		Apply: func(tx Tx) (any, error) { return s.HoldFundingRefund(tx, r) }}
}

// HoldFundingRefund moves the refund's points from the merchant's budget
// back to the mint and their cash from the reserve to alliance:refunds,
// once per refund id. It refuses more than the unused budget, and a refund
// that would leave the reserve short of face value × outstanding points.
// The merchant need not be active: a merchant that left is refunded too.
func (s *Service) HoldFundingRefund(tx Tx, r FundingRefundHold) (FundingRefundResult, error) {
	face := s.Policy.FaceValueFen
	if r.AmountFen <= 0 || r.AmountFen > 1_000_000_000_000 || r.AmountFen%face != 0 {
		return FundingRefundResult{}, errf(Invalid, CodeInvalidAmount, "amount_fen must be a positive multiple of the point face value (%d fen)", face)
	}
	if r.RefundID == "" {
		return FundingRefundResult{}, errf(Invalid, CodeValidation, "a refund id is required")
	}
	if _, err := knownMerchant(tx, r.MerchantID); err != nil {
		return FundingRefundResult{}, err
	}
	budget := ledger.MerchantBudget(r.MerchantID)
	if prev, err := tx.Purchase(r.MerchantID, PurchaseFundingRefund, r.RefundID); err == nil {
		bal, err := tx.Balance(budget)
		return FundingRefundResult{TxID: prev.TxID, Points: prev.Points, Budget: bal, Again: true}, err
	} else if !errors.Is(err, ErrNotFound) {
		return FundingRefundResult{}, err
	}
	pts := r.AmountFen / face
	bal, err := tx.Balance(budget)
	if err != nil {
		return FundingRefundResult{}, err
	}
	if bal < pts {
		return FundingRefundResult{}, errf(Unprocessable, CodeInsufficientBudget, "the unused budget is %d points (%d fen), the refund needs %d points", bal, bal*face, pts)
	}
	if err := s.checkCoverageAfter(tx, pts, r.AmountFen); err != nil {
		return FundingRefundResult{}, err
	}
	now := tx.Now()
	t := &ledger.Transaction{Kind: ledger.KindFundingRefundHold, Ref: "funding_refund:" + r.MerchantID + ":" + r.RefundID, CreatedAt: now}
	t.Postings = append(ledger.Move(budget, ledger.Mint, pts), ledger.Move(ledger.Reserve, ledger.Refunds, r.AmountFen)...)
	if err := tx.Post(t); err != nil {
		return FundingRefundResult{}, err
	}
	if err := s.record(tx, r.MerchantID, PurchaseFundingRefund, r.RefundID, r.AmountFen, pts, t.ID); err != nil {
		return FundingRefundResult{}, err
	}
	return FundingRefundResult{TxID: t.ID, Points: pts, Budget: bal - pts}, nil
}

// checkCoverageAfter refuses taking pts points and cash fen out if the
// reserve would then hold less than face value × outstanding points.
// Outstanding points are every point minted and neither burned nor expired:
// −(mint + burned + expired), since all PTS balances sum to zero.
func (s *Service) checkCoverageAfter(tx Tx, pts, cash int64) error {
	var sum int64
	for _, a := range []string{ledger.Mint, ledger.Burned, ledger.Expired} {
		b, err := tx.Balance(a)
		if err != nil {
			return err
		}
		sum += b
	}
	reserve, err := tx.Balance(ledger.Reserve)
	if err != nil {
		return err
	}
	outstanding := -sum - pts
	need, ok := ledger.MulChecked(outstanding, s.Policy.FaceValueFen)
	if !ok || reserve-cash < need {
		return errf(Unprocessable, CodeReserveWouldNotCover, "the reserve (%d fen) less the refund (%d fen) would not cover the %d outstanding points", reserve, cash, outstanding)
	}
	return nil
}

// FundingRefundSettle books a channel's final answer on one part of a
// refund: paid (alliance:refunds -> external:refunded) or returned (the
// cash back to the reserve and the points back to the budget), once per
// part id.
type FundingRefundSettle struct {
	MerchantID string
	RefundID   string // the hold it settles
	PartID     string
	AmountFen  int64
	Paid       bool
}

// SettleFundingRefundCommand books a part (see SettleFundingRefund).
func (s *Service) SettleFundingRefundCommand(r FundingRefundSettle) Command {
	keys := []PurchaseKey{{MerchantID: r.MerchantID, Kind: PurchaseFundingRefund, OrderID: r.RefundID},
		{MerchantID: r.MerchantID, Kind: PurchaseFundingRefundPaid, OrderID: r.PartID},
		{MerchantID: r.MerchantID, Kind: PurchaseFundingRefundReturn, OrderID: r.PartID}}
	return Command{Name: "funding_refund_settle", IDs: 2,
		Reads: Reads{Merchants: []string{r.MerchantID}, Accounts: []string{ledger.Refunds}, Purchases: keys},
		Apply: func(tx Tx) (any, error) { return s.SettleFundingRefund(tx, r) }}
}

// SettleFundingRefund books a part's outcome. A part whose refund was
// never held books nothing (TxID 0): money that was not held is never
// paid; a part booked before answers the same, and a part booked one way
// is never booked the other.
func (s *Service) SettleFundingRefund(tx Tx, r FundingRefundSettle) (FundingRefundResult, error) {
	face := s.Policy.FaceValueFen
	if r.AmountFen <= 0 || r.AmountFen%face != 0 || r.PartID == "" {
		return FundingRefundResult{}, errf(Invalid, CodeInvalidAmount, "a refund part needs an id and a positive multiple of the face value")
	}
	kind, other := PurchaseFundingRefundReturn, PurchaseFundingRefundPaid
	if r.Paid {
		kind, other = other, kind
	}
	for _, k := range []string{kind, other} {
		prev, err := tx.Purchase(r.MerchantID, k, r.PartID)
		if err == nil {
			if k == other {
				return FundingRefundResult{}, errf(Conflict, CodeAlreadyRefunded, "refund part %s was already booked as %s", r.PartID, k)
			}
			return FundingRefundResult{TxID: prev.TxID, Points: prev.Points, Again: true}, nil
		}
		if !errors.Is(err, ErrNotFound) {
			return FundingRefundResult{}, err
		}
	}
	if _, err := tx.Purchase(r.MerchantID, PurchaseFundingRefund, r.RefundID); errors.Is(err, ErrNotFound) {
		return FundingRefundResult{}, nil
	} else if err != nil {
		return FundingRefundResult{}, err
	}
	t := &ledger.Transaction{Kind: ledger.KindFundingRefundPaid, Ref: "funding_refund:" + r.MerchantID + ":" + r.PartID, CreatedAt: tx.Now(),
		Postings: ledger.Move(ledger.Refunds, ledger.Refunded, r.AmountFen)}
	var pts int64
	if !r.Paid {
		pts = r.AmountFen / face
		t.Kind = ledger.KindFundingRefundReturn
		t.Postings = append(ledger.Move(ledger.Refunds, ledger.Reserve, r.AmountFen), ledger.Move(ledger.Mint, ledger.MerchantBudget(r.MerchantID), pts)...)
	}
	if err := tx.Post(t); err != nil {
		return FundingRefundResult{}, err
	}
	if err := s.record(tx, r.MerchantID, kind, r.PartID, r.AmountFen, pts, t.ID); err != nil {
		return FundingRefundResult{}, err
	}
	return FundingRefundResult{TxID: t.ID, Points: pts}, nil
}

// record keeps a posting's purchase record, which makes it happen once.
func (s *Service) record(tx Tx, merchantID, kind, orderID string, fen, pts, txID int64) error {
	id, err := tx.NewID()
	if err != nil {
		return err
	}
	if err := tx.SavePurchase(&Purchase{ID: id, Kind: kind, MerchantID: merchantID, OrderID: orderID, AmountFen: fen, Points: pts,
		TxID: txID, CreatedAt: tx.Now(), New: true}); err != nil {
		return fmt.Errorf("funding refund record: %w", err)
	}
	return nil
}
