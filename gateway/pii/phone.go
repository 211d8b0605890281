package pii

import (
	"errors"
	"strings"
)

// Errors from NormalizePhone. They never repeat the input, which is
// personal data.
var (
	ErrPhoneChars   = errors.New("pii: phone number may contain only digits, spaces, '-', '.', '(', ')' and a leading '+'")
	ErrPhoneCN      = errors.New("pii: not a mainland China mobile number (want 11 digits starting with 13-19, optionally after +86)")
	ErrPhoneForeign = errors.New("pii: international phone number must be '+' then 8 to 15 digits, the first not 0")
)

// NormalizePhone returns the E.164 form of a phone number ("+8613800138000").
//
// Numbers without a country code are taken as mainland China mobiles:
// "13800138000", "138-0013-8000", "(138) 0013 8000". A country code may be
// given as "+86", "0086" or, for a 13-digit number, "86". Mainland numbers
// must be mobiles (11 digits, 1[3-9]...), since members sign up by SMS.
// Other countries' numbers are accepted only in international form
// ("+852 9123 4567") and checked only for E.164 length.
func NormalizePhone(s string) (string, error) {
	s = strings.TrimSpace(s)
	plus := strings.HasPrefix(s, "+")
	if plus {
		s = s[1:]
	}
	digits := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			digits = append(digits, c)
		case c == ' ' || c == '-' || c == '.' || c == '(' || c == ')':
		default:
			return "", ErrPhoneChars
		}
	}
	d := string(digits)
	if !plus && strings.HasPrefix(d, "00") {
		plus, d = true, d[2:]
	}
	switch {
	case plus && strings.HasPrefix(d, "86"):
		d = d[2:]
	case plus:
		if len(d) < 8 || len(d) > 15 || d[0] == '0' {
			return "", ErrPhoneForeign
		}
		return "+" + d, nil
	case len(d) == 13 && strings.HasPrefix(d, "86"):
		d = d[2:]
	}
	if len(d) != 11 || d[0] != '1' || d[1] < '3' {
		return "", ErrPhoneCN
	}
	return "+86" + d, nil
}

// Mask returns a phone number fit for API responses and logs: mainland
// mobiles as "138****8000", others as "+852****4567". Anything that does
// not normalise is shown as "****".
func Mask(phone string) string {
	e, err := NormalizePhone(phone)
	if err != nil {
		return "****"
	}
	if n, ok := strings.CutPrefix(e, "+86"); ok {
		return n[:3] + "****" + n[7:]
	}
	// Show up to three leading digits (the country code) and the last four,
	// always hiding at least four digits.
	head := min(3, len(e)-1-4-4)
	return e[:1+head] + "****" + e[len(e)-4:]
}
