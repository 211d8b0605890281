// Command selfsum is a test plugin that reports the SHA-256 of the image it
// is running (/proc/self/exe, which names the executed inode even after its
// file is renamed or deleted) as its Describe summary, so a test can tell
// exactly which bytes the host executed.
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"

	"github.com/lianmeng/lianmeng/sdk"
	"github.com/lianmeng/lianmeng/sdk/earning"
)

type rule struct{}

func (rule) Evaluate(context.Context, earning.Request) (earning.Breakdown, error) {
	return earning.Breakdown{}, nil
}

func selfSum() string {
	f, err := os.Open("/proc/self/exe")
	if err != nil {
		return "error: " + err.Error()
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "error: " + err.Error()
	}
	return hex.EncodeToString(h.Sum(nil))
}

func main() {
	sdk.Serve(sdk.Plugins{EarningRule: &sdk.EarningRule{
		Info: sdk.Info{Name: "selfsum", Version: "0.0.1", Summary: selfSum()},
		New:  func(context.Context, []byte) (earning.Rule, error) { return rule{}, nil },
	}})
}
