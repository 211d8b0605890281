package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lianmeng/lianmeng/gateway/api"
	"github.com/lianmeng/lianmeng/gateway/config"
	"github.com/lianmeng/lianmeng/gateway/messaging"
	"github.com/lianmeng/lianmeng/gateway/pluginhost"
	"github.com/lianmeng/lianmeng/gateway/points"
	"github.com/lianmeng/lianmeng/gateway/rules"
	"github.com/lianmeng/lianmeng/gateway/settlement"
	"github.com/lianmeng/lianmeng/sdk"
	"github.com/lianmeng/lianmeng/sdk/earning"
	sdkmessaging "github.com/lianmeng/lianmeng/sdk/messaging"
	"github.com/lianmeng/lianmeng/sdk/purchase"
)

// startPlugins launches the configured plugins and wires them into deps:
// earning rules become deps.Points.Rules, required plugins join /readyz. The
// returned function stops them.
func startPlugins(ctx context.Context, cfg config.Config, log *slog.Logger, reg prometheus.Registerer, deps *api.Deps) (func(), error) {
	return startPluginsWith(cfg, pluginhost.Options{Registerer: reg, Logger: log}, deps)
}

func startPluginsWith(cfg config.Config, opts pluginhost.Options, deps *api.Deps) (func(), error) {
	if len(cfg.Plugins) == 0 {
		return func() {}, nil
	}
	h, err := pluginhost.New(cfg.Plugins, opts)
	if err != nil {
		return nil, fmt.Errorf("plugins: %w", err)
	}
	deps.Points.Rules = ruleEvaluator{h}
	deps.Plugins = func() []api.PluginStatus { // the operator's plugin health
		var out []api.PluginStatus
		for _, st := range h.Status() {
			out = append(out, api.PluginStatus{Name: st.Name, Kind: st.Kind, Required: st.Required, State: st.State, Pid: st.Pid,
				Restarts: st.Restarts, Circuit: st.Circuit, LastError: st.LastError})
		}
		return out
	}
	// Payment channels: funding and their notifications (a channel that is
	// not configured answers unknown_channel).
	deps.Funding = &settlement.Funding{DB: deps.DB, Writer: deps.Writer, Points: deps.Points, Channels: h, Log: opts.Logger}
	deps.Payouts = &settlement.Payouts{DB: deps.DB, Writer: deps.Writer, Channels: h, NotSent: notSent}
	deps.Refunds = &settlement.Refunds{DB: deps.DB, Writer: deps.Writer, Points: deps.Points, Channels: h}
	deps.Reconciler = &settlement.Reconciler{DB: deps.DB, Channels: h}
	if deps.Inbox != nil {
		deps.Inbox.Adapters = h
		// Channel notifications are stored in the inbox before they are
		// acknowledged, and applied by its worker.
		deps.Inbox.Channels = deps.Funding
		deps.Funding.Inbox = deps.Inbox
	}
	deps.Ready = append(deps.Ready, api.ReadyCheck{Name: "plugins", Check: func(context.Context) error { return h.Ready() }})
	return func() { h.Close() }, nil
}

// ruleEvaluator adapts the plugin host to points.RuleEvaluator: it turns
// the rule input into the SDK's normalized purchase, and the host's failure
// modes into the domain's: unavailable (503, Retry-After) or refused (422).
type ruleEvaluator struct{ h *pluginhost.Host }

// unavailable carries the host's retry hint to the API.
type unavailable struct {
	err   error
	after time.Duration
}

func (u unavailable) Error() string             { return u.err.Error() }
func (u unavailable) Unwrap() []error           { return []error{points.ErrRuleUnavailable, u.err} }
func (u unavailable) RetryAfter() time.Duration { return u.after }

func (r ruleEvaluator) EvaluateEarning(ctx context.Context, plugin string, req points.RuleInput) (points.Award, error) {
	p := purchase.Purchase{Type: purchase.TypePurchase, MerchantID: req.MerchantID, StoreID: req.StoreID, ExternalOrderID: req.OrderID,
		AmountFen: req.AmountFen, Currency: "CNY", OccurredAt: req.OccurredAt, Attributes: req.Attributes}
	for _, it := range req.Items {
		p.Items = append(p.Items, purchase.LineItem{SKU: it.SKU, Name: it.Name, Category: it.Category, Quantity: it.Quantity, AmountFen: it.AmountFen})
	}
	b, err := r.h.EvaluateWith(ctx, plugin, req.PluginConfig, earning.Request{Purchase: p})
	switch {
	case err == nil:
	case errors.Is(err, sdk.ErrInvalidInput):
		return points.Award{}, &points.Error{Class: points.Unprocessable, Code: "rule_refused", Message: err.Error()}
	default:
		// Unknown plugin is a configuration mistake, but to the client it is
		// the same: this merchant's rule cannot answer now.
		d, _ := pluginhost.RetryAfter(err)
		if d <= 0 {
			d = 30 * time.Second
		}
		return points.Award{}, unavailable{err: err, after: d}
	}
	version := "plugin:" + plugin
	for _, st := range r.h.Status() {
		if st.Name == plugin && st.Plugin.Version != "" {
			version += "@" + st.Plugin.Version
		}
	}
	if len(version) > 64 { // the column holds 64; keep name, cut the version
		version = version[:64]
	}
	return points.Award{Points: b.TotalPoints, RuleVersion: version, Breakdown: breakdownOf(b)}, nil
}

