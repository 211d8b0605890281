// Package sdk is the Lianmeng plugin SDK: everything a plugin author needs to
// write an earning rule, a POS adapter, a payment channel or a message
// sender that the gateway runs out of process.
//
// A plugin is a Go program whose main calls Serve with a factory per kind it
// implements (see the package example for a complete one):
//
//	func main() {
//		sdk.Serve(sdk.Plugins{
//			EarningRule: &sdk.EarningRule{
//				Info: sdk.Info{Name: "hello", Version: "0.1.0", ConfigSchema: json.RawMessage(schema)},
//				New:  newRule, // func(ctx context.Context, raw []byte) (earning.Rule, error)
//			},
//		})
//	}
//
// A factory decodes its configuration with DecodeConfig, which refuses
// unknown fields. An instance that implements io.Closer is closed when the
// gateway replaces its configuration and when the plugin stops.
//
// Authors see only plain Go types from the kind packages (earning, pos,
// payment, messaging, purchase, webhook); the SDK owns the gRPC contract under
// sdk/proto and the conversion. The gateway calls the factory once per
// configuration (Configure), so one process can serve several merchants.
//
// Running the binary as "PLUGIN describe" prints a JSON Manifest (kinds,
// names, versions, configuration schema) without starting anything.
//
// Under the gateway the plugin: speaks go-plugin over gRPC with a magic
// cookie and versioned plugin sets (protocol 1 today, so a protocol 2 can be
// served next to it); must not write to stdout, which carries the handshake
// (log with Logger, which writes hclog JSON to stderr for the host to
// re-log); receives each call's deadline through the context; and exits by
// itself if the gateway dies. A panic in a call is recovered and reported
// to the host as a failed call.
//
// Errors: wrap ErrInvalidInput for a request the plugin refuses (the host
// reports it to the caller) and ErrInvalidConfig from a factory. Any other
// error is treated by the host as the plugin being unavailable.
package sdk

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"

	"github.com/lianmeng/lianmeng/sdk/earning"
	"github.com/lianmeng/lianmeng/sdk/messaging"
	"github.com/lianmeng/lianmeng/sdk/payment"
	"github.com/lianmeng/lianmeng/sdk/pos"
)

// Version is the SDK's semantic version, reported by describe and Describe.
const Version = "0.1.0"

// ProtocolVersion is the newest plugin protocol major this SDK speaks.
const ProtocolVersion = 1

// MaxMessageBytes bounds every gRPC message in both directions. It is far
// above gRPC's 4 MiB default (statements can be large) but finite, so a
// runaway peer gets an error rather than the OOM killer.
const MaxMessageBytes = 64 << 20

// Handshake is shared by the gateway and every plugin. The cookie only stops
// a plugin binary from being run by hand by mistake; it is not security.
var Handshake = plugin.HandshakeConfig{
	MagicCookieKey:   "LIANMENG_PLUGIN_COOKIE",
	MagicCookieValue: "5c1f0d3e-lianmeng-plugin-v1-9b7a",
}

// Kinds of plugin, as used in go-plugin plugin sets, manifests and the
// gateway configuration (config.Plugin.Kind).
const (
	KindEarningRule    = "earning_rule"
	KindPOSAdapter     = "pos_adapter"
	KindPaymentChannel = "payment_channel"
	KindMessageSender  = "message_sender"
)

// Capabilities announce additive features within a protocol major.
const (
	// CapExplain: an earning rule fills Breakdown.Explanation.
	CapExplain = "earning.explain"
	// CapRefunds: a POS adapter emits refunds, or a channel supports Refund.
	CapRefunds = "refunds"
	// CapStatements: a payment channel supports FetchStatement.
	CapStatements = "payment.statements"
	// CapPayouts: a payment channel supports Payout and QueryPayout.
	CapPayouts = "payment.payouts"
	// CapQueryPayment: a payment channel implements payment.Querier.
	CapQueryPayment = "payment.query"
	// CapLogin: a payment channel implements payment.LoginExchanger.
	CapLogin = "payment.login"
)

var (
	// ErrInvalidInput marks a request the plugin refuses to handle.
	ErrInvalidInput = errors.New("invalid input")
	// ErrInvalidConfig marks a configuration a factory rejects.
	ErrInvalidConfig = errors.New("invalid configuration")
	// ErrNotConfigured is returned for a call naming an instance that was
	// never configured in this process (for example after a restart).
	ErrNotConfigured = errors.New("instance not configured")
	// ErrUnimplemented is returned for an optional call the plugin does not
	// implement (or that did not exist when it was built): the plugin is
	// healthy, it just cannot do that.
	ErrUnimplemented = errors.New("not implemented by this plugin")
)

