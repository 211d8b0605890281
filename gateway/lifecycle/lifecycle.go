// Package lifecycle is a merchant leaving the alliance and the alliance
// winding down (issue 16), without ever taking a member's points other
// than by the published expiry of a lot:
//
//   - Exit: the operator announces a merchant's exit at least the notice
//     period ahead (the rules' notice period); the announcement is public
//     (the merchant's rule log and GET /v1/public/lifecycle). Until the
//     date nothing changes. At the date (ProcessDue, under the scheduler's
//     lease) the merchant is suspended (it neither issues nor redeems any
//     more), its unused budget is refunded through the channels it paid
//     with (settlement.Refunds), and its payable is paid out
//     (settlement.Payouts), closing its account. The points it issued stay
//     in members' lots on their own terms and remain redeemable at every
//     other merchant: the reserve holds their cash.
//   - Wind-down: the operator announces a date at least the notice period
//     ahead. From the announcement no new points are issued (IssuanceClosed:
//     earning, funding, imports); members redeem until the date. At the date
//     every open lot expires on that published date with its cash going to
//     the merchant that issued it, and every unissued budget goes back to
//     its merchant's payable (points.Service.WindDownLots,
//     points.Service.WindDownBudget): the reserve is returned to the issuing
//     merchants in proportion to the points each issued and did not see
//     redeemed; a report per merchant is kept.
//
// Every step writes an audit event, which the evidence log seals.
package lifecycle

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/lianmeng/lianmeng/gateway/ledger"
	"github.com/lianmeng/lianmeng/gateway/merchant"
	"github.com/lianmeng/lianmeng/gateway/points"
	"github.com/lianmeng/lianmeng/gateway/settlement"
	"github.com/lianmeng/lianmeng/gateway/store"
)

// Errors (4xx at the API).
var (
	// ErrNoticeTooShort: the date is closer than the notice period.
	ErrNoticeTooShort = errors.New("lifecycle: the date is closer than the notice period")
	// ErrInvalid: bad input.
	ErrInvalid = errors.New("lifecycle: invalid request")
)

