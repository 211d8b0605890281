package plugintest_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/lianmeng/lianmeng/sdk"
	"github.com/lianmeng/lianmeng/sdk/payment"
	"github.com/lianmeng/lianmeng/sdk/plugintest"
	"github.com/lianmeng/lianmeng/sdk/webhook"
)

// memChannel knows two payments and one login code; the fields select a
// misbehaviour.
type memChannel struct {
	noReference bool // a succeeded payment without the channel's id
	flaky       bool // each query answers another status
	queries     int
	wrongKind   bool
}

func (*memChannel) CreatePayment(context.Context, payment.CreatePaymentRequest) (payment.CreatePaymentResponse, error) {
	return payment.CreatePaymentResponse{}, errors.New("unused")
}
func (*memChannel) HandleNotification(context.Context, webhook.Request) (payment.Notification, error) {
	return payment.Notification{}, errors.New("unused")
}
func (*memChannel) Payout(context.Context, payment.PayoutRequest) (payment.Result, error) {
	return payment.Result{}, errors.New("unused")
}
func (*memChannel) QueryPayout(context.Context, payment.QueryPayoutRequest) (payment.Result, error) {
	return payment.Result{}, errors.New("unused")
}
func (*memChannel) FetchStatement(context.Context, string) (payment.Statement, error) {
	return payment.Statement{}, errors.New("unused")
}
func (*memChannel) Refund(context.Context, payment.RefundRequest) (payment.Result, error) {
	return payment.Result{}, errors.New("unused")
}

func (c *memChannel) QueryPayment(_ context.Context, req payment.QueryPaymentRequest) (payment.Result, error) {
	c.queries++
	switch {
	case req.TransactionID == "paid":
		r := payment.Result{Status: payment.StatusSucceeded, TransactionID: "paid", ChannelReference: "ch-1", AmountFen: 500}
		if c.noReference {
			r.ChannelReference = ""
		}
		if c.flaky && c.queries%2 == 0 {
			r.Status = payment.StatusPending
		}
		return r, nil
	case req.TransactionID == "open":
		return payment.Result{Status: payment.StatusPending, TransactionID: "open", AmountFen: 500}, nil
	}
	return payment.Result{Status: payment.StatusNotSubmitted}, nil
}

func (c *memChannel) ExchangeLoginCode(_ context.Context, req payment.LoginRequest) (payment.LoginIdentity, error) {
	if req.Code != "good" {
		return payment.LoginIdentity{}, fmt.Errorf("%w: code %q is invalid or used", sdk.ErrInvalidInput, req.Code)
	}
	if c.wrongKind {
		return payment.LoginIdentity{Kind: "email", UserID: "u@example.com"}, nil
	}
	return payment.LoginIdentity{Kind: payment.IdentityWeChatOpenID, UserID: "oUser1"}, nil
}

func TestCheckQueryPaymentAndLogin(t *testing.T) {
	ch := &memChannel{}
	if r := plugintest.CheckQueryPayment(t, ch, payment.QueryPaymentRequest{TransactionID: "paid"}); r.ChannelReference != "ch-1" {
		t.Fatalf("paid: %+v", r)
	}
	if r := plugintest.CheckQueryPayment(t, ch, payment.QueryPaymentRequest{TransactionID: "missing"}); r.Status != payment.StatusNotSubmitted {
		t.Fatalf("missing: %+v", r)
	}
	if id := plugintest.CheckLogin(t, ch, "good"); id.UserID != "oUser1" {
		t.Fatalf("login: %+v", id)
	}
	if _, err := ch.ExchangeLoginCode(context.Background(), payment.LoginRequest{Code: "used"}); !errors.Is(err, sdk.ErrInvalidInput) {
		t.Fatalf("a refused code: %v", err)
	}
}

// The checks fail for answers the gateway could not act on.
func TestChannelChecksCatchMistakes(t *testing.T) {
	for name, f := range map[string]func(r *fatalRecorder){
		"no reference": func(r *fatalRecorder) {
			plugintest.CheckQueryPayment(r, &memChannel{noReference: true}, payment.QueryPaymentRequest{TransactionID: "paid"})
		},
		"flaky": func(r *fatalRecorder) {
			plugintest.CheckQueryPayment(r, &memChannel{flaky: true}, payment.QueryPaymentRequest{TransactionID: "paid"})
		},
		"not a querier": func(r *fatalRecorder) {
			plugintest.CheckQueryPayment(r, baseOnly{&memChannel{}}, payment.QueryPaymentRequest{TransactionID: "paid"})
		},
		"wrong kind": func(r *fatalRecorder) { plugintest.CheckLogin(r, &memChannel{wrongKind: true}, "good") },
		"refused":    func(r *fatalRecorder) { plugintest.CheckLogin(r, &memChannel{}, "used") },
	} {
		if errs := runRecorded(f); len(errs) != 1 || strings.TrimSpace(errs[0]) == "" {
			t.Errorf("%s: want one failure, got %q", name, errs)
		}
	}
}

// baseOnly has only the required calls.
type baseOnly struct{ *memChannel }

func (baseOnly) QueryPayment() {} // shadows: not the Querier signature
