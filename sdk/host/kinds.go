package host

import (
	"context"
	"errors"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/lianmeng/lianmeng/sdk"
	"github.com/lianmeng/lianmeng/sdk/earning"
	"github.com/lianmeng/lianmeng/sdk/internal/convert"
	"github.com/lianmeng/lianmeng/sdk/internal/pb"
	"github.com/lianmeng/lianmeng/sdk/payment"
	"github.com/lianmeng/lianmeng/sdk/pos"
	"github.com/lianmeng/lianmeng/sdk/webhook"
)

// clientPlugin is the host side of a go-plugin GRPCPlugin. The typed clients
// are built on the connection directly, so Dispense is only a formality.
type clientPlugin struct{ plugin.NetRPCUnsupportedPlugin }

func (clientPlugin) GRPCServer(*plugin.GRPCBroker, *grpc.Server) error {
	return errors.New("host: the gateway side serves nothing")
}

func (clientPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, cc *grpc.ClientConn) (any, error) {
	return cc, nil
}

// pluginSetV1 lists what protocol 1 offers. A protocol 2 gets its own set
// next to it in VersionedPlugins.
func pluginSetV1() plugin.PluginSet {
	return plugin.PluginSet{
		sdk.KindEarningRule:    clientPlugin{},
		sdk.KindPOSAdapter:     clientPlugin{},
		sdk.KindPaymentChannel: clientPlugin{},
		// Added within protocol 1: a plugin built before it simply does not
		// serve the kind, and Describe says so (ErrIncompatible).
		sdk.KindMessageSender: clientPlugin{},
	}
}

// EarningRule returns the configured instance as an earning.Rule.
func (c *Client) EarningRule(instance string) earning.Rule {
	return &ruleClient{c: pb.NewEarningRuleClient(c.rpc.Conn), instance: instance}
}

type ruleClient struct {
	c        pb.EarningRuleClient
	instance string
}

func (r *ruleClient) Evaluate(ctx context.Context, req earning.Request) (earning.Breakdown, error) {
	res, err := r.c.Evaluate(ctx, convert.EvaluateRequestToPB(r.instance, req))
	if err != nil {
		return earning.Breakdown{}, callError("Evaluate", err)
	}
	return convert.BreakdownFromPB(res), nil
}

// POSAdapter returns the configured instance as a pos.Adapter. It is
// also a pos.Poller: for a plugin that does not poll, Poll fails with
// sdk.ErrUnimplemented.
func (c *Client) POSAdapter(instance string) pos.Adapter {
	return &posClient{c: pb.NewPOSAdapterClient(c.rpc.Conn), instance: instance}
}

type posClient struct {
	c        pb.POSAdapterClient
	instance string
}

func (p *posClient) HandleWebhook(ctx context.Context, req pos.Request) (pos.Result, error) {
	res, err := p.c.HandleWebhook(ctx, convert.WebhookRequestToPB(p.instance, req))
	if err != nil {
		return pos.Result{}, callError("HandleWebhook", err)
	}
	return convert.WebhookResultFromPB(res), nil
}

func (p *posClient) Poll(ctx context.Context, req pos.PollRequest) (pos.PollResult, error) {
	res, err := p.c.Poll(ctx, convert.PollRequestToPB(p.instance, req))
	if err != nil {
		return pos.PollResult{}, callError("Poll", err)
	}
	return convert.PollResultFromPB(res), nil
}

// PaymentChannel returns the configured instance as a payment.Channel. It
// is also a payment.Querier and a payment.LoginExchanger: for a plugin
// that does not implement those calls they fail with sdk.ErrUnimplemented.
func (c *Client) PaymentChannel(instance string) payment.Channel {
	return &channelClient{c: pb.NewPaymentChannelClient(c.rpc.Conn), instance: instance}
}

type channelClient struct {
	c        pb.PaymentChannelClient
	instance string
}

func (p *channelClient) CreatePayment(ctx context.Context, req payment.CreatePaymentRequest) (payment.CreatePaymentResponse, error) {
	res, err := p.c.CreatePayment(ctx, convert.CreatePaymentToPB(p.instance, req))
	if err != nil {
		return payment.CreatePaymentResponse{}, callError("CreatePayment", err)
	}
	return convert.CreatePaymentResponseFromPB(res), nil
}

func (p *channelClient) HandleNotification(ctx context.Context, req webhook.Request) (payment.Notification, error) {
	res, err := p.c.HandleNotification(ctx, &pb.HandleNotificationRequest{Instance: p.instance, Request: convert.HTTPRequestToPB(req)})
	if err != nil {
		return payment.Notification{}, callError("HandleNotification", err)
	}
	return convert.NotificationFromPB(res), nil
}

func (p *channelClient) Payout(ctx context.Context, req payment.PayoutRequest) (payment.Result, error) {
	res, err := p.c.Payout(ctx, convert.PayoutToPB(p.instance, req))
	if err != nil {
		return payment.Result{}, callError("Payout", err)
	}
	return convert.PaymentResultFromPB(res), nil
}

func (p *channelClient) QueryPayout(ctx context.Context, req payment.QueryPayoutRequest) (payment.Result, error) {
	res, err := p.c.QueryPayout(ctx, &pb.QueryPayoutRequest{Instance: p.instance, TransactionId: req.TransactionID, ChannelReference: req.ChannelReference})
	if err != nil {
		return payment.Result{}, callError("QueryPayout", err)
	}
	return convert.PaymentResultFromPB(res), nil
}

func (p *channelClient) FetchStatement(ctx context.Context, date string) (payment.Statement, error) {
	res, err := p.c.FetchStatement(ctx, &pb.FetchStatementRequest{Instance: p.instance, Date: date})
	if err != nil {
		return payment.Statement{}, callError("FetchStatement", err)
	}
	return convert.StatementFromPB(res), nil
}

func (p *channelClient) Refund(ctx context.Context, req payment.RefundRequest) (payment.Result, error) {
	res, err := p.c.Refund(ctx, convert.RefundToPB(p.instance, req))
	if err != nil {
		return payment.Result{}, callError("Refund", err)
	}
	return convert.PaymentResultFromPB(res), nil
}

func (p *channelClient) QueryPayment(ctx context.Context, req payment.QueryPaymentRequest) (payment.Result, error) {
	res, err := p.c.QueryPayment(ctx, &pb.QueryPaymentRequest{Instance: p.instance, TransactionId: req.TransactionID, ChannelReference: req.ChannelReference})
	if err != nil {
		return payment.Result{}, callError("QueryPayment", err)
	}
	return convert.PaymentResultFromPB(res), nil
}

func (p *channelClient) ExchangeLoginCode(ctx context.Context, req payment.LoginRequest) (payment.LoginIdentity, error) {
	res, err := p.c.ExchangeLoginCode(ctx, &pb.ExchangeLoginCodeRequest{Instance: p.instance, Code: req.Code})
	if err != nil {
		return payment.LoginIdentity{}, callError("ExchangeLoginCode", err)
	}
	return convert.LoginIdentityFromPB(res), nil
}