// Service runs exits and the wind-down.
type Service struct {
	DB     *store.DB
	Writer *store.Writer
	Points *points.Service
	// Refunds and Payouts close an exiting merchant's money (nil: noted
	// on the exit for the operator).
	Refunds *settlement.Refunds
	Payouts *settlement.Payouts
	// Notice is the least time between an announcement and its date.
	Notice time.Duration
	Now    func() time.Time

	mu        sync.Mutex
	gateUntil time.Time
	gateErr   error
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

// earliest is the first date an announcement made now may name.
func (s *Service) earliest(now time.Time) time.Time { return now.Add(s.Notice) }

func (s *Service) checkDate(now, at time.Time) (time.Time, error) {
	if at.IsZero() {
		return s.earliest(now), nil
	}
	if at.Before(s.earliest(now)) {
		return time.Time{}, fmt.Errorf("%w: the earliest date is %s (notice %s)", ErrNoticeTooShort, s.earliest(now).Format(time.RFC3339), s.Notice)
	}
	if at.After(now.AddDate(5, 0, 0)) {
		return time.Time{}, fmt.Errorf("%w: the date is more than 5 years ahead", ErrInvalid)
	}
	return at.UTC(), nil
}

// AnnounceExit announces a merchant's exit at effective (zero: as soon as
// the notice period allows).
func (s *Service) AnnounceExit(ctx context.Context, merchantID string, effective time.Time, reason, actor string) (store.MerchantExit, error) {
	if len(reason) > 255 {
		return store.MerchantExit{}, fmt.Errorf("%w: reason is at most 255 bytes", ErrInvalid)
	}
	if _, err := s.DB.Merchants().GetMerchant(ctx, merchantID); err != nil {
		return store.MerchantExit{}, err
	}
	now := s.now()
	at, err := s.checkDate(now, effective)
	if err != nil {
		return store.MerchantExit{}, err
	}
	e := store.MerchantExit{MerchantID: merchantID, AnnouncedAt: now, EffectiveAt: at, Reason: reason, State: store.ExitAnnounced, AnnouncedBy: actor}
	if err := s.DB.AnnounceExit(ctx, e); err != nil {
		return store.MerchantExit{}, err
	}
	return s.DB.MerchantExit(ctx, merchantID)
}

// ProcessDue carries out every exit whose date has come, and the wind-down
// once its date has come; it returns how many steps it took. Run it under
// the scheduler's lease.
func (s *Service) ProcessDue(ctx context.Context) (int, error) {
	exits, err := s.DB.MerchantExits(ctx, true, s.now())
	if err != nil {
		return 0, err
	}
	n := 0
	for _, e := range exits {
		if err := s.exit(ctx, e); err != nil {
			return n, fmt.Errorf("exit of %s: %w", e.MerchantID, err)
		}
		n++
	}
	done, err := s.windDown(ctx)
	if done {
		n++
	}
	return n, err
}

// exit suspends the merchant, refunds its unused budget through its
// channels and pays out its payable. Each step is idempotent (the same
// idempotency keys), so a crash in between is finished on the next run.
func (s *Service) exit(ctx context.Context, e store.MerchantExit) error {
	now := s.now()
	m, err := s.DB.Merchants().GetMerchant(ctx, e.MerchantID)
	if err != nil {
		return err
	}
	if m.Status != merchant.StatusSuspended {
		if err := s.DB.Merchants().SetMerchantStatus(ctx, e.MerchantID, merchant.StatusSuspended, now, "lifecycle:exit"); err != nil {
			return err
		}
	}
	var notes []string
	bal, err := s.DB.Balances(ctx, ledger.MerchantBudget(e.MerchantID), ledger.MerchantPayable(e.MerchantID))
	if err != nil {
		return err
	}
	key := "exit:" + e.MerchantID
	// The unused budget goes back through the channels it was paid with,
	// as far as channel payments cover it; the rest (funded by hand) is
	// noted for the operator.
	unused, ok := ledger.MulChecked(bal[ledger.MerchantBudget(e.MerchantID)], s.Points.Policy.FaceValueFen)
	if !ok {
		return fmt.Errorf("lifecycle: budget of %s overflows", e.MerchantID)
	}
	refundable, err := s.DB.RefundableFen(ctx, e.MerchantID)
	if err != nil {
		return err
	}
	if prev, err := s.DB.FundingRefundByKey(ctx, e.MerchantID, key); err == nil { // asked before a crash
		unused, refundable = prev.AmountFen, prev.AmountFen
	}
	amount := min(unused, refundable)
	if rest := unused - amount; rest > 0 {
		notes = append(notes, fmt.Sprintf("%d fen of the unused budget was not paid through a channel: the operator returns it", rest))
	}
	switch {
	case amount <= 0:
	case s.Refunds == nil:
		notes = append(notes, "no payment channel: the unused budget stays for the operator to return")
	default:
		rf, err := s.Refunds.Request(ctx, settlement.RefundRequest{MerchantID: e.MerchantID, AmountFen: amount, IdemKey: key, Reason: "leaving the alliance", RequestedBy: "lifecycle:exit"})
		switch {
		case errors.Is(err, settlement.ErrNotRefundable), errors.Is(err, settlement.ErrInsufficientBudget), errors.Is(err, settlement.ErrReserveShort):
			notes = append(notes, "budget not refunded: "+err.Error())
		case err != nil:
			return err
		default:
			e.RefundID = rf.ID
		}
	}
	switch payable := bal[ledger.MerchantPayable(e.MerchantID)]; {
	case payable <= 0:
	case s.Payouts == nil:
		notes = append(notes, "no payment channel: the payable stays for the operator to pay")
	default:
		po, err := s.Payouts.Request(ctx, settlement.PayoutRequest{MerchantID: e.MerchantID, AmountFen: payable, IdemKey: key})
		switch {
		case errors.Is(err, settlement.ErrNoPayoutAccount), errors.Is(err, settlement.ErrInsufficientPayable):
			notes = append(notes, "payable not paid out: "+err.Error())
		case err != nil:
			return err
		default:
			e.PayoutID = po.ID
		}
	}
	e.State, e.Note, e.DoneAt = store.ExitDone, strings.Join(notes, "; "), &now
	return s.DB.UpdateExit(ctx, e, "merchant.exited", "lifecycle", now)
}

// AnnounceWindDown announces the alliance's wind-down at effective (zero:
// as soon as the notice period allows). Issuance closes at once.
func (s *Service) AnnounceWindDown(ctx context.Context, effective time.Time, reason, actor string) (store.WindDown, error) {
	if len(reason) > 255 {
		return store.WindDown{}, fmt.Errorf("%w: reason is at most 255 bytes", ErrInvalid)
	}
	now := s.now()
	at, err := s.checkDate(now, effective)
	if err != nil {
		return store.WindDown{}, err
	}
	if err := s.DB.AnnounceWindDown(ctx, store.WindDown{AnnouncedAt: now, EffectiveAt: at, Reason: reason, AnnouncedBy: actor}); err != nil {
		return store.WindDown{}, err
	}
	s.mu.Lock()
	s.gateUntil = time.Time{} // this instance closes issuance at once
	s.mu.Unlock()
	return s.DB.GetWindDown(ctx)
}

// gateTTL bounds how long another instance may issue after an
// announcement.
const gateTTL = time.Second

// IssuanceClosed implements points.IssuanceGate: closed once a wind-down
// is announced (read at most once a second).
func (s *Service) IssuanceClosed(ctx context.Context) error {
	now := time.Now()
	s.mu.Lock()
	if now.Before(s.gateUntil) {
		err := s.gateErr
		s.mu.Unlock()
		return err
	}
	s.mu.Unlock()
	w, err := s.DB.GetWindDown(ctx)
	var gate error
	switch {
	case errors.Is(err, store.ErrWindDownNotFound):
	case err != nil:
		return err
	default:
		gate = points.ClosedForWindDown(w.EffectiveAt)
	}
	s.mu.Lock()
	s.gateUntil, s.gateErr = now.Add(gateTTL), gate
	s.mu.Unlock()
	return gate
}

// Report is the wind-down's report: what each issuing merchant got back.
type Report struct {
	EffectiveAt time.Time            `json:"effective_at"`
	Merchants   []store.WindDownLine `json:"merchants"`
	TotalFen    int64                `json:"total_fen"`
	// MarketingFen is what the alliance's marketing budget still held,
	// returned to the alliance (breakage), not to a merchant.
	MarketingFen int64 `json:"marketing_fen"`
	// ReserveFen is what the reserve holds after (0: all of it returned).
	ReserveFen int64 `json:"reserve_fen"`
}

// windDown carries out the wind-down once its date has come: every open
// lot expired to its issuer, every budget returned, the report kept.
func (s *Service) windDown(ctx context.Context) (bool, error) {
	w, err := s.DB.GetWindDown(ctx)
	if errors.Is(err, store.ErrWindDownNotFound) {
		return false, nil
	}
	if err != nil || w.State != store.WindDownAnnounced || s.now().Before(w.EffectiveAt) {
		return false, err
	}
	for {
		r := s.Writer.Submit(ctx, &store.Op{Command: s.Points.WindDownLotsCommand(w.EffectiveAt, 0)})
		if r.Err != nil {
			return false, r.Err
		}
		if d, _ := r.Value.(points.LotsDone); !d.Full {
			break
		}
	}
	budgets, err := s.DB.MerchantsWithBudget(ctx)
	if err != nil {
		return false, err
	}
	for _, acct := range budgets {
		m := ledger.ParseAccount(acct).Owner
		r := s.Writer.Submit(ctx, &store.Op{Command: s.Points.WindDownBudgetCommand(m, w.EffectiveAt),
			Audit: &store.OpAudit{Kind: "alliance.wind_down_budget_returned", Actor: "lifecycle", Subject: m, Request: map[string]any{"merchant_id": m}}})
		if r.Err != nil {
			return false, r.Err
		}
	}
	mk := s.Writer.Submit(ctx, &store.Op{Command: s.Points.WindDownMarketingCommand(w.EffectiveAt),
		Audit: &store.OpAudit{Kind: "alliance.wind_down_marketing_closed", Actor: "lifecycle", Subject: ledger.Marketing, Request: map[string]any{}}})
	if mk.Err != nil {
		return false, mk.Err
	}
	if n, err := s.DB.OpenLots(ctx); err != nil || n > 0 {
		return false, fmt.Errorf("wind-down: %d lots still open (%v)", n, err)
	}
	lines, err := s.DB.WindDownReturns(ctx, points.KindWindDownBudget)
	if err != nil {
		return false, err
	}
	bal, err := s.DB.Balances(ctx, ledger.Reserve)
	if err != nil {
		return false, err
	}
	rep := Report{EffectiveAt: w.EffectiveAt, Merchants: lines, ReserveFen: bal[ledger.Reserve]}
	if rep.MarketingFen, err = s.DB.WindDownMarketingReturned(ctx, points.KindWindDownMarketing); err != nil {
		return false, err
	}
	if rep.Merchants == nil {
		rep.Merchants = []store.WindDownLine{}
	}
	for _, l := range lines {
		rep.TotalFen += l.TotalFen
	}
	body, err := json.Marshal(rep)
	if err != nil {
		return false, err
	}
	return true, s.DB.FinishWindDown(ctx, string(body), map[string]any{"merchants": len(lines), "total_fen": rep.TotalFen, "reserve_fen": rep.ReserveFen}, s.now())
}

// WindDownReport reads the report (nil before the wind-down is done).
func (s *Service) WindDownReport(ctx context.Context) (*Report, error) {
	w, err := s.DB.GetWindDown(ctx)
	if err != nil || w.State != store.WindDownDone {
		return nil, err
	}
	var r Report
	if err := json.Unmarshal([]byte(w.Report), &r); err != nil {
		return nil, fmt.Errorf("wind-down report: %w", err)
	}
	return &r, nil
}
