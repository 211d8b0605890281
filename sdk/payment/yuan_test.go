package payment_test

import (
	"math"
	"testing"

	"github.com/lianmeng/lianmeng/sdk/payment"
)

// Every amount from 1 fen to 10^10 fen at its edges (and the int64 ones)
// survives fen → yuan string → fen exactly.
func TestYuanRoundTrip(t *testing.T) {
	var fens []int64
	for p := int64(1); p <= 10_000_000_000; p *= 10 {
		fens = append(fens, p-1, p, p+1, -p)
	}
	fens = append(fens, 99, 101, 1_999, 123_456_789, math.MaxInt64, math.MinInt64+1, math.MinInt64)
	for f := int64(0); f < 10_000; f++ { // every fen value of the first 100 yuan
		fens = append(fens, f)
	}
	for _, fen := range fens {
		s := payment.FormatYuan(fen)
		got, err := payment.ParseYuan(s)
		if err != nil || got != fen {
			t.Errorf("%d → %q → %d, %v", fen, s, got, err)
		}
	}
	for fen, want := range map[int64]string{1: "0.01", 10: "0.10", 100: "1.00", 123456: "1234.56", -50: "-0.50", 10_000_000_000: "100000000.00"} {
		if got := payment.FormatYuan(fen); got != want {
			t.Errorf("FormatYuan(%d) = %q, want %q", fen, got, want)
		}
	}
}

func TestParseYuan(t *testing.T) {
	for s, want := range map[string]int64{"0.1": 10, "7": 700, "0.01": 1, "-0.5": -50, "007.00": 700} {
		if got, err := payment.ParseYuan(s); err != nil || got != want {
			t.Errorf("%q → %d, %v; want %d", s, got, err, want)
		}
	}
	for _, s := range []string{"", ".", "-", "0.001", "1.2.3", "1e3", "+1", "--1", "1 ", " 1", "abc", "1.", ".5x", "92233720368547758.08", "0x10", "1,000.00", "１.00"} {
		if got, err := payment.ParseYuan(s); err == nil {
			t.Errorf("%q accepted as %d", s, got)
		}
	}
}
