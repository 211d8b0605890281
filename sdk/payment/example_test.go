package payment_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/lianmeng/lianmeng/sdk/payment"
)

// errTimeout stands for a provider call that got no answer.
var errTimeout = errors.New("provider: read timeout")

// payout shows how a channel reports a money-moving call: the host's
// TransactionID is the provider's idempotency key, and a call whose effect
// is unknown is reported as StatusUnknown (the host then queries), never
// guessed as failed or succeeded.
func payout(_ context.Context, req payment.PayoutRequest, send func(idempotencyKey string) (ref string, err error)) (payment.Result, error) {
	res := payment.Result{TransactionID: req.TransactionID, AmountFen: req.AmountFen}
	ref, err := send(req.TransactionID)
	switch {
	case errors.Is(err, errTimeout):
		res.Status = payment.StatusUnknown // it may have gone through
	case err != nil:
		res.Status, res.FailureMessage = payment.StatusFailed, err.Error()
	default:
		res.Status, res.ChannelReference = payment.StatusPending, ref
	}
	return res, nil
}

func Example() {
	req := payment.PayoutRequest{TransactionID: "tx_0001", MerchantID: "mch_test", AmountFen: 50000, Currency: "CNY",
		Payee: payment.Payee{Type: "bank_account", Account: "6222020000000000000", Name: "Test Merchant"}}

	ok := func(key string) (string, error) { return "prov-" + key, nil }
	timeout := func(string) (string, error) { return "", errTimeout }
	refused := func(string) (string, error) { return "", errors.New("provider: account closed") }

	for _, send := range []func(string) (string, error){ok, timeout, refused} {
		res, _ := payout(context.Background(), req, send)
		fmt.Printf("%s ref=%q failure=%q\n", res.Status, res.ChannelReference, res.FailureMessage)
	}
	// Output:
	// pending ref="prov-tx_0001" failure=""
	// unknown ref="" failure=""
	// failed ref="" failure="provider: account closed"
}
