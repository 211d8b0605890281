package main

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/gateway/evidence"
	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
)

// TestPrefill runs `lianmeng prefill` twice on SQLite and MariaDB: each
// run writes exactly the earns asked for, through the domain, so the
// invariants hold and `lianmeng verify` passes; the members come from the
// benchmark's phone pool and are found again by a later process (the
// second run creates no member beyond the pool), as the benchmark's
// gateway will find them. Each run seals what it wrote (the second
// continuing the first's log): the latest checkpoint covers every ledger
// transaction and audit event, and the sealer's lease is free for the
// gateway that starts next.
func TestPrefill(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the gateway binary")
	}
	bin := buildGatewayBinary(t)
	for _, dialect := range storetest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			driver, dsn := storetest.NewDatabase(t, dialect)
			env := append(gatewayEnv(driver, dsn), "LIANMENG_EVIDENCE_KEY_DIR="+t.TempDir())
			dir := t.TempDir()
			const n, members = 600, 40
			profile := filepath.Join(t.TempDir(), "cpu.pprof")
			for i := range 2 {
				args := []string{"prefill", "--transactions", "600", "--merchants", "7", "--members", "40", "--clients", "32", "-q"}
				if i == 1 {
					args = append(args, "--cpuprofile", profile, "--sqlite-cache-mib", "16")
				}
				out, err := runBin(bin, dir, env, args...)
				if err != nil || !strings.Contains(out, "prefilled 600 earn transactions") || !strings.Contains(out, "sealed the evidence log to") {
					t.Fatalf("prefill: %v\n%s", err, out)
				}
			}
			if fi, err := os.Stat(profile); err != nil || fi.Size() == 0 {
				t.Fatalf("--cpuprofile wrote no profile: %v", err)
			}
			if out, err := runBin(bin, dir, env, "prefill", "--transactions", "0"); err == nil {
				t.Fatalf("--transactions 0 accepted:\n%s", out)
			}
			// The cache's bounds are the configuration's (database.sqlite_cache_mib).
			if out, err := runBin(bin, dir, env, "prefill", "--transactions", "10", "--sqlite-cache-mib", "4"); err == nil || !strings.Contains(out, "sqlite_cache_mib must be between 8 and 65536") {
				t.Fatalf("--sqlite-cache-mib 4: %v\n%s", err, out)
			}
			ctx := context.Background()
			db, err := store.Open(ctx, driver, dsn, store.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			var earns, funds, mems, lots int
			for q, v := range map[string]*int{
				`SELECT COUNT(*) FROM ledger_transactions WHERE kind = 'earn'`: &earns,
				`SELECT COUNT(*) FROM ledger_transactions WHERE kind = 'fund'`: &funds,
				`SELECT COUNT(*) FROM members`:                                 &mems,
				`SELECT COUNT(*) FROM lots`:                                    &lots,
			} {
				if err := db.R.Get(v, q); err != nil {
					t.Fatal(err)
				}
			}
			if earns != 2*n || lots != 2*n || funds != 2*7 || mems > members || mems == 0 {
				t.Fatalf("earns %d, lots %d, fundings %d, members %d", earns, lots, funds, mems)
			}
			ev := db.Evidence()
			var entries int64
			for _, typ := range evidence.EntryTypes {
				rows, sealed, err := ev.CountEntries(ctx, typ, 0, math.MaxInt64)
				if err != nil {
					t.Fatal(err)
				}
				if rows != sealed {
					t.Errorf("%s: %d rows, %d sealed", typ, rows, sealed)
				}
				entries += rows
			}
			cp, err := ev.LatestCheckpoint(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if leaves, err := ev.LeafCount(ctx); err != nil || int64(cp.Signed.Size) != entries || leaves != entries || entries < 2*n+2*7 {
				t.Fatalf("checkpoint size %d, leaves %d (%v), entries %d", cp.Signed.Size, leaves, err, entries)
			}
			if held, _, err := ev.TryLease(ctx, evidence.Lease{Name: "evidence-sealer", Holder: "next-gateway", TTL: time.Minute}, time.Now()); err != nil || !held {
				t.Fatalf("sealer lease not free after prefill: held %v, %v", held, err)
			}
			vs, err := db.CheckInvariants(ctx, 1, nil)
			if err != nil || len(vs) > 0 {
				t.Fatalf("invariants: %v %v", vs, err)
			}
			if out, err := runBin(bin, dir, env, "verify"); err != nil {
				t.Fatalf("verify: %v\n%s", err, out)
			}
		})
	}
}
