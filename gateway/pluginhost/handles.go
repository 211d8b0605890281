package pluginhost

import (
	"context"
	"fmt"
	"strings"

	"github.com/lianmeng/lianmeng/sdk"
	"github.com/lianmeng/lianmeng/sdk/earning"
	"github.com/lianmeng/lianmeng/sdk/host"
	"github.com/lianmeng/lianmeng/sdk/payment"
	"github.com/lianmeng/lianmeng/sdk/pos"
	"github.com/lianmeng/lianmeng/sdk/webhook"
)

// Evaluate evaluates an earning rule plugin. Errors: ErrUnknownPlugin,
// sdk.ErrInvalidInput (the purchase is refused), or ErrUnavailable.
func (h *Host) Evaluate(ctx context.Context, name string, req earning.Request) (earning.Breakdown, error) {
	r, err := h.EarningRule(name)
	if err != nil {
		return earning.Breakdown{}, err
	}
	return r.Evaluate(ctx, req)
}

// EvaluateWith evaluates an earning rule plugin under a rule version's own
// configuration of it (nil: the manifest's). Errors as Evaluate, and
// sdk.ErrInvalidConfig when the plugin refuses the configuration.
func (h *Host) EvaluateWith(ctx context.Context, name string, config []byte, req earning.Request) (earning.Breakdown, error) {
	r, err := h.EarningRuleWith(name, config)
	if err != nil {
		return earning.Breakdown{}, err
	}
	return r.Evaluate(ctx, req)
}

// CheckRuleConfig asks an earning rule plugin whether it accepts config
// (nil when it does; sdk.ErrInvalidConfig when it refuses it).
func (h *Host) CheckRuleConfig(ctx context.Context, name string, config []byte) error {
	m, err := h.lookup(name, sdk.KindEarningRule)
	if err != nil {
		return err
	}
	return m.call(ctx, "Configure", func(ctx context.Context, c *host.Client) error {
		_, err := m.instanceFor(ctx, c, config)
		return err
	})
}

// EarningRule returns a supervised handle to an earning rule plugin. The
// handle stays valid across restarts.
func (h *Host) EarningRule(name string) (earning.Rule, error) {
	return h.EarningRuleWith(name, nil)
}

// EarningRuleWith is EarningRule for a configuration of the plugin other
// than the manifest's (a rule version's): the plugin serves it as an
// instance of its own, configured once per plugin process.
func (h *Host) EarningRuleWith(name string, config []byte) (earning.Rule, error) {
	m, err := h.lookup(name, sdk.KindEarningRule)
	if err != nil {
		return nil, err
	}
	return ruleHandle{m, config}, nil
}

type ruleHandle struct {
	m      *managed
	config []byte
}

func (r ruleHandle) Evaluate(ctx context.Context, req earning.Request) (earning.Breakdown, error) {
	if err := req.Purchase.Validate(); err != nil {
		return earning.Breakdown{}, fmt.Errorf("%w: %v", sdk.ErrInvalidInput, err)
	}
	var b earning.Breakdown
	err := r.m.call(ctx, "Evaluate", func(ctx context.Context, c *host.Client) error {
		inst, err := r.m.instanceFor(ctx, c, r.config)
		if err != nil {
			return err
		}
		if b, err = c.EarningRule(inst).Evaluate(ctx, req); err != nil {
			return err
		}
		// Never let a wrong amount through: a buggy rule is an outage.
		if err := b.Check(); err != nil {
			return fmt.Errorf("%w: %v", errBadResult, err)
		}
		return nil
	})
	if err != nil {
		return earning.Breakdown{}, err
	}
	return b, nil
}

// POSAdapter returns a supervised handle to a POS adapter plugin.
func (h *Host) POSAdapter(name string) (pos.Adapter, error) {
	m, err := h.lookup(name, sdk.KindPOSAdapter)
	if err != nil {
		return nil, err
	}
	return posHandle{m}, nil
}

type posHandle struct{ m *managed }

func (p posHandle) HandleWebhook(ctx context.Context, req pos.Request) (res pos.Result, err error) {
	err = p.m.call(ctx, "HandleWebhook", func(ctx context.Context, c *host.Client) error {
		res, err = c.POSAdapter(p.m.cfg.Name).HandleWebhook(ctx, req)
		if err == nil && (res.Outcome < pos.Accepted || res.Outcome > pos.Rejected || res.Ack.Status < 100 || res.Ack.Status > 599) {
			err = fmt.Errorf("%w: outcome %d, ack status %d", errBadResult, res.Outcome, res.Ack.Status)
		}
		return err
	})
	if err != nil {
		return pos.Result{}, err
	}
	return res, nil
}

