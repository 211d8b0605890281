package config

import (
	"strings"
	"testing"
)

func TestMembersConfig(t *testing.T) {
	for _, c := range []struct {
		name string
		mut  func(*Config)
		want string // "" = valid
	}{
		{"default is valid", func(*Config) {}, ""},
		{"dev sender in production", func(c *Config) { c.Environment = EnvProduction }, "not allowed with environment: production"},
		{"devsender plugin in production", func(c *Config) {
			c.Environment = EnvProduction
			c.Plugins = []Plugin{{Name: "sms", Kind: "message_sender", Path: "builtin:devsender"}}
			c.Members.Sender = "sms"
		}, "builtin:devsender"},
		{"a real sender in production", func(c *Config) {
			c.Environment = EnvProduction
			c.Plugins = []Plugin{{Name: "sms", Kind: "message_sender", Path: "/opt/sms-plugin", SHA256: strings.Repeat("a", 64)}}
			c.Members.Sender = "sms"
		}, ""},
		{"unknown sender", func(c *Config) { c.Members.Sender = "nope" }, "not a configured plugin"},
		{"sender of the wrong kind", func(c *Config) {
			c.Plugins = []Plugin{{Name: "r", Kind: "earning_rule", Path: "builtin:restaurant"}}
			c.Members.Sender = "r"
		}, "not a message_sender"},
		{"unknown environment", func(c *Config) { c.Environment = "staging" }, "environment must be"},
		{"long redemption codes", func(c *Config) { c.Members.CodeTTL = Duration(60 * 60e9) }, "code_ttl"},
		{"no attempts", func(c *Config) { c.Members.MaxAttempts = 0 }, "max_attempts"},
	} {
		cfg := Default()
		c.mut(&cfg)
		err := cfg.Validate()
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
	cfg, err := Load("", []string{"LIANMENG_MEMBERS_SENDER=dev", "LIANMENG_ENVIRONMENT=production"})
	if err == nil || !strings.Contains(err.Error(), "production") {
		t.Errorf("environment from LIANMENG_ENVIRONMENT: %+v %v", cfg.Environment, err)
	}
}
