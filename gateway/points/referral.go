package points

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/lianmeng/lianmeng/gateway/ledger"
)

// Referral rewards (DESIGN §6). A member may be referred once, by another
// member's referral code, never by themselves or by someone they referred
// (directly or further down: no cycles). When a referred member (the
// referee) earns points on a real purchase, up to two levels of referrers
// earn a reward: a permille of the referee's points, bounded per referrer
// per month, paid from alliance:marketing, which the operator funds like a
// merchant budget. A reward is issued only against a funded marketing
// budget (an empty one pays nothing, never unfunded points) and is clawed
// back, in proportion, when the referee's purchase is refunded.

// MaxReferralLevels is how many levels of referrers a reward reaches:
// configuration asking for more is refused when the gateway loads it.
const MaxReferralLevels = 2

// ReferralTerms are the alliance's referral programme, public at
// GET /v1/public/referral. No levels: no programme.
type ReferralTerms struct {
	// LevelsPermille is each level's reward in permille of the points the
	// referee earned (level 1: who referred the referee; level 2: who
	// referred them).
	LevelsPermille []int64 `json:"levels_permille"`
	// MonthlyCapPoints bounds the rewards one referrer receives per
	// calendar month of the alliance's zone, all levels together.
	MonthlyCapPoints int64 `json:"monthly_cap_points"`
}

// Validate refuses terms the programme cannot honour: more than two
// levels, a level outside 1..1000 permille, or no monthly cap.
func (t ReferralTerms) Validate() error {
	if len(t.LevelsPermille) == 0 {
		return nil
	}
	if len(t.LevelsPermille) > MaxReferralLevels {
		return fmt.Errorf("referral rewards reach at most %d levels of referrers; %d are configured", MaxReferralLevels, len(t.LevelsPermille))
	}
	for i, p := range t.LevelsPermille {
		if p < 1 || p > 1000 {
			return fmt.Errorf("referral level %d rewards %d permille: it is between 1 and 1000", i+1, p)
		}
	}
	if t.MonthlyCapPoints < 1 || t.MonthlyCapPoints > 1_000_000_000_000 {
		return fmt.Errorf("referral monthly_cap_points is %d: a programme is capped per referrer per month (1 to 10^12)", t.MonthlyCapPoints)
	}
	return nil
}

// Enabled reports whether there is a programme.
func (t *ReferralTerms) Enabled() bool { return t != nil && len(t.LevelsPermille) > 0 }

// Version names the terms: it is recorded on every reward lot, so each
// reward says which published terms it was paid under.
func (t ReferralTerms) Version() string {
	h := sha256.Sum256(fmt.Appendf(nil, "%v/%d", t.LevelsPermille, t.MonthlyCapPoints))
	return "referral:" + hex.EncodeToString(h[:6])
}

// Referral links a referee to the member who referred them.
type Referral struct {
	MemberID   string
	ReferrerID string
}

// ReferralReward is a reward paid to a referrer for a referee's purchase.
type ReferralReward struct {
	PurchaseID int64
	Level      int
	MemberID   string // the referrer rewarded
	LotID      int64
	Points     int64
	// ReversedPoints were clawed back by refunds of the purchase.
	ReversedPoints int64
	New            bool
}

// ReferralTx is what referrals need of a unit of work besides Tx.
type ReferralTx interface {
	// Referrer returns who referred a member (ErrNotFound: nobody).
	Referrer(memberID string) (string, error)
	SaveReferral(r Referral) error
	// ReferralCode returns a member's code, ReferralCodeOwner the member
	// of a code (both ErrNotFound when there is none).
	ReferralCode(memberID string) (string, error)
	ReferralCodeOwner(code string) (string, error)
	SaveReferralCode(memberID, code string) error
	ReferralRewards(purchaseID int64) ([]ReferralReward, error)
	SaveReferralReward(r *ReferralReward) error
}

// Referral error codes.
const (
	CodeReferralUnknownCode = "unknown_referral_code"
	CodeReferralSelf        = "referral_self"
	CodeReferralCycle       = "referral_cycle"
	CodeAlreadyReferred     = "already_referred"
	CodeReferralClosed      = "referral_programme_closed"
)