// Poll reads the next page of a pull-only POS (pos.Poller); a plugin that
// does not poll answers sdk.ErrUnimplemented.
func (p posHandle) Poll(ctx context.Context, req pos.PollRequest) (res pos.PollResult, err error) {
	err = p.m.call(ctx, "Poll", func(ctx context.Context, c *host.Client) error {
		pl, _ := c.POSAdapter(p.m.cfg.Name).(pos.Poller)
		res, err = pl.Poll(ctx, req)
		if err == nil && len(res.Cursor) > 4096 {
			err = fmt.Errorf("%w: cursor of %d bytes", errBadResult, len(res.Cursor))
		}
		return err
	})
	if err != nil {
		return pos.PollResult{}, err
	}
	return res, nil
}

// PaymentChannel returns a supervised handle to a payment channel plugin.
// An ErrUnavailable with Sent set from a money-moving call means the
// outcome is unknown: resolve it by querying with the same transaction id.
// The handle is also a payment.Querier and a payment.LoginExchanger; a
// plugin without those calls answers sdk.ErrUnimplemented (not an outage:
// the circuit stays closed).
func (h *Host) PaymentChannel(name string) (payment.Channel, error) {
	m, err := h.lookup(name, sdk.KindPaymentChannel)
	if err != nil {
		return nil, err
	}
	return channelHandle{m}, nil
}

type channelHandle struct{ m *managed }

func (ch channelHandle) do(ctx context.Context, method string, fn func(context.Context, payment.Channel) error) error {
	return ch.m.call(ctx, method, func(ctx context.Context, c *host.Client) error {
		return fn(ctx, c.PaymentChannel(ch.m.cfg.Name))
	})
}

func (ch channelHandle) CreatePayment(ctx context.Context, req payment.CreatePaymentRequest) (res payment.CreatePaymentResponse, err error) {
	err = ch.do(ctx, "CreatePayment", func(ctx context.Context, c payment.Channel) error {
		res, err = c.CreatePayment(ctx, req)
		return err
	})
	return res, err
}

func (ch channelHandle) HandleNotification(ctx context.Context, req webhook.Request) (res payment.Notification, err error) {
	err = ch.do(ctx, "HandleNotification", func(ctx context.Context, c payment.Channel) error {
		res, err = c.HandleNotification(ctx, req)
		return err
	})
	return res, err
}

func (ch channelHandle) Payout(ctx context.Context, req payment.PayoutRequest) (res payment.Result, err error) {
	err = ch.do(ctx, "Payout", func(ctx context.Context, c payment.Channel) error {
		res, err = c.Payout(ctx, req)
		return err
	})
	return res, err
}

func (ch channelHandle) QueryPayout(ctx context.Context, req payment.QueryPayoutRequest) (res payment.Result, err error) {
	err = ch.do(ctx, "QueryPayout", func(ctx context.Context, c payment.Channel) error {
		res, err = c.QueryPayout(ctx, req)
		return err
	})
	return res, err
}

func (ch channelHandle) FetchStatement(ctx context.Context, date string) (res payment.Statement, err error) {
	err = ch.do(ctx, "FetchStatement", func(ctx context.Context, c payment.Channel) error {
		res, err = c.FetchStatement(ctx, date)
		return err
	})
	return res, err
}

func (ch channelHandle) Refund(ctx context.Context, req payment.RefundRequest) (res payment.Result, err error) {
	err = ch.do(ctx, "Refund", func(ctx context.Context, c payment.Channel) error {
		res, err = c.Refund(ctx, req)
		return err
	})
	return res, err
}

func (ch channelHandle) QueryPayment(ctx context.Context, req payment.QueryPaymentRequest) (res payment.Result, err error) {
	err = ch.do(ctx, "QueryPayment", func(ctx context.Context, c payment.Channel) error {
		res, err = c.(payment.Querier).QueryPayment(ctx, req)
		if err == nil && res.TransactionID != "" && res.TransactionID != req.TransactionID {
			// The answer is about another payment: never act on it.
			err = fmt.Errorf("%w: asked for %q, answered %q", errBadResult, req.TransactionID, res.TransactionID)
		}
		return err
	})
	return res, err
}

// maxLoginUserID bounds a channel's user id (WeChat openids are 28
// characters, Alipay user ids 16; unions and future formats fit).
const maxLoginUserID = 128

func (ch channelHandle) ExchangeLoginCode(ctx context.Context, req payment.LoginRequest) (id payment.LoginIdentity, err error) {
	err = ch.do(ctx, "ExchangeLoginCode", func(ctx context.Context, c payment.Channel) error {
		id, err = c.(payment.LoginExchanger).ExchangeLoginCode(ctx, req)
		if err != nil {
			return err
		}
		// The member is found by this id: an empty or foreign-kind one
		// would sign someone in as the wrong member.
		switch {
		case id.Kind != payment.IdentityWeChatOpenID && id.Kind != payment.IdentityAlipayUserID:
			return fmt.Errorf("%w: identity kind %q", errBadResult, id.Kind)
		case id.UserID == "" || len(id.UserID) > maxLoginUserID || strings.TrimSpace(id.UserID) != id.UserID:
			return fmt.Errorf("%w: user id of %d bytes", errBadResult, len(id.UserID))
		}
		return nil
	})
	return id, err
}
