package points

import (
	"fmt"
	"math/big"

	"github.com/lianmeng/lianmeng/gateway/ledger"
)

// RefundEarnRequest refunds (part of) a purchase that earned points.
type RefundEarnRequest struct {
	MerchantID string
	OrderID    string
	AmountFen  int64 // refunded amount of the purchase
}

// RefundEarnResult is the outcome of an earning refund.
type RefundEarnResult struct {
	PurchaseID  int64  `json:"purchase_id"`
	MemberID    string `json:"member_id"`
	RefundedFen int64  `json:"refunded_fen"`
	ClawedBack  int64  `json:"clawed_back"`
	NewDebt     int64  `json:"new_debt"`
	TxID        int64  `json:"tx_id,omitempty"`
	// ReferralClawedBack are referral rewards the purchase paid that went
	// back to the marketing budget; ReferralDebt what referrers had spent
	// of them (their debt, repaid from their later points).
	ReferralClawedBack int64 `json:"referral_clawed_back,omitempty"`
	ReferralDebt       int64 `json:"referral_debt,omitempty"`
}

// RefundEarn claws back points in proportion to the refunded amount, into
// the earning merchant's budget: first from the purchase's own lot, then
// the member's other pending lots, then available lots (first-expiring
// first). What the member already spent becomes a debt repaid from later
// earnings. Cumulative refunds never exceed the purchase amount, and the
// cumulative clawback is floor(points × refunded / amount), so several
// partial refunds claw exactly what one full refund would.
func (s *Service) RefundEarn(tx Tx, r RefundEarnRequest) (RefundEarnResult, error) {
	if r.AmountFen <= 0 || r.AmountFen > s.Policy.MaxAmountFen {
		return RefundEarnResult{}, errf(Invalid, CodeInvalidAmount, "amount_fen must be between 1 and %d", s.Policy.MaxAmountFen)
	}
	p, err := recorded(tx, r.MerchantID, PurchaseEarn, r.OrderID)
	if err != nil {
		return RefundEarnResult{}, err
	}
	if p.RefundedFen >= p.AmountFen {
		return RefundEarnResult{}, errf(Conflict, CodeAlreadyRefunded, "order %q is already fully refunded", r.OrderID)
	}
	total := p.RefundedFen + r.AmountFen
	if total > p.AmountFen {
		return RefundEarnResult{}, errf(Unprocessable, CodeRefundExceeds, "refund of %d fen exceeds the %d fen left to refund", r.AmountFen, p.AmountFen-p.RefundedFen)
	}
	claw := refundedShare(p.Points, total, p.AmountFen) - p.ReversedPoints
	res := RefundEarnResult{PurchaseID: p.ID, MemberID: p.MemberID, RefundedFen: total}
	now := tx.Now()
	budget := ledger.MerchantBudget(p.MerchantID)
	if claw > 0 {
		sources, err := s.clawSources(tx, p, claw)
		if err != nil {
			return RefundEarnResult{}, err
		}
		t := &ledger.Transaction{Kind: ledger.KindClawback, Ref: fmt.Sprintf("purchase:%d:refund:%d", p.ID, total), CreatedAt: now, Reverses: p.TxID}
		need := claw
		for _, l := range sources {
			if need == 0 {
				break
			}
			n := min(need, l.Remaining)
			if n <= 0 {
				continue
			}
			from := ledger.MemberPending(l.MemberID)
			if l.State == ledger.LotAvailable {
				from = ledger.MemberAvailable(l.MemberID)
			}
			t.Postings = append(t.Postings, ledger.Move(from, budget, n)...)
			l.Remaining -= n
			if l.Remaining == 0 {
				l.State = ledger.LotClosed
			}
			if err := tx.SaveLot(l, false); err != nil {
				return RefundEarnResult{}, err
			}
			need -= n
			res.ClawedBack += n
		}
		if len(t.Postings) > 0 {
			t.Postings = mergePostings(t.Postings)
			if err := tx.Post(t); err != nil {
				return RefundEarnResult{}, err
			}
			res.TxID = t.ID
		}
		if need > 0 {
			id, err := tx.NewID()
			if err != nil {
				return RefundEarnResult{}, err
			}
			d := &Debt{ID: id, MemberID: p.MemberID, MerchantID: p.MerchantID, PurchaseID: p.ID, Points: need, Remaining: need, CreatedAt: now, New: true}
			if err := tx.SaveDebt(d); err != nil {
				return RefundEarnResult{}, err
			}
			res.NewDebt = need
		}
		p.ReversedPoints += claw
	}
	if res.ReferralClawedBack, res.ReferralDebt, err = s.clawReferralRewards(tx, p, total); err != nil {
		return RefundEarnResult{}, err
	}
	p.RefundedFen = total
	if err := tx.SavePurchase(p); err != nil {
		return RefundEarnResult{}, err
	}
	return res, nil
}