// referralCodeAlphabet is Crockford's base32 (no I, L, O, U): codes are
// read aloud and typed.
const referralCodeAlphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// ReferralCodeLength is the length of a referral code.
const ReferralCodeLength = 8

func newReferralCode() (string, error) {
	var b strings.Builder
	for range ReferralCodeLength {
		n, err := rand.Int(rand.Reader, big.NewInt(int64(len(referralCodeAlphabet))))
		if err != nil {
			return "", fmt.Errorf("referral code: %w", err)
		}
		b.WriteByte(referralCodeAlphabet[n.Int64()])
	}
	return b.String(), nil
}

// NormalizeReferralCode upper-cases a typed code and maps the letters
// Crockford's alphabet leaves out to the digits they look like.
func NormalizeReferralCode(code string) string {
	return strings.NewReplacer("I", "1", "L", "1", "O", "0").Replace(strings.ToUpper(strings.TrimSpace(code)))
}

func referralTx(tx Tx) (ReferralTx, error) {
	r, ok := tx.(ReferralTx)
	if !ok {
		return nil, errors.New("points: this unit of work keeps no referrals")
	}
	return r, nil
}

// ReferralCodeResult is a member's referral code.
type ReferralCodeResult struct {
	Code string `json:"code"`
}

// ReferralCodeCommand gives a member their referral code (the same one
// every time).
func (s *Service) ReferralCodeCommand(memberID string) Command {
	return Command{Name: "referral_code", IDs: 1, Apply: func(tx Tx) (any, error) { return s.IssueReferralCode(tx, memberID) }}
}

// IssueReferralCode returns the member's code, making one the first time.
func (s *Service) IssueReferralCode(tx Tx, memberID string) (ReferralCodeResult, error) {
	if !s.ReferralAt(tx.Now()).Enabled() {
		return ReferralCodeResult{}, errf(Unprocessable, CodeReferralClosed, "the alliance has no referral programme")
	}
	rt, err := referralTx(tx)
	if err != nil {
		return ReferralCodeResult{}, err
	}
	if c, err := rt.ReferralCode(memberID); err == nil {
		return ReferralCodeResult{Code: c}, nil
	} else if !errors.Is(err, ErrNotFound) {
		return ReferralCodeResult{}, err
	}
	for range 8 {
		c, err := newReferralCode()
		if err != nil {
			return ReferralCodeResult{}, err
		}
		if _, err := rt.ReferralCodeOwner(c); errors.Is(err, ErrNotFound) {
			if err := rt.SaveReferralCode(memberID, c); err != nil {
				return ReferralCodeResult{}, err
			}
			return ReferralCodeResult{Code: c}, nil
		} else if err != nil {
			return ReferralCodeResult{}, err
		}
	}
	return ReferralCodeResult{}, errors.New("referral code: no free code after 8 draws")
}

// ReferResult is the outcome of a referral.
type ReferResult struct {
	MemberID   string `json:"member_id"`
	ReferredBy string `json:"referred_by"`
}

// maxReferralChain bounds the walk up the referral chain for the cycle
// check (a longer chain is refused, not walked).
const maxReferralChain = 10_000

// ReferCommand records that memberID was referred by the owner of code.
// It reads (and on MySQL locks) the marketing budget: referrals change the
// graph rewards are paid along, so they are serialised with each other
// and with the rewards.
func (s *Service) ReferCommand(memberID, code string) Command {
	return Command{Name: "refer", IDs: 1, Reads: Reads{Accounts: []string{ledger.Marketing}},
		Apply: func(tx Tx) (any, error) { return s.Refer(tx, memberID, code) }}
}

