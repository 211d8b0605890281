package points

import (
	"time"

	"errors"
	"fmt"
	"math/big"
	"strings"
	"unicode/utf8"

	"github.com/lianmeng/lianmeng/gateway/ledger"
)

// Service applies the points flows under one policy. Its ports are set by
// whoever assembles the gateway (cmd/lianmeng serve); a Service with only a
// Policy can still apply commands inside a Tx (tests, the scheduler).
type Service struct {
	Policy Policy
	// Earnings reads merchants' earning configurations before an earn
	// (typically cached).
	Earnings EarningSource
	// EarningStore is where the operator's earning changes are kept.
	EarningStore EarningStore
	// Rules evaluates earning-rule plugins (nil: flat rates only).
	Rules RuleEvaluator
	// Referral is the alliance's referral programme (nil: none).
	Referral *ReferralTerms
	// ReferralScheduled says a change of the programme is scheduled:
	// ReferralNext (nil: none) replaces Referral from ReferralNextFrom on
	// (SetReferralSchedule; ReferralAt answers the terms at a time).
	ReferralScheduled bool
	ReferralNext      *ReferralTerms
	ReferralNextFrom  time.Time
	// Reader answers the read-only queries (balances, lots, history).
	Reader Reader
	// Now is the clock outside a Tx (nil: time.Now).
	Now func() time.Time
	// Issuance closes issuance once a wind-down is announced (nil: open).
	Issuance IssuanceGate
}

// FundRequest records money a merchant paid into the reserve.
type FundRequest struct {
	MerchantID  string
	AmountFen   int64
	ExternalRef string // the channel's payment reference
}

// FundResult is the outcome of a funding.
type FundResult struct {
	TxID   int64 `json:"tx_id"`
	Points int64 `json:"points"`
	Budget int64 `json:"budget"`
}

// Fund credits the reserve with the money and mints the matching points into
// the merchant's budget: the only way points come into existence.
func (s *Service) Fund(tx Tx, r FundRequest) (FundResult, error) {
	if r.AmountFen <= 0 || r.AmountFen > 1_000_000_000_000 {
		return FundResult{}, errf(Invalid, CodeInvalidAmount, "amount_fen must be between 1 and 1000000000000")
	}
	if r.AmountFen%s.Policy.FaceValueFen != 0 {
		return FundResult{}, errf(Invalid, CodeInvalidAmount, "amount_fen must be a multiple of the point face value (%d fen)", s.Policy.FaceValueFen)
	}
	if err := checkText("external_ref", r.ExternalRef, 128); err != nil {
		return FundResult{}, err
	}
	if r.ExternalRef == "" {
		return FundResult{}, errf(Invalid, "invalid_external_ref", "external_ref (the channel's reference of the received money) is required")
	}
	if _, err := s.activeMerchant(tx, r.MerchantID); err != nil {
		return FundResult{}, err
	}
	// One payment funds once, whatever idempotency key a retry or a
	// repeated channel notification comes with: minting twice for one
	// payment would be unfunded issuance.
	if err := mustBeNew(tx, r.MerchantID, PurchaseFund, r.ExternalRef, CodeAlreadyFunded, "payment %q was already recorded as funding"); err != nil {
		return FundResult{}, err
	}
	pts := r.AmountFen / s.Policy.FaceValueFen
	t := &ledger.Transaction{Kind: ledger.KindFund, Ref: "fund:" + r.MerchantID + ":" + r.ExternalRef, CreatedAt: tx.Now()}
	t.Postings = append(ledger.Move(ledger.Funding, ledger.Reserve, r.AmountFen), ledger.Move(ledger.Mint, ledger.MerchantBudget(r.MerchantID), pts)...)
	if err := tx.Post(t); err != nil {
		return FundResult{}, err
	}
	id, err := tx.NewID()
	if err != nil {
		return FundResult{}, err
	}
	if err := tx.SavePurchase(&Purchase{ID: id, Kind: PurchaseFund, MerchantID: r.MerchantID, OrderID: r.ExternalRef,
		AmountFen: r.AmountFen, Points: pts, TxID: t.ID, CreatedAt: tx.Now(), New: true}); err != nil {
		return FundResult{}, err
	}
	bal, err := tx.Balance(ledger.MerchantBudget(r.MerchantID))
	if err != nil {
		return FundResult{}, err
	}
	return FundResult{TxID: t.ID, Points: pts, Budget: bal}, nil
}