// CheckRuleConfig asks the plugin whether it accepts a rule version's
// configuration (rules.PluginConfigChecker): a refusal wraps
// rules.ErrPluginConfig, an unreachable plugin is an error of its own.
func (r ruleEvaluator) CheckRuleConfig(ctx context.Context, plugin string, config []byte) error {
	err := r.h.CheckRuleConfig(ctx, plugin, config)
	if errors.Is(err, sdk.ErrInvalidConfig) {
		return fmt.Errorf("%w: %v", rules.ErrPluginConfig, err)
	}
	return err
}

// pluginHost returns the plugin host startPlugins wired into deps (the
// rule evaluator holds it), or nil when no plugins are configured.
func pluginHost(deps *api.Deps) *pluginhost.Host {
	if deps == nil || deps.Points == nil {
		return nil
	}
	if r, ok := deps.Points.Rules.(ruleEvaluator); ok {
		return r.h
	}
	return nil
}

// messageSenderFrom returns the message_sender plugin named plugin, from
// the host startPlugins wired into deps, as the gateway's messaging.Sender.
// Call it after startPlugins; it fails when no such plugin is configured,
// so a configuration mistake stops serve instead of every sign-in.
func messageSenderFrom(deps *api.Deps, plugin string) (messaging.Sender, error) {
	return senderFrom(pluginHost(deps), plugin)
}

// senderFrom adapts the message_sender plugin named plugin to
// messaging.Sender (see messageSender for the errors).
func senderFrom(h *pluginhost.Host, plugin string) (messaging.Sender, error) {
	if h == nil {
		return nil, fmt.Errorf("%w: no plugins are configured, so there is no message sender %q", pluginhost.ErrUnknownPlugin, plugin)
	}
	if _, err := h.MessageSender(plugin); err != nil {
		return nil, err
	}
	return messageSender{h: h, plugin: plugin}, nil
}

// messageSender adapts the plugin host to messaging.Sender. Its errors:
//
//   - errors.Is(err, messaging.ErrUnavailable): the sender cannot deliver
//     now (plugin down, slow, failing, circuit open, or the provider
//     unavailable); the error has a RetryAfter() time.Duration. A retry
//     must carry the same Message.IdempotencyKey: the message may have
//     been delivered already.
//   - otherwise the message can never be delivered (a malformed number, or
//     one the provider refuses): errors.Is(err, sdk.ErrInvalidInput), and
//     a retry will not help.
type messageSender struct {
	h      *pluginhost.Host
	plugin string
}

// senderUnavailable carries the host's retry hint to the API.
type senderUnavailable struct {
	err   error
	after time.Duration
}

func (u senderUnavailable) Error() string             { return u.err.Error() }
func (u senderUnavailable) Unwrap() []error           { return []error{messaging.ErrUnavailable, u.err} }
func (u senderUnavailable) RetryAfter() time.Duration { return u.after }

func (s messageSender) Send(ctx context.Context, m messaging.Message) error {
	_, err := s.h.Send(ctx, s.plugin, sdkmessaging.SendRequest{To: m.To, Purpose: m.Purpose, Code: m.Code, Text: m.Text,
		IdempotencyKey: m.IdempotencyKey})
	switch {
	case err == nil:
		return nil
	case errors.Is(err, sdk.ErrInvalidInput):
		return fmt.Errorf("message sender %s: %w", s.plugin, err)
	}
	d, _ := pluginhost.RetryAfter(err)
	if d <= 0 {
		d = 30 * time.Second
	}
	return senderUnavailable{err: err, after: d}
}

// memberSender is the members' code sender the configuration names: the
// development sender (logs codes; refused in production by the
// configuration) or a message_sender plugin.
func memberSender(cfg config.Config, log *slog.Logger, deps *api.Deps) (messaging.Sender, error) {
	if cfg.Members.Sender == "dev" {
		log.Warn("members.sender is dev: sign-in and consent codes are written to this log, not delivered (development only)")
		return messaging.DevSender{Log: log}, nil
	}
	s, err := messageSenderFrom(deps, cfg.Members.Sender)
	if err != nil {
		return nil, fmt.Errorf("members.sender: %w", err)
	}
	return s, nil
}

// notSent reports a payment call that certainly never reached the plugin
// (not running, circuit open): a payout may then go to another channel.
func notSent(err error) bool {
	var ue *pluginhost.UnavailableError
	return errors.As(err, &ue) && !ue.Sent
}
