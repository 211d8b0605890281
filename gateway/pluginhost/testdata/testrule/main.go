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
	}})
}
