package points

import (
	"errors"
	"fmt"
	"time"

	"github.com/lianmeng/lianmeng/gateway/ledger"
)

// Legacy import (issue 16): a merchant joining the alliance brings its
// members' existing points. Each imported row becomes an available lot
// issued from the merchant's funded budget (no unfunded issuance, even
// for imports), keeping its original earned date and expiry, never
// expiring sooner than the alliance's minimum from the import.

// PurchaseImport records one imported row (OrderID is the import's id and
// the row's line), so a row is imported once however often the import is
// run again: an interrupted import resumes by running it again.
const PurchaseImport = "import"

// KindImport is the ledger transaction of an imported row.
const KindImport = "import"

// Refusal codes of import rows.
const (
	CodeImportExpired = "import_expired"
	CodeImportDates   = "import_dates_invalid"
	CodeImportDup     = "import_duplicate_row"
)

// ImportRow is one member's points from the merchant's previous scheme.
type ImportRow struct {
	Line      int
	Member    Identity
	Points    int64
	EarnedAt  time.Time
	ExpiresAt time.Time
}

// CheckImportRow checks a row's form at now: a known identity, points
// between 1 and the policy's per-earn maximum (the bound on one lot; more
// is an absurd row), an earned date not in the future and before an
// expiry still to come.
func (s *Service) CheckImportRow(r ImportRow, now time.Time) error {
	if err := CheckIdentity(r.Member); err != nil {
		return err
	}
	if r.Points <= 0 || r.Points > s.Policy.MaxPointsPerEarn {
		return errf(Invalid, CodeInvalidPoints, "points must be between 1 and %d", s.Policy.MaxPointsPerEarn)
	}
	if r.EarnedAt.IsZero() || r.ExpiresAt.IsZero() {
		return errf(Invalid, CodeImportDates, "earned_at and expires_at are required")
	}
	if r.EarnedAt.After(now) {
		return errf(Invalid, CodeImportDates, "earned_at %s is in the future", r.EarnedAt.Format(time.RFC3339))
	}
	if !r.ExpiresAt.After(r.EarnedAt) {
		return errf(Invalid, CodeImportDates, "expires_at must be after earned_at")
	}
	if !r.ExpiresAt.After(now) {
		return errf(Invalid, CodeImportExpired, "the points expired on %s", r.ExpiresAt.Format(time.RFC3339))
	}
	return nil
}

// ImportRequest imports rows for a merchant under an import id (stable for
// one file, so running it again skips what was imported).
type ImportRequest struct {
	MerchantID string
	ImportID   string
	Rows       []ImportRow
	// MinValidity is the alliance's minimum: an imported lot never
	// expires sooner than this after the import.
	MinValidity time.Duration
}

// ImportResult counts what one command did.
type ImportResult struct {
	Imported int   `json:"imported"`
	Skipped  int   `json:"skipped"` // imported by an earlier run
	Points   int64 `json:"points"`
}

// ImportOrderID names a row's record.
func ImportOrderID(importID string, line int) string { return fmt.Sprintf("%s:%d", importID, line) }

// ImportCommand imports a chunk of rows in one unit of work.
func (s *Service) ImportCommand(r ImportRequest) Command {
	reads := Reads{Merchants: []string{r.MerchantID}, Accounts: []string{ledger.MerchantBudget(r.MerchantID)}}
	for _, row := range r.Rows {
		reads.Members = append(reads.Members, MemberKey{MerchantID: r.MerchantID, Identity: row.Member})
		reads.Purchases = append(reads.Purchases, PurchaseKey{MerchantID: r.MerchantID, Kind: PurchaseImport, OrderID: ImportOrderID(r.ImportID, row.Line)})
	}
	return Command{Name: "import", IDs: 3 * len(r.Rows), Reads: reads, Apply: func(tx Tx) (any, error) { return s.Import(tx, r) }}
}

// Import applies the rows: each not yet imported moves its points from the
// merchant's budget to the member's available points as a lot. The whole
// chunk is refused if one row is (the budget is short, the merchant is
// not active): the caller checks rows before (CheckImportRow).
func (s *Service) Import(tx Tx, r ImportRequest) (ImportResult, error) {
	m, err := tx.Merchant(r.MerchantID)
	if errors.Is(err, ErrNotFound) {
		return ImportResult{}, errf(NotFound, CodeUnknownMerchant, "unknown merchant %q", r.MerchantID)
	}
	if err != nil {
		return ImportResult{}, err
	}
	if !m.Active {
		return ImportResult{}, errf(Unprocessable, CodeMerchantInactive, "merchant %q is not active", r.MerchantID)
	}
	if r.ImportID == "" {
		return ImportResult{}, errf(Invalid, CodeValidation, "an import needs an id")
	}
	now := tx.Now()
	var res ImportResult
	for _, row := range r.Rows {
		if err := s.CheckImportRow(row, now); err != nil {
			return ImportResult{}, fmt.Errorf("line %d: %w", row.Line, err)
		}
		order := ImportOrderID(r.ImportID, row.Line)
		if _, err := tx.Purchase(r.MerchantID, PurchaseImport, order); err == nil {
			res.Skipped++
			continue
		} else if !errors.Is(err, ErrNotFound) {
			return ImportResult{}, err
		}
		memberID, err := tx.Member(r.MerchantID, row.Member, true)
		if err != nil {
			return ImportResult{}, err
		}
		pid, err := tx.NewID()
		if err != nil {
			return ImportResult{}, err
		}
		lid, err := tx.NewID()
		if err != nil {
			return ImportResult{}, err
		}
		t := &ledger.Transaction{Kind: KindImport, Ref: fmt.Sprintf("purchase:%d", pid), CreatedAt: now,
			Postings: ledger.Move(ledger.MerchantBudget(r.MerchantID), ledger.MemberAvailable(memberID), row.Points)}
		if err := tx.Post(t); err != nil {
			var ie *ErrInsufficient
			if errors.As(err, &ie) {
				return ImportResult{}, errf(Unprocessable, CodeInsufficientBudget, "line %d: the budget (%d points) does not cover the import; fund it first", row.Line, ie.Balance)
			}
			return ImportResult{}, err
		}
		expires := row.ExpiresAt
		if floor := now.Add(r.MinValidity); expires.Before(floor) {
			expires = floor
		}
		l := &ledger.Lot{ID: lid, MemberID: memberID, MerchantID: r.MerchantID, PurchaseID: pid, Points: row.Points, Remaining: row.Points,
			State: ledger.LotAvailable, RuleVersion: "import", EarnedAt: row.EarnedAt.UTC(), ReleaseAt: now, ExpiresAt: expires.UTC()}
		if err := tx.SaveLot(l, true); err != nil {
			return ImportResult{}, err
		}
		if err := tx.SavePurchase(&Purchase{ID: pid, Kind: PurchaseImport, MerchantID: r.MerchantID, OrderID: order, MemberID: memberID,
			Points: row.Points, LotID: lid, TxID: t.ID, RuleVersion: "import", CreatedAt: now, New: true}); err != nil {
			return ImportResult{}, err
		}
		res.Imported++
		res.Points += row.Points
	}
	return res, nil
}
