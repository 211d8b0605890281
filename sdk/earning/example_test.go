package earning_test

import (
	"fmt"

	"github.com/lianmeng/lianmeng/sdk/earning"
)

// A breakdown explains a total: base points, plus what multipliers added,
// minus what caps removed. Check is what the gateway runs on every result.
func ExampleBreakdown_Check() {
	b := earning.Breakdown{
		EligibleAmountFen: 21800, // 218.00 yuan
		BasePoints:        436,   // 2 points per whole yuan
		Multipliers: []earning.Multiplier{
			{Code: "off_peak", FactorPermille: 1500, Points: 218}, // x1.5 adds half the base
		},
		Caps: []earning.Cap{
			{Code: "off_peak_cap", LimitPoints: 100, RemovedPoints: 118}, // bonus capped at 100
		},
		Exclusions: []earning.Exclusion{
			{LineIndex: 2, Category: "service_charge", AmountFen: 2000, Reason: "service_charge earns no points"},
		},
		TotalPoints: 536, // 436 + 218 − 118
	}
	fmt.Println(b.Check())

	b.TotalPoints = 654 // forgot the cap
	fmt.Println(b.Check())
	// Output:
	// <nil>
	// breakdown: base 436 + multipliers − caps = 536, but total_points is 654
}