// EarnRequest is a purchase that earns points.
type EarnRequest struct {
	MerchantID string
	StoreID    string
	OrderID    string
	Member     Identity
	AmountFen  int64
	// Points, if set, is the merchant's explicit award (bounded by policy);
	// otherwise the merchant's flat rate or rule plugin decides.
	Points *int64
	// Items, OccurredAt and Attributes are what a rule plugin sees of the
	// purchase (Attributes are free-form facts: channel, table, ...).
	Items      []Item
	OccurredAt time.Time
	Attributes map[string]string
	// award is a rule plugin's result, decided by PrepareEarn before the
	// batch (plugins are never called while the batch holds the ledger);
	// awardedBy names the plugin that decided it.
	award     *Award
	awardedBy string
	// awardVersion is the merchant's rule version the award was decided
	// under: the batch refuses (retry) if another is in effect by then.
	awardVersion int64
	// counted: the version PrepareEarn saw reads the member's counters
	// (the command declares them, so the batch loads them at once).
	counted bool
	// counters are the member's counters, read in the batch by Earn.
	counters MemberCounters
}

// EarnResult is the outcome of an earn.
type EarnResult struct {
	PurchaseID    int64     `json:"purchase_id"`
	MemberID      string    `json:"member_id"`
	Points        int64     `json:"points"`
	PendingPoints int64     `json:"pending_points"`
	DebtRecovered int64     `json:"debt_recovered"`
	LotID         int64     `json:"lot_id,omitempty"`
	TxID          int64     `json:"tx_id,omitempty"`
	RuleVersion   string    `json:"rule_version"`
	ReleaseAt     time.Time `json:"release_at"`
	ExpiresAt     time.Time `json:"expires_at"`
	// Breakdown explains a flat-rate or rule-expression award.
	Breakdown *Breakdown `json:"breakdown,omitempty"`
	// ReferralPoints are the rewards this purchase paid the member's
	// referrers from the alliance's marketing budget.
	ReferralPoints int64 `json:"referral_points,omitempty"`
}

// ValidateEarn checks an earn request's shape; it needs no state.
func (s *Service) ValidateEarn(r *EarnRequest) error {
	if r.AmountFen <= 0 || r.AmountFen > s.Policy.MaxAmountFen {
		return errf(Invalid, CodeInvalidAmount, "amount_fen must be an integer between 1 and %d", s.Policy.MaxAmountFen)
	}
	if err := checkText("order_id", r.OrderID, 64); err != nil || r.OrderID == "" {
		return errf(Invalid, CodeInvalidOrder, "order_id must be 1-64 printable characters")
	}
	if err := CheckIdentity(r.Member); err != nil {
		return err
	}
	if r.Points != nil && (*r.Points < 0 || *r.Points > s.Policy.MaxPointsPerEarn) {
		return errf(Invalid, CodeInvalidPoints, "points must be between 0 and %d", s.Policy.MaxPointsPerEarn)
	}
	if a := r.award; a != nil {
		if len(a.RuleVersion) > 64 || a.RuleVersion == "" {
			return errf(Unavailable, CodeRuleUnavailable, "the earning rule answered a rule version of %d characters (want 1-64)", len(a.RuleVersion))
		}
		if a.Points < 0 || a.Points > s.Policy.MaxPointsPerEarn {
			return errf(Invalid, CodeInvalidPoints, "the earning rule awarded %d points; an award is between 0 and %d", a.Points, s.Policy.MaxPointsPerEarn)
		}
		// A plugin's breakdown is kept with the purchase: bounded.
		if b := a.Breakdown; b != nil && (len(b.Multipliers) > MaxBreakdownLines || len(b.Caps) > MaxBreakdownLines || len(b.Explanation) > MaxExplanation) {
			return errf(Unavailable, CodeRuleUnavailable, "the earning rule answered a breakdown beyond %d lines or %d bytes of explanation", MaxBreakdownLines, MaxExplanation)
		}
	}
	if len(r.Items) > MaxItems {
		return errf(Invalid, CodeValidation, "at most %d items per purchase", MaxItems)
	}
	for _, it := range r.Items {
		if it.Quantity < 0 || it.AmountFen < 0 || it.AmountFen > s.Policy.MaxAmountFen {
			return errf(Invalid, CodeValidation, "item quantity and amount_fen must be non-negative integers within the purchase maximum")
		}
		if checkText("sku", it.SKU, 64) != nil || checkText("name", it.Name, 128) != nil || checkText("category", it.Category, 64) != nil {
			return errf(Invalid, CodeValidation, "item sku and category are at most 64 characters, name at most 128, of printable UTF-8")
		}
	}
	if len(r.Attributes) > MaxAttributes {
		return errf(Invalid, CodeValidation, "at most %d attributes", MaxAttributes)
	}
	for k, v := range r.Attributes {
		if len(k) == 0 || len(k) > 64 || len(v) > 256 {
			return errf(Invalid, CodeValidation, "attribute keys are 1-64 bytes, values at most 256")
		}
	}
	return nil
}

