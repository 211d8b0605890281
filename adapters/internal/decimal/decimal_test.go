package decimal

import (
	"math/big"
	"testing"
)

func TestToMinor(t *testing.T) {
	ok := []struct {
		in, cur string
		want    int64
	}{
		{"59.99", "CNY", 5999}, {"12", "CNY", 1200}, {"12.0", "CNY", 1200}, {"0.5", "CNY", 50}, {"139.140", "CNY", 13914},
		{"1000", "JPY", 1000}, {"1.000", "JPY", 1}, {"1.234", "KWD", 1234}, {"0", "CNY", 0}, {"92233720368547758.07", "CNY", 9223372036854775807},
	}
	for _, c := range ok {
		got, err := ToMinor(c.in, c.cur)
		if err != nil || got != c.want {
			t.Errorf("ToMinor(%q, %s) = %d, %v; want %d", c.in, c.cur, got, err, c.want)
		}
	}
	for _, bad := range []string{"", ".", "1.", ".5", "-1", "+1", "1e3", "1,000.00", " 1", "1.001", "0.1.2", "NaN", "92233720368547758.08"} {
		if got, err := ToMinor(bad, "CNY"); err == nil {
			t.Errorf("ToMinor(%q) = %d, want an error", bad, got)
		}
	}
}

// FuzzToMinor checks ToMinor against exact rational arithmetic.
func FuzzToMinor(f *testing.F) {
	for _, s := range []string{"59.99", "12.0", "0.001", "1e2", "-3", "99999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ToMinor(s, "CNY")
		if err != nil {
			return
		}
		r, ok := new(big.Rat).SetString(s)
		if !ok {
			t.Fatalf("ToMinor accepted %q, which is no number", s)
		}
		r.Mul(r, big.NewRat(100, 1))
		if !r.IsInt() || r.Num().Int64() != got || r.Sign() < 0 {
			t.Fatalf("ToMinor(%q) = %d, exact value %s", s, got, r.RatString())
		}
	})
}
