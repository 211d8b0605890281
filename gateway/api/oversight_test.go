package api

import (
	"fmt"
	"testing"

	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
)

// The operator's audit log on both databases: newest first, paged with
// the cursor to the oldest, the token's own creation in it with who made
// it; a bad cursor or limit is refused; a token without read is refused.
// The plugins list is empty without plugins and reports what Deps.Plugins
// says.
func TestOperatorAuditAndPlugins(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		clock := newFndClock()
		w := db.NewWriter(store.WriterOptions{Now: clock.Now})
		t.Cleanup(w.Close)
		s := New(Deps{Config: fndConfig(), DB: db, Log: fndLogger(), Now: clock.Now, Writer: w,
			Plugins: func() []PluginStatus {
				return []PluginStatus{{Name: "fuel", Kind: "earning_rule", State: "down", Restarts: 3, Circuit: "open", LastError: "exit 2"}}
			}})
		base, _ := fndServe(t, s)
		var rd, fw optCreated
		optResp(t, optReq(t, fndBootstrapToken, "POST", base+"/v1/operator/tokens", `{"label":"auditor","scopes":["read"]}`), &rd)
		optResp(t, optReq(t, fndBootstrapToken, "POST", base+"/v1/operator/tokens", `{"label":"funds","scopes":["funds:write"]}`), &fw)
		for i := 0; i < 3; i++ {
			optReq(t, rd.Token, "GET", base+"/v1/operator/totals", "").expectOK(t)
			r := optReq(t, fndBootstrapToken, "POST", base+"/v1/operator/tokens", fmt.Sprintf(`{"label":"t%d","scopes":["read"]}`, i))
			r.expectOK(t)
		}
		var page auditList
		optResp(t, optReq(t, rd.Token, "GET", base+"/v1/operator/audit?limit=2", ""), &page)
		if len(page.Events) != 2 || page.NextCursor == "" || page.Events[0].ID <= page.Events[1].ID {
			t.Fatalf("first page: %+v", page)
		}
		seen := len(page.Events)
		var last auditView
		for page.NextCursor != "" {
			cur := page.NextCursor
			page = auditList{}
			optResp(t, optReq(t, rd.Token, "GET", base+"/v1/operator/audit?limit=2&cursor="+cur, ""), &page)
			seen += len(page.Events)
			if len(page.Events) > 0 {
				last = page.Events[len(page.Events)-1]
			}
		}
		all, _ := db.AuditEvents(t.Context(), 0, 1000)
		if seen != len(all) || last.ID != all[0].ID || last.Actor != "operator:bootstrap" || string(last.Payload) == "" {
			t.Fatalf("paged %d of %d events; oldest %+v", seen, len(all), last)
		}
		for _, q := range []string{"?cursor=x", "?cursor=0", "?limit=0", "?limit=501"} {
			optReq(t, rd.Token, "GET", base+"/v1/operator/audit"+q, "").expectErr(t, 400, CodeValidation)
		}
		optReq(t, fw.Token, "GET", base+"/v1/operator/audit", "").expectErr(t, 403, CodeOperatorScopeDenied)
		optReq(t, fw.Token, "GET", base+"/v1/operator/plugins", "").expectErr(t, 403, CodeOperatorScopeDenied)

		var pl pluginList
		optResp(t, optReq(t, rd.Token, "GET", base+"/v1/operator/plugins", ""), &pl)
		if len(pl.Plugins) != 1 || pl.Plugins[0].Name != "fuel" || pl.Plugins[0].Restarts != 3 || pl.Plugins[0].Circuit != "open" {
			t.Fatalf("plugins: %+v", pl)
		}
	})
}
