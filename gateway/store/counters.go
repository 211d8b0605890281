package store

import (
	"fmt"
	"sort"
	"strings"

	"github.com/lianmeng/lianmeng/gateway/points"
)

// Member counters (migration 00063): read and locked like debited
// balances (a row is created at zero, then selected FOR UPDATE on MySQL, in
// key order), changed in the batch's cache, and written once per batch as
// deltas, so two earns of one member in one batch both count and two
// gateway instances never both spend the same cap room.

type counter struct {
	known bool // read (and locked) from the database
	cur   points.Counter
	delta points.Counter
}

func counterKey(k points.CounterKey) string { return k.MemberID + "\x00" + k.Scope + "\x00" + k.Period }

func (u *uow) Counter(k points.CounterKey) (points.Counter, error) {
	if err := u.lockCounters([]points.CounterKey{k}); err != nil {
		return points.Counter{}, err
	}
	return u.counters[counterKey(k)].cur, nil
}

func (u *uow) AddCounter(k points.CounterKey, purchases, pts int64) error {
	if err := u.lockCounters([]points.CounterKey{k}); err != nil {
		return err
	}
	c := u.counters[counterKey(k)]
	c.cur.Purchases += purchases
	c.cur.Points += pts
	c.delta.Purchases += purchases
	c.delta.Points += pts
	u.onUndo(func() {
		c.cur.Purchases -= purchases
		c.cur.Points -= pts
		c.delta.Purchases -= purchases
		c.delta.Points -= pts
	})
	return nil
}

// lockCounters reads (and on MySQL locks) the counters not yet known.
func (u *uow) lockCounters(keys []points.CounterKey) error {
	var want []points.CounterKey
	seen := map[string]bool{}
	for _, k := range keys {
		s := counterKey(k)
		if c := u.counters[s]; (c == nil || !c.known) && !seen[s] {
			seen[s] = true
			want = append(want, k)
		}
	}
	if len(want) == 0 {
		return nil
	}
	sort.Slice(want, func(i, j int) bool { return counterKey(want[i]) < counterKey(want[j]) })
	args := make([]any, 0, 3*len(want))
	for _, k := range want {
		args = append(args, k.MemberID, k.Scope, k.Period)
	}
	// A row to lock even for a counter never counted: without it, two
	// instances would both read "nothing yet" (READ COMMITTED takes no gap
	// locks) and both spend the whole cap.
	ins := "INSERT OR IGNORE INTO member_counters (member_id, scope, period, purchases, points) VALUES "
	if u.db.Dialect == MySQL {
		ins = "INSERT IGNORE INTO member_counters (member_id, scope, period, purchases, points) VALUES "
	}
	vals, iargs := u.inList("(?, ?, ?, 0, 0)", 3, append([]any(nil), args...))
	if _, err := u.exec(ins+vals, iargs...); err != nil {
		return fmt.Errorf("create member counters: %w", err)
	}
	in, qargs := u.inList("(?, ?, ?)", 3, args)
	rows, err := u.queryx(`SELECT member_id, scope, period, purchases, points FROM member_counters WHERE (member_id, scope, period) IN (`+in+`)
		ORDER BY member_id, scope, period`+u.forUpdate(), qargs...)
	if err != nil {
		return fmt.Errorf("lock member counters: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k points.CounterKey
		var v points.Counter
		if err := rows.Scan(&k.MemberID, &k.Scope, &k.Period, &v.Purchases, &v.Points); err != nil {
			return err
		}
		s := counterKey(k)
		c := u.counters[s]
		if c == nil {
			c = &counter{}
			u.counters[s] = c
		}
		// Known-ness is a cache fact, not a change: it survives undo.
		c.known = true
		c.cur = points.Counter{Purchases: v.Purchases + c.delta.Purchases, Points: v.Points + c.delta.Points}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("lock member counters: %w", err)
	}
	for _, k := range want {
		if c := u.counters[counterKey(k)]; c == nil || !c.known {
			return fmt.Errorf("lock member counters: %+v was not read", k)
		}
	}
	return nil
}

// prefetchCounters loads the counters the batch's commands declared: each
// member's (resolved by identity, known members only) at a merchant for
// the batch's day and month.
func (u *uow) prefetchCounters(reads []points.MemberKey) error {
	var keys []points.CounterKey
	for _, r := range reads {
		mid := u.members[identityRow{r.Identity.Kind, u.db.identityLookup(r.MerchantID, r.Identity)}.String()]
		if mid == "" {
			continue // a new member has counted nothing
		}
		keys = append(keys, points.CounterKey{MemberID: mid, Scope: r.MerchantID, Period: points.DayPeriod(u.now)},
			points.CounterKey{MemberID: mid, Scope: r.MerchantID, Period: points.MonthPeriod(u.now)})
	}
	return u.lockCounters(keys)
}

// flushCounters adds each changed counter's delta in one upsert.
func (u *uow) flushCounters() error {
	var names []string
	for s, c := range u.counters {
		if c.delta != (points.Counter{}) {
			names = append(names, s)
		}
	}
	if len(names) == 0 {
		return nil
	}
	sort.Strings(names)
	rows := make([][]any, 0, len(names))
	for _, s := range names {
		k := splitCounterKey(s)
		d := u.counters[s].delta
		rows = append(rows, []any{k.MemberID, k.Scope, k.Period, d.Purchases, d.Points})
	}
	suffix := " ON CONFLICT(member_id, scope, period) DO UPDATE SET purchases = purchases + excluded.purchases, points = points + excluded.points"
	if u.db.Dialect == MySQL {
		suffix = " ON DUPLICATE KEY UPDATE purchases = purchases + VALUES(purchases), points = points + VALUES(points)"
	}
	return u.bulkInsert("member_counters", []string{"member_id", "scope", "period", "purchases", "points"}, rows, suffix)
}

func splitCounterKey(s string) points.CounterKey {
	p := strings.SplitN(s, "\x00", 3)
	return points.CounterKey{MemberID: p[0], Scope: p[1], Period: p[2]}
}
