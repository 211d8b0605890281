package config

import "github.com/lianmeng/lianmeng/gateway/points"

// Policy is the points policy this configuration publishes, for the
// points module (the one place configuration becomes domain policy).
func (p Points) Policy() points.Policy {
	return points.Policy{FaceValueFen: p.FaceValueFen, ReleaseDelay: p.ReleaseDelay.D(), Validity: p.Validity.D(),
		ExpiryPolicy: p.ExpiryPolicy, MaxPointsPerEarn: p.MaxPointsPerEarn, MaxAmountFen: p.MaxAmountFen}
}
