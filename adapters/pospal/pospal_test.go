package pospal_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/adapters/pospal"
	"github.com/lianmeng/lianmeng/adapters/pospal/pospaltest"
	"github.com/lianmeng/lianmeng/sdk"
	"github.com/lianmeng/lianmeng/sdk/pos"
	"github.com/lianmeng/lianmeng/sdk/purchase"
	"github.com/lianmeng/lianmeng/sdk/webhook"
)

func config(base, key string) []byte {
	return []byte(fmt.Sprintf(`{"api_base": %q, "app_id": "app-1", "app_key": %q, "start_at": "2026-12-01 08:00:00", "settle_seconds": 60}`, base, key))
}

func adapter(t testing.TB) interface {
	pos.Adapter
	pos.Poller
} {
	a, err := pospal.New(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return a.(interface {
		pos.Adapter
		pos.Poller
	})
}

var day = time.Date(2026, 12, 1, 8, 0, 0, 0, pospal.CST)

// Polling pages through a window signed as Pospal requires, each record
// verifies and parses (a sale with its items and member, a return linked
// to its sale, a voided ticket ignored), and the cursor moves on only past
// a window's last page.
func TestPollPagesAndParses(t *testing.T) {
	fake := pospaltest.New("app-1", "key-1")
	defer fake.Close()
	fake.PageSize = 2
	fake.Add(
		pospaltest.Ticket{UID: 11, SN: "S11", At: day.Add(time.Minute), Total: "12.50", Customer: 7,
			ItemsJSON: `[{"productUid": 1, "name": "牛肉面", "productBarcode": "690001", "quantity": 1, "sellPrice": 12.5, "totalAmount": 12.50}]`},
		pospaltest.Ticket{UID: 12, SN: "S12", At: day.Add(2 * time.Minute), Total: "3", Invalid: 1},
		pospaltest.Ticket{UID: 13, SN: "R13", At: day.Add(3 * time.Minute), Total: "-2.50", Type: "SELL_RETURN", Customer: 7, SaleSN: "S11"},
	)
	a := adapter(t)
	cfg := config(fake.URL, "key-1")
	now := day.Add(time.Hour)
	var recs []pos.Record
	var cur []byte
	polls := 0
	for {
		res, err := a.Poll(context.Background(), pos.PollRequest{MerchantConfig: cfg, Cursor: cur, Now: now})
		if err != nil || res.ProviderError != "" {
			t.Fatalf("poll: %v %s", err, res.ProviderError)
		}
		polls++
		recs, cur = append(recs, res.Records...), res.Cursor
		if !res.More {
			break
		}
	}
	if polls != 2 || len(recs) != 3 {
		t.Fatalf("%d polls, %d records", polls, len(recs))
	}
	var c pospal.Cursor
	if err := json.Unmarshal(cur, &c); err != nil || c.Start != "2026-12-01 08:59:00" || c.PostBack != nil {
		t.Fatalf("cursor after the window: %s", cur)
	}
	var evs []purchase.Purchase
	for _, r := range recs {
		res, err := a.HandleWebhook(context.Background(), pos.Request{HTTP: r.Request, MerchantID: "m1", MerchantConfig: cfg})
		if err != nil || res.Outcome == pos.Rejected || res.EventID != r.ID {
			t.Fatalf("record %s: %+v %v", r.ID, res, err)
		}
		evs = append(evs, res.Events...)
	}
	if len(evs) != 2 || evs[0].AmountFen != 1250 || evs[0].Members[0].Value != "7" || evs[0].Items[0].AmountFen != 1250 || evs[0].Items[0].SKU != "690001" ||
		!evs[0].OccurredAt.Equal(day.Add(time.Minute)) {
		t.Fatalf("sale: %+v", evs)
	}
	if evs[1].Type != purchase.TypeRefund || evs[1].OriginalOrderID != "S11" || evs[1].AmountFen != 250 {
		t.Fatalf("return: %+v", evs[1])
	}
	// Nothing new: the next poll reads the settled part only.
	res, err := a.Poll(context.Background(), pos.PollRequest{MerchantConfig: cfg, Cursor: cur, Now: now})
	if err != nil || len(res.Records) != 0 || res.More {
		t.Fatalf("idle poll: %+v %v", res, err)
	}
	if _, refused := fake.Calls(); refused != 0 {
		t.Fatalf("fake refused %d signed calls", refused)
	}
}

// A wrong app key is refused by Pospal (a provider error, nothing read);
// an outage is a provider error; a request posted by anyone else does not
// verify.
func TestPollErrorsAndForgedRecords(t *testing.T) {
	fake := pospaltest.New("app-1", "key-1")
	defer fake.Close()
	fake.Add(pospaltest.Ticket{UID: 1, SN: "S1", At: day.Add(time.Minute), Total: "1"})
	a := adapter(t)
	now := day.Add(time.Hour)
	res, err := a.Poll(context.Background(), pos.PollRequest{MerchantConfig: config(fake.URL, "wrong"), Now: now})
	if err != nil || res.ProviderError == "" || len(res.Records) != 0 || res.Cursor != nil {
		t.Fatalf("wrong key: %+v %v", res, err)
	}
	fake.Fail(1)
	if res, err = a.Poll(context.Background(), pos.PollRequest{MerchantConfig: config(fake.URL, "key-1"), Now: now}); err != nil || !strings.Contains(res.ProviderError, "503") {
		t.Fatalf("outage: %+v %v", res, err)
	}
	if _, err := a.Poll(context.Background(), pos.PollRequest{MerchantConfig: []byte(`{"api_base": "http://example.com", "app_id": "a", "app_key": "k"}`), Now: now}); !errors.Is(err, sdk.ErrInvalidConfig) {
		t.Fatalf("plain http to a public host: %v", err)
	}
	body := []byte(`{"ticket": {"uid": 9, "sn": "S9", "datetime": "2026-12-01 09:00:00", "totalAmount": 99999, "ticketType": "SELL", "customerUid": 1}}`)
	forged := webhook.Request{Method: http.MethodPost, Header: http.Header{pospal.HeaderRecordSignature: {pospal.SealRecord("guess", body)}}, Body: body}
	if r, err := a.HandleWebhook(context.Background(), pos.Request{HTTP: forged, MerchantConfig: config(fake.URL, "key-1")}); err != nil || r.Outcome != pos.Rejected {
		t.Fatalf("forged: %+v %v", r, err)
	}
}

func FuzzHandleWebhook(f *testing.F) {
	f.Add([]byte(`{"ticket": {"uid": 9, "sn": "S9", "datetime": "2026-12-01 09:00:00", "totalAmount": 12.5, "ticketType": "SELL", "customerUid": 1, "items": [{"quantity": 0.5, "sellPrice": 3.333}]}}`))
	f.Add([]byte(`{"ticket": {"uid": 9, "sn": "R9", "datetime": "2026-12-01 09:00:00", "totalAmount": -1, "ticketType": "SELL_RETURN"}, "sell_ticket_sn": "S1"}`))
	f.Add([]byte(`{"ticket": {"uid": "x"}}`))
	a := adapter(f)
	cfg := []byte(`{"api_base": "https://example.com", "app_id": "a", "app_key": "k"}`)
	f.Fuzz(func(t *testing.T, body []byte) {
		req := webhook.Request{Header: http.Header{pospal.HeaderRecordSignature: {pospal.SealRecord("k", body)}}, Body: body}
		res, err := a.HandleWebhook(context.Background(), pos.Request{HTTP: req, MerchantID: "m", MerchantConfig: cfg})
		if err != nil {
			if !errors.Is(err, sdk.ErrInvalidInput) {
				t.Fatalf("error is not invalid input: %v", err)
			}
			return
		}
		for _, e := range res.Events {
			if e.Validate() != nil || e.AmountFen < 0 {
				t.Fatalf("invalid event: %+v", e)
			}
		}
	})
}
