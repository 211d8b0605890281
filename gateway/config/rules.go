package config

import (
	"fmt"
	"time"

	"github.com/lianmeng/lianmeng/gateway/points"
)

// Rules configures versioned earning rules (gateway/rules).
type Rules struct {
	// NoticePeriod is how far ahead a rule version less favourable to
	// members must be published (30 days by default; never below 7 days).
	NoticePeriod Duration `yaml:"notice_period"`
	// Referral is the alliance's referral programme (none by default).
	Referral Referral `yaml:"referral"`
}

// Referral configures referral rewards: each level's reward in permille
// of the points the referee earned (at most two levels: more is refused
// here, when the gateway loads the configuration), and the cap per
// referrer per month. Rewards are paid only from alliance:marketing.
type Referral struct {
	LevelsPermille   []int64 `yaml:"levels_permille"`
	MonthlyCapPoints int64   `yaml:"monthly_cap_points"`
	// EffectiveFrom is when these terms take effect (RFC 3339; empty: at
	// once). Terms less favourable to members than those in force (a lower
	// share at any level, a lower cap, fewer levels, the programme off)
	// need it at least notice_period after they were first published:
	// serve refuses to start otherwise, naming the earliest allowed time.
	EffectiveFrom time.Time `yaml:"effective_from"`
}

// Terms is the programme for the points module (nil: no programme).
func (r Referral) Terms() *points.ReferralTerms {
	if len(r.LevelsPermille) == 0 {
		return nil
	}
	return &points.ReferralTerms{LevelsPermille: r.LevelsPermille, MonthlyCapPoints: r.MonthlyCapPoints}
}

// Notice bounds, kept equal to gateway/rules' (config does not import it).
const (
	defaultNotice = 30 * 24 * time.Hour
	minNotice     = 7 * 24 * time.Hour
)

func defaultRules() Rules {
	return Rules{NoticePeriod: Duration(defaultNotice), Referral: Referral{LevelsPermille: []int64{}}}
}

func (r Rules) validate() error {
	if r.NoticePeriod.D() < minNotice {
		return fmt.Errorf("rules.notice_period is %s: it can be raised from the default 720h, never set below 168h (7 days)", r.NoticePeriod.D())
	}
	if t := r.Referral.Terms(); t != nil {
		if err := t.Validate(); err != nil {
			return fmt.Errorf("rules.referral: %w", err)
		}
	}
	return nil
}
