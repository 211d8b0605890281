// Command testrule is a deliberately misbehaving earning rule for the host's
// tests. LIANMENG_TEST_MODE selects a broken handshake; purchase attributes
// select what one call does.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/lianmeng/lianmeng/sdk"
	"github.com/lianmeng/lianmeng/sdk/earning"
	"github.com/lianmeng/lianmeng/sdk/payment"
	"github.com/lianmeng/lianmeng/sdk/webhook"
)

type rule struct{}

func (rule) Evaluate(ctx context.Context, req earning.Request) (earning.Breakdown, error) {
	a := req.Purchase.Attributes
	if path := a["marker"]; path != "" {
		// Tells the test the call has reached the plugin.
		if err := os.WriteFile(path, []byte(strconv.Itoa(os.Getpid())), 0o600); err != nil {
			return earning.Breakdown{}, err
		}
	}
	if d, err := time.ParseDuration(a["sleep"]); err == nil {
		time.Sleep(d) // ignores ctx on purpose: a plugin that overruns
	}
	switch {
	case a["panic"] != "":
		panic("testrule: " + a["panic"])
	case a["exit"] != "":
		os.Exit(3)
	case a["fail"] != "":
		return earning.Breakdown{}, errors.New("testrule: " + a["fail"])
	case a["invalid"] != "":
		return earning.Breakdown{}, fmt.Errorf("%w: testrule: %s", sdk.ErrInvalidInput, a["invalid"])
	case a["badsum"] != "":
		return earning.Breakdown{BasePoints: 10, TotalPoints: 11}, nil
	}
	pts := req.Purchase.AmountFen / 100
	b := earning.Breakdown{EligibleAmountFen: req.Purchase.AmountFen, BasePoints: pts, TotalPoints: pts, Explanation: strconv.Itoa(os.Getpid())}
	if name := a["env"]; name != "" {
		v, ok := os.LookupEnv(name)
		if !ok {
			v = "<unset>"
		}
		b.Explanation = v
	}
	return b, nil
}

// v2Plugin answers to protocol 2 only.
type v2Plugin struct{ plugin.NetRPCUnsupportedPlugin }

func (v2Plugin) GRPCServer(*plugin.GRPCBroker, *grpc.Server) error { return nil }
func (v2Plugin) GRPCClient(context.Context, *plugin.GRPCBroker, *grpc.ClientConn) (any, error) {
	return nil, nil
}

func main() {
	switch os.Getenv("LIANMENG_TEST_MODE") {
	case "v2only":
		plugin.Serve(&plugin.ServeConfig{
			HandshakeConfig:  sdk.Handshake,
			VersionedPlugins: map[int]plugin.PluginSet{2: {sdk.KindEarningRule: v2Plugin{}}},
			GRPCServer:       plugin.DefaultGRPCServer,
		})
		return
	case "wrongcookie":
		plugin.Serve(&plugin.ServeConfig{
			HandshakeConfig:  plugin.HandshakeConfig{MagicCookieKey: "OTHER_APP_PLUGIN", MagicCookieValue: "x"},
			VersionedPlugins: map[int]plugin.PluginSet{1: {sdk.KindEarningRule: v2Plugin{}}},
			GRPCServer:       plugin.DefaultGRPCServer,
		})
		return
	case "stdout":
		fmt.Println("hello from a plugin that prints") // breaks the handshake
	case "badconfig":
		// falls through to serve, but the factory rejects every config
		sdk.Serve(sdk.Plugins{EarningRule: &sdk.EarningRule{
			Info: sdk.Info{Name: "testrule", Version: "0.0.1"},
			New: func(context.Context, []byte) (earning.Rule, error) {
				return nil, fmt.Errorf("%w: never good enough", sdk.ErrInvalidConfig)
			},
		}})
		return
	}
	sdk.Serve(sdk.Plugins{EarningRule: &sdk.EarningRule{
		Info: sdk.Info{Name: "testrule", Version: "0.0.1"},
		New:  func(context.Context, []byte) (earning.Rule, error) { return rule{}, nil },
	}, PaymentChannel: &sdk.PaymentChannel{
		Info: sdk.Info{Name: "testchannel", Version: "0.0.1"},
		New: func(_ context.Context, raw []byte) (payment.Channel, error) {
			var c struct {
				Optional bool `json:"optional"`
			}
			if err := sdk.DecodeConfig(raw, &c); err != nil {
				return nil, err
			}
			if c.Optional {
				return fullChannel{}, nil
			}
			return baseChannel{}, nil
		},
	}})
}

// baseChannel implements only payment.Channel, like a plugin written
// before the optional calls existed.
type baseChannel struct{}

func (baseChannel) CreatePayment(context.Context, payment.CreatePaymentRequest) (payment.CreatePaymentResponse, error) {
	return payment.CreatePaymentResponse{}, errors.New("testchannel: no payments")
}
func (baseChannel) HandleNotification(context.Context, webhook.Request) (payment.Notification, error) {
	return payment.Notification{}, errors.New("testchannel: no notifications")
}
func (baseChannel) Payout(context.Context, payment.PayoutRequest) (payment.Result, error) {
	return payment.Result{}, errors.New("testchannel: no payouts")
}
func (baseChannel) QueryPayout(context.Context, payment.QueryPayoutRequest) (payment.Result, error) {
	return payment.Result{}, errors.New("testchannel: no payouts")
}
func (baseChannel) FetchStatement(context.Context, string) (payment.Statement, error) {
	return payment.Statement{}, errors.New("testchannel: no statements")
}
func (baseChannel) Refund(context.Context, payment.RefundRequest) (payment.Result, error) {
	return payment.Result{}, errors.New("testchannel: no refunds")
}

// fullChannel also queries and exchanges login codes; the transaction id
// or the code selects a misbehaviour.
type fullChannel struct{ baseChannel }

func (fullChannel) QueryPayment(_ context.Context, req payment.QueryPaymentRequest) (payment.Result, error) {
	switch req.TransactionID {
	case "other":
		return payment.Result{Status: payment.StatusSucceeded, TransactionID: "someone_else", AmountFen: 100}, nil
	case "fail":
		return payment.Result{}, errors.New("testchannel: query failed")
	}
	return payment.Result{Status: payment.StatusSucceeded, TransactionID: req.TransactionID, ChannelReference: "ref-" + req.TransactionID, AmountFen: 100}, nil
}

func (fullChannel) ExchangeLoginCode(_ context.Context, req payment.LoginRequest) (payment.LoginIdentity, error) {
	switch req.Code {
	case "used":
		return payment.LoginIdentity{}, fmt.Errorf("%w: testchannel: code been used", sdk.ErrInvalidInput)
	case "nokind":
		return payment.LoginIdentity{UserID: "u1"}, nil
	case "noid":
		return payment.LoginIdentity{Kind: payment.IdentityWeChatOpenID}, nil
	}
	return payment.LoginIdentity{Kind: payment.IdentityWeChatOpenID, UserID: "o-" + req.Code}, nil
}