// Earn awards points for a purchase from the merchant's funded budget. The
// points are pending until the return window closes. Refused with
// insufficient_budget when the budget cannot cover them: no unfunded
// issuance.
func (s *Service) Earn(tx Tx, r EarnRequest) (EarnResult, error) {
	if err := s.ValidateEarn(&r); err != nil {
		return EarnResult{}, err
	}
	m, err := s.activeMerchant(tx, r.MerchantID)
	if err != nil {
		return EarnResult{}, err
	}
	if err := mustBeNew(tx, r.MerchantID, PurchaseEarn, r.OrderID, CodeAlreadyEarned, "order %q already earned points"); err != nil {
		return EarnResult{}, err
	}
	// The caller chose flat rate or plugin from a cached configuration; the
	// merchant read here is current. If they disagree, answer "retry"
	// rather than award the wrong amount.
	if r.Points == nil && ((r.award == nil) != (m.RulePlugin == "") || r.award != nil && (r.awardedBy != m.RulePlugin || r.awardVersion != m.Version)) {
		return EarnResult{}, errf(Unavailable, CodeRuleUnavailable, "the merchant's earning rule changed while this request was in flight; retry with the same Idempotency-Key")
	}
	if r.OccurredAt.IsZero() {
		r.OccurredAt = tx.Now() // what an expression sees as the purchase's time
	}
	memberID, err := tx.Member(m.ID, r.Member, true)
	if err != nil {
		return EarnResult{}, err
	}
	now := tx.Now()
	counted := m.NeedsCounters()
	if counted {
		// The member's earlier earns here today and this month: what an
		// expression sees, and what the per-member caps are checked against.
		if r.counters, err = memberCounters(tx, memberID, m.ID, now); err != nil {
			return EarnResult{}, err
		}
	}
	pts, version, bd, err := s.decide(m, r)
	if err != nil {
		return EarnResult{}, err
	}
	if counted {
		if err := count(tx, memberID, m.ID, now, pts); err != nil {
			return EarnResult{}, err
		}
	}
	budget := ledger.MerchantBudget(m.ID)
	if bal, err := tx.Balance(budget); err != nil {
		return EarnResult{}, err
	} else if bal < pts {
		return EarnResult{}, errf(Unprocessable, CodeInsufficientBudget, "merchant budget has %d points, purchase needs %d: fund the budget first", bal, pts)
	}
	id, err := tx.NewID()
	if err != nil {
		return EarnResult{}, err
	}
	p := &Purchase{ID: id, Kind: PurchaseEarn, MerchantID: m.ID, StoreID: r.StoreID, OrderID: r.OrderID, MemberID: memberID,
		AmountFen: r.AmountFen, Points: pts, RuleVersion: version, CreatedAt: now, New: true}
	// The lot's release and expiry are fixed now, on the terms of the
	// version in effect: no later version changes them (grandfathering).
	release, validity := m.Terms(s.Policy)
	res := EarnResult{PurchaseID: id, MemberID: memberID, Points: pts, RuleVersion: version,
		ReleaseAt: now.Add(release), ExpiresAt: now.Add(release + validity), Breakdown: bd}
	p.Breakdown = bd // a rule's reasons are kept with the purchase
	rest := pts
	// Earnings first repay debts from earlier refunds: the points go to the
	// budget of the merchant that was owed, so issuance stays funded.
	if rest > 0 {
		debts, err := tx.Debts(memberID)
		if err != nil {
			return EarnResult{}, err
		}
		for _, d := range debts {
			if rest == 0 {
				break
			}
			n := min(rest, d.Remaining)
			if n <= 0 {
				continue
			}
			t := &ledger.Transaction{Kind: ledger.KindDebtRecovery, Ref: fmt.Sprintf("purchase:%d:debt:%d", id, d.ID), CreatedAt: now,
				Postings: ledger.Move(budget, d.Creditor(), n)}
			if d.MerchantID == m.ID {
				// Owed to the same merchant: the points simply stay in its budget.
				t = nil
			}
			if t != nil {
				if err := tx.Post(t); err != nil {
					return EarnResult{}, err
				}
			}
			d.Remaining -= n
			rest -= n
			res.DebtRecovered += n
			if err := tx.SaveDebt(d); err != nil {
				return EarnResult{}, err
			}
		}
	}
	if rest > 0 {
		t := &ledger.Transaction{Kind: ledger.KindEarn, Ref: fmt.Sprintf("purchase:%d", id), CreatedAt: now,
			Postings: ledger.Move(budget, ledger.MemberPending(memberID), rest)}
		if err := tx.Post(t); err != nil {
			return EarnResult{}, err
		}
		lotID, err := tx.NewID()
		if err != nil {
			return EarnResult{}, err
		}
		lot := &ledger.Lot{ID: lotID, MemberID: memberID, MerchantID: m.ID, PurchaseID: id, Points: rest, Remaining: rest,
			State: ledger.LotPending, RuleVersion: version, EarnedAt: now, ReleaseAt: res.ReleaseAt, ExpiresAt: res.ExpiresAt}
		if err := tx.SaveLot(lot, true); err != nil {
			return EarnResult{}, err
		}
		p.LotID, p.TxID = lotID, t.ID
		res.LotID, res.TxID = lotID, t.ID
	}
	res.PendingPoints = rest
	if err := tx.SavePurchase(p); err != nil {
		return EarnResult{}, err
	}
	// The referee's real, funded purchase rewards their referrers, from the
	// marketing budget (never from this merchant's).
	if res.ReferralPoints, err = s.rewardReferrers(tx, p, pts, res.ReleaseAt, res.ExpiresAt); err != nil {
		return EarnResult{}, err
	}
	return res, nil
}

