package api

import (
	"context"
	"strings"
	"testing"

	"github.com/lianmeng/lianmeng/gateway/outbox"
	"github.com/lianmeng/lianmeng/gateway/pii"
	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
	"github.com/lianmeng/lianmeng/sdk/client"
)

func init() {
	fzBodyRoutes["FuzzMerchantRegisterWebhook"] = fzRoute{"POST", "/v1/merchant/webhooks", fzMerchant}
	fzBodyRoutes["FuzzMerchantWebhookStatus"] = fzRoute{"PUT", "/v1/merchant/webhooks/:endpoint/status", fzMerchant}
	oaContracts = append(oaContracts,
		oaContract{"POST", "/v1/merchant/webhooks", typeOf[registerWebhookRequest](), "201", typeOf[outbox.Registered]()},
		oaContract{"GET", "/v1/merchant/webhooks", nil, "200", typeOf[struct {
			Endpoints  []store.WebhookEndpoint `json:"endpoints"`
			EventTypes []string                `json:"event_types"`
		}]()},
		oaContract{"POST", "/v1/merchant/webhooks/:endpoint/rotate", nil, "200", typeOf[outbox.Registered]()},
		oaContract{"PUT", "/v1/merchant/webhooks/:endpoint/status", typeOf[webhookStatusRequest](), "200", typeOf[store.WebhookEndpoint]()},
		oaContract{"GET", "/v1/merchant/webhook-deliveries", nil, "200", typeOf[webhookDeliveryList]()},
		oaContract{"POST", "/v1/merchant/webhook-deliveries/:delivery/replay", nil, "202", typeOf[webhookReplayed]()},
		oaContract{"GET", "/v1/operator/webhook-deliveries", nil, "200", typeOf[webhookDeliveryList]()},
		oaContract{"POST", "/v1/operator/webhook-deliveries/:delivery/replay", nil, "202", typeOf[webhookReplayed]()},
	)
}

type webhookDeliveryList struct {
	Deliveries []store.OutboxDelivery `json:"deliveries"`
	NextAfter  string                 `json:"next_after"`
}

type webhookReplayed struct {
	ID    int64  `json:"id"`
	State string `json:"state"`
}

