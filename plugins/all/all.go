// Package all links every first-party plugin into the binary that imports it.
package all

import (
	_ "github.com/lianmeng/lianmeng/plugins/alipay"
	_ "github.com/lianmeng/lianmeng/plugins/devsender"
	_ "github.com/lianmeng/lianmeng/plugins/fuel"
	_ "github.com/lianmeng/lianmeng/plugins/hotel"
	_ "github.com/lianmeng/lianmeng/plugins/restaurant"
	_ "github.com/lianmeng/lianmeng/plugins/sandbox"
	_ "github.com/lianmeng/lianmeng/plugins/supermarket"
	_ "github.com/lianmeng/lianmeng/plugins/wechatpay"
)