// Rules of a breakdown.
const (
	BreakdownExpression = "expression"
	BreakdownPlugin     = "plugin"
	BreakdownFlat       = "flat"
	BreakdownExplicit   = "explicit"
)

// decide is earnPoints with the breakdown of a rule expression's or a
// rule plugin's award (nil for an explicit award and the flat rate, which
// the rule version and the amount explain).
func (s *Service) decide(m Merchant, r EarnRequest) (int64, string, *Breakdown, error) {
	pts, version, bd, err := s.decideBase(m, r)
	if err != nil {
		return 0, "", nil, err
	}
	capped, caps := m.memberCaps(pts, r.counters)
	if len(caps) == 0 {
		return pts, version, bd, nil
	}
	// A per-member cap removed points: say so, whatever the rule.
	if bd == nil {
		eligible := m.EligibleFen(r.AmountFen, r.Items)
		rule := BreakdownFlat
		if r.Points != nil {
			rule = BreakdownExplicit
		}
		bd = &Breakdown{Rule: rule, EligibleFen: eligible, ExcludedFen: r.AmountFen - eligible, BasePoints: pts, Caps: []BreakdownCap{}}
	}
	bd.Caps = append(bd.Caps[:len(bd.Caps):len(bd.Caps)], caps...) // never into a plugin's slice
	bd.TotalPoints = capped
	return capped, version, bd, nil
}