// Over HTTP on both databases: a merchant registers a loopback endpoint
// (development), its earn is queued for it, it rotates the secret and
// disables the endpoint; refused URLs and event types are 4xx with their
// codes and store nothing; another merchant cannot touch the endpoint.
func TestWebhookEndpointsOverHTTP(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		db.SetPII(webhookKeyring(t))
		g := ptsStart(t, db, nil)
		ctx := context.Background()
		a := g.merchant(t, 100, 100_000)
		b := g.merchant(t, 100, 0)
		for _, c := range []struct {
			body       map[string]any
			code, text string
		}{
			{map[string]any{"url": "https://10.0.0.1/hooks"}, outbox.CodeURLForbidden, "private"},
			{map[string]any{"url": "ftp://127.0.0.1/hooks"}, outbox.CodeURLInvalid, "scheme"},
			{map[string]any{"url": "http://user:pw@127.0.0.1/hooks"}, outbox.CodeURLInvalid, "credentials"},
			{map[string]any{"url": "http://127.0.0.1:9/hooks", "events": []string{"points.stolen"}}, outbox.CodeUnknownEventType, "event"},
			{map[string]any{"url": "http://127.0.0.1:9/hooks", "secret": "mine"}, CodeValidation, "unknown"},
		} {
			err := a.C.Do(ctx, "POST", "/v1/merchant/webhooks", c.body, nil)
			if apiCode(t, err) != c.code {
				t.Fatalf("%v: %v, want %s", c.body, err, c.code)
			}
		}
		if n := fndCount(t, db, "webhook_endpoints"); n != 0 {
			t.Fatalf("refused registrations stored %d endpoints", n)
		}
		var reg outbox.Registered
		if err := a.C.Do(ctx, "POST", "/v1/merchant/webhooks", map[string]any{"url": "http://127.0.0.1:9/hooks"}, &reg); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(reg.Secret, outbox.SecretPrefix) || reg.MerchantID != a.ID || reg.Status != store.EndpointActive {
			t.Fatalf("registered %+v", reg)
		}
		if err := a.C.Do(ctx, "POST", "/v1/merchant/earn", map[string]any{"order_id": "A-1", "member": phone("13800138000"), "amount_fen": 12345},
			nil, client.IdempotencyKey(newKey())); err != nil {
			t.Fatal(err)
		}
		var list webhookDeliveryList
		if err := a.C.Do(ctx, "GET", "/v1/merchant/webhook-deliveries?state=pending", nil, &list); err != nil {
			t.Fatal(err)
		}
		if len(list.Deliveries) != 1 || list.Deliveries[0].EventType != "points.earned" || list.Deliveries[0].EndpointID != reg.ID {
			t.Fatalf("deliveries %+v", list.Deliveries)
		}
		if err := b.C.Do(ctx, "GET", "/v1/merchant/webhook-deliveries", nil, &list); err != nil || len(list.Deliveries) != 0 {
			t.Fatalf("another merchant sees %d deliveries (%v)", len(list.Deliveries), err)
		}
		if err := b.C.Do(ctx, "POST", "/v1/merchant/webhooks/"+reg.ID+"/rotate", nil, nil); apiCode(t, err) != outbox.CodeUnknownEndpoint {
			t.Fatalf("another merchant's rotation: %v", err)
		}
		var rot outbox.Registered
		if err := a.C.Do(ctx, "POST", "/v1/merchant/webhooks/"+reg.ID+"/rotate", nil, &rot); err != nil {
			t.Fatal(err)
		}
		if rot.Secret == reg.Secret || rot.PrevID != reg.SecretID {
			t.Fatalf("rotation %+v", rot)
		}
		var ep store.WebhookEndpoint
		if err := a.C.Do(ctx, "PUT", "/v1/merchant/webhooks/"+reg.ID+"/status", map[string]any{"status": "disabled"}, &ep); err != nil || ep.Status != store.EndpointDisabled {
			t.Fatalf("disable: %+v %v", ep, err)
		}
		if err := a.C.Do(ctx, "POST", "/v1/merchant/webhook-deliveries/"+"12345/replay", nil, nil); apiCode(t, err) != outbox.CodeUnknownDelivery {
			t.Fatalf("replay of a delivery that is not dead: %v", err)
		}
		if err := g.op.Do(ctx, "GET", "/v1/operator/webhook-deliveries?merchant="+a.ID, nil, &list); err != nil || len(list.Deliveries) != 1 {
			t.Fatalf("operator list: %d %v", len(list.Deliveries), err)
		}
	})
}

func webhookKeyring(t testing.TB) *pii.Keyring {
	t.Helper()
	k, err := pii.NewKeyring("wh1:"+strings.Repeat("ab", 16), strings.Repeat("cd", 32))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// fuzzWebhookRoute is fuzzRoute with the personal-data keyring the
// endpoints' secrets are sealed with, and one endpoint registered.
func fuzzWebhookRoute(f *testing.F, name string, seeds ...string) {
	r := fzBodyRoutes[name]
	for _, s := range append(seeds, fzCommonSeeds...) {
		f.Add([]byte(s))
	}
	e := fzSetup(f)
	e.db.SetPII(webhookKeyring(f))
	eps := &outbox.Endpoints{DB: e.db, Targets: outbox.Targets{Development: true}}
	reg, err := eps.Register(context.Background(), e.merchant, "http://127.0.0.1:9/hooks", nil, "fuzz")
	if err != nil {
		f.Fatal(err)
	}
	target := strings.ReplaceAll(e.target(r.Path), ":endpoint", reg.ID)
	f.Fuzz(func(t *testing.T, body []byte) { e.check(t, r, target, body) })
}

func FuzzMerchantRegisterWebhook(f *testing.F) {
	fuzzWebhookRoute(f, "FuzzMerchantRegisterWebhook",
		`{"url":"http://127.0.0.1:8080/hooks"}`,
		`{"url":"http://127.0.0.1:8080/hooks","events":["points.earned","points.redeemed"]}`,
		`{"url":"https://10.0.0.1/hooks"}`,
		`{"url":"https://[::1]/hooks"}`,
		`{"url":"ftp://127.0.0.1/x"}`,
		`{"url":"http://127.0.0.1:8080/hooks","events":["nope"]}`,
		`{"url":"http://127.0.0.1:8080/hooks","events":null}`,
		`{"url":""}`,
	)
}

func FuzzMerchantWebhookStatus(f *testing.F) {
	fuzzWebhookRoute(f, "FuzzMerchantWebhookStatus", `{"status":"disabled"}`, `{"status":"active"}`, `{"status":"gone"}`, `{"status":1}`)
}
