package pos_test

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/lianmeng/lianmeng/sdk"
	"github.com/lianmeng/lianmeng/sdk/pos"
	"github.com/lianmeng/lianmeng/sdk/purchase"
	"github.com/lianmeng/lianmeng/sdk/webhook"
)

// adapter is a POS adapter for an imaginary POS that posts JSON orders with
// a shared token in a header and expects "SUCCESS" back.
type adapter struct{}

type merchantConfig struct {
	Token string `json:"token"`
}

type order struct {
	ID        string `json:"id"`
	Event     string `json:"event"`
	Phone     string `json:"phone"`
	TotalFen  int64  `json:"total_fen"`
	PaidAtSec int64  `json:"paid_at"`
}

func (adapter) HandleWebhook(_ context.Context, req pos.Request) (pos.Result, error) {
	var mc merchantConfig
	if err := sdk.DecodeConfig(req.MerchantConfig, &mc); err != nil {
		return pos.Result{}, err
	}
	token := req.HTTP.Header.Get("X-Pos-Token")
	if mc.Token == "" || subtle.ConstantTimeCompare([]byte(token), []byte(mc.Token)) != 1 {
		return pos.Result{Outcome: pos.Rejected, Reason: "bad token", Ack: webhook.Text(http.StatusUnauthorized, "FAIL")}, nil
	}
	var o order
	if err := json.Unmarshal(req.HTTP.Body, &o); err != nil {
		return pos.Result{}, fmt.Errorf("%w: body: %v", sdk.ErrInvalidInput, err)
	}
	if o.Event != "order.paid" {
		return pos.Result{Outcome: pos.Ignored, EventID: o.ID, EventType: o.Event, Reason: "not a payment",
			Ack: webhook.Text(http.StatusOK, "SUCCESS")}, nil
	}
	return pos.Result{
		Outcome: pos.Accepted, EventID: o.ID, EventType: o.Event,
		Events: []purchase.Purchase{{
			MerchantID: req.MerchantID, ExternalOrderID: o.ID, AmountFen: o.TotalFen, Currency: "CNY",
			Members:    []purchase.Identity{{Type: purchase.IdentityPhone, Value: o.Phone}},
			OccurredAt: time.Unix(o.PaidAtSec, 0).UTC(),
		}},
		Ack: webhook.Text(http.StatusOK, "SUCCESS"), // sent to the POS verbatim
	}, nil
}

func Example() {
	var a pos.Adapter = adapter{}
	req := pos.Request{
		MerchantID:     "mch_test",
		MerchantConfig: []byte(`{"token": "s3cret"}`),
		HTTP: webhook.Request{
			Method: http.MethodPost, Path: "/v1/webhooks/pos/mch_test",
			Header: http.Header{"X-Pos-Token": {"s3cret"}},
			Body:   []byte(`{"id": "o-1", "event": "order.paid", "phone": "+8613800138000", "total_fen": 12800, "paid_at": 1741062600}`),
		},
	}
	res, err := a.HandleWebhook(context.Background(), req)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(res.Outcome, res.EventID, res.Events[0].AmountFen, res.Events[0].Validate(), res.Ack.Status, string(res.Ack.Body))

	req.HTTP.Header.Set("X-Pos-Token", "guess")
	res, _ = a.HandleWebhook(context.Background(), req)
	fmt.Println(res.Outcome, res.Reason, res.Ack.Status)
	// Output:
	// accepted o-1 12800 <nil> 200 SUCCESS
	// rejected bad token 401
}