// Refer links a member to their referrer: once, never to themselves,
// never into a cycle.
func (s *Service) Refer(tx Tx, memberID, code string) (ReferResult, error) {
	if !s.ReferralAt(tx.Now()).Enabled() {
		return ReferResult{}, errf(Unprocessable, CodeReferralClosed, "the alliance has no referral programme")
	}
	rt, err := referralTx(tx)
	if err != nil {
		return ReferResult{}, err
	}
	code = NormalizeReferralCode(code)
	if len(code) != ReferralCodeLength || strings.Trim(code, referralCodeAlphabet) != "" {
		return ReferResult{}, errf(Invalid, CodeReferralUnknownCode, "a referral code is %d letters and digits", ReferralCodeLength)
	}
	referrer, err := rt.ReferralCodeOwner(code)
	if errors.Is(err, ErrNotFound) {
		return ReferResult{}, errf(NotFound, CodeReferralUnknownCode, "no member has referral code %s", code)
	}
	if err != nil {
		return ReferResult{}, err
	}
	if referrer == memberID {
		return ReferResult{}, errf(Unprocessable, CodeReferralSelf, "a member cannot refer themselves")
	}
	if _, err := rt.Referrer(memberID); err == nil {
		return ReferResult{}, errf(Conflict, CodeAlreadyReferred, "this member was already referred; a member is referred once")
	} else if !errors.Is(err, ErrNotFound) {
		return ReferResult{}, err
	}
	// A cycle would close if the member is among the referrer's own
	// referrers, however far up.
	up := referrer
	for i := 0; ; i++ {
		next, err := rt.Referrer(up)
		if errors.Is(err, ErrNotFound) {
			break
		}
		if err != nil {
			return ReferResult{}, err
		}
		if next == memberID {
			return ReferResult{}, errf(Unprocessable, CodeReferralCycle, "the referrer was referred (directly or further up) by this member: referrals never form a cycle")
		}
		if i >= maxReferralChain {
			return ReferResult{}, errf(Unprocessable, CodeReferralCycle, "the referrer's chain is longer than %d members", maxReferralChain)
		}
		up = next
	}
	if err := rt.SaveReferral(Referral{MemberID: memberID, ReferrerID: referrer}); err != nil {
		return ReferResult{}, err
	}
	return ReferResult{MemberID: memberID, ReferredBy: referrer}, nil
}

// rewardReferrers pays the referrers of a referee's earn of pts points
// (purchase id): each level's permille, within the referrer's monthly cap
// and what the marketing budget holds. It returns the points paid.
func (s *Service) rewardReferrers(tx Tx, p *Purchase, pts int64, releaseAt, expiresAt time.Time) (int64, error) {
	now := tx.Now()
	terms := s.ReferralAt(now) // the terms in force when the referee earned
	if !terms.Enabled() || pts <= 0 {
		return 0, nil
	}
	rt, err := referralTx(tx)
	if err != nil {
		return 0, err
	}
	var paid int64
	member := p.MemberID
	for level, permille := range terms.LevelsPermille {
		referrer, err := rt.Referrer(member)
		if errors.Is(err, ErrNotFound) {
			break
		}
		if err != nil {
			return 0, err
		}
		member = referrer
		reward := pts * permille / 1000 // pts ≤ 10^12 and permille ≤ 1000: no overflow
		month := CounterKey{MemberID: referrer, Scope: ScopeReferral, Period: MonthPeriod(now)}
		c, err := tx.Counter(month)
		if err != nil {
			return 0, err
		}
		reward = min(reward, max(terms.MonthlyCapPoints-c.Points, 0))
		bal, err := tx.Balance(ledger.Marketing)
		if err != nil {
			return 0, err
		}
		// Only what the operator funded: an empty budget pays nothing.
		reward = min(reward, bal)
		if reward <= 0 {
			continue
		}
		t := &ledger.Transaction{Kind: ledger.KindReferral, Ref: fmt.Sprintf("purchase:%d:referral:%d", p.ID, level+1), CreatedAt: now,
			Postings: ledger.Move(ledger.Marketing, ledger.MemberPending(referrer), reward)}
		if err := tx.Post(t); err != nil {
			return 0, err
		}
		lotID, err := tx.NewID()
		if err != nil {
			return 0, err
		}
		lot := &ledger.Lot{ID: lotID, MemberID: referrer, MerchantID: ReferralIssuer, PurchaseID: p.ID, Points: reward, Remaining: reward,
			State: ledger.LotPending, RuleVersion: fmt.Sprintf("%s:L%d", terms.Version(), level+1), EarnedAt: now,
			ReleaseAt: releaseAt, ExpiresAt: expiresAt}
		if err := tx.SaveLot(lot, true); err != nil {
			return 0, err
		}
		if err := tx.AddCounter(month, 1, reward); err != nil {
			return 0, err
		}
		if err := rt.SaveReferralReward(&ReferralReward{PurchaseID: p.ID, Level: level + 1, MemberID: referrer, LotID: lotID, Points: reward, New: true}); err != nil {
			return 0, err
		}
		paid += reward
	}
	return paid, nil
}

