package api

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/gateway/points"
	"github.com/lianmeng/lianmeng/gateway/rules"
	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
	"github.com/lianmeng/lianmeng/sdk/client"
	"github.com/lianmeng/lianmeng/sdk/signature"
)

func init() {
	oaContracts = append(oaContracts,
		oaContract{"POST", "/v1/operator/merchants/:merchant/exit", typeOf[announcementRequest](), "201", typeOf[store.MerchantExit]()},
		oaContract{"POST", "/v1/operator/wind-down", typeOf[announcementRequest](), "201", typeOf[store.WindDown]()},
		oaContract{"GET", "/v1/public/lifecycle", nil, "200", typeOf[publicLifecycle]()},
	)
	fzBodyRoutes["FuzzOperatorExit"] = fzRoute{"POST", "/v1/operator/merchants/:merchant/exit", fzOperator}
	fzBodyRoutes["FuzzOperatorWindDown"] = fzRoute{"POST", "/v1/operator/wind-down", fzOperator}
}

func FuzzOperatorExit(f *testing.F) {
	fuzzRoute(f, "FuzzOperatorExit", `{}`, `{"effective_at":"2020-01-01T00:00:00Z"}`, `{"effective_at":"2999-01-01T00:00:00Z","reason":"x"}`, `{"reason":1}`)
}

func FuzzOperatorWindDown(f *testing.F) {
	fuzzRoute(f, "FuzzOperatorWindDown", `{"effective_at":"2020-01-01T00:00:00Z"}`, `{"effective_at":"nope"}`, `{"reason":"closing","x":1}`)
}

// Over HTTP on both databases: an exit inside the notice period is refused
// (409, nothing written); a valid one shows on the merchant's public rule
// log and the public lifecycle; the wind-down closes earning at once.
func TestLifecycleOverHTTP(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		clock := newFndClock()
		cfg := fndConfig()
		w := db.NewWriter(store.WriterOptions{})
		t.Cleanup(w.Close)
		s := New(Deps{Config: cfg, DB: db, Log: fndLogger(), Now: clock.Now, Writer: w})
		base, _ := fndServe(t, s)
		g := &fndGateway{db: db, srv: s, base: base, clock: clock}
		mid := g.createMerchant(t, "Tea House")
		notice := cfg.Rules.NoticePeriod.D()

		soon := clock.Now().Add(notice - time.Minute).UTC().Format(time.RFC3339)
		fndOp(t, "POST", base+"/v1/operator/merchants/"+mid+"/exit", `{"effective_at":"`+soon+`"}`).expectErr(t, 409, CodeNoticeTooShort)
		fndOp(t, "POST", base+"/v1/operator/merchants/"+mid+"/exit", `{"reason":"x","extra":1}`).expectErr(t, 400, CodeValidation)
		if n := fndCount(t, db, "merchant_exits"); n != 0 {
			t.Fatalf("%d exits after refusals", n)
		}
		r := fndOp(t, "POST", base+"/v1/operator/merchants/"+mid+"/exit", `{"reason":"closing the shop"}`)
		var e store.MerchantExit
		if r.Status != 201 || json.Unmarshal(r.Body, &e) != nil || !e.EffectiveAt.Equal(clock.Now().Add(notice).UTC()) {
			t.Fatalf("exit: %s", r)
		}
		fndOp(t, "POST", base+"/v1/operator/merchants/"+mid+"/exit", `{}`).expectErr(t, 409, CodeExitAnnounced)

		var log rules.Log
		if err := json.Unmarshal(fndReq(t, "GET", base+"/v1/public/rules/"+mid, nil).expectOK(t).Body, &log); err != nil {
			t.Fatal(err)
		}
		if len(log.Notices) != 1 || log.Notices[0].Kind != rules.NoticeMerchantExit || !log.Notices[0].EffectiveAt.Equal(e.EffectiveAt) || log.Notices[0].NoticeDays != 30 {
			t.Fatalf("rule log notices: %+v", log.Notices)
		}
		if feed := fndReq(t, "GET", base+"/v1/public/rules/"+mid+"/feed.atom", nil).expectOK(t).Body; !strings.Contains(string(feed), "merchant exit announced") {
			t.Fatalf("the Atom feed does not announce the exit: %s", feed)
		}
		var pub publicLifecycle
		if err := json.Unmarshal(fndReq(t, "GET", base+"/v1/public/lifecycle", nil).expectOK(t).Body, &pub); err != nil || len(pub.Exits) != 1 || pub.WindDown != nil {
			t.Fatalf("public lifecycle: %+v %v", pub, err)
		}

		r = fndOp(t, "POST", base+"/v1/operator/wind-down", `{"reason":"the alliance closes"}`)
		if r.Status != 201 {
			t.Fatalf("wind-down: %s", r)
		}
		fndOp(t, "POST", base+"/v1/operator/wind-down", `{}`).expectErr(t, 409, CodeWindDownAnnounced)
		if err := json.Unmarshal(fndReq(t, "GET", base+"/v1/public/lifecycle", nil).expectOK(t).Body, &pub); err != nil || pub.WindDown == nil || pub.Report != nil {
			t.Fatalf("public lifecycle after the wind-down: %+v %v", pub, err)
		}
		if err := json.Unmarshal(fndReq(t, "GET", base+"/v1/public/rules/"+mid, nil).expectOK(t).Body, &log); err != nil || len(log.Notices) != 2 {
			t.Fatalf("rule log after the wind-down: %+v %v", log.Notices, err)
		}
		// Earning is closed at once.
		c := client.NewMerchant(base, mid, g.createKey(t, mid, signature.Ed25519), client.WithClock(clock.Now))
		err := c.Do(context.Background(), "POST", "/v1/merchant/earn", map[string]any{"order_id": "o1", "amount_fen": 100,
			"member": map[string]string{"kind": "phone", "value": "13800000001"}}, nil, client.IdempotencyKey("k1"))
		var ae *client.APIError
		if !errors.As(err, &ae) || ae.Status != 422 || ae.Code != points.CodeWindingDown {
			t.Fatalf("earn after the wind-down announcement: %v", err)
		}
	})
}
