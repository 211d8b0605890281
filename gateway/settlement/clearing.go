package settlement

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/emmansun/gmsm/sm2"

	"github.com/lianmeng/lianmeng/gateway/ledger"
	"github.com/lianmeng/lianmeng/gateway/store"
)

// StatementDomain prefixes every signed statement body, so a statement
// signature can never be taken for a checkpoint's or a receipt's.
const StatementDomain = "lianmeng-statement-v1\n"

// StatementSigner signs statement bodies (the evidence key: SM2Signer).
type StatementSigner interface {
	KeyID() string
	SignStatement(body []byte) ([]byte, error)
}

// SM2Signer signs statements with an SM2 key (the gateway's evidence key)
// over StatementDomain + body, SM3 with the default user id.
type SM2Signer struct {
	Key *sm2.PrivateKey
	ID  string
}

// KeyID names the key (the evidence key's id).
func (s SM2Signer) KeyID() string { return s.ID }

// SignStatement returns the ASN.1 SM2 signature.
func (s SM2Signer) SignStatement(body []byte) ([]byte, error) {
	return s.Key.Sign(rand.Reader, append([]byte(StatementDomain), body...), sm2.DefaultSM2SignerOpts)
}

// VerifyStatement checks a stored statement's signature with the public key.
func VerifyStatement(pub *ecdsa.PublicKey, body []byte, sigB64 string) bool {
	sig, err := base64.StdEncoding.DecodeString(sigB64)
	if err != nil {
		return false
	}
	return sm2.VerifyASN1WithSM2(pub, nil, append([]byte(StatementDomain), body...), sig)
}

// Statement is what the alliance owes one merchant for one day: the
// payable at the cut-off before, each kind of movement, and the payable at
// the cut-off after (opening + net = closing, exact to the fen).
type Statement struct {
	MerchantID string          `json:"merchant_id"`
	Date       string          `json:"date"`
	From       time.Time       `json:"from"`
	To         time.Time       `json:"to"`
	OpeningFen int64           `json:"opening_fen"`
	Lines      []StatementLine `json:"lines"`
	NetFen     int64           `json:"net_fen"`
	ClosingFen int64           `json:"closing_fen"`
}

// StatementLine is one kind of movement of the payable.
type StatementLine struct {
	Kind      string `json:"kind"` // redeem, redeem_reversal, payout_hold, payout_return, ...
	Count     int64  `json:"count"`
	AmountFen int64  `json:"amount_fen"`
}

// CSV renders the statement for spreadsheets: one row per line, then the
// totals.
func (s Statement) CSV() []byte {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	_ = w.Write([]string{"merchant_id", "date", "kind", "count", "amount_fen"})
	_ = w.Write([]string{s.MerchantID, s.Date, "opening", "", strconv.FormatInt(s.OpeningFen, 10)})
	for _, l := range s.Lines {
		_ = w.Write([]string{s.MerchantID, s.Date, l.Kind, strconv.FormatInt(l.Count, 10), strconv.FormatInt(l.AmountFen, 10)})
	}
	_ = w.Write([]string{s.MerchantID, s.Date, "net", "", strconv.FormatInt(s.NetFen, 10)})
	_ = w.Write([]string{s.MerchantID, s.Date, "closing", "", strconv.FormatInt(s.ClosingFen, 10)})
	w.Flush()
	return b.Bytes()
}

// Calendar cuts the alliance's clearing days (config settlement.time_zone
// and settlement.cutoff): the day D is the 24 hours that end at the
// cut-off on D in Location (00:00: the midnight that ends D), so with a
// 22:00 cut-off a transaction at 21:59:59 on D is in D and one at
// 22:00:00 is in D+1. The zero Calendar is midnight in UTC+8.
type Calendar struct {
	Location *time.Location
	// Cutoff is the time of day the day ends, from midnight (0 to 23:59).
	Cutoff time.Duration
}

// ChinaTime is the default zone (Asia/Shanghai has had no daylight
// saving since 1991).
var ChinaTime = time.FixedZone("CST", 8*3600)

func (c Calendar) loc() *time.Location {
	if c.Location != nil {
		return c.Location
	}
	return ChinaTime
}

// end is when the day y-m-d ends: its cut-off, by the wall clock (a day
// across a daylight-saving change is 23 or 25 hours long). A 00:00
// cut-off is the midnight at the end of the day, not at its start.
func (c Calendar) end(y int, m time.Month, d int) time.Time {
	cut := c.Cutoff
	if cut <= 0 {
		cut = 24 * time.Hour
	}
	h, min := int(cut/time.Hour), int(cut%time.Hour/time.Minute)
	return time.Date(y, m, d, h, min, 0, 0, c.loc())
}