// decideBase is decide before the per-member caps.
func (s *Service) decideBase(m Merchant, r EarnRequest) (int64, string, *Breakdown, error) {
	pts, version, base, err := s.award(m, r)
	if err == nil && r.award != nil && r.award.Breakdown != nil {
		bd := *r.award.Breakdown
		bd.Rule, bd.TotalPoints = BreakdownPlugin, pts
		return pts, version, &bd, nil
	}
	if err != nil || r.Points != nil || r.award != nil || m.Expr == nil {
		return pts, version, nil, err
	}
	eligible := m.EligibleFen(r.AmountFen, r.Items)
	bd := &Breakdown{Rule: BreakdownExpression, EligibleFen: eligible, ExcludedFen: r.AmountFen - eligible, BasePoints: base,
		Caps: []BreakdownCap{}, TotalPoints: pts}
	// The caps in the order earnPoints applies them.
	limit := s.Policy.MaxPointsPerEarn
	if m.MaxPoints > 0 && m.MaxPoints < limit {
		limit = m.MaxPoints
	}
	left := bd.BasePoints
	if left > limit {
		bd.Caps = append(bd.Caps, BreakdownCap{Code: "max_points", LimitPoints: limit, RemovedPoints: left - limit})
		left = limit
	}
	if byValue := r.AmountFen / s.Policy.FaceValueFen; left > byValue {
		bd.Caps = append(bd.Caps, BreakdownCap{Code: "purchase_value", LimitPoints: byValue, RemovedPoints: left - byValue})
	}
	return pts, version, bd, nil
}

// earnPoints decides the award: explicit, rule plugin, or flat rate.
func (s *Service) earnPoints(m Merchant, r EarnRequest) (int64, string, error) {
	pts, version, _, err := s.award(m, r)
	return pts, version, err
}

// award is earnPoints with, for a rule expression, the points the
// expression gave before the caps.
func (s *Service) award(m Merchant, r EarnRequest) (int64, string, int64, error) {
	limit := s.Policy.MaxPointsPerEarn
	if m.MaxPoints > 0 && m.MaxPoints < limit {
		limit = m.MaxPoints
	}
	var pts, base int64
	version := m.VersionLabel()
	switch {
	case r.Points != nil:
		pts, version = *r.Points, "explicit"
	case r.award != nil:
		pts, version = r.award.Points, r.award.RuleVersion
		if m.Version > 0 {
			// The rule set version first: it names the member's terms.
			version = fmt.Sprintf("v%d:%s", m.Version, version)
			if len(version) > 64 {
				version = version[:64]
			}
		}
	case m.Expr != nil:
		in := RuleInput{MerchantID: m.ID, StoreID: r.StoreID, OrderID: r.OrderID, AmountFen: r.AmountFen, Items: r.Items, OccurredAt: r.OccurredAt,
			Attributes: r.Attributes, Counters: r.counters}
		n, err := m.Expr.Points(in, m.EligibleFen(r.AmountFen, r.Items), m.EligibleItems(r.Items))
		if errors.Is(err, ErrRuleTimeout) {
			return 0, "", 0, &Error{Class: Unavailable, Code: CodeRuleUnavailable, RetryAfter: time.Second, cause: err,
				Message: "the merchant's rule expression did not finish in time; retry with the same Idempotency-Key"}
		}
		if err != nil {
			return 0, "", 0, &Error{Class: Unprocessable, Code: CodeRuleFailed, Message: "the merchant's rule expression failed for this purchase: " + err.Error(), cause: err}
		}
		// The version's cap and the purchase's value bound an expression.
		pts = min(n, limit, r.AmountFen/s.Policy.FaceValueFen)
		base = n
	default:
		// floor(eligible amount × rate / 10000 / face value), exactly.
		v := new(big.Int).Mul(big.NewInt(m.EligibleFen(r.AmountFen, r.Items)), big.NewInt(m.RateBP))
		v.Quo(v, big.NewInt(10000*s.Policy.FaceValueFen))
		if !v.IsInt64() {
			return 0, "", 0, errf(Invalid, CodeInvalidPoints, "points overflow")
		}
		pts = min(v.Int64(), limit)
	}
	if pts > limit {
		return 0, "", 0, errf(Invalid, CodeInvalidPoints, "points %d exceed the maximum of %d per purchase at this merchant", pts, limit)
	}
	// A purchase can never earn more than its own value in points.
	if maxByValue := r.AmountFen / s.Policy.FaceValueFen; pts > maxByValue {
		return 0, "", 0, errf(Invalid, CodeInvalidPoints, "points %d are worth more than the purchase (%d fen)", pts, r.AmountFen)
	}
	return pts, version, base, nil
}

