package plugintest

import (
	"time"

	"github.com/lianmeng/lianmeng/sdk/messaging"
	"github.com/lianmeng/lianmeng/sdk/purchase"
)

// ValidPurchase returns a complete, valid purchase to start tests from: a
// 128.00 yuan lunch (12800 fen, CNY) at merchant "mch_test", paid with
// WeChat by a member known by phone, on Tuesday 4 March 2025 at 12:30 in
// Shanghai (04:30 UTC), with three lines that add up to the amount paid:
//
//	0  noodles         food            2 x   9600 fen
//	1  tea             drink           1 x   1200 fen
//	2  (service)       service_charge  1 x   2000 fen
//
// It passes purchase.Purchase.Validate. Each call returns a fresh copy, so
// a test may change it (a refund, another currency, no items) freely.
// OccurredAt is in UTC, as it arrives after the trip through the gateway.
func ValidPurchase() purchase.Purchase {
	return purchase.Purchase{
		Type:            purchase.TypePurchase,
		MerchantID:      "mch_test",
		StoreID:         "store_1",
		ExternalOrderID: "order_0001",
		Members:         []purchase.Identity{{Type: purchase.IdentityPhone, Value: "+8613800138000"}},
		AmountFen:       12800,
		Currency:        "CNY",
		Items: []purchase.LineItem{
			{SKU: "noodles", Name: "Beef noodles", Category: "food", Quantity: 2, AmountFen: 9600},
			{SKU: "tea", Name: "Jasmine tea", Category: "drink", Quantity: 1, AmountFen: 1200},
			{Name: "Service charge", Category: "service_charge", Quantity: 1, AmountFen: 2000},
		},
		PaymentMethod: "wechat",
		OccurredAt:    time.Date(2025, 3, 4, 4, 30, 0, 0, time.UTC),
	}
}

// ValidSendRequest returns a complete, valid message to start tests from: a
// sign-in code for the member of ValidPurchase, in Chinese.
//
//	To              +8613800138000
//	Purpose         member_signin
//	Code            246810
//	Text            Your Lianmeng sign-in code is 246810. It expires in 5 minutes.
//	IdempotencyKey  msg_0001
//	Locale          zh-CN
//
// It passes messaging.SendRequest.Validate.
func ValidSendRequest() messaging.SendRequest {
	return messaging.SendRequest{
		To:             "+8613800138000",
		Purpose:        messaging.PurposeSignIn,
		Code:           "246810",
		Text:           "Your Lianmeng sign-in code is 246810. It expires in 5 minutes.",
		IdempotencyKey: "msg_0001",
		Locale:         "zh-CN",
	}
}