// Window is the [from, to) of a date (YYYY-MM-DD), in UTC.
func (c Calendar) Window(date string) (from, to time.Time, err error) {
	day, err := time.ParseInLocation("2006-01-02", date, c.loc())
	if err != nil || day.Format("2006-01-02") != date {
		return time.Time{}, time.Time{}, fmt.Errorf("%w: date %q is not YYYY-MM-DD", ErrInvalid, date)
	}
	y, m, d := day.Date()
	return c.end(y, m, d-1).UTC(), c.end(y, m, d).UTC(), nil
}

// DayOf is the clearing day t belongs to.
func (c Calendar) DayOf(t time.Time) string {
	y, m, d := t.In(c.loc()).Date()
	if c.Cutoff > 0 && !t.Before(c.end(y, m, d)) {
		return time.Date(y, m, d+1, 0, 0, 0, 0, time.UTC).Format("2006-01-02")
	}
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Format("2006-01-02")
}

// LastClosed is the latest day that has ended at now: the day before the
// one now is in.
func (c Calendar) LastClosed(now time.Time) string {
	day, _ := time.Parse("2006-01-02", c.DayOf(now))
	return day.AddDate(0, 0, -1).Format("2006-01-02")
}

// Clearing produces the daily statements.
type Clearing struct {
	DB *store.DB
	// Calendar says which transactions a day's statements cover.
	Calendar Calendar
	Signer   StatementSigner // nil: statements are stored unsigned
	Now      func() time.Time
}

// Window is the [from, to) a date's statements cover.
func (c *Clearing) Window(date string) (from, to time.Time, err error) {
	return c.Calendar.Window(date)
}

// Run makes (or makes again) the statement of every merchant whose payable
// moved during the day; progress, if set, is told after each merchant.
// The same day run twice gives the same statements.
func (c *Clearing) Run(ctx context.Context, date string, progress func(done, total int)) ([]Statement, error) {
	from, to, err := c.Window(date)
	if err != nil {
		return nil, err
	}
	lines, err := c.DB.PayableActivity(ctx, from, to)
	if err != nil {
		return nil, err
	}
	byMerchant := map[string][]store.PayableLine{}
	for _, l := range lines {
		m := ledger.ParseAccount(l.Account).Owner
		byMerchant[m] = append(byMerchant[m], l)
	}
	merchants := make([]string, 0, len(byMerchant))
	for m := range byMerchant {
		merchants = append(merchants, m)
	}
	sort.Strings(merchants)
	now := time.Now().UTC()
	if c.Now != nil {
		now = c.Now().UTC()
	}
	out := make([]Statement, 0, len(merchants))
	for i, m := range merchants {
		open, err := c.DB.BalanceBefore(ctx, ledger.MerchantPayable(m), from)
		if err != nil {
			return nil, err
		}
		st := Statement{MerchantID: m, Date: date, From: from, To: to, OpeningFen: open}
		for _, l := range byMerchant[m] {
			st.Lines = append(st.Lines, StatementLine{Kind: l.Kind, Count: l.Count, AmountFen: l.Sum})
			st.NetFen += l.Sum
		}
		st.ClosingFen = st.OpeningFen + st.NetFen
		body, err := json.Marshal(st)
		if err != nil {
			return nil, err
		}
		stored := store.StoredStatement{MerchantID: m, Date: date, Body: string(body), CreatedAt: now}
		if c.Signer != nil {
			sig, err := c.Signer.SignStatement(body)
			if err != nil {
				return nil, fmt.Errorf("sign the statement of %s: %w", m, err)
			}
			stored.KeyID, stored.Signature = c.Signer.KeyID(), base64.StdEncoding.EncodeToString(sig)
		}
		if err := c.DB.SaveStatement(ctx, stored); err != nil {
			return nil, err
		}
		out = append(out, st)
		if progress != nil {
			progress(i+1, len(merchants))
		}
	}
	return out, nil
}

// String is a one-line summary (for the settle command).
func (s Statement) String() string {
	kinds := make([]string, len(s.Lines))
	for i, l := range s.Lines {
		kinds[i] = fmt.Sprintf("%s %d×%d", l.Kind, l.Count, l.AmountFen)
	}
	return fmt.Sprintf("%s %s: opening %d, %s, closing %d fen", s.MerchantID, s.Date, s.OpeningFen, strings.Join(kinds, ", "), s.ClosingFen)
}
