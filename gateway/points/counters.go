package points

import "time"

// Counters: what a member earned at a merchant in the current day and
// month of the alliance's time zone. A rule version reads them for its
// per-member caps and for the counters its expression uses; the earn reads
// and adds to them inside the batch (Tx.Counter, Tx.AddCounter), so two
// earns of one member in one batch both count, and on MySQL the store
// locks the counter rows as it locks debited balances.
//
// A merchant's earns are counted while the version in effect needs the
// counters (Earning.NeedsCounters): a version that starts using them counts
// from its effective time. A refund does not uncount an earn (the cap room
// it used is not given back), so a buy-and-refund cannot reset a cap.

// Zone is the alliance's time zone: days and months of counters, and the
// hour and weekday a rule expression sees (China Standard Time, which has
// no daylight saving).
var Zone = time.FixedZone("CST", 8*3600)

// Counter is one period's count: earns and the points they awarded.
type Counter struct {
	Purchases int64 `json:"purchases"`
	Points    int64 `json:"points"`
}

// CounterKey names a counter: a member's earns in a scope (a merchant id,
// or ScopeReferral for referral rewards) in a period (DayPeriod,
// MonthPeriod).
type CounterKey struct {
	MemberID string
	Scope    string
	Period   string
}

// ScopeReferral counts the referral rewards a member received (the
// monthly cap per referrer).
const ScopeReferral = "alliance:referral"

// DayPeriod and MonthPeriod name the day and the month of t in Zone.
func DayPeriod(t time.Time) string   { return t.In(Zone).Format("d2006-01-02") }
func MonthPeriod(t time.Time) string { return t.In(Zone).Format("m2006-01") }

// MemberCounters are what an earn's rule sees of the member's earlier
// earns at the merchant (this purchase not included).
type MemberCounters struct {
	Today     Counter `json:"today"`
	ThisMonth Counter `json:"this_month"`
}

// memberCounters reads a member's counters at a merchant at now.
func memberCounters(tx Tx, memberID, merchantID string, now time.Time) (MemberCounters, error) {
	d, err := tx.Counter(CounterKey{memberID, merchantID, DayPeriod(now)})
	if err != nil {
		return MemberCounters{}, err
	}
	m, err := tx.Counter(CounterKey{memberID, merchantID, MonthPeriod(now)})
	if err != nil {
		return MemberCounters{}, err
	}
	return MemberCounters{Today: d, ThisMonth: m}, nil
}

// count adds one earn of pts to a member's day and month counters in scope.
func count(tx Tx, memberID, scope string, now time.Time, pts int64) error {
	if err := tx.AddCounter(CounterKey{memberID, scope, DayPeriod(now)}, 1, pts); err != nil {
		return err
	}
	return tx.AddCounter(CounterKey{memberID, scope, MonthPeriod(now)}, 1, pts)
}

// NeedsCounters reports whether earns under e read the member's counters:
// a per-member cap, or an expression that uses them.
func (e Earning) NeedsCounters() bool {
	if e.MemberDayCap > 0 || e.MemberMonthCap > 0 {
		return true
	}
	u, ok := e.Expr.(interface{ UsesCounters() bool })
	return ok && u.UsesCounters()
}

// memberCaps bounds pts by the version's per-member caps given what the
// member earned already, recording each cap that removed points.
func (e Earning) memberCaps(pts int64, c MemberCounters) (int64, []BreakdownCap) {
	var caps []BreakdownCap
	for _, lim := range []struct {
		code  string
		limit int64
		used  int64
	}{{CapMemberDay, e.MemberDayCap, c.Today.Points}, {CapMemberMonth, e.MemberMonthCap, c.ThisMonth.Points}} {
		if lim.limit <= 0 {
			continue
		}
		room := max(lim.limit-lim.used, 0)
		if pts > room {
			caps = append(caps, BreakdownCap{Code: lim.code, LimitPoints: lim.limit, RemovedPoints: pts - room})
			pts = room
		}
	}
	return pts, caps
}

// Codes of the per-member caps in a breakdown.
const (
	CapMemberDay   = "member_day"
	CapMemberMonth = "member_month"
)
