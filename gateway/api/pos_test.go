package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/adapters/shopify"
	"github.com/lianmeng/lianmeng/gateway/config"
	"github.com/lianmeng/lianmeng/gateway/inbox"
	"github.com/lianmeng/lianmeng/gateway/merchant"
	"github.com/lianmeng/lianmeng/gateway/pii"
	"github.com/lianmeng/lianmeng/gateway/points"
	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
	"github.com/lianmeng/lianmeng/sdk/pos"
	"github.com/lianmeng/lianmeng/sdk/signature"
)

// The POS routes' contracts, next to their test rather than in the shared
// table.
func init() {
	oaContracts = append(oaContracts,
		oaContract{"POST", "/v1/pos/:connection", nil, "200", nil}, // the adapter's own acknowledgement
		oaContract{"POST", "/v1/operator/merchants/:merchant/pos/connections", typeOf[createPOSConnectionRequest](), "201", typeOf[posConnectionView]()},
		oaContract{"GET", "/v1/operator/merchants/:merchant/pos/connections", nil, "200", typeOf[posConnectionList]()},
		oaContract{"GET", "/v1/operator/pos/inbox", nil, "200", typeOf[inboxList]()},
		oaContract{"POST", "/v1/operator/pos/inbox/:event/replay", nil, "200", typeOf[inboxReplayed]()},
		oaContract{"GET", "/v1/merchant/pos/inbox", nil, "200", typeOf[inboxList]()},
	)
	fzBodyRoutes["FuzzOperatorCreatePOSConnection"] = fzRoute{"POST", "/v1/operator/merchants/:merchant/pos/connections", fzOperator}
}

func FuzzOperatorCreatePOSConnection(f *testing.F) {
	fuzzRoute(f, "FuzzOperatorCreatePOSConnection",
		`{"adapter":"shopify","label":"web shop","config":{"client_secret":"x"},"store_map":{"655441491":"$STORE"}}`,
		`{"adapter":"shopify","config":"not an object"}`, `{"adapter":"","config":{}}`, `{"adapter":"shopify","config":{},"store_map":{"":"x"}}`,
		`{"adapter":"shopify","config":{},"store_map":{"1":null}}`, `{"adapter":"shopify","config":[1]}`)
}

// posAdapters serves the Shopify adapter in process (the plugin host runs
// it out of process; the inbox only sees pos.Adapter either way).
type posAdapters struct{ down bool }

func (a *posAdapters) POSAdapter(name string) (pos.Adapter, error) {
	if a.down || name != "shopify" {
		return nil, errors.New("plugin down")
	}
	return shopify.New(context.Background(), nil)
}

const posSecret = "shpss_api_test"

const posOrder = `{"id": 820982911946154508, "email": "jon@example.com", "created_at": "2026-11-30T12:00:00-05:00",
 "currency": "CNY", "financial_status": "paid", "test": false, "location_id": 655441491, "total_price": "403.00",
 "customer": {"id": 115310627314723954, "phone": "+8613800138000"}, "line_items": []}`

