package points

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"time"
)

// Only the member spends the member's points: a redemption carries the
// member's consent, as a code the member presents at the till. A code is
// single use, short-lived, bound to one member and optionally capped; it is
// stored only as a key derived from it (a database reader learns no code).
//
// Two kinds:
//   - ConsentApp: an 18-digit redemption code the member's own signed-in
//     session asks for and shows as digits and a QR code (≈60 s). The first
//     digit is 6; the last is a Luhn check digit over the first 17, so a
//     till can refuse a mistyped code before sending it. Any merchant may
//     redeem with it.
//   - ConsentSMS: a 6-digit code sent to the member's phone when a merchant
//     asks for consent to redeem a given number of points (for members
//     without the app). It is bound to that merchant, capped at those
//     points, and its key includes the member, so the redeem request must
//     name the member too.

// Consent kinds.
const (
	ConsentApp = "app"
	ConsentSMS = "sms"
)

// Consent is a member's permission to redeem, as stored.
type Consent struct {
	Key        string // RedemptionCodeKey or SMSConsentKey of the code
	Kind       string // ConsentApp or ConsentSMS
	MemberID   string
	MerchantID string // "" for app codes: any merchant
	MaxPoints  int64  // 0: no cap
	CreatedAt  time.Time
	ExpiresAt  time.Time
	UsedAt     time.Time // zero while unused
	PurchaseID int64     // the redemption that used it
}

// Code lengths.
const (
	RedemptionCodeLen = 18
	SMSCodeLen        = 6
)

// ValidRedemptionCode reports whether code has the form of a redemption
// code: 18 ASCII digits starting with 6 with a valid Luhn check digit.
func ValidRedemptionCode(code string) bool {
	if len(code) != RedemptionCodeLen || code[0] != '6' || !digits(code) {
		return false
	}
	return LuhnDigit(code[:RedemptionCodeLen-1]) == code[RedemptionCodeLen-1]
}

// RedemptionCodeFrom makes the redemption code whose 16 middle digits are
// digits: "6", digits, and the Luhn check digit of the first 17.
func RedemptionCodeFrom(digits string) string {
	body := "6" + digits
	return body + string(LuhnDigit(body))
}

// LuhnDigit is the Luhn check digit of a string of ASCII digits.
func LuhnDigit(s string) byte {
	sum := 0
	double := true // the rightmost digit of s is doubled (the check digit follows it)
	for i := len(s) - 1; i >= 0; i-- {
		d := int(s[i] - '0')
		if double {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return byte('0' + (10-sum%10)%10)
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// RedemptionCodeKey is the stored key of an app redemption code:
// hex(SHA-256("lianmeng/redemption-code/v1\n" + code)).
func RedemptionCodeKey(code string) string {
	h := sha256.Sum256([]byte("lianmeng/redemption-code/v1\n" + code))
	return hex.EncodeToString(h[:])
}

// SMSConsentKey is the stored key of an SMS consent code for a member:
// hex(SHA-256("lianmeng/sms-consent/v1\n" + memberID + "\n" + code)).
func SMSConsentKey(memberID, code string) string {
	h := sha256.Sum256([]byte("lianmeng/sms-consent/v1\n" + memberID + "\n" + code))
	return hex.EncodeToString(h[:])
}

// Consent refusal codes (403).
const (
	CodeConsentRequired  = "member_consent_required"
	CodeConsentUsed      = "consent_code_used"
	CodeConsentExpired   = "consent_code_expired"
	CodeConsentMember    = "consent_code_other_member"
	CodeConsentMerchant  = "consent_code_other_merchant"
	CodeConsentCap       = "consent_code_cap_exceeded"
	CodeInvalidCode      = "invalid_consent_code"
	consentCodeMalformed = "code must be an 18-digit redemption code from the member's app, or the 6-digit code sent to the member's phone together with member"
)

// consentFor checks a redemption's consent inside the batch and returns
// the consent and the member it belongs to. The caller marks it used.
func (s *Service) consentFor(tx Tx, m Merchant, r RedeemRequest) (*Consent, string, error) {
	var key, named string
	if r.Member.Kind != "" {
		id, err := tx.Member(m.ID, r.Member, false)
		if errors.Is(err, ErrNotFound) {
			// Indistinguishable from a wrong code: a merchant learns
			// nothing about whether an identity is a member.
			return nil, "", errf(Forbidden, CodeConsentRequired, "no valid consent of this member for this redemption")
		} else if err != nil {
			return nil, "", err
		}
		named = id
	}
	switch {
	case r.Code == "":
		return nil, "", errf(Forbidden, CodeConsentRequired, "a redemption needs the member's consent: the redemption code from the member's app, or the code sent to the member's phone")
	case len(r.Code) == SMSCodeLen && digits(r.Code):
		if named == "" {
			return nil, "", errf(Invalid, CodeInvalidCode, "a 6-digit phone code needs the member it was sent to")
		}
		key = SMSConsentKey(named, r.Code)
	case ValidRedemptionCode(r.Code):
		key = RedemptionCodeKey(r.Code)
	default:
		return nil, "", errf(Invalid, CodeInvalidCode, consentCodeMalformed)
	}
	c, err := tx.Consent(key)
	if errors.Is(err, ErrNotFound) {
		return nil, "", errf(Forbidden, CodeConsentRequired, "the code is not a valid consent: ask the member for a new one")
	} else if err != nil {
		return nil, "", err
	}
	now := tx.Now()
	switch {
	case !c.UsedAt.IsZero():
		return nil, "", errf(Forbidden, CodeConsentUsed, "this code was already used; ask the member for a new one")
	case !now.Before(c.ExpiresAt):
		return nil, "", errf(Forbidden, CodeConsentExpired, "this code expired; ask the member for a new one")
	case named != "" && named != c.MemberID:
		return nil, "", errf(Forbidden, CodeConsentMember, "this code belongs to another member")
	case c.MerchantID != "" && c.MerchantID != m.ID:
		return nil, "", errf(Forbidden, CodeConsentMerchant, "this code was given to another merchant")
	case c.MaxPoints > 0 && r.Points > c.MaxPoints:
		return nil, "", errf(Forbidden, CodeConsentCap, "this code allows at most %d points", c.MaxPoints)
	}
	return c, c.MemberID, nil
}
