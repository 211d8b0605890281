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
	"github.com/lianmeng/lianmeng/gateway/pluginhost"
	"github.com/lianmeng/lianmeng/gateway/points"
	"github.com/lianmeng/lianmeng/sdk"
	"github.com/lianmeng/lianmeng/sdk/earning"
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
	b, err := r.h.Evaluate(ctx, plugin, earning.Request{Purchase: p})
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
	return points.Award{Points: b.TotalPoints, RuleVersion: version}, nil
}
