package payment

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Channels that speak yuan strings ("12.34") convert at the edge with
// these, exactly: fen are integers everywhere else, and nothing is ever
// rounded or passed through a float.

// FormatYuan writes fen as yuan with exactly two decimals: 1 → "0.01",
// 123456 → "1234.56", -50 → "-0.50".
func FormatYuan(fen int64) string {
	sign := ""
	u := uint64(fen)
	if fen < 0 {
		sign, u = "-", uint64(-fen) // -MinInt64 wraps to itself, and uint64 of it is right
	}
	return fmt.Sprintf("%s%d.%02d", sign, u/100, u%100)
}

// ParseYuan converts a yuan amount with at most two decimals ("12.34",
// "-0.5", "7") to fen exactly; anything else (exponents, signs other than a
// leading minus, spaces, separators, three decimals, overflow) is an error,
// never rounded.
func ParseYuan(s string) (int64, error) {
	neg := strings.HasPrefix(s, "-")
	u := strings.TrimPrefix(s, "-")
	whole, frac, dot := strings.Cut(u, ".")
	if whole == "" || len(frac) > 2 || dot && frac == "" || !digits(whole) || !digits(frac) {
		return 0, fmt.Errorf("amount %q is not yuan with at most two decimals", s)
	}
	for len(frac) < 2 {
		frac += "0"
	}
	w, err := strconv.ParseUint(whole, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("amount %q: %w", s, err)
	}
	f, _ := strconv.ParseUint(frac, 10, 8)
	limit := uint64(math.MaxInt64)
	if neg {
		limit++ // -2^63 fits
	}
	if w > (limit-f)/100 {
		return 0, fmt.Errorf("amount %q overflows", s)
	}
	fen := w*100 + f
	if neg {
		return int64(-fen), nil // two's complement: right for 2^63 too
	}
	return int64(fen), nil
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