// ReferralAt is the programme in force at t: Referral, or ReferralNext
// from ReferralNextFrom on when a change is scheduled.
func (s *Service) ReferralAt(t time.Time) *ReferralTerms {
	if s.ReferralScheduled && !t.Before(s.ReferralNextFrom) {
		return s.ReferralNext
	}
	return s.Referral
}

// SetReferralSchedule makes the service pay under a schedule.
func (s *Service) SetReferralSchedule(sc ReferralSchedule) {
	s.Referral, s.ReferralScheduled, s.ReferralNext, s.ReferralNextFrom = sc.Active, sc.Scheduled, sc.Next, sc.NextFrom
}

// referralLevels is the most levels any scheduled terms pay (0: no
// programme now or later): what a command reads and reserves ids for.
func (s *Service) referralLevels() int {
	n := 0
	if s.Referral.Enabled() {
		n = len(s.Referral.LevelsPermille)
	}
	if s.ReferralScheduled && s.ReferralNext.Enabled() {
		n = max(n, len(s.ReferralNext.LevelsPermille))
	}
	return n
}

// ReferralIssuer is the issuer recorded on a referral reward's lot: the
// alliance's marketing budget, not a merchant.
const ReferralIssuer = ""

// clawReferralRewards claws back, when a referee's purchase is refunded up
// to refundedFen in total, the same share of each referral reward it paid:
// floor(reward × refunded / amount) cumulatively, from the reward's lot
// (pending or available) back to the marketing budget; what the referrer
// already spent becomes their debt to it.
func (s *Service) clawReferralRewards(tx Tx, p *Purchase, refundedFen int64) (clawed, debt int64, err error) {
	rt, ok := tx.(ReferralTx)
	if !ok {
		return 0, 0, nil
	}
	rewards, err := rt.ReferralRewards(p.ID)
	if err != nil || len(rewards) == 0 {
		return 0, 0, err
	}
	now := tx.Now()
	for i := range rewards {
		r := &rewards[i]
		claw := refundedShare(r.Points, refundedFen, p.AmountFen) - r.ReversedPoints
		if claw <= 0 {
			continue
		}
		l, err := tx.Lot(r.LotID)
		if err != nil {
			return 0, 0, err
		}
		n := claw
		if l.State == ledger.LotClosed {
			n = 0
		}
		n = min(n, l.Remaining)
		if n > 0 {
			from := ledger.MemberPending(r.MemberID)
			if l.State == ledger.LotAvailable {
				from = ledger.MemberAvailable(r.MemberID)
			}
			t := &ledger.Transaction{Kind: ledger.KindClawback, Ref: fmt.Sprintf("purchase:%d:referral:%d:refund:%d", p.ID, r.Level, refundedFen),
				CreatedAt: now, Postings: ledger.Move(from, ledger.Marketing, n)}
			if err := tx.Post(t); err != nil {
				return 0, 0, err
			}
			l.Remaining -= n
			if l.Remaining == 0 {
				l.State = ledger.LotClosed
			}
			if err := tx.SaveLot(l, false); err != nil {
				return 0, 0, err
			}
			clawed += n
		}
		if short := claw - n; short > 0 {
			id, err := tx.NewID()
			if err != nil {
				return 0, 0, err
			}
			if err := tx.SaveDebt(&Debt{ID: id, MemberID: r.MemberID, MerchantID: ReferralIssuer, PurchaseID: p.ID, Points: short,
				Remaining: short, CreatedAt: now, New: true}); err != nil {
				return 0, 0, err
			}
			debt += short
		}
		r.ReversedPoints += claw
		r.New = false
		if err := rt.SaveReferralReward(r); err != nil {
			return 0, 0, err
		}
	}
	return clawed, debt, nil
}