func posKeyring(t *testing.T) *pii.Keyring {
	t.Helper()
	e, err := pii.NewKeyEntry("k1")
	if err != nil {
		t.Fatal(err)
	}
	k, err := pii.NewKeyring(e, pii.NewIndexKey())
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestPOSWebhookFlow: an operator connects a merchant's Shopify shop, the
// shop's signed webhook is stored and acknowledged, the worker earns, and
// the event is listed; secrets are never answered.
func TestPOSWebhookFlow(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		db.SetPII(posKeyring(t))
		cfg := fndConfig()
		cfg.Plugins = []config.Plugin{{Name: "shopify", Kind: "pos_adapter", Path: "builtin:shopify"}}
		w := db.NewWriter(store.WriterOptions{})
		t.Cleanup(w.Close)
		svc := &points.Service{Policy: cfg.Points.Policy(), Reader: db, Earnings: db}
		ads := &posAdapters{}
		in := &inbox.Inbox{DB: db, Writer: w, Points: svc, Adapters: ads}
		base, _ := fndServe(t, New(Deps{Config: cfg, DB: db, Log: fndLogger(), Writer: w, Points: svc, Inbox: in}))

		m, _ := merchant.NewMerchant("Noodles", "restaurant", time.Now())
		if err := db.Merchants().CreateMerchant(ctx, m, "operator"); err != nil {
			t.Fatal(err)
		}
		st, _ := merchant.NewStore(m.ID, "Main street", time.Now())
		if err := db.Merchants().CreateStore(ctx, st, "operator"); err != nil {
			t.Fatal(err)
		}
		if r := w.Submit(ctx, &store.Op{Command: svc.FundCommand(points.FundRequest{MerchantID: m.ID, AmountFen: 1_000_000, ExternalRef: "f"})}); r.Err != nil {
			t.Fatal(r.Err)
		}
		connURL := base + "/v1/operator/merchants/" + m.ID + "/pos/connections"
		fndOp(t, "POST", connURL, `{"adapter": "square", "config": {"client_secret": "x"}}`).expectErr(t, 400, CodeValidation)
		fndOp(t, "POST", connURL, `{"adapter": "shopify", "config": {"client_secret": "x"}, "store_map": {"1": "st_other"}}`).expectErr(t, 400, CodeValidation)
		r := fndOp(t, "POST", connURL, fmt.Sprintf(`{"adapter": "shopify", "label": "web shop", "config": {"client_secret": %q}, "store_map": {"655441491": %q}}`, posSecret, st.ID))
		if r.Status != 201 || strings.Contains(string(r.Body), posSecret) {
			t.Fatalf("create connection: %s", r)
		}
		var conn posConnectionView
		if err := json.Unmarshal(r.Body, &conn); err != nil || conn.WebhookPath != "/v1/pos/"+conn.ID {
			t.Fatalf("connection: %s %v", r.Body, err)
		}
		if l := fndOp(t, "GET", connURL, ""); l.Status != 200 || strings.Contains(string(l.Body), posSecret) || !strings.Contains(string(l.Body), conn.ID) {
			t.Fatalf("list: %s", l)
		}

		hook := func(id, body, sig string) fndResp {
			return fndReq(t, "POST", base+"/v1/pos/"+id, []byte(body), "Content-Type", "application/json", shopify.HeaderHMAC, sig,
				shopify.HeaderTopic, "orders/paid", shopify.HeaderEventID, "evt-1")
		}
		hook(conn.ID, posOrder, shopify.Sign("guess", []byte(posOrder))).expectErr(t, 401, CodePOSSignatureInvalid)
		hook("pc_0000000000000000", posOrder, shopify.Sign(posSecret, []byte(posOrder))).expectErr(t, 404, CodeNotFound)
		ads.down = true
		if r := hook(conn.ID, posOrder, shopify.Sign(posSecret, []byte(posOrder))); r.Status != 503 || r.Header.Get("Retry-After") == "" {
			t.Fatalf("adapter down: %s", r)
		}
		if n := fndCount(t, db, "inbox_events"); n != 0 {
			t.Fatalf("%d events stored while refusing", n)
		}
		ads.down = false
		if r := hook(conn.ID, posOrder, shopify.Sign(posSecret, []byte(posOrder))); r.Status != 200 || len(r.Body) != 0 {
			t.Fatalf("ack: %s", r)
		}
		if _, err := in.ProcessDue(ctx); err != nil {
			t.Fatal(err)
		}
		var storeID string
		if err := db.R.QueryRow(`SELECT store_id FROM purchases WHERE merchant_id = ? AND kind = 'earn' AND order_id = '820982911946154508'`, m.ID).Scan(&storeID); err != nil || storeID != st.ID {
			t.Fatalf("earned purchase: store %q, %v", storeID, err)
		}
		l := fndOp(t, "GET", base+"/v1/operator/pos/inbox?state=done&merchant="+m.ID, "")
		if l.Status != 200 || !strings.Contains(string(l.Body), `"event_key":"orders/paid:evt-1"`) || strings.Contains(string(l.Body), "13800138000") {
			t.Fatalf("inbox list: %s", l)
		}
		fndOp(t, "GET", base+"/v1/operator/pos/inbox?state=lost", "").expectErr(t, 400, CodeValidation)

		// A verified body that does not parse: acknowledged, dead, replayable.
		bad := `{"id": 5, "total_price": 12.5}`
		r = fndReq(t, "POST", base+"/v1/pos/"+conn.ID, []byte(bad), "Content-Type", "application/json", shopify.HeaderHMAC, shopify.Sign(posSecret, []byte(bad)),
			shopify.HeaderTopic, "orders/paid")
		if r.Status != 200 {
			t.Fatalf("malformed: %s", r)
		}
		evs, err := db.InboxEvents(ctx, store.InboxFilter{State: store.InboxDead})
		if err != nil || len(evs) != 1 {
			t.Fatalf("dead: %+v %v", evs, err)
		}
		replay := fmt.Sprintf("%s/v1/operator/pos/inbox/%d/replay", base, evs[0].ID)
		if r := fndOp(t, "POST", replay, ""); r.Status != 200 {
			t.Fatalf("replay: %s", r)
		}
		fndOp(t, "POST", replay, "").expectErr(t, 409, CodeInboxEventNotReplayble)

		// The merchant sees its own events through the signed API, and
		// another merchant sees none of them.
		g := &fndGateway{db: db, base: base, clock: newFndClock()}
		var own, others inboxList
		if err := g.merchantClient(m.ID, g.createKey(t, m.ID, signature.Ed25519)).Do(ctx, "GET", "/v1/merchant/pos/inbox?state=done", nil, &own); err != nil ||
			len(own.Events) != 1 || own.Events[0].EventKey != "orders/paid:evt-1" || own.Events[0].MerchantID != m.ID {
			t.Fatalf("merchant's own inbox: %+v %v", own, err)
		}
		other := g.createMerchant(t, "Other")
		if err := g.merchantClient(other, g.createKey(t, other, signature.Ed25519)).Do(ctx, "GET", "/v1/merchant/pos/inbox", nil, &others); err != nil || len(others.Events) != 0 {
			t.Fatalf("another merchant's inbox: %+v %v", others, err)
		}
	})
}
