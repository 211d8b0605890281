package config

import (
	"fmt"
	"time"
	// The alliance's time zone is an IANA name; embedding the database lets
	// a container without /usr/share/zoneinfo load it.
	_ "time/tzdata"
)

// Settlement configures the daily clearing (issue 13): the day a
// transaction belongs to, for statements and the daily settlement job.
type Settlement struct {
	// TimeZone is the alliance's time zone, an IANA name (default
	// Asia/Shanghai, UTC+8 all year).
	TimeZone string `yaml:"time_zone"`
	// Cutoff is the time of day, HH:MM in TimeZone, at which a clearing day
	// ends (default 00:00: the midnight at the end of the calendar day).
	// With 22:00, the day 2026-11-30 runs from 2026-11-29 22:00 to
	// 2026-11-30 22:00: a transaction at 21:59:59 is on the 30th's
	// statement, one at 22:00:00 on the 1st's.
	Cutoff string `yaml:"cutoff"`
	// AutoPayoutMinFen, when positive, pays each merchant with a payout
	// account its settled payable automatically once a day has ended, if
	// it is at least this many fen: the payable at the cut-off, less what
	// has left it since (never what was redeemed after the cut-off). 0
	// (the default): merchants request payouts themselves.
	AutoPayoutMinFen int64 `yaml:"auto_payout_min_fen"`
}

func defaultSettlement() Settlement {
	return Settlement{TimeZone: "Asia/Shanghai", Cutoff: "00:00"}
}

// Location loads TimeZone.
func (s Settlement) Location() (*time.Location, error) {
	if s.TimeZone == "" {
		return nil, fmt.Errorf("settlement.time_zone is empty: give an IANA time zone name, e.g. Asia/Shanghai")
	}
	loc, err := time.LoadLocation(s.TimeZone)
	if err != nil {
		return nil, fmt.Errorf("settlement.time_zone %q is not an IANA time zone name (e.g. Asia/Shanghai): %v", s.TimeZone, err)
	}
	return loc, nil
}

// CutoffOffset is Cutoff as the time since midnight.
func (s Settlement) CutoffOffset() (time.Duration, error) {
	c := s.Cutoff
	digit := func(i int) bool { return c[i] >= '0' && c[i] <= '9' }
	if len(c) != 5 || c[2] != ':' || !digit(0) || !digit(1) || !digit(3) || !digit(4) {
		return 0, fmt.Errorf("settlement.cutoff must be HH:MM (24-hour, e.g. 00:00 or 22:00), got %q", c)
	}
	h, m := int(c[0]-'0')*10+int(c[1]-'0'), int(c[3]-'0')*10+int(c[4]-'0')
	if h > 23 || m > 59 {
		return 0, fmt.Errorf("settlement.cutoff must be HH:MM between 00:00 and 23:59, got %q", c)
	}
	return time.Duration(h)*time.Hour + time.Duration(m)*time.Minute, nil
}

func (s Settlement) validate() error {
	if _, err := s.Location(); err != nil {
		return err
	}
	if _, err := s.CutoffOffset(); err != nil {
		return err
	}
	if s.AutoPayoutMinFen < 0 {
		return fmt.Errorf("settlement.auto_payout_min_fen must be >= 0 (0: no automatic payouts), got %d", s.AutoPayoutMinFen)
	}
	return nil
}