// RedeemRequest spends a member's points at a merchant, with the
// member's consent.
type RedeemRequest struct {
	MerchantID string
	StoreID    string
	OrderID    string
	// Code is the member's consent: an app redemption code, or the code
	// sent to the member's phone (then Member names the member).
	Code string
	// Member is optional with an app code (if given, it must be the code's
	// member) and required with a phone code.
	Member    Identity
	Points    int64
	AmountFen int64 // the purchase amount the points pay towards (> 0)
}

// RedeemResult is the outcome of a redemption.
type RedeemResult struct {
	PurchaseID int64  `json:"purchase_id"`
	MemberID   string `json:"member_id"`
	Points     int64  `json:"points"`
	ValueFen   int64  `json:"value_fen"`
	TxID       int64  `json:"tx_id"`
	Available  int64  `json:"available"`
}

// Redeem burns points (first-expiring lots first) and moves their backing
// cash from the reserve to the redeeming merchant's payable.
func (s *Service) Redeem(tx Tx, r RedeemRequest) (RedeemResult, error) {
	if r.Points <= 0 || r.Points > s.Policy.MaxPointsPerEarn {
		return RedeemResult{}, errf(Invalid, CodeInvalidPoints, "points must be between 1 and %d", s.Policy.MaxPointsPerEarn)
	}
	// No purchase, no redemption: points pay towards a real amount.
	if r.AmountFen <= 0 || r.AmountFen > s.Policy.MaxAmountFen {
		return RedeemResult{}, errf(Invalid, CodeInvalidAmount, "amount_fen (the purchase the points pay towards) must be between 1 and %d", s.Policy.MaxAmountFen)
	}
	if err := checkText("order_id", r.OrderID, 64); err != nil || r.OrderID == "" {
		return RedeemResult{}, errf(Invalid, CodeInvalidOrder, "order_id must be 1-64 printable characters")
	}
	if r.Member.Kind != "" || r.Member.Value != "" {
		if err := CheckIdentity(r.Member); err != nil {
			return RedeemResult{}, err
		}
	}
	value, ok := ledger.MulChecked(r.Points, s.Policy.FaceValueFen)
	if !ok || value > r.AmountFen {
		return RedeemResult{}, errf(Invalid, CodeInvalidPoints, "points are worth more than the purchase amount")
	}
	m, err := s.activeMerchant(tx, r.MerchantID)
	if err != nil {
		return RedeemResult{}, err
	}
	if err := mustBeNew(tx, m.ID, PurchaseRedeem, r.OrderID, CodeAlreadyRedeemed, "order %q already redeemed points"); err != nil {
		return RedeemResult{}, err
	}
	consent, memberID, err := s.consentFor(tx, m, r)
	if err != nil {
		return RedeemResult{}, err
	}
	now := tx.Now()
	lots, spendable, err := tx.SpendableLots(memberID, now, r.Points)
	if err != nil {
		return RedeemResult{}, err
	}
	if spendable < r.Points {
		return RedeemResult{}, errf(Unprocessable, CodeInsufficientPoints, "member has %d spendable points, order needs %d", spendable, r.Points)
	}
	id, err := tx.NewID()
	if err != nil {
		return RedeemResult{}, err
	}
	t := &ledger.Transaction{Kind: ledger.KindRedeem, Ref: fmt.Sprintf("purchase:%d", id), CreatedAt: now}
	t.Postings = append(ledger.Move(ledger.MemberAvailable(memberID), ledger.Burned, r.Points),
		ledger.Move(ledger.Reserve, ledger.MerchantPayable(m.ID), value)...)
	if err := tx.Post(t); err != nil {
		return RedeemResult{}, err
	}
	need := r.Points
	for _, l := range lots { // ordered first-expiring first
		if need == 0 {
			break
		}
		if !l.ExpiresAt.After(now) || l.Remaining == 0 {
			continue
		}
		n := min(need, l.Remaining)
		l.Remaining -= n
		need -= n
		if l.Remaining == 0 {
			l.State = ledger.LotClosed
		}
		if err := tx.SaveLot(l, false); err != nil {
			return RedeemResult{}, err
		}
		if err := tx.AddConsumption(Consumption{PurchaseID: id, LotID: l.ID, Points: n}); err != nil {
			return RedeemResult{}, err
		}
	}
	p := &Purchase{ID: id, Kind: PurchaseRedeem, MerchantID: m.ID, StoreID: r.StoreID, OrderID: r.OrderID, MemberID: memberID,
		AmountFen: r.AmountFen, Points: r.Points, TxID: t.ID, CreatedAt: now, New: true}
	if err := tx.SavePurchase(p); err != nil {
		return RedeemResult{}, err
	}
	consent.UsedAt, consent.PurchaseID = now, id
	if err := tx.SaveConsent(consent); err != nil {
		return RedeemResult{}, err
	}
	avail, err := tx.Balance(ledger.MemberAvailable(memberID))
	if err != nil {
		return RedeemResult{}, err
	}
	return RedeemResult{PurchaseID: id, MemberID: memberID, Points: r.Points, ValueFen: value, TxID: t.ID, Available: avail}, nil
}

