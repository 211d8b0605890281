package points_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/gateway/ledger"
	"github.com/lianmeng/lianmeng/gateway/points"
	"github.com/lianmeng/lianmeng/gateway/points/pointstest"
)

// ruleFunc is an earning-rule plugin made of a function.
type ruleFunc func(plugin string, in points.RuleInput) (points.Award, error)

func (f ruleFunc) EvaluateEarning(_ context.Context, plugin string, in points.RuleInput) (points.Award, error) {
	return f(plugin, in)
}

type retryIn time.Duration

func (r retryIn) Error() string             { return "plugin restarting" }
func (r retryIn) RetryAfter() time.Duration { return time.Duration(r) }

// PrepareEarn decides the award before the batch: the merchant's rule
// plugin is asked with the purchase, its version is recorded on the
// purchase and lot, and every failure of the plugin is a retryable
// rule_unavailable, never a guessed amount.
func TestPrepareEarnRulePlugin(t *testing.T) {
	ctx := context.Background()
	ruled := points.Merchant{ID: "r", Active: true, Earning: points.Earning{RulePlugin: "restaurant"}}
	earnings := points.EarningFunc(func(_ context.Context, id string) (points.Earning, error) {
		if id == "r" {
			return ruled.Earning, nil
		}
		return points.Earning{RateBP: 1000}, nil
	})
	req := points.EarnRequest{MerchantID: "r", OrderID: "o1", Member: points.Identity{Kind: points.IdentityCustomer, Value: "c"},
		AmountFen: 10_000, Items: []points.Item{{SKU: "tea", Category: "drinks", Quantity: 2, AmountFen: 10_000}},
		OccurredAt: t0, Attributes: map[string]string{"table": "7"}}

	var seen points.RuleInput
	svc := &points.Service{Policy: policy(), Earnings: earnings, Rules: ruleFunc(func(plugin string, in points.RuleInput) (points.Award, error) {
		if plugin != "restaurant" {
			t.Errorf("asked plugin %q", plugin)
		}
		seen = in
		return points.Award{Points: 42, RuleVersion: "plugin:restaurant@1.2.0"}, nil
	})}
	cmd, err := svc.PrepareEarn(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if seen.AmountFen != 10_000 || len(seen.Items) != 1 || seen.Items[0].Category != "drinks" || seen.Attributes["table"] != "7" || !seen.OccurredAt.Equal(t0) {
		t.Errorf("the rule saw %+v", seen)
	}
	// The command declares what it reads and how many ids it may take.
	if cmd.Name != "earn" || cmd.IDs < 3 || len(cmd.Reads.Merchants) != 1 || len(cmd.Reads.Members) != 1 || len(cmd.Reads.Purchases) != 1 ||
		cmd.Reads.Accounts[0] != ledger.MerchantBudget("r") {
		t.Errorf("command %+v", cmd)
	}
	tx := pointsTx(t, ruled)
	v, err := cmd.Apply(tx)
	if err != nil {
		t.Fatal(err)
	}
	res := v.(points.EarnResult)
	if res.Points != 42 || res.RuleVersion != "plugin:restaurant@1.2.0" {
		t.Errorf("earned %+v", res)
	}
	if lots := tx.AllLots(); len(lots) != 1 || lots[0].RuleVersion != "plugin:restaurant@1.2.0" {
		t.Errorf("lots %+v", lots)
	}

	// The plugin is down: 503-class rule_unavailable with its retry hint.
	svc.Rules = ruleFunc(func(string, points.RuleInput) (points.Award, error) {
		return points.Award{}, errors.Join(points.ErrRuleUnavailable, retryIn(7*time.Second))
	})
	_, err = svc.PrepareEarn(ctx, req)
	var pe *points.Error
	if !errors.As(err, &pe) || pe.Class != points.Unavailable || pe.Code != points.CodeRuleUnavailable || pe.RetryAfter != 7*time.Second {
		t.Errorf("plugin down: %v", err)
	}
	// A refusal from the rule itself passes through unchanged.
	svc.Rules = ruleFunc(func(string, points.RuleInput) (points.Award, error) {
		return points.Award{}, &points.Error{Class: points.Unprocessable, Code: "rule_refused", Message: "no"}
	})
	if _, err = svc.PrepareEarn(ctx, req); !errors.As(err, &pe) || pe.Code != "rule_refused" {
		t.Errorf("rule refusal: %v", err)
	}
	// An award without a version cannot be recorded: unavailable, not a guess.
	svc.Rules = ruleFunc(func(string, points.RuleInput) (points.Award, error) { return points.Award{Points: 1}, nil })
	if _, err = svc.PrepareEarn(ctx, req); !errors.As(err, &pe) || pe.Code != points.CodeRuleUnavailable {
		t.Errorf("versionless award: %v", err)
	}
	// No evaluator at all for a merchant whose rule is a plugin.
	svc.Rules = nil
	if _, err = svc.PrepareEarn(ctx, req); !errors.As(err, &pe) || pe.Code != points.CodeRuleUnavailable || pe.RetryAfter <= 0 {
		t.Errorf("no evaluator: %v", err)
	}
	// A flat-rate merchant never calls the plugin; the rate is applied in the batch.
	svc.Rules = ruleFunc(func(string, points.RuleInput) (points.Award, error) {
		t.Error("flat-rate merchant asked a plugin")
		return points.Award{}, nil
	})
	flat := req
	flat.MerchantID = "f"
	cmd, err = svc.PrepareEarn(ctx, flat)
	if err != nil {
		t.Fatal(err)
	}
	tx = pointsTx(t, points.Merchant{ID: "f", Active: true, Earning: points.Earning{RateBP: 1000}})
	if v, err := cmd.Apply(tx); err != nil || v.(points.EarnResult).Points != 100 || v.(points.EarnResult).RuleVersion != "flat:1000" {
		t.Errorf("flat earn: %+v %v", v, err)
	}
}

// An award decided for a plugin merchant is refused (retry) if the
// merchant's configuration changed to a flat rate before the batch read it.
func TestEarnCommandRefusesStaleRule(t *testing.T) {
	svc := &points.Service{Policy: policy(),
		Earnings: points.EarningFunc(func(context.Context, string) (points.Earning, error) { return points.Earning{RulePlugin: "old"}, nil }),
		Rules: ruleFunc(func(string, points.RuleInput) (points.Award, error) {
			return points.Award{Points: 5, RuleVersion: "plugin:old"}, nil
		})}
	cmd, err := svc.PrepareEarn(context.Background(), points.EarnRequest{MerchantID: "m", OrderID: "o",
		Member: points.Identity{Kind: points.IdentityCustomer, Value: "c"}, AmountFen: 1000})
	if err != nil {
		t.Fatal(err)
	}
	tx := pointsTx(t, points.Merchant{ID: "m", Active: true, Earning: points.Earning{RateBP: 100}})
	var pe *points.Error
	if _, err := cmd.Apply(tx); !errors.As(err, &pe) || pe.Code != points.CodeRuleUnavailable {
		t.Fatalf("stale rule choice: %v", err)
	}
	// Switched from plugin "old" to plugin "new": the award of "old" is refused too.
	tx.SetMerchant(points.Merchant{ID: "m", Active: true, Earning: points.Earning{RulePlugin: "new"}})
	if _, err := cmd.Apply(tx); !errors.As(err, &pe) || pe.Code != points.CodeRuleUnavailable {
		t.Fatalf("award of another plugin: %v", err)
	}
	tx.SetMerchant(points.Merchant{ID: "m", Active: true, Earning: points.Earning{RulePlugin: "old"}})
	if v, err := cmd.Apply(tx); err != nil || v.(points.EarnResult).Points != 5 {
		t.Fatalf("award of the current plugin: %+v %v", v, err)
	}
}

// Release and expiry commands report whether they filled their limit, so
// a scheduler knows to run again.
func TestLotCommandsReportFull(t *testing.T) {
	m := points.Merchant{ID: "m", Active: true, Earning: points.Earning{RateBP: 1000}}
	tx := pointsTx(t, m)
	svc := &points.Service{Policy: policy()}
	for i := range 3 {
		p := int64(10)
		if _, err := svc.Earn(tx, points.EarnRequest{MerchantID: "m", OrderID: string(rune('a' + i)), AmountFen: 1000, Points: &p,
			Member: points.Identity{Kind: points.IdentityCustomer, Value: "c"}}); err != nil {
			t.Fatal(err)
		}
	}
	tx.Advance(policy().ReleaseDelay)
	v, err := svc.ReleaseCommand(2).Apply(tx)
	if err != nil || v != (points.LotsDone{Lots: 2, Full: true}) {
		t.Fatalf("first release: %+v %v", v, err)
	}
	v, err = svc.ReleaseCommand(2).Apply(tx)
	if err != nil || v != (points.LotsDone{Lots: 1, Full: false}) {
		t.Fatalf("second release: %+v %v", v, err)
	}
	if err := tx.CheckInvariants(face); err != nil {
		t.Fatal(err)
	}
}

// pointsTx is an in-memory ledger whose merchant m holds a funded budget.
func pointsTx(t *testing.T, m points.Merchant) *pointstest.Tx {
	t.Helper()
	tx := pointstest.NewTx(t0, m)
	svc := &points.Service{Policy: policy()}
	if _, err := svc.Fund(tx, points.FundRequest{MerchantID: m.ID, AmountFen: 1_000_000, ExternalRef: "seed"}); err != nil {
		t.Fatal(err)
	}
	return tx
}

// Each command stays within the ids it declares (the store grows the
// range and retries the whole batch when one does not).
func TestCommandsStayWithinTheirIDs(t *testing.T) {
	m := points.Merchant{ID: "m", Active: true, Earning: points.Earning{RateBP: 1000}}
	tx := pointsTx(t, m)
	tx.SetMerchant(points.Merchant{ID: "n", Active: true, Earning: points.Earning{RateBP: 1000}})
	svc := &points.Service{Policy: policy()}
	member := points.Identity{Kind: points.IdentityPhone, Value: "13800000009"}
	pts := func(n int64) *int64 { return &n }
	check := func(cmd points.Command) {
		t.Helper()
		before, _ := tx.NewID()
		if _, err := pointstest.Run(tx, func(x points.Tx) (any, error) { return cmd.Apply(x) }); err != nil {
			t.Fatalf("%s: %v", cmd.Name, err)
		}
		after, _ := tx.NewID()
		if used := after - before - 1; used > int64(cmd.IDs) {
			t.Errorf("%s took %d ids, declared %d", cmd.Name, used, cmd.IDs)
		}
	}
	check(svc.FundCommand(points.FundRequest{MerchantID: "n", AmountFen: 100_000, ExternalRef: "n1"}))
	// Build two debts at two merchants, so a later earn repays both.
	for i, mid := range []string{"m", "n"} {
		order := string(rune('a' + i))
		earn, err := svc.PrepareEarn(context.Background(), points.EarnRequest{MerchantID: mid, OrderID: order, Member: member, AmountFen: 1000, Points: pts(100)})
		if err != nil {
			t.Fatal(err)
		}
		check(earn)
	}
	tx.Advance(policy().ReleaseDelay)
	check(svc.ReleaseCommand(10))
	check(svc.RedeemCommand(points.RedeemRequest{MerchantID: "n", OrderID: "r", Code: tx.RedemptionCode("n", member, 0), Points: 200, AmountFen: 5000}))
	check(svc.RefundEarnCommand(points.RefundEarnRequest{MerchantID: "m", OrderID: "a", AmountFen: 1000}))
	check(svc.RefundEarnCommand(points.RefundEarnRequest{MerchantID: "n", OrderID: "b", AmountFen: 1000}))
	if d := tx.AllDebts(); len(d) != 2 {
		t.Fatalf("want two debts to repay, have %+v", d)
	}
	earn, err := svc.PrepareEarn(context.Background(), points.EarnRequest{MerchantID: "n", OrderID: "c", Member: member, AmountFen: 10_000, Points: pts(500)})
	if err != nil {
		t.Fatal(err)
	}
	check(earn)
	check(svc.RefundRedeemCommand(points.RefundRedeemRequest{MerchantID: "n", OrderID: "r", Points: 200}))
	tx.Advance(validity + policy().ReleaseDelay)
	check(svc.ReleaseCommand(10))
	check(svc.ExpireCommand(10))
	if err := tx.CheckInvariants(face); err != nil {
		t.Fatal(err)
	}
}