// MarketingFundResult is the outcome of funding the marketing budget.
type MarketingFundResult struct {
	TxID            int64 `json:"tx_id"`
	Points          int64 `json:"points"`
	MarketingPoints int64 `json:"marketing_points"`
}

// FundMarketingCommand records money the operator paid into the reserve
// for the marketing budget (see FundMarketing).
func (s *Service) FundMarketingCommand(r FundRequest) Command {
	return Command{Name: "fund_marketing", IDs: fundIDs,
		Reads: Reads{Purchases: []PurchaseKey{{MerchantID: ledger.Marketing, Kind: PurchaseFund, OrderID: r.ExternalRef}}},
		Apply: func(tx Tx) (any, error) { return s.FundMarketing(tx, r) }}
}

// FundMarketing credits the reserve with the operator's money and mints
// the matching points into alliance:marketing, exactly as a merchant's
// funding mints into its budget: referral rewards are paid from nothing
// else. One payment (external_ref) funds once.
func (s *Service) FundMarketing(tx Tx, r FundRequest) (MarketingFundResult, error) {
	if r.AmountFen <= 0 || r.AmountFen > 1_000_000_000_000 {
		return MarketingFundResult{}, errf(Invalid, CodeInvalidAmount, "amount_fen must be between 1 and 1000000000000")
	}
	if r.AmountFen%s.Policy.FaceValueFen != 0 {
		return MarketingFundResult{}, errf(Invalid, CodeInvalidAmount, "amount_fen must be a multiple of the point face value (%d fen)", s.Policy.FaceValueFen)
	}
	if err := checkText("external_ref", r.ExternalRef, 128); err != nil || r.ExternalRef == "" {
		return MarketingFundResult{}, errf(Invalid, "invalid_external_ref", "external_ref (the reference of the received money) is 1-128 printable characters")
	}
	if err := mustBeNew(tx, ledger.Marketing, PurchaseFund, r.ExternalRef, CodeAlreadyFunded, "payment %q was already recorded as funding"); err != nil {
		return MarketingFundResult{}, err
	}
	pts := r.AmountFen / s.Policy.FaceValueFen
	t := &ledger.Transaction{Kind: ledger.KindFund, Ref: "fund:" + ledger.Marketing + ":" + r.ExternalRef, CreatedAt: tx.Now()}
	t.Postings = append(ledger.Move(ledger.Funding, ledger.Reserve, r.AmountFen), ledger.Move(ledger.Mint, ledger.Marketing, pts)...)
	if err := tx.Post(t); err != nil {
		return MarketingFundResult{}, err
	}
	id, err := tx.NewID()
	if err != nil {
		return MarketingFundResult{}, err
	}
	if err := tx.SavePurchase(&Purchase{ID: id, Kind: PurchaseFund, MerchantID: ledger.Marketing, OrderID: r.ExternalRef,
		AmountFen: r.AmountFen, Points: pts, TxID: t.ID, CreatedAt: tx.Now(), New: true}); err != nil {
		return MarketingFundResult{}, err
	}
	bal, err := tx.Balance(ledger.Marketing)
	if err != nil {
		return MarketingFundResult{}, err
	}
	return MarketingFundResult{TxID: t.ID, Points: pts, MarketingPoints: bal}, nil
}

// MarketingPoints is what the marketing budget can still pay.
func (s *Service) MarketingPoints(ctx context.Context) (int64, error) {
	b, err := s.Reader.Balances(ctx, ledger.Marketing)
	if err != nil {
		return 0, fmt.Errorf("marketing budget: %w", err)
	}
	return b[ledger.Marketing], nil
}

