// Package purchase defines the normalized purchase: the one shape every POS
// adapter produces and every earning rule consumes. Amounts are int64 fen.
package purchase

import (
	"errors"
	"fmt"
	"time"
)

// Type tells a purchase from a refund.
type Type int

const (
	// TypePurchase is a sale (the zero value, so a literal Purchase{} is one).
	TypePurchase Type = iota
	// TypeRefund returns (part of) an earlier purchase named by OriginalOrderID.
	TypeRefund
)

func (t Type) String() string {
	switch t {
	case TypePurchase:
		return "purchase"
	case TypeRefund:
		return "refund"
	}
	return fmt.Sprintf("Type(%d)", int(t))
}

// Well-known identity types. Others are allowed.
const (
	IdentityPhone        = "phone"
	IdentityWeChatOpenID = "wechat_openid"
	IdentityAlipayUserID = "alipay_user_id"
	IdentityMemberID     = "member_id"
)

// Identity is one way of naming a member.
type Identity struct {
	Type  string `json:"type"`
	Value string `json:"value"`
}

// LineItem is one line of a receipt.
type LineItem struct {
	SKU  string `json:"sku,omitempty"`
	Name string `json:"name,omitempty"`
	// Category classifies the line, e.g. food, drink, service_charge, tip.
	Category  string `json:"category,omitempty"`
	Quantity  int64  `json:"quantity"`
	AmountFen int64  `json:"amount_fen"` // whole line, in fen
}

// Purchase is a normalized purchase or refund.
type Purchase struct {
	Type            Type       `json:"type"`
	MerchantID      string     `json:"merchant_id"`
	StoreID         string     `json:"store_id,omitempty"`
	ExternalOrderID string     `json:"external_order_id"`
	Members         []Identity `json:"members,omitempty"`
	AmountFen       int64      `json:"amount_fen"`
	Currency        string     `json:"currency"` // ISO 4217, "CNY"
	Items           []LineItem `json:"items,omitempty"`
	PaymentMethod   string     `json:"payment_method,omitempty"`
	OccurredAt      time.Time  `json:"occurred_at"`
	// OriginalOrderID links a refund to the purchase it refunds.
	OriginalOrderID string            `json:"original_order_id,omitempty"`
	Attributes      map[string]string `json:"attributes,omitempty"`
}

// Validate reports the first structural mistake. It does not require the
// line items to sum to AmountFen: receipts carry discounts and rounding.
func (p Purchase) Validate() error {
	switch {
	case p.MerchantID == "":
		return errors.New("purchase: merchant_id is empty")
	case p.ExternalOrderID == "":
		return errors.New("purchase: external_order_id is empty")
	case p.AmountFen < 0:
		return fmt.Errorf("purchase: amount_fen %d is negative", p.AmountFen)
	case p.Currency == "":
		return errors.New("purchase: currency is empty")
	case p.OccurredAt.IsZero():
		return errors.New("purchase: occurred_at is not set")
	case p.Type == TypeRefund && p.OriginalOrderID == "":
		return errors.New("purchase: a refund needs original_order_id")
	case p.Type != TypePurchase && p.Type != TypeRefund:
		return fmt.Errorf("purchase: unknown type %d", p.Type)
	}
	for i, it := range p.Items {
		if it.AmountFen < 0 || it.Quantity < 0 {
			return fmt.Errorf("purchase: items[%d] has a negative amount or quantity", i)
		}
	}
	return nil
}
