// Command closer is a test plugin whose earning-rule instances implement
// io.Closer: each Close appends "closed ID" to the file named in its
// configuration, so a test can see which instances the SDK closed and when.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/lianmeng/lianmeng/sdk"
	"github.com/lianmeng/lianmeng/sdk/earning"
)

type config struct {
	ID  string `json:"id"`
	Log string `json:"log"`
}

type rule struct{ c config }

func (r *rule) Evaluate(_ context.Context, req earning.Request) (earning.Breakdown, error) {
	pts := req.Purchase.AmountFen / 100
	return earning.Breakdown{EligibleAmountFen: req.Purchase.AmountFen, BasePoints: pts, TotalPoints: pts, Explanation: r.c.ID}, nil
}

func (r *rule) Close() error {
	f, err := os.OpenFile(r.c.Log, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(f, "closed %s\n", r.c.ID); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func main() {
	sdk.Serve(sdk.Plugins{EarningRule: &sdk.EarningRule{
		Info: sdk.Info{Name: "closer", Version: "0.0.1"},
		New: func(_ context.Context, raw []byte) (earning.Rule, error) {
			var c config
			if err := sdk.DecodeConfig(raw, &c); err != nil {
				return nil, err
			}
			if c.ID == "" || c.Log == "" {
				return nil, fmt.Errorf("%w: id and log are required", sdk.ErrInvalidConfig)
			}
			return &rule{c}, nil
		},
	}})
}