// refundedShare is floor(pts × refundedFen / amountFen), computed without
// overflow: the cumulative clawback of points paid on a purchase (its own
// or a referral reward) once refundedFen of it is refunded.
func refundedShare(pts, refundedFen, amountFen int64) int64 {
	v := new(big.Int).Mul(big.NewInt(pts), big.NewInt(refundedFen))
	return v.Quo(v, big.NewInt(amountFen)).Int64()
}

// clawSources lists lots to claw need points from, in order: the
// purchase's own lot, other pending lots, then available lots. The other
// lots are read only when the own lot does not cover need: they are every
// open lot of the member, and reading them for each refund made a refund's
// cost grow with the member's count of lots.
func (s *Service) clawSources(tx Tx, p *Purchase, need int64) ([]*ledger.Lot, error) {
	var out []*ledger.Lot
	seen := map[int64]bool{}
	if p.LotID != 0 {
		l, err := tx.Lot(p.LotID)
		if err != nil {
			return nil, err
		}
		if l.State != ledger.LotClosed {
			if l.Remaining >= need {
				return []*ledger.Lot{l}, nil
			}
			out = append(out, l)
		}
		seen[l.ID] = true
	}
	for _, state := range []string{ledger.LotPending, ledger.LotAvailable} {
		lots, err := tx.Lots(p.MemberID, state)
		if err != nil {
			return nil, err
		}
		for _, l := range lots {
			if !seen[l.ID] {
				out = append(out, l)
				seen[l.ID] = true
			}
		}
	}
	return out, nil
}

// mergePostings sums postings per account so a transaction names each
// account once.
func mergePostings(ps []ledger.Posting) []ledger.Posting {
	idx := map[string]int{}
	var out []ledger.Posting
	for _, p := range ps {
		if i, ok := idx[p.Account]; ok {
			out[i].Amount += p.Amount
			continue
		}
		idx[p.Account] = len(out)
		out = append(out, p)
	}
	return out
}

// RefundRedeemRequest refunds (part of) a purchase paid with points.
type RefundRedeemRequest struct {
	MerchantID string
	OrderID    string
	// Points to give back; 0 means everything not yet given back.
	Points int64
}

// RefundRedeemResult is the outcome of a redemption refund.
type RefundRedeemResult struct {
	PurchaseID int64  `json:"purchase_id"`
	MemberID   string `json:"member_id"`
	Restored   int64  `json:"restored"`
	// DebtSettled is how many of the restored points repaid the member's
	// open debts from earlier refunds.
	DebtSettled int64 `json:"debt_settled"`
	TxID        int64 `json:"tx_id"`
}

// RefundRedeem reverses a redemption: the points return to the lots they
// came from (keeping their original expiry) and the cash returns from the
// merchant's payable to the reserve.
func (s *Service) RefundRedeem(tx Tx, r RefundRedeemRequest) (RefundRedeemResult, error) {
	if r.Points < 0 {
		return RefundRedeemResult{}, errf(Invalid, CodeInvalidPoints, "points must not be negative")
	}
	p, err := recorded(tx, r.MerchantID, PurchaseRedeem, r.OrderID)
	if err != nil {
		return RefundRedeemResult{}, err
	}
	left := p.Points - p.ReversedPoints
	if left == 0 {
		return RefundRedeemResult{}, errf(Conflict, CodeAlreadyRefunded, "order %q is already fully refunded", r.OrderID)
	}
	n := r.Points
	if n == 0 {
		n = left
	}
	if n > left {
		return RefundRedeemResult{}, errf(Unprocessable, CodeRefundExceeds, "refund of %d points exceeds the %d not yet refunded", n, left)
	}
	value := n * s.Policy.FaceValueFen
	if bal, err := tx.Balance(ledger.MerchantPayable(p.MerchantID)); err != nil {
		return RefundRedeemResult{}, err
	} else if bal < value {
		return RefundRedeemResult{}, errf(Unprocessable, CodePayableShort, "merchant payable %d fen is less than the %d fen to return (already paid out)", bal, value)
	}
	now := tx.Now()
	t := &ledger.Transaction{Kind: ledger.KindRedeemReversal, Ref: fmt.Sprintf("purchase:%d:refund:%d", p.ID, p.ReversedPoints+n), Reverses: p.TxID, CreatedAt: now}
	t.Postings = append(ledger.Move(ledger.Burned, ledger.MemberAvailable(p.MemberID), n),
		ledger.Move(ledger.MerchantPayable(p.MerchantID), ledger.Reserve, value)...)
	// Give back to lots in reverse order of consumption (the last-expiring
	// lot consumed is restored first), never more than each one gave.
	cons, err := tx.Consumptions(p.ID)
	if err != nil {
		return RefundRedeemResult{}, err
	}
	already := p.ReversedPoints
	restore := n
	for i := len(cons) - 1; i >= 0 && restore > 0; i-- {
		c := cons[i]
		give := c.Points
		if already > 0 { // earlier partial refunds restored the tail first
			skip := min(already, give)
			already -= skip
			give -= skip
		}
		give = min(give, restore)
		if give == 0 {
			continue
		}
		l, err := tx.Lot(c.LotID)
		if err != nil {
			return RefundRedeemResult{}, err
		}
		l.Remaining += give
		if l.State == ledger.LotClosed {
			l.State = ledger.LotAvailable
		}
		if err := tx.SaveLot(l, false); err != nil {
			return RefundRedeemResult{}, err
		}
		restore -= give
	}
	if restore != 0 {
		return RefundRedeemResult{}, fmt.Errorf("points: redemption %d consumptions do not cover the refund (%d left)", p.ID, restore)
	}
	if err := tx.Post(t); err != nil {
		return RefundRedeemResult{}, err
	}
	p.ReversedPoints += n
	if err := tx.SavePurchase(p); err != nil {
		return RefundRedeemResult{}, err
	}
	settled, err := s.settleDebts(tx, p.MemberID, fmt.Sprintf("purchase:%d:refund:%d", p.ID, p.ReversedPoints))
	if err != nil {
		return RefundRedeemResult{}, err
	}
	return RefundRedeemResult{PurchaseID: p.ID, MemberID: p.MemberID, Restored: n, DebtSettled: settled, TxID: t.ID}, nil
}

