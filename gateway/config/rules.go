package config

import (
	"fmt"
	"time"
)

// Rules configures versioned earning rules (gateway/rules).
type Rules struct {
	// NoticePeriod is how far ahead a rule version less favourable to
	// members must be published (30 days by default; never below 7 days).
	NoticePeriod Duration `yaml:"notice_period"`
}

// Notice bounds, kept equal to gateway/rules' (config does not import it).
const (
	defaultNotice = 30 * 24 * time.Hour
	minNotice     = 7 * 24 * time.Hour
)

func defaultRules() Rules { return Rules{NoticePeriod: Duration(defaultNotice)} }

func (r Rules) validate() error {
	if r.NoticePeriod.D() < minNotice {
		return fmt.Errorf("rules.notice_period is %s: it can be raised from the default 720h, never set below 168h (7 days)", r.NoticePeriod.D())
	}
	return nil
}
