// Package decimal converts the decimal amounts POS systems send ("59.99",
// 12.5, "12.0") into integer minor units exactly: by their digits, never
// through a float.
package decimal

import (
	"errors"
	"fmt"
	"math"
	"strings"
)

// Places is the number of minor-unit decimal places of an ISO 4217
// currency (2 unless listed).
func Places(currency string) int {
	switch strings.ToUpper(currency) {
	case "JPY", "KRW", "VND", "CLP", "ISK", "UGX", "XAF", "XOF", "PYG", "RWF":
		return 0
	case "BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND":
		return 3
	}
	return 2
}

// ErrSyntax is returned for a string that is not a plain decimal number.
var ErrSyntax = errors.New("not a decimal amount")

// ToMinor converts s, a non-negative decimal in major units ("59.99", "12",
// "12.0", "0.50"), to minor units of currency. Digits past the currency's
// places must be zeros (an amount is never rounded); signs, exponents,
// spaces and thousands separators are refused.
func ToMinor(s, currency string) (int64, error) {
	return ToMinorPlaces(s, Places(currency))
}

// ToMinorPlaces is ToMinor with the number of places given.
func ToMinorPlaces(s string, places int) (int64, error) {
	whole, frac, dot := strings.Cut(s, ".")
	if whole == "" || (dot && frac == "") || !digits(whole) || !digits(frac) {
		return 0, fmt.Errorf("%w: %q", ErrSyntax, s)
	}
	if len(frac) > places {
		if strings.TrimRight(frac[places:], "0") != "" {
			return 0, fmt.Errorf("%q has more than %d decimal places", s, places)
		}
		frac = frac[:places]
	}
	frac += strings.Repeat("0", places-len(frac))
	var v int64
	for _, c := range whole + frac {
		d := int64(c - '0')
		if v > (math.MaxInt64-d)/10 {
			return 0, fmt.Errorf("%q is too large", s)
		}
		v = v*10 + d
	}
	return v, nil
}

func digits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// QtyMilli converts a decimal quantity ("2", "0.5", "1.250") to
// thousandths.
func QtyMilli(s string) (int64, error) { return ToMinorPlaces(s, 3) }
