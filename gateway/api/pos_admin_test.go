package api

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/adapters/shopify"
	"github.com/lianmeng/lianmeng/gateway/config"
	"github.com/lianmeng/lianmeng/gateway/inbox"
	"github.com/lianmeng/lianmeng/gateway/points"
	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
	"github.com/lianmeng/lianmeng/sdk/signature"
)

func init() {
	oaContracts = append(oaContracts,
		oaContract{"POST", posConnectionRoute + "/disable", typeOf[disablePOSConnectionRequest](), "200", typeOf[posConnectionView]()},
		oaContract{"POST", posConnectionRoute + "/enable", nil, "200", typeOf[posConnectionView]()},
		oaContract{"POST", posConnectionRoute + "/rotate", typeOf[rotatePOSConnectionRequest](), "200", typeOf[posConnectionView]()},
		oaContract{"GET", "/v1/operator/pos/rejections", nil, "200", typeOf[rejectionList]()},
		oaContract{"GET", "/v1/merchant/pos/rejections", nil, "200", typeOf[rejectionList]()},
	)
	fzBodyRoutes["FuzzOperatorRotatePOSConnection"] = fzRoute{"POST", posConnectionRoute + "/rotate", fzOperator}
	fzBodyRoutes["FuzzOperatorDisablePOSConnection"] = fzRoute{"POST", posConnectionRoute + "/disable", fzOperator}
}

func FuzzOperatorDisablePOSConnection(f *testing.F) {
	fuzzRoute(f, "FuzzOperatorDisablePOSConnection", `{"reason":"moved to a new POS"}`, `{"reason":""}`, `{"reason":"a\u0000b"}`, `{}`, `{"reason":1}`)
}

func FuzzOperatorRotatePOSConnection(f *testing.F) {
	fuzzRoute(f, "FuzzOperatorRotatePOSConnection",
		`{"config":{"client_secret":"x"},"grace_seconds":60}`, `{"config":"x"}`, `{"config":{},"grace_seconds":-1}`,
		`{"config":{},"grace_seconds":604801}`, `{"config":[]}`)
}

