package config_test

import (
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/gateway/config"
)

func TestRateLimitsConfig(t *testing.T) {
	d := config.Default().RateLimits
	if !d.Credential.Enabled() || !d.Member.Enabled() || d.MaxKeys <= 0 || d.RedeemVelocityAlert <= 0 {
		t.Fatalf("defaults must limit: %+v", d)
	}
	if got := d.Member.Every(); got != 6*time.Second {
		t.Fatalf("member: 10 per minute is one token every %s, want 6s", got)
	}
	// A key given in the file or the environment overrides that key alone.
	cfg, err := config.Load(writeFile(t, "rl.yaml", "rate_limits:\n  member: {requests: 3, per: 1h}\n  public: {requests: 0}\n"),
		[]string{"LIANMENG_RATE_LIMITS_CREDENTIAL_BURST=7", "LIANMENG_RATE_LIMITS_REDEEM_VELOCITY_ALERT=0"})
	if err != nil {
		t.Fatal(err)
	}
	rl := cfg.RateLimits
	if rl.Member.BurstOrDefault() != d.Member.Burst || rl.Member.Every() != 20*time.Minute || rl.Public.Enabled() ||
		rl.Credential.Burst != 7 || rl.Credential.Requests != d.Credential.Requests || rl.RedeemVelocityAlert != 0 {
		t.Fatalf("loaded %+v", rl)
	}
	loadErr(t, "rate_limits:\n  lookup: {requests: -1}\n", nil, "rate_limits.lookup")
	loadErr(t, "rate_limits:\n  signin: {requests: 5, per: 0s}\n", nil, "rate_limits.signin.per")
	loadErr(t, "", []string{"LIANMENG_RATE_LIMITS_MAX_KEYS=0"}, "rate_limits.max_keys")
	loadErr(t, "rate_limits:\n  velocity: 3\n", nil, "velocity")
}
