package client

import (
	"context"
	"strings"
)

// Redemptions need the member's consent: the 18-digit redemption code the
// member's app shows (scanned from its QR code, "LMRC:" + code), or the
// 6-digit code sent to the member's phone (then Member names the member).

// ValidRedemptionCode reports whether code has the form of a member's
// redemption code: 18 digits, the first 6, the last the Luhn check digit
// of the first 17. A till can refuse a mistyped or misread code with it
// before sending a request.
func ValidRedemptionCode(code string) bool {
	if len(code) != 18 || code[0] != '6' {
		return false
	}
	sum, double := 0, false
	for i := len(code) - 1; i >= 0; i-- {
		c := code[i]
		if c < '0' || c > '9' {
			return false
		}
		d := int(c - '0')
		if double {
			if d *= 2; d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return sum%10 == 0
}

// RedemptionCodeFromQR returns the code in a scanned QR payload
// ("LMRC:" + code), or the text itself when it carries no prefix.
func RedemptionCodeFromQR(scanned string) string {
	return strings.TrimPrefix(strings.TrimSpace(scanned), "LMRC:")
}

// Member names a member as the API does.
type Member struct {
	Kind  string `json:"kind"`
	Value string `json:"value"`
}

// RedeemRequest is a redemption at the merchant's till.
type RedeemRequest struct {
	OrderID string `json:"order_id"`
	StoreID string `json:"store_id,omitempty"`
	// Code is the member's consent (see the package comment above).
	Code string `json:"code"`
	// Member is required with a phone code, optional with an app code.
	Member    *Member `json:"member,omitempty"`
	Points    int64   `json:"points"`
	AmountFen int64   `json:"amount_fen"`
}

// RedeemResult is the gateway's answer to a redemption.
type RedeemResult struct {
	PurchaseID int64  `json:"purchase_id"`
	MemberID   string `json:"member_id"`
	Points     int64  `json:"points"`
	ValueFen   int64  `json:"value_fen"`
	TxID       int64  `json:"tx_id"`
	Available  int64  `json:"available"`
}

// Redeem sends a signed redemption under idempotencyKey (reuse it to retry
// the same redemption). A refusal is an *APIError: member_consent_required
// and the consent_code_* codes mean the member must present a new code.
func (c *Client) Redeem(ctx context.Context, r RedeemRequest, idempotencyKey string) (RedeemResult, error) {
	var out RedeemResult
	err := c.Do(ctx, "POST", "/v1/merchant/redeem", r, &out, IdempotencyKey(idempotencyKey))
	return out, err
}