// TestPOSConnectionAdmin: an operator disables a connection (its signed
// webhooks get 403 pos_connection_disabled, unsigned ones 404), enables
// it, rotates its secret with a grace (both secrets verify within it);
// every refusal is listed with its reason for the operator and the
// merchant (an oversized body too), never with the body.
func TestPOSConnectionAdmin(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		db.SetPII(posKeyring(t))
		cfg := fndConfig()
		cfg.HTTP.BodyLimit = 4096
		cfg.Plugins = []config.Plugin{{Name: "shopify", Kind: "pos_adapter", Path: "builtin:shopify"}}
		w := db.NewWriter(store.WriterOptions{})
		t.Cleanup(w.Close)
		svc := &points.Service{Policy: cfg.Points.Policy(), Reader: db, Earnings: db}
		in := &inbox.Inbox{DB: db, Writer: w, Points: svc, Adapters: &posAdapters{}, Rejections: &inbox.Rejections{DB: db}}
		base, _ := fndServe(t, New(Deps{Config: cfg, DB: db, Log: fndLogger(), Writer: w, Points: svc, Inbox: in}))
		g := &fndGateway{db: db, base: base, clock: newFndClock()}
		mid := g.createMerchant(t, "Noodles")
		other := g.createMerchant(t, "Other")
		if r := w.Submit(ctx, &store.Op{Command: svc.FundCommand(points.FundRequest{MerchantID: mid, AmountFen: 1_000_000, ExternalRef: "f"})}); r.Err != nil {
			t.Fatal(r.Err)
		}
		r := fndOp(t, "POST", base+"/v1/operator/merchants/"+mid+"/pos/connections", fmt.Sprintf(`{"adapter": "shopify", "config": {"client_secret": %q}}`, posSecret))
		var conn posConnectionView
		if err := json.Unmarshal(r.Body, &conn); err != nil || r.Status != 201 {
			t.Fatalf("create: %s", r)
		}
		connURL := base + "/v1/operator/merchants/" + mid + "/pos/connections"
		fndOp(t, "POST", connURL, `{"adapter": "shopify", "config": {}, "poll_interval_seconds": 5}`).expectErr(t, 400, CodeValidation)
		if r := fndOp(t, "POST", connURL, `{"adapter": "shopify", "config": {}, "poll_interval_seconds": 60}`); r.Status != 201 || !strings.Contains(string(r.Body), `"poll_interval_seconds":60`) {
			t.Fatalf("polled connection: %s", r)
		}
		if l := fndOp(t, "GET", connURL, ""); !strings.Contains(string(l.Body), `"poll":{"failures":0,`) {
			t.Fatalf("list with the poll state: %s", l)
		}
		admin := base + "/v1/operator/merchants/" + mid + "/pos/connections/" + conn.ID
		hook := func(id string, n int, secret string) fndResp {
			body := strings.Replace(posOrder, "820982911946154508", fmt.Sprint(820982911946154508+n), 1)
			return fndReq(t, "POST", base+"/v1/pos/"+id, []byte(body), "Content-Type", "application/json", shopify.HeaderHMAC, shopify.Sign(secret, []byte(body)),
				shopify.HeaderTopic, "orders/paid", shopify.HeaderEventID, fmt.Sprintf("evt-%d", n), "User-Agent", "Shopify-Captain-Hook")
		}

		fndOp(t, "POST", admin+"/disable", `{"reason": ""}`).expectErr(t, 400, CodeValidation)
		fndOp(t, "POST", base+"/v1/operator/merchants/"+other+"/pos/connections/"+conn.ID+"/disable", `{"reason": "x"}`).expectErr(t, 404, CodeNotFound)
		d := fndOp(t, "POST", admin+"/disable", `{"reason": "the shop moved to a new POS"}`)
		var dv posConnectionView
		if err := json.Unmarshal(d.Body, &dv); err != nil || d.Status != 200 || dv.Status != "disabled" || dv.StatusReason != "the shop moved to a new POS" {
			t.Fatalf("disable: %s", d)
		}
		fndOp(t, "POST", admin+"/disable", `{"reason": "again"}`).expectErr(t, 409, CodePOSConnectionUnchanged)
		hook(conn.ID, 1, posSecret).expectErr(t, 403, CodePOSConnectionDisabled)
		hook(conn.ID, 1, "guess").expectErr(t, 404, CodeNotFound)
		if e := fndOp(t, "POST", admin+"/enable", ""); e.Status != 200 || !strings.Contains(string(e.Body), `"status":"active"`) {
			t.Fatalf("enable: %s", e)
		}
		if h := hook(conn.ID, 1, posSecret); h.Status != 200 {
			t.Fatalf("enabled: %s", h)
		}

		// Rotation with a grace: both secrets verify, the view says until when.
		fndOp(t, "POST", admin+"/rotate", `{"config": {"client_secret": "next"}, "grace_seconds": 604801}`).expectErr(t, 400, CodeValidation)
		fndOp(t, "POST", admin+"/rotate", `{"config": "next"}`).expectErr(t, 400, CodeValidation)
		rot := fndOp(t, "POST", admin+"/rotate", `{"config": {"client_secret": "shpss_next"}, "grace_seconds": 3600}`)
		var rv posConnectionView
		if err := json.Unmarshal(rot.Body, &rv); err != nil || rot.Status != 200 || rv.PreviousConfigUntil == nil || strings.Contains(string(rot.Body), "shpss_next") ||
			rv.PreviousConfigUntil.Sub(time.Now()) < 59*time.Minute {
			t.Fatalf("rotate: %s", rot)
		}
		for n, secret := range map[int]string{2: posSecret, 3: "shpss_next"} {
			if h := hook(conn.ID, n, secret); h.Status != 200 {
				t.Fatalf("secret %s after rotation: %s", secret, h)
			}
		}
		if _, err := in.ProcessDue(ctx); err != nil {
			t.Fatal(err)
		}
		var earned int
		if err := db.R.Get(&earned, `SELECT COUNT(*) FROM purchases WHERE merchant_id = ? AND kind = 'earn'`, mid); err != nil || earned != 3 {
			t.Fatalf("earned %d (%v)", earned, err)
		}

		// The refusals, for the operator and the merchant.
		if r := fndReq(t, "POST", base+"/v1/pos/"+conn.ID, []byte(strings.Repeat("x", 5000)), "Content-Type", "application/json"); r.Status != 413 {
			t.Fatalf("oversized: %s", r)
		}
		hook("pc_0000000000000000", 9, posSecret).expectErr(t, 404, CodeNotFound)
		if err := in.Rejections.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		var ops rejectionList
		if r := fndOp(t, "GET", base+"/v1/operator/pos/rejections?merchant="+mid, ""); r.Status != 200 || json.Unmarshal(r.Body, &ops) != nil {
			t.Fatalf("operator rejections: %s", r)
		}
		codes := []string{}
		for _, x := range ops.Rejections {
			codes = append(codes, x.Code)
			if x.MerchantID != mid || x.ConnectionID != conn.ID {
				t.Fatalf("rejection: %+v", x)
			}
		}
		if strings.Join(codes, ",") != "body_too_large,signature_invalid,connection_disabled" {
			t.Fatalf("codes: %v (%+v)", codes, ops.Rejections)
		}
		if ops.Rejections[1].UserAgent != "Shopify-Captain-Hook" || ops.Rejections[1].Reason == "" || ops.Rejections[1].BodySHA256 == "" {
			t.Fatalf("signature rejection: %+v", ops.Rejections[1])
		}
		unknown := fndOp(t, "GET", base+"/v1/operator/pos/rejections?connection=pc_0000000000000000", "")
		if !strings.Contains(string(unknown.Body), `"code":"unknown_connection"`) || strings.Contains(string(unknown.Body), "13800138000") {
			t.Fatalf("unknown connection's: %s", unknown)
		}
		fndOp(t, "GET", base+"/v1/operator/pos/rejections?limit=0", "").expectErr(t, 400, CodeValidation)
		var page rejectionList
		if r := fndOp(t, "GET", base+"/v1/operator/pos/rejections?merchant="+mid+"&limit=2", ""); json.Unmarshal(r.Body, &page) != nil || len(page.Rejections) != 2 || page.NextBefore == 0 {
			t.Fatalf("page: %s", r)
		}
		if r := fndOp(t, "GET", fmt.Sprintf("%s/v1/operator/pos/rejections?merchant=%s&before=%d", base, mid, page.NextBefore), ""); !strings.Contains(string(r.Body), "connection_disabled") {
			t.Fatalf("next page: %s", r)
		}
		var own, others rejectionList
		if err := g.merchantClient(mid, g.createKey(t, mid, signature.Ed25519)).Do(ctx, "GET", "/v1/merchant/pos/rejections", nil, &own); err != nil || len(own.Rejections) != 3 {
			t.Fatalf("merchant's own: %+v %v", own, err)
		}
		if err := g.merchantClient(other, g.createKey(t, other, signature.Ed25519)).Do(ctx, "GET", "/v1/merchant/pos/rejections", nil, &others); err != nil || len(others.Rejections) != 0 {
			t.Fatalf("another merchant's: %+v %v", others, err)
		}
		var audits []string
		if err := db.R.Select(&audits, `SELECT kind FROM audit_events WHERE subject = ? ORDER BY id`, conn.ID); err != nil ||
			strings.Join(audits, ",") != "pos_connection.created,pos_connection.disabled,pos_connection.enabled,pos_connection.rotated" {
			t.Fatalf("audit: %v %v", audits, err)
		}
	})
}
