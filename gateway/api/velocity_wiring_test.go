package api

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lianmeng/lianmeng/gateway/config"
	"github.com/lianmeng/lianmeng/gateway/consent"
	"github.com/lianmeng/lianmeng/gateway/points"
	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
	"github.com/lianmeng/lianmeng/sdk/client"
)

// velStart is ptsStart with the velocity alert at threshold, the sign-in
// limit off (the test signs many members in from one address) and the
// log kept.
func velStart(t *testing.T, db *store.DB, threshold int) (*ptsGateway, *fndLogBuffer, *prometheus.Registry) {
	t.Helper()
	g := &ptsGateway{db: db, clock: &ptsClock{}}
	g.clock.us.Store(time.Now().UnixMicro())
	g.writer = db.NewWriter(store.WriterOptions{BatchSize: 64, BatchWait: 200 * time.Microsecond, Now: g.clock.Now})
	t.Cleanup(g.writer.Close)
	cfg := fndConfig()
	cfg.RateLimits.RedeemVelocityAlert = threshold
	cfg.RateLimits.SignIn = config.Limit{}
	logs, reg := &fndLogBuffer{}, prometheus.NewRegistry()
	g.sender = &captureSender{}
	g.srv = New(Deps{Config: cfg, DB: db, Log: slog.New(slog.NewTextHandler(logs, nil)), Now: g.clock.Now, Writer: g.writer,
		Points: &points.Service{Policy: cfg.Points.Policy()}, Consent: &consent.Service{Store: db, Sender: g.sender, Now: g.clock.Now},
		Registry: reg})
	g.base, _ = fndServe(t, g.srv)
	g.op = client.NewOperator(g.base, fndOperatorToken, client.WithClock(g.clock.Now))
	return g, logs, reg
}

// TestRedeemVelocityOverHTTP drives real redemptions through
// POST /v1/merchant/redeem: a merchant redeeming its own customers' points,
// however often, raises nothing; a merchant that redeems the points of
// more members it never served than the threshold within the hour raises
// one alert (the counter and a warning naming it), on both databases.
func TestRedeemVelocityOverHTTP(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		const threshold = 3
		g, logs, reg := velStart(t, db, threshold)
		ctx := context.Background()
		home := g.merchant(t, 1000, 10_000_000) // where every member earned
		local := g.merchant(t, 1000, 10_000_000)
		drain := g.merchant(t, 1000, 10_000_000)
		earn := func(m ptsMerchant, phoneNo string) {
			t.Helper()
			if err := m.C.Do(ctx, "POST", "/v1/merchant/earn", map[string]any{"order_id": "E-" + newKey(), "member": phone(phoneNo), "amount_fen": 100_000},
				nil, client.IdempotencyKey(newKey())); err != nil {
				t.Fatal(err)
			}
		}
		members := make([]string, 7)
		for i := range members {
			members[i] = fmt.Sprintf("1380013%04d", i)
			earn(home, members[i])
		}
		// members[0] and [1] are also local's own customers.
		earn(local, members[0])
		earn(local, members[1])
		g.clock.Advance(8 * 24 * time.Hour)
		svcRun(t, g, "release")
		tokens := make([]string, len(members))
		for i, p := range members {
			tokens[i] = g.signIn(t, p)
		}
		alerts := func() float64 { return rlCounter(t, reg, "lianmeng_redeem_velocity_alerts_total") }
		redeem := func(m ptsMerchant, member int) {
			t.Helper()
			if err := m.C.Do(ctx, "POST", "/v1/merchant/redeem", map[string]any{"order_id": "R-" + newKey(), "code": g.redemptionCode(t, tokens[member], 0),
				"points": 10, "amount_fen": 1000}, nil, client.IdempotencyKey(newKey())); err != nil {
				t.Fatal(err)
			}
		}

		// Normal traffic: local redeems its two customers' points eight
		// times, home its own customers' seven times: well over the
		// threshold, and never an alert.
		for i := 0; i < 8; i++ {
			redeem(local, i%2)
		}
		for i := range members {
			redeem(home, i)
		}
		if n := alerts(); n != 0 {
			t.Fatalf("%v alerts for merchants redeeming their own customers", n)
		}
		// The spike: drain redeems members it never served. Up to the
		// threshold nothing; the next one alerts, once.
		for i := 0; i < threshold; i++ {
			redeem(drain, 2+i)
		}
		if n := alerts(); n != 0 {
			t.Fatalf("%v alerts at %d first-contact redemptions, threshold %d", n, threshold, threshold)
		}
		redeem(drain, 2+threshold)
		if n := alerts(); n != 1 {
			t.Fatalf("%v alerts after %d first-contact redemptions, want 1", n, threshold+1)
		}
		redeem(drain, 2+threshold+1)
		if n := alerts(); n != 1 {
			t.Fatalf("%v alerts: a second one within the hour", n)
		}
		warn := ""
		for _, l := range strings.Split(logs.String(), "\n") {
			if strings.Contains(l, "redeem velocity") {
				if warn != "" {
					t.Fatalf("two velocity warnings:\n%s\n%s", warn, l)
				}
				warn = l
			}
		}
		if !strings.Contains(warn, "level=WARN") || !strings.Contains(warn, "merchant="+drain.ID) ||
			!strings.Contains(warn, fmt.Sprintf("first_contact_redemptions_last_hour=%d", threshold+1)) {
			t.Fatalf("velocity warning: %q", warn)
		}
		// A member who earned at drain is no longer first contact there.
		earn(drain, members[6])
		g.clock.Advance(2 * time.Hour) // the last alert is over an hour old
		tokens[6] = g.signIn(t, members[6])
		for i := 0; i < threshold+2; i++ {
			redeem(drain, 6)
		}
		if n := alerts(); n != 1 {
			t.Fatalf("%v alerts: redemptions of drain's own customer counted", n)
		}
	})
}
