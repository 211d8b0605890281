// Command wechatpayplugin serves the first-party WeChat Pay channel as an
// external plugin binary, so tests can run (and kill) it out of process.
package main

import (
	"github.com/lianmeng/lianmeng/plugins/wechatpay"
	"github.com/lianmeng/lianmeng/sdk"
)

func main() { sdk.Serve(wechatpay.Plugins()) }