// Info describes one plugin.
type Info struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Summary string `json:"summary,omitempty"`
	// ConfigSchema is a JSON Schema of the configuration object.
	ConfigSchema json.RawMessage `json:"config_schema,omitempty"`
	Capabilities []string        `json:"capabilities,omitempty"`
}

// EarningRule registers an earning rule.
type EarningRule struct {
	Info Info
	New  earning.Factory
}

// POSAdapter registers a POS adapter.
type POSAdapter struct {
	Info Info
	New  pos.Factory
}

// PaymentChannel registers a payment channel.
type PaymentChannel struct {
	Info Info
	New  payment.Factory
}

// MessageSender registers a message sender (one-time codes to members'
// phones; see package messaging).
type MessageSender struct {
	Info Info
	New  messaging.Factory
}

// Plugins is what one binary serves: at most one plugin of each kind.
type Plugins struct {
	EarningRule    *EarningRule
	POSAdapter     *POSAdapter
	PaymentChannel *PaymentChannel
	MessageSender  *MessageSender
}

// Manifest is the output of describe.
type Manifest struct {
	SDKVersion       string           `json:"sdk_version"`
	ProtocolVersions []int            `json:"protocol_versions"`
	Plugins          []ManifestPlugin `json:"plugins"`
}

// ManifestPlugin is one entry of a Manifest.
type ManifestPlugin struct {
	Kind string `json:"kind"`
	Info
}

// Describe returns the manifest of p.
func Describe(p Plugins) Manifest {
	m := Manifest{SDKVersion: Version, ProtocolVersions: []int{ProtocolVersion}}
	if p.EarningRule != nil {
		m.Plugins = append(m.Plugins, ManifestPlugin{KindEarningRule, p.EarningRule.Info})
	}
	if p.POSAdapter != nil {
		m.Plugins = append(m.Plugins, ManifestPlugin{KindPOSAdapter, p.POSAdapter.Info})
	}
	if p.PaymentChannel != nil {
		m.Plugins = append(m.Plugins, ManifestPlugin{KindPaymentChannel, p.PaymentChannel.Info})
	}
	if p.MessageSender != nil {
		m.Plugins = append(m.Plugins, ManifestPlugin{KindMessageSender, p.MessageSender.Info})
	}
	return m
}

// Validate reports registration mistakes, which are the author's bugs.
func (p Plugins) Validate() error {
	check := func(kind string, info Info, hasNew bool) error {
		if info.Name == "" || info.Version == "" {
			return fmt.Errorf("sdk: %s plugin needs Info.Name and Info.Version", kind)
		}
		if !hasNew {
			return fmt.Errorf("sdk: %s plugin %q has no New factory", kind, info.Name)
		}
		if len(info.ConfigSchema) > 0 && !json.Valid(info.ConfigSchema) {
			return fmt.Errorf("sdk: %s plugin %q: ConfigSchema is not valid JSON", kind, info.Name)
		}
		return nil
	}
	n := 0
	if e := p.EarningRule; e != nil {
		n++
		if err := check(KindEarningRule, e.Info, e.New != nil); err != nil {
			return err
		}
	}
	if e := p.POSAdapter; e != nil {
		n++
		if err := check(KindPOSAdapter, e.Info, e.New != nil); err != nil {
			return err
		}
	}
	if e := p.PaymentChannel; e != nil {
		n++
		if err := check(KindPaymentChannel, e.Info, e.New != nil); err != nil {
			return err
		}
	}
	if e := p.MessageSender; e != nil {
		n++
		if err := check(KindMessageSender, e.Info, e.New != nil); err != nil {
			return err
		}
	}
	if n == 0 {
		return errors.New("sdk: Plugins registers nothing")
	}
	return nil
}

// WriteManifest writes the manifest of p as indented JSON.
func WriteManifest(w io.Writer, p Plugins) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(Describe(p))
}

var logger = hclog.New(&hclog.LoggerOptions{
	Name:       "plugin",
	Level:      hclog.Info,
	Output:     os.Stderr,
	JSONFormat: true, // the host parses these lines and re-logs them at their level
})

// Logger returns the plugin's logger. Its output goes to stderr as hclog
// JSON, which the gateway re-logs under the plugin's name. Never log secrets.
func Logger() hclog.Logger { return logger }

// Serve serves p and returns when the gateway closes the plugin. If the
// process was started as "PROGRAM describe", it prints the manifest to
// stdout instead. A registration mistake prints to stderr and exits 1.
func Serve(p Plugins) {
	if err := p.Validate(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if len(os.Args) == 2 && os.Args[1] == "describe" {
		if err := WriteManifest(os.Stdout, p); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	serve(p)
}
