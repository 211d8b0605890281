package config

import (
	"fmt"
	"time"
)

// Members configures how members sign in and consent to redemptions.
type Members struct {
	// Sender delivers sign-in and consent codes: "dev" (the development
	// sender, which writes codes to the log and delivers nothing) or the
	// name of a configured message_sender plugin. environment: production
	// refuses "dev" and the builtin:devsender plugin.
	Sender string `yaml:"sender"`
	// CodeTTL is how long a redemption code from the member's app works.
	CodeTTL Duration `yaml:"code_ttl"`
	// SMSTTL is how long a consent code sent by SMS works.
	SMSTTL Duration `yaml:"sms_ttl"`
	// SignInTTL is how long a sign-in code works.
	SignInTTL Duration `yaml:"signin_ttl"`
	// Resend is the least time between two codes to one member.
	Resend Duration `yaml:"resend"`
	// MaxAttempts is how many wrong sign-in codes void one.
	MaxAttempts int `yaml:"max_attempts"`
}

func defaultMembers() Members {
	return Members{Sender: "dev", CodeTTL: Duration(60 * time.Second), SMSTTL: Duration(5 * time.Minute),
		SignInTTL: Duration(5 * time.Minute), Resend: Duration(time.Minute), MaxAttempts: 5}
}

// Environments.
const (
	EnvDevelopment = "development"
	EnvProduction  = "production"
)

func (c *Config) validateMembers() error {
	switch c.Environment {
	case EnvDevelopment, EnvProduction:
	default:
		return fmt.Errorf("environment must be development or production, got %q", c.Environment)
	}
	m := c.Members
	if m.Sender == "" {
		return fmt.Errorf("members.sender is empty: use dev (development only) or the name of a message_sender plugin")
	}
	if c.Environment == EnvProduction {
		if m.Sender == "dev" {
			return fmt.Errorf("members.sender is dev, which logs codes instead of delivering them: not allowed with environment: production; configure a message_sender plugin")
		}
		for _, p := range c.Plugins {
			if p.Path == "builtin:devsender" {
				return fmt.Errorf("plugins: %s is builtin:devsender, which logs codes instead of delivering them: not allowed with environment: production", p.Name)
			}
		}
	}
	if m.Sender != "dev" {
		found := false
		for _, p := range c.Plugins {
			if p.Name == m.Sender {
				found = true
				if p.Kind != "message_sender" {
					return fmt.Errorf("members.sender names plugin %s, which is a %s, not a message_sender", p.Name, p.Kind)
				}
			}
		}
		if !found {
			return fmt.Errorf("members.sender names %q, which is not a configured plugin", m.Sender)
		}
	}
	if m.CodeTTL < Duration(10*time.Second) || m.CodeTTL > Duration(10*time.Minute) {
		return fmt.Errorf("members.code_ttl must be between 10s and 10m (a redemption code is short-lived)")
	}
	if m.SMSTTL < Duration(time.Minute) || m.SMSTTL > Duration(30*time.Minute) || m.SignInTTL < Duration(time.Minute) || m.SignInTTL > Duration(30*time.Minute) {
		return fmt.Errorf("members.sms_ttl and members.signin_ttl must be between 1m and 30m")
	}
	if m.Resend < Duration(10*time.Second) {
		return fmt.Errorf("members.resend must be at least 10s")
	}
	if m.MaxAttempts < 1 || m.MaxAttempts > 10 {
		return fmt.Errorf("members.max_attempts must be between 1 and 10")
	}
	return nil
}