// mustBeNew refuses, with a Conflict of code, a purchase (or funding) the
// merchant already recorded: each has one effect.
func mustBeNew(tx Tx, merchantID, kind, orderID, code, format string) error {
	_, err := tx.Purchase(merchantID, kind, orderID)
	if err == nil {
		return errf(Conflict, code, format, orderID)
	}
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}

// recorded returns a purchase of the merchant, or unknown_purchase: a
// merchant can only refer to its own orders.
func recorded(tx Tx, merchantID, kind, orderID string) (*Purchase, error) {
	p, err := tx.Purchase(merchantID, kind, orderID)
	if errors.Is(err, ErrNotFound) {
		return nil, errf(NotFound, CodeUnknownPurchase, "no %s purchase %q at this merchant", kind, orderID)
	}
	return p, err
}

// knownMerchant returns a merchant, active or not, or unknown_merchant.
func knownMerchant(tx Tx, id string) (Merchant, error) {
	m, err := tx.Merchant(id)
	if errors.Is(err, ErrNotFound) {
		return Merchant{}, errf(NotFound, CodeUnknownMerchant, "no merchant %q", id)
	}
	return m, err
}

func (s *Service) activeMerchant(tx Tx, id string) (Merchant, error) {
	m, err := knownMerchant(tx, id)
	if err != nil {
		return Merchant{}, err
	}
	if !m.Active {
		return Merchant{}, errf(Unprocessable, CodeMerchantInactive, "merchant %q is not active", id)
	}
	return m, nil
}

// CheckIdentity checks an identity's form: a known kind, 1-64 printable
// characters, a phone number of digits with an optional leading +.
func CheckIdentity(id Identity) error {
	switch id.Kind {
	case IdentityPhone, IdentityWeChatOpenID, IdentityAlipayUserID, IdentityCustomer:
	default:
		return errf(Invalid, CodeInvalidIdentity, "member.kind must be phone, wechat_openid, alipay_user_id or customer")
	}
	if id.Value == "" || checkText("member.value", id.Value, 64) != nil {
		return errf(Invalid, CodeInvalidIdentity, "member.value must be 1-64 printable characters")
	}
	if id.Kind == IdentityPhone {
		for _, c := range strings.TrimPrefix(id.Value, "+") {
			if c < '0' || c > '9' {
				return errf(Invalid, CodeInvalidIdentity, "a phone number is digits with an optional leading +")
			}
		}
	}
	return nil
}

func checkText(field, s string, max int) error {
	if !utf8.ValidString(s) || utf8.RuneCountInString(s) > max {
		return errf(Invalid, "invalid_"+field, "%s must be at most %d characters of valid UTF-8", field, max)
	}
	for _, c := range s {
		if c < 0x20 || c == 0x7f {
			return errf(Invalid, "invalid_"+field, "%s contains control characters", field)
		}
	}
	return nil
}

// Transacted is a command's result that names the ledger transaction it
// made (its tx_id): the answer to such a write carries a receipt of that
// transaction (docs/evidence.md §15). 0 means none was made.
type Transacted interface{ Transaction() int64 }

// Transaction implements Transacted.
func (r EarnResult) Transaction() int64 { return r.TxID }

// Transaction implements Transacted.
func (r RedeemResult) Transaction() int64 { return r.TxID }

// Transaction implements Transacted.
func (r FundResult) Transaction() int64 { return r.TxID }

// Transaction implements Transacted.
func (r RefundEarnResult) Transaction() int64 { return r.TxID }

// Transaction implements Transacted.
func (r RefundRedeemResult) Transaction() int64 { return r.TxID }
