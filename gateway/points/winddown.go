package points

import (
	"context"
	"fmt"
	"time"

	"github.com/lianmeng/lianmeng/gateway/ledger"
)

// Wind-down of the alliance (issue 16): the operator announces a date at
// least the notice period ahead; from the announcement no new points are
// issued (IssuanceGate), members redeem until the date, and at the date
// every open lot expires on that published date with its cash going back
// to the merchant that issued it, and every unissued budget goes back to
// its merchant's payable, to be paid out. The reserve is thereby returned
// to the issuing merchants in proportion to what each issued and did not
// yet see redeemed.

// CodeWindingDown refuses issuance once a wind-down is announced.
const CodeWindingDown = "alliance_winding_down"

// KindWindDownBudget returns a merchant's unissued budget at the wind-down
// date (budget -> mint, reserve -> the merchant's payable).
const KindWindDownBudget = "winddown_budget"

// KindWindDownMarketing closes the alliance's marketing budget at the
// wind-down date (alliance:marketing -> mint, reserve -> breakage): the
// operator funded it with the alliance's own money, so what referrals did
// not pay out goes back to the alliance, not to a merchant.
const KindWindDownMarketing = "winddown_marketing"

// IssuanceGate says whether points may still be issued (earned, funded,
// imported); a nil gate never closes.
type IssuanceGate interface {
	// IssuanceClosed returns a *Error (CodeWindingDown) once a wind-down
	// is announced, nil before.
	IssuanceClosed(ctx context.Context) error
}

// ClosedForWindDown is the refusal an IssuanceGate answers.
func ClosedForWindDown(at time.Time) error {
	return errf(Unprocessable, CodeWindingDown, "the alliance winds down on %s: no new points are issued; members can redeem until then", at.UTC().Format(time.RFC3339))
}

// IssuanceOpen answers the gate's refusal once a wind-down is announced
// (nil while points may be issued).
func (s *Service) IssuanceOpen(ctx context.Context) error {
	if s.Issuance == nil {
		return nil
	}
	return s.Issuance.IssuanceClosed(ctx)
}

// windDownCome refuses a wind-down step before the published date.
func windDownCome(date, now time.Time) error {
	if date.IsZero() || now.Before(date) {
		return errf(Unprocessable, CodeWindingDown, "the wind-down date %s has not come", date.UTC().Format(time.RFC3339))
	}
	return nil
}

// farFuture makes DueLots list every open lot, whatever its dates.
var farFuture = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)

// WindDownLotsCommand expires up to limit open lots at the wind-down date
// (see WindDownLots).
func (s *Service) WindDownLotsCommand(date time.Time, limit int) Command {
	limit = lotLimit(limit)
	return Command{Name: "winddown_lots", IDs: limit, Apply: func(tx Tx) (any, error) {
		n, err := s.WindDownLots(tx, date, limit)
		return LotsDone{Lots: n, Full: n == limit}, err
	}}
}

// WindDownLots expires up to limit open lots (pending or available) on the
// alliance's published wind-down date, which the caller passes and which
// must have come: their points go to alliance:expired and their cash from
// the reserve to the payable of the merchant that issued each lot. It
// returns how many lots it closed.
func (s *Service) WindDownLots(tx Tx, date time.Time, limit int) (int, error) {
	now := tx.Now()
	if err := windDownCome(date, now); err != nil {
		return 0, err
	}
	var lots []*ledger.Lot
	for _, state := range []string{ledger.LotPending, ledger.LotAvailable} {
		ls, err := tx.DueLots(state, farFuture, limit-len(lots))
		if err != nil {
			return 0, err
		}
		lots = append(lots, ls...)
		if len(lots) >= limit {
			break
		}
	}
	for _, l := range lots {
		if l.Remaining > 0 {
			from := ledger.MemberAvailable(l.MemberID)
			if l.State == ledger.LotPending {
				from = ledger.MemberPending(l.MemberID)
			}
			cash, ok := ledger.MulChecked(l.Remaining, s.Policy.FaceValueFen)
			if !ok {
				return 0, fmt.Errorf("points: lot %d value overflows", l.ID)
			}
			t := &ledger.Transaction{Kind: ledger.KindExpire, Ref: fmt.Sprintf("lot:%d:winddown", l.ID), CreatedAt: now}
			to := ledger.MerchantPayable(l.MerchantID)
			if l.MerchantID == ReferralIssuer {
				to = ledger.Breakage // a referral reward: the alliance funded it, no merchant did
			}
			t.Postings = append(ledger.Move(from, ledger.Expired, l.Remaining), ledger.Move(ledger.Reserve, to, cash)...)
			if err := tx.Post(t); err != nil {
				return 0, err
			}
			l.Remaining = 0
		}
		l.State = ledger.LotClosed
		if err := tx.SaveLot(l, false); err != nil {
			return 0, err
		}
	}
	return len(lots), nil
}

