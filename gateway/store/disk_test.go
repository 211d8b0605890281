package store_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/gateway/evidence"
	"github.com/lianmeng/lianmeng/gateway/points"
	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
)

// TestDiskPerEarn runs earns through the writer as the HTTP API submits
// them (idempotency record, nonce, phone member, flat rate over 100
// merchants), seals the evidence log, and reports what each table and
// index holds per earn: on SQLite from the dbstat virtual table (bytes of
// the pages each b-tree uses), on MySQL from information_schema after
// ANALYZE TABLE (InnoDB's page estimates). It fails if an earn's
// idempotency record grows back to carrying its response (SQLite). More earns for a steadier
// figure:
//
//	LIANMENG_DISK_EARNS=50000 go test -run DiskPerEarn -v ./gateway/store/
func TestDiskPerEarn(t *testing.T) {
	n := 4000
	if s := os.Getenv("LIANMENG_DISK_EARNS"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil || n <= 0 {
			t.Fatalf("LIANMENG_DISK_EARNS=%q", s)
		}
	}
	if testing.Short() {
		n = 1000
	}
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clk := newEvClock()
		w := db.NewWriter(store.WriterOptions{Now: clk.Now})
		defer w.Close()
		svc := &points.Service{Policy: testPolicy(), Earnings: points.EarningFunc(func(context.Context, string) (points.Earning, error) {
			return points.Earning{}, nil
		})}
		ms := makeMerchants(t, db, 100, 100)
		for _, m := range ms {
			if _, err := run(w, func(tx points.Tx) (points.FundResult, error) {
				return svc.Fund(tx, points.FundRequest{MerchantID: m, AmountFen: 500_000_000_000, ExternalRef: "disk"})
			}); err != nil {
				t.Fatal(err)
			}
		}
		before := diskUsage(t, db)
		// 64 clients, as scripts/bench.sh runs, so batches form as there.
		const clients = 64
		var wg sync.WaitGroup
		errs := make(chan error, clients)
		for c := 0; c < clients; c++ {
			wg.Add(1)
			go func(c int) {
				defer wg.Done()
				for seq := 0; seq*clients+c < n; seq++ {
					i := seq*clients + c
					m := ms[i%len(ms)]
					order := "bench-r1-" + strconv.Itoa(c) + "-" + strconv.Itoa(seq)
					cmd, err := svc.PrepareEarn(ctx, points.EarnRequest{MerchantID: m, OrderID: order,
						Member: points.Identity{Kind: points.IdentityPhone, Value: fmt.Sprintf("139%08d", i%10000)}, AmountFen: 100 + int64(i%50_000)})
					if err != nil {
						errs <- err
						return
					}
					h := sha256.Sum256([]byte(order))
					nonce := sha256.Sum256([]byte("nonce" + order))
					res := w.Submit(ctx, &store.Op{Command: cmd,
						Idem:  &store.Idem{MerchantID: m, Key: order, RequestHash: hex.EncodeToString(h[:]), Status: 201},
						Nonce: &store.Nonce{KeyID: "key_" + m, Nonce: hex.EncodeToString(nonce[:16]), Expires: clk.Now().Add(10 * time.Minute)}})
					if res.Err != nil {
						errs <- res.Err
						return
					}
				}
			}(c)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		clk.Add(time.Minute) // past the sealer's settle time
		s, err := evidence.NewSealer(db.Evidence(), evSigner(), evidence.SealerOptions{Origin: "test.example/lianmeng", Holder: "disk",
			Now: clk.Now, Batch: 2000})
		if err != nil {
			t.Fatal(err)
		}
		evSealOnce(t, s)
		after := diskUsage(t, db)
		var names []string
		for k := range after {
			if after[k] != before[k] {
				names = append(names, k)
			}
		}
		sort.Slice(names, func(i, j int) bool { return after[names[i]]-before[names[i]] > after[names[j]]-before[names[j]] })
		var total int64
		var b strings.Builder
		fmt.Fprintf(&b, "%d earns, bytes per earn by table/index:\n", n)
		for _, k := range names {
			d := after[k] - before[k]
			total += d
			fmt.Fprintf(&b, "  %-40s %7.1f\n", k, float64(d)/float64(n))
		}
		fmt.Fprintf(&b, "  %-40s %7.1f", "total", float64(total)/float64(n))
		t.Log(b.String())
		// The idempotency record of an earn is a key hash and a
		// reference, not its response (≈ 250 bytes of JSON).
		var idem int64
		for k, v := range after {
			if strings.HasPrefix(k, "idempotency_") {
				idem += v - before[k]
			}
		}
		// InnoDB's figures are whole pages and extents, estimated: only
		// SQLite's are exact enough to hold to a bound.
		if per := float64(idem) / float64(n); db.Dialect == store.SQLite && per > 160 {
			t.Errorf("idempotency records use %.0f bytes per earn, want at most 160", per)
		}
	})
}

// diskUsage is the bytes each table and index of db occupies.
func diskUsage(t *testing.T, db *store.DB) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	var rows []struct {
		Name  string `db:"name"`
		Bytes int64  `db:"bytes"`
	}
	if db.Dialect == store.SQLite {
		if _, err := db.W.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
			t.Fatal(err)
		}
		if err := db.R.Select(&rows, `SELECT name, SUM(pgsize) AS bytes FROM dbstat GROUP BY name`); err != nil {
			t.Fatal(err)
		}
	} else {
		var tables []string
		if err := db.R.Select(&tables, `SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE()`); err != nil {
			t.Fatal(err)
		}
		for _, tb := range tables {
			if _, err := db.W.Exec("ANALYZE TABLE `" + tb + "`"); err != nil {
				t.Fatal(err)
			}
		}
		if err := db.R.Select(&rows, `SELECT CONCAT(table_name, ' (data)') AS name, data_length AS bytes FROM information_schema.tables WHERE table_schema = DATABASE()
			UNION ALL SELECT CONCAT(table_name, ' (indexes)'), index_length FROM information_schema.tables WHERE table_schema = DATABASE()`); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range rows {
		out[r.Name] = r.Bytes
	}
	return out
}
