package web_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/gateway/config"
	"github.com/lianmeng/lianmeng/gateway/staff"
	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
)

// BenchmarkPages measures, on SQLite with 10,000 merchants and 1,000,000
// purchases, the server time of what the pages load: the first page of the
// public merchant list (the transparency page's table), the coverage, and
// the merchant console's today page of a merchant with 100 purchases a
// day. Run: go test ./gateway/web/ -run '^$' -bench Pages -benchtime 200x
func BenchmarkPages(b *testing.B) {
	db := storetest.Open(b, store.SQLite)
	const merchants, purchases = 10_000, 1_000_000
	now := time.Now()
	ctx := context.Background()
	tx := db.W.MustBegin()
	for i := 0; i < merchants; i += 500 {
		var rows []string
		for j := i; j < i+500; j++ {
			rows = append(rows, fmt.Sprintf("('mch_b%06d', 'Shop %d', 'retail', 'active', %d)", j, j, store.Micros(now)))
		}
		tx.MustExec(`INSERT INTO merchants (id, name, industry, status, created_at) VALUES ` + strings.Join(rows, ","))
	}
	// Purchases over the last 100 days, spread evenly over the merchants.
	for i := 0; i < purchases; i += 1000 {
		var rows []string
		for j := i; j < i+1000; j++ {
			at := now.Add(-time.Duration(j%100) * 24 * time.Hour)
			rows = append(rows, fmt.Sprintf("(%d, 'earn', 'mch_b%06d', 'sto', 'o%d', 'mem', 1000, 10, 0, 0, 0, 0, 'flat:100', %d)",
				j+1, j%merchants, j, store.Micros(at)))
		}
		tx.MustExec(`INSERT INTO purchases (id, kind, merchant_id, store_id, order_id, member_id, amount_fen, points, refunded_fen,
			reversed_points, lot_id, tx_id, rule_version, created_at) VALUES ` + strings.Join(rows, ","))
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	// Without the per-address limit on the public routes: one client here
	// asks more than any visitor's browser would.
	g := startGateway(b, db, func(c *config.Config) { c.RateLimits.Public.Requests = 0 })
	st, err := staff.New("stf_bench", "mch_b000000", "owner", staff.RoleOwner, "long enough password", now)
	if err != nil {
		b.Fatal(err)
	}
	if err := db.CreateStaff(ctx, st, "bench"); err != nil {
		b.Fatal(err)
	}
	token, sess, err := staff.NewSession(st, now, 24*time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	if err := db.CreateStaffSession(ctx, sess); err != nil {
		b.Fatal(err)
	}

	for _, c := range []struct{ name, path, cookie string }{
		{"public-merchants", "/v1/public/merchants", ""},
		{"coverage", "/v1/public/coverage", ""},
		{"console-today", "/merchant", "lianmeng_staff=" + token},
		{"transparency-html", "/", ""},
	} {
		b.Run(c.name, func(b *testing.B) {
			var worst time.Duration
			for i := 0; i < b.N; i++ {
				req, _ := http.NewRequest("GET", g.base+c.path, nil)
				if c.cookie != "" {
					req.Header.Set("Cookie", c.cookie)
				}
				start := time.Now()
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if d := time.Since(start); d > worst {
					worst = d
				}
				if resp.StatusCode != 200 {
					b.Fatalf("%s: %d", c.path, resp.StatusCode)
				}
			}
			b.ReportMetric(float64(worst.Microseconds())/1000, "worst-ms")
		})
	}
}