// settleDebts repays a member's open debts from their available points, as
// soon as points come back to them (a redemption refund): points restored
// while the member owes a merchant must not be spendable first.
func (s *Service) settleDebts(tx Tx, memberID, ref string) (int64, error) {
	debts, err := tx.Debts(memberID)
	if err != nil || len(debts) == 0 {
		return 0, err
	}
	lots, err := tx.Lots(memberID, ledger.LotAvailable)
	if err != nil {
		return 0, err
	}
	now := tx.Now()
	var settled int64
	for _, d := range debts {
		t := &ledger.Transaction{Kind: ledger.KindDebtRecovery, Ref: fmt.Sprintf("%s:debt:%d", ref, d.ID), CreatedAt: now}
		for _, l := range lots {
			if d.Remaining == 0 {
				break
			}
			if l.Remaining == 0 || !l.ExpiresAt.After(now) {
				continue
			}
			n := min(d.Remaining, l.Remaining)
			l.Remaining -= n
			if l.Remaining == 0 {
				l.State = ledger.LotClosed
			}
			if err := tx.SaveLot(l, false); err != nil {
				return 0, err
			}
			t.Postings = append(t.Postings, ledger.Move(ledger.MemberAvailable(memberID), d.Creditor(), n)...)
			d.Remaining -= n
			settled += n
		}
		if len(t.Postings) == 0 {
			continue
		}
		t.Postings = mergePostings(t.Postings)
		if err := tx.Post(t); err != nil {
			return 0, err
		}
		if err := tx.SaveDebt(d); err != nil {
			return 0, err
		}
	}
	return settled, nil
}

// Release moves due pending lots to available, on the terms fixed when
// each lot was earned. It returns how many lots it released.
func (s *Service) Release(tx Tx, limit int) (int, error) {
	now := tx.Now()
	lots, err := tx.DueLots(ledger.LotPending, now, limit)
	if err != nil {
		return 0, err
	}
	for _, l := range lots {
		if l.Remaining > 0 {
			t := &ledger.Transaction{Kind: ledger.KindRelease, Ref: fmt.Sprintf("lot:%d", l.ID), CreatedAt: now,
				Postings: ledger.Move(ledger.MemberPending(l.MemberID), ledger.MemberAvailable(l.MemberID), l.Remaining)}
			if err := tx.Post(t); err != nil {
				return 0, err
			}
			l.State = ledger.LotAvailable
		} else {
			l.State = ledger.LotClosed
		}
		if err := tx.SaveLot(l, false); err != nil {
			return 0, err
		}
	}
	return len(lots), nil
}

// Expire retires the remaining points of due available lots. The cash
// behind them goes back to the issuing merchant's payable
// (return_to_merchant) or to alliance breakage, as the policy publishes.
func (s *Service) Expire(tx Tx, limit int) (int, error) {
	now := tx.Now()
	lots, err := tx.DueLots(ledger.LotAvailable, now, limit)
	if err != nil {
		return 0, err
	}
	for _, l := range lots {
		if l.Remaining > 0 {
			cash := ledger.Breakage
			if s.Policy.ExpiryPolicy == "return_to_merchant" {
				cash = ledger.MerchantPayable(l.MerchantID)
			}
			t := &ledger.Transaction{Kind: ledger.KindExpire, Ref: fmt.Sprintf("lot:%d", l.ID), CreatedAt: now}
			t.Postings = append(ledger.Move(ledger.MemberAvailable(l.MemberID), ledger.Expired, l.Remaining),
				ledger.Move(ledger.Reserve, cash, l.Remaining*s.Policy.FaceValueFen)...)
			if l.MerchantID == ReferralIssuer && s.Policy.ExpiryPolicy == "return_to_merchant" {
				// A referral reward returns to whoever funded it: the
				// marketing budget, whose points the reserve still backs.
				t.Postings = ledger.Move(ledger.MemberAvailable(l.MemberID), ledger.Marketing, l.Remaining)
			}
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
