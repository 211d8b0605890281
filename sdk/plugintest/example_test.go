package plugintest_test

import (
	"fmt"

	"github.com/lianmeng/lianmeng/sdk/plugintest"
	"github.com/lianmeng/lianmeng/sdk/purchase"
)

func ExampleValidPurchase() {
	p := plugintest.ValidPurchase()
	fmt.Println(p.MerchantID, p.AmountFen, p.Currency, len(p.Items), p.OccurredAt, p.Validate())

	// Change a copy for each case.
	refund := plugintest.ValidPurchase()
	refund.Type, refund.ExternalOrderID, refund.OriginalOrderID = purchase.TypeRefund, "order_0001-r1", p.ExternalOrderID
	fmt.Println(refund.Type, refund.Validate())

	refund.OriginalOrderID = ""
	fmt.Println(refund.Validate())
	// Output:
	// mch_test 12800 CNY 3 2025-03-04 04:30:00 +0000 UTC <nil>
	// refund <nil>
	// purchase: a refund needs original_order_id
}