// MarketingScope is the idempotency and audit subject of the marketing
// budget's fundings.
const MarketingScope = ledger.Marketing

// AuditReferralTerms is the audit event (so the evidence log entry) of the
// referral terms the gateway runs under, recorded when they change.
const AuditReferralTerms = "rules.referral_terms"

// PublishedReferralTerms is one entry of the programme's public history.
type PublishedReferralTerms struct {
	// Version is the terms' version, or "none" when the programme stopped.
	Version          string  `json:"version"`
	LevelsPermille   []int64 `json:"levels_permille"`
	MonthlyCapPoints int64   `json:"monthly_cap_points"`
	// Since is when these terms were recorded (published).
	Since time.Time `json:"since"`
	// EffectiveFrom is when they take effect (entries recorded before
	// scheduling existed took effect when recorded).
	EffectiveFrom time.Time `json:"effective_from"`
	// NoticeFrom is when these terms were first published (a reschedule of
	// the same terms keeps it): the notice period runs from it.
	NoticeFrom time.Time `json:"notice_from"`
	// LessFavourable says whether they are less favourable to members than
	// the terms in force when they were published, Changes how, term by term.
	LessFavourable bool                 `json:"less_favourable"`
	Changes        []ReferralTermChange `json:"changes,omitempty"`
}

// effective is when the entry takes (or took) effect.
func (p PublishedReferralTerms) effective() time.Time {
	if p.EffectiveFrom.IsZero() {
		return p.Since
	}
	return p.EffectiveFrom
}

// Terms is the entry's programme (nil: none).
func (p PublishedReferralTerms) Terms() *ReferralTerms {
	if p.Version == "none" || len(p.LevelsPermille) == 0 {
		return nil
	}
	return &ReferralTerms{LevelsPermille: p.LevelsPermille, MonthlyCapPoints: p.MonthlyCapPoints}
}

// ReferralTermChange is one term that differs between two versions of
// the programme (levels, level_N_permille, monthly_cap_points; a term of
// a programme that is off counts as 0).
type ReferralTermChange struct {
	Term string `json:"term"`
	From int64  `json:"from"`
	To   int64  `json:"to"`
	// LessFavourable: members get less under the new value.
	LessFavourable bool `json:"less_favourable"`
}

// CompareReferralTerms lists how next differs from cur and whether it is
// less favourable to members on any term: fewer levels (switching the
// programme off included), a lower share at any level, a lower cap.
func CompareReferralTerms(cur, next *ReferralTerms) (less bool, changes []ReferralTermChange) {
	norm := func(t *ReferralTerms) (levels []int64, cap int64) {
		if !t.Enabled() {
			return nil, 0
		}
		return t.LevelsPermille, t.MonthlyCapPoints
	}
	cl, cc := norm(cur)
	nl, nc := norm(next)
	add := func(term string, from, to int64) {
		if from != to {
			changes = append(changes, ReferralTermChange{Term: term, From: from, To: to, LessFavourable: to < from})
			less = less || to < from
		}
	}
	add("levels", int64(len(cl)), int64(len(nl)))
	for i := range max(len(cl), len(nl)) {
		var from, to int64
		if i < len(cl) {
			from = cl[i]
		}
		if i < len(nl) {
			to = nl[i]
		}
		add(fmt.Sprintf("level_%d_permille", i+1), from, to)
	}
	add("monthly_cap_points", cc, nc)
	return less, changes
}

// ReferralSchedule is the programme in force and the change scheduled,
// if any: rewards are paid under Active until NextFrom, then under Next.
type ReferralSchedule struct {
	Active *ReferralTerms
	// Scheduled says whether a change is scheduled (Next nil: the
	// programme stops at NextFrom).
	Scheduled bool
	Next      *ReferralTerms
	NextFrom  time.Time
}

