// Package all registers every first-party POS adapter with the builtin
// plugin registry (plugins.Register), so the gateway binary that imports it
// serves each as builtin:NAME. The adapters themselves import only the SDK,
// as a third-party adapter would; this package is the one link to the
// gateway's registry.
package all

import (
	"github.com/lianmeng/lianmeng/adapters/generic"
	"github.com/lianmeng/lianmeng/adapters/pospal"
	"github.com/lianmeng/lianmeng/adapters/shopify"
	"github.com/lianmeng/lianmeng/adapters/square"
	"github.com/lianmeng/lianmeng/adapters/wechatpay"
	"github.com/lianmeng/lianmeng/adapters/woocommerce"
	"github.com/lianmeng/lianmeng/adapters/youzan"
	"github.com/lianmeng/lianmeng/plugins"
)

func init() {
	plugins.Register(generic.Name, generic.Plugins)
	plugins.Register(pospal.Name, pospal.Plugins)
	plugins.Register(shopify.Name, shopify.Plugins)
	plugins.Register(square.Name, square.Plugins)
	plugins.Register(wechatpay.Name, wechatpay.Plugins)
	plugins.Register(woocommerce.Name, woocommerce.Plugins)
	plugins.Register(youzan.Name, youzan.Plugins)
}