// WindDownBudgetCommand returns a merchant's unissued budget at the
// wind-down date (see WindDownBudget).
func (s *Service) WindDownBudgetCommand(merchantID string, date time.Time) Command {
	return Command{Name: "winddown_budget", IDs: 1,
		Reads: Reads{Accounts: []string{ledger.MerchantBudget(merchantID), ledger.Reserve}},
		Apply: func(tx Tx) (any, error) { return s.WindDownBudget(tx, merchantID, date) }}
}

// WindDownBudget moves a merchant's whole budget back to the mint and its
// cash from the reserve to the merchant's payable, once the date has come.
// An empty budget posts nothing (TxID 0), so running it again is harmless.
func (s *Service) WindDownBudget(tx Tx, merchantID string, date time.Time) (FundingRefundResult, error) {
	now := tx.Now()
	if err := windDownCome(date, now); err != nil {
		return FundingRefundResult{}, err
	}
	if _, err := knownMerchant(tx, merchantID); err != nil {
		return FundingRefundResult{}, err
	}
	budget := ledger.MerchantBudget(merchantID)
	pts, err := tx.Balance(budget)
	if err != nil || pts == 0 {
		return FundingRefundResult{}, err
	}
	cash, ok := ledger.MulChecked(pts, s.Policy.FaceValueFen)
	if !ok {
		return FundingRefundResult{}, fmt.Errorf("points: budget of %s overflows", merchantID)
	}
	t := &ledger.Transaction{Kind: KindWindDownBudget, Ref: "winddown:" + merchantID, CreatedAt: now}
	t.Postings = append(ledger.Move(budget, ledger.Mint, pts), ledger.Move(ledger.Reserve, ledger.MerchantPayable(merchantID), cash)...)
	if err := tx.Post(t); err != nil {
		return FundingRefundResult{}, err
	}
	return FundingRefundResult{TxID: t.ID, Points: pts}, nil
}

// WindDownMarketingCommand closes the marketing budget at the wind-down
// date (see WindDownMarketing).
func (s *Service) WindDownMarketingCommand(date time.Time) Command {
	return Command{Name: "winddown_marketing", IDs: 1,
		Reads: Reads{Accounts: []string{ledger.Marketing, ledger.Reserve}},
		Apply: func(tx Tx) (any, error) { return s.WindDownMarketing(tx, date) }}
}

// WindDownMarketing moves what is left of the alliance's marketing budget
// back to the mint and its cash from the reserve to alliance:breakage (the
// alliance's own money), once the date has come. Without it the reserve
// would keep backing points nobody can ever be given. An empty budget posts
// nothing (TxID 0), so running it again is harmless.
func (s *Service) WindDownMarketing(tx Tx, date time.Time) (FundingRefundResult, error) {
	now := tx.Now()
	if err := windDownCome(date, now); err != nil {
		return FundingRefundResult{}, err
	}
	pts, err := tx.Balance(ledger.Marketing)
	if err != nil || pts == 0 {
		return FundingRefundResult{}, err
	}
	cash, ok := ledger.MulChecked(pts, s.Policy.FaceValueFen)
	if !ok {
		return FundingRefundResult{}, fmt.Errorf("points: marketing budget overflows")
	}
	t := &ledger.Transaction{Kind: KindWindDownMarketing, Ref: "winddown:" + ledger.Marketing, CreatedAt: now}
	t.Postings = append(ledger.Move(ledger.Marketing, ledger.Mint, pts), ledger.Move(ledger.Reserve, ledger.Breakage, cash)...)
	if err := tx.Post(t); err != nil {
		return FundingRefundResult{}, err
	}
	return FundingRefundResult{TxID: t.ID, Points: pts}, nil
}
