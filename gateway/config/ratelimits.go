package config

import (
	"fmt"
	"time"
)

// RateLimits bound request rates. Each limit is a token bucket per key
// (a credential, a member identity, a client address): Requests per Per,
// with bursts of up to Burst. Requests 0 disables that limit. Over the
// limit a request is answered 429 rate_limited with Retry-After.
//
// Where the buckets live is Store: in the database (every instance on one
// MySQL/MariaDB enforces one limit between them) or in each instance's
// memory (with N instances a client may get up to N times the limit).
// Every in-memory limiter keeps at most MaxKeys keys, forgetting the least
// recently used first.
type RateLimits struct {
	// Store is where the buckets are kept: "database" (shared by every
	// instance on the database; MySQL only), "memory" (per instance), or
	// "auto" (the default: database on MySQL, memory on SQLite, which
	// serves one instance). When the database cannot answer a take in
	// time, the instance's own in-memory bucket decides (fail open to a
	// per-instance limit, never to no limit).
	Store string `yaml:"store"`
	// Credential: every signed merchant request, per API credential.
	Credential Limit `yaml:"credential"`
	// Lookup: member lookups and member tokens, per API credential (what
	// bounds enumerating phone numbers with one key).
	Lookup Limit `yaml:"lookup"`
	// Member: lookups, tokens and redemptions naming one member identity,
	// per merchant.
	Member Limit `yaml:"member"`
	// Public: unauthenticated routes (coverage, evidence), per client address.
	Public Limit `yaml:"public"`
	// SignIn: member sign-in, per client address.
	SignIn Limit `yaml:"signin"`
	// Operator: the operator API, per client address and per token.
	Operator Limit `yaml:"operator"`
	// MaxKeys bounds each limiter's memory.
	MaxKeys int `yaml:"max_keys"`
	// RedeemVelocityAlert is how many redemptions of members it never
	// served (no earn there) a merchant may make in an hour before a
	// warning is logged and lianmeng_redeem_velocity_alerts_total counts
	// an alert. Nothing is refused. 0 disables.
	RedeemVelocityAlert int `yaml:"redeem_velocity_alert"`
}

// Limit is one token bucket: Requests per Per, bursts up to Burst (0:
// Requests). Requests 0 disables it.
type Limit struct {
	Requests int      `yaml:"requests"`
	Per      Duration `yaml:"per"`
	Burst    int      `yaml:"burst"`
}

// Enabled reports whether the limit applies.
func (l Limit) Enabled() bool { return l.Requests > 0 }

// Every is the time between tokens.
func (l Limit) Every() time.Duration { return l.Per.D() / time.Duration(l.Requests) }

// BurstOrDefault is Burst, or Requests when Burst is 0.
func (l Limit) BurstOrDefault() int {
	if l.Burst > 0 {
		return l.Burst
	}
	return l.Requests
}

func defaultRateLimits() RateLimits {
	return RateLimits{
		Store:               "auto",
		Credential:          Limit{Requests: 1000, Per: Duration(time.Second), Burst: 2000},
		Lookup:              Limit{Requests: 10, Per: Duration(time.Second), Burst: 50},
		Member:              Limit{Requests: 10, Per: Duration(time.Minute), Burst: 10},
		Public:              Limit{Requests: 10, Per: Duration(time.Second), Burst: 50},
		SignIn:              Limit{Requests: 10, Per: Duration(time.Minute), Burst: 10},
		Operator:            Limit{Requests: 100, Per: Duration(time.Second), Burst: 500},
		MaxKeys:             100_000,
		RedeemVelocityAlert: 30,
	}
}

// Shared reports whether the buckets are kept in the database, for a
// database of driver ("sqlite" or "mysql").
func (r RateLimits) Shared(driver string) bool {
	return r.Store == "database" || r.Store == "auto" && driver == "mysql"
}

func (r RateLimits) validate(driver string) error {
	switch r.Store {
	case "auto", "memory":
	case "database":
		if driver != "mysql" {
			return fmt.Errorf("rate_limits.store: database is for several instances on one MySQL/MariaDB; with %s use auto or memory", driver)
		}
	default:
		return fmt.Errorf("rate_limits.store must be auto, database or memory, got %q", r.Store)
	}
	for _, l := range []struct {
		name string
		l    Limit
	}{{"credential", r.Credential}, {"lookup", r.Lookup}, {"member", r.Member}, {"public", r.Public}, {"signin", r.SignIn}, {"operator", r.Operator}} {
		if l.l.Requests < 0 || l.l.Burst < 0 {
			return fmt.Errorf("rate_limits.%s: requests and burst must be >= 0 (requests 0 disables the limit)", l.name)
		}
		if l.l.Requests > 0 && (l.l.Per <= 0 || l.l.Every() <= 0) {
			return fmt.Errorf("rate_limits.%s.per must be a positive duration of at least one nanosecond per request, e.g. 1s or 1m", l.name)
		}
	}
	if r.MaxKeys < 1 {
		return fmt.Errorf("rate_limits.max_keys must be at least 1")
	}
	if r.RedeemVelocityAlert < 0 {
		return fmt.Errorf("rate_limits.redeem_velocity_alert must be >= 0 (0 disables the alert)")
	}
	return nil
}