// ReferralState replays the published history: the entry in force at t
// and the one scheduled after t (nil when none). A publication replaces
// (withdraws) a change still scheduled when it was made.
func ReferralState(history []PublishedReferralTerms, t time.Time) (active, pending *PublishedReferralTerms) {
	for i := range history {
		ev := &history[i]
		if pending != nil && !pending.effective().After(ev.Since) {
			active, pending = pending, nil
		}
		if ev.effective().After(ev.Since) {
			pending = ev
		} else {
			active, pending = ev, nil
		}
	}
	if pending != nil && !pending.effective().After(t) {
		active, pending = pending, nil
	}
	return active, pending
}

// CodeReferralNotice is the code of terms refused for want of notice.
const CodeReferralNotice = "notice_period_not_met"

// ReferralNoticeError refuses less favourable terms scheduled sooner than
// the notice period allows.
type ReferralNoticeError struct {
	Changes  []ReferralTermChange
	Earliest time.Time
	Notice   time.Duration
}

func (e *ReferralNoticeError) Error() string {
	var less []string
	for _, c := range e.Changes {
		if c.LessFavourable {
			less = append(less, fmt.Sprintf("%s %d -> %d", c.Term, c.From, c.To))
		}
	}
	return fmt.Sprintf("%s: the new referral terms are less favourable to members than the terms in force (%s): "+
		"they take effect no sooner than the notice period (%s) after they were first published; "+
		"set rules.referral.effective_from to %s or later", CodeReferralNotice, strings.Join(less, ", "), e.Notice, e.Earliest.UTC().Format(time.RFC3339))
}

// PlanReferralTerms decides, from the published history, what the terms
// configured now (next, to take effect at effectiveFrom; zero: at once)
// mean: the entry to record (nil when nothing changed) and the schedule
// to pay under. Terms less favourable to members than those in force take
// effect no sooner than notice after they were first published (an
// earlier effective time is refused with a ReferralNoticeError); others
// may take effect at once.
func PlanReferralTerms(history []PublishedReferralTerms, next *ReferralTerms, effectiveFrom, now time.Time, notice time.Duration) (*PublishedReferralTerms, ReferralSchedule, error) {
	active, pending := ReferralState(history, now)
	var cur *ReferralTerms
	curVersion := "none"
	if active != nil {
		cur, curVersion = active.Terms(), active.Version
	}
	pub := next.Published(now)
	if pending != nil && pending.Version == pub.Version && (effectiveFrom.IsZero() || effectiveFrom.Equal(pending.effective())) {
		// A restart while the change is scheduled.
		return nil, ReferralSchedule{Active: cur, Scheduled: true, Next: pending.Terms(), NextFrom: pending.effective()}, nil
	}
	if pending == nil && pub.Version == curVersion {
		return nil, ReferralSchedule{Active: cur}, nil
	}
	pub.NoticeFrom = now
	if pending != nil && pending.Version == pub.Version && !pending.NoticeFrom.IsZero() {
		pub.NoticeFrom = pending.NoticeFrom
	}
	pub.LessFavourable, pub.Changes = CompareReferralTerms(cur, next)
	eff := effectiveFrom
	if pub.LessFavourable {
		if earliest := pub.NoticeFrom.Add(notice); eff.Before(earliest) {
			return nil, ReferralSchedule{}, &ReferralNoticeError{Changes: pub.Changes, Earliest: earliest, Notice: notice}
		}
	} else if eff.Before(now) {
		eff = now // never retroactive
	}
	pub.EffectiveFrom = eff
	if !eff.After(now) {
		return &pub, ReferralSchedule{Active: next}, nil
	}
	return &pub, ReferralSchedule{Active: cur, Scheduled: true, Next: next, NextFrom: eff}, nil
}

// Published is the terms as recorded (nil: no programme).
func (t *ReferralTerms) Published(at time.Time) PublishedReferralTerms {
	if !t.Enabled() {
		return PublishedReferralTerms{Version: "none", LevelsPermille: []int64{}, Since: at, EffectiveFrom: at}
	}
	return PublishedReferralTerms{Version: t.Version(), LevelsPermille: t.LevelsPermille, MonthlyCapPoints: t.MonthlyCapPoints, Since: at, EffectiveFrom: at}
}
