// Package devsender is the first-party MessageSender for development: it
// delivers nothing and writes each message's code to the plugin's log
// (hclog JSON on stderr, which the gateway re-logs at WARN under the
// plugin's name), so a developer can sign in without an SMS provider.
//
// Never use it in production: anyone who reads the gateway's log can sign
// in as any member. The gateway's configuration refuses it there.
//
//	plugins:
//	  - name: sms
//	    kind: message_sender
//	    path: builtin:devsender
//	    config: {}
//
// Configuration (JSON, strictly decoded; see Schema), both optional, to try
// the gateway's failure paths by hand:
//
//	{
//	  "refuse_prefixes": ["+999"],  // numbers it refuses for good (sdk.ErrInvalidInput)
//	  "unavailable": false          // answer every message "unavailable, retry"
//	}
//
// Its provider message id is "dev-" plus the idempotency key, so a retry of
// one message gives the same id and logs it again.
package devsender

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/lianmeng/lianmeng/plugins"
	"github.com/lianmeng/lianmeng/sdk"
	"github.com/lianmeng/lianmeng/sdk/messaging"
)

// Name and Version identify the sender; a configuration selects it as
// path "builtin:devsender".
const (
	Name    = "devsender"
	Version = "1.0.0"
)

func init() { plugins.Register(Name, Plugins) }

// Plugins is what "lianmeng plugin serve devsender" serves.
func Plugins() sdk.Plugins {
	return sdk.Plugins{MessageSender: &sdk.MessageSender{
		Info: sdk.Info{
			Name:         Name,
			Version:      Version,
			Summary:      "Development only: logs one-time codes instead of sending them",
			ConfigSchema: json.RawMessage(Schema),
		},
		New: New,
	}}
}

// Schema is the JSON Schema of the configuration.
const Schema = `{
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "refuse_prefixes": {"type": "array", "items": {"type": "string", "minLength": 1}},
    "unavailable": {"type": "boolean", "default": false}
  }
}`

// Config is the decoded configuration.
type Config struct {
	// RefusePrefixes are number prefixes refused as undeliverable.
	RefusePrefixes []string `json:"refuse_prefixes"`
	// Unavailable makes every Send fail as a provider outage would.
	Unavailable bool `json:"unavailable"`
}

// ErrUnavailable is the simulated outage of "unavailable": true.
var ErrUnavailable = errors.New("devsender: unavailable (configured so)")

// logger is the part of sdk.Logger() the sender uses (tests substitute it).
type logger interface {
	Warn(msg string, args ...any)
}

// New is the factory.
func New(_ context.Context, raw []byte) (messaging.Sender, error) {
	var c Config
	if err := sdk.DecodeConfig(raw, &c); err != nil {
		return nil, err
	}
	for _, p := range c.RefusePrefixes {
		if p == "" {
			return nil, fmt.Errorf("%w: devsender: refuse_prefixes has an empty prefix, which would refuse every number", sdk.ErrInvalidConfig)
		}
	}
	return &sender{c: c, log: sdk.Logger()}, nil
}

type sender struct {
	c   Config
	log logger
}

func (s *sender) Send(_ context.Context, req messaging.SendRequest) (messaging.SendResponse, error) {
	if s.c.Unavailable {
		return messaging.SendResponse{}, ErrUnavailable
	}
	for _, p := range s.c.RefusePrefixes {
		if strings.HasPrefix(req.To, p) {
			return messaging.SendResponse{}, fmt.Errorf("%w: devsender: %s is refused (refuse_prefixes %q)", sdk.ErrInvalidInput, req.To, p)
		}
	}
	// The point of this sender: the code, in the log. Development only.
	s.log.Warn("development message sender: not delivered, code logged",
		"to", req.To, "purpose", req.Purpose, "code", req.Code, "locale", req.Locale, "idempotency_key", req.IdempotencyKey)
	return messaging.SendResponse{ProviderMessageID: "dev-" + req.IdempotencyKey}, nil
}
