package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/gateway/ledger"
	"github.com/lianmeng/lianmeng/gateway/merchant"
	"github.com/lianmeng/lianmeng/gateway/points"
	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
)

// probeEnv is what a command's probe arguments may refer to.
type probeEnv struct {
	base, merchant, csv, token string
}

// commandProbes runs every command of the binary (found by walking the
// command tree, as TestCommandHelp does) with real arguments against a
// database where a member holds points. A command added without an entry
// here or in commandsNotRun fails the test.
var commandProbes = map[string]func(e probeEnv) []string{
	"":                func(probeEnv) []string { return nil },
	"adapter":         func(probeEnv) []string { return []string{"adapter"} },
	"adapter dry-run": func(e probeEnv) []string { return []string{"adapter", "dry-run", e.csv} },
	"completion":      func(probeEnv) []string { return []string{"completion"} },
	"completion bash": func(probeEnv) []string { return []string{"completion", "bash"} },
	"completion fish": func(probeEnv) []string { return []string{"completion", "fish"} },
	"completion powershell": func(probeEnv) []string {
		return []string{"completion", "powershell"}
	},
	"completion zsh": func(probeEnv) []string { return []string{"completion", "zsh"} },
	"help":           func(probeEnv) []string { return []string{"help"} },
	"import": func(e probeEnv) []string {
		return []string{"import", "--merchant", e.merchant, "--commit", "-q", e.csv}
	},
	"migrate":         func(probeEnv) []string { return []string{"migrate", "up"} },
	"plugin":          func(probeEnv) []string { return []string{"plugin"} },
	"plugin describe": func(probeEnv) []string { return []string{"plugin", "describe", "restaurant"} },
	"plugin list":     func(probeEnv) []string { return []string{"plugin", "list"} },
	"plugin verify":   func(probeEnv) []string { return []string{"plugin", "verify"} },
	"reencrypt":       func(probeEnv) []string { return []string{"reencrypt", "-q"} },
	"settle":          func(probeEnv) []string { return []string{"settle", "--date", time.Now().Format("2006-01-02"), "-q"} },
	"verify":          func(probeEnv) []string { return []string{"verify", "-q"} },
	"version":         func(probeEnv) []string { return []string{"version"} },
	"prefill": func(probeEnv) []string {
		return []string{"prefill", "--merchants", "2", "--members", "20", "--transactions", "40", "--clients", "4", "-q"}
	},
	"bench": func(e probeEnv) []string {
		return []string{"bench", "--url", e.base, "--token", e.token, "--duration", "1s", "--warmup", "0s", "--merchants", "2",
			"--clients", "2", "--max-requests", "40"}
	},
}

// commandsNotRun are the commands the probe does not start, and why.
var commandsNotRun = map[string]string{
	"serve":        "started once for the whole probe, on the same database (bench runs against it); its routes are probed by api.TestNoRouteTakesMembersPoints",
	"plugin serve": "speaks go-plugin on stdin/stdout to the gateway that started it; it has no database",
	"witness":      "a separate server cosigning checkpoints; it has no database or configuration flag",
	"demo":         "serves a simulated alliance on a database of its own it creates (a temporary directory or --data), never the configured one",
}

// TestNoCommandTakesMembersPoints: no CLI command, run for real, takes a
// member's points. Every command found in the command tree runs (serve
// in process for the whole probe, bench against it, import committing),
// and afterwards no ledger transaction has debited a member's points other
// than a release (pending to the member's own available): the CLI has no
// adjustment, conversion or bulk operation on members. On SQLite and
// MariaDB.
func TestNoCommandTakesMembersPoints(t *testing.T) {
	if testing.Short() {
		t.Skip("runs serve and bench")
	}
	for _, dialect := range storetest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			ctx := context.Background()
			driver, dsn := storetest.NewDatabase(t, dialect)
			for k, v := range map[string]string{"LIANMENG_DATABASE_DRIVER": driver, "LIANMENG_DATABASE_DSN": dsn, "LIANMENG_OPERATOR_TOKEN": benchTestToken,
				"LIANMENG_LISTEN": "127.0.0.1:0", "LIANMENG_METRICS_LISTEN": "127.0.0.1:0", "LIANMENG_CONFIG": "", "LIANMENG_LOG_LEVEL": "error",
				"LIANMENG_EVIDENCE_KEY_DIR": filepath.Join(t.TempDir(), "keys")} {
				t.Setenv(k, v)
			}
			if code, _, stderr := runCLI("migrate", "up"); code != 0 {
				t.Fatalf("migrate: %d %s", code, stderr)
			}
			db, err := store.Open(ctx, driver, dsn, store.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			m, _ := merchant.NewMerchant("Tea House", "restaurant", time.Now())
			if err := db.Merchants().CreateMerchant(ctx, m, "test"); err != nil {
				t.Fatal(err)
			}
			w := db.NewWriter(store.WriterOptions{})
			svc := &points.Service{Policy: points.Policy{FaceValueFen: 1, ReleaseDelay: time.Hour, Validity: 365 * 24 * time.Hour,
				ExpiryPolicy: "breakage", MaxPointsPerEarn: 1_000_000, MaxAmountFen: 1 << 40}}
			if r := w.Submit(ctx, &store.Op{Command: svc.FundCommand(points.FundRequest{MerchantID: m.ID, AmountFen: 100_000, ExternalRef: "bank-1"})}); r.Err != nil {
				t.Fatal(r.Err)
			}
			pts := int64(5_000)
			cmd, err := svc.PrepareEarn(ctx, points.EarnRequest{MerchantID: m.ID, OrderID: "o1", AmountFen: 10_000, Points: &pts,
				Member: points.Identity{Kind: points.IdentityPhone, Value: "13800138000"}})
			if err != nil {
				t.Fatal(err)
			}
			r := w.Submit(ctx, &store.Op{Command: cmd})
			w.Close()
			if r.Err != nil {
				t.Fatal(r.Err)
			}
			member := r.Value.(points.EarnResult).MemberID
			held := memberHeld(t, db, member)
			var before int64
			if err := db.W.Get(&before, `SELECT COALESCE(MAX(id), 0) FROM ledger_transactions`); err != nil {
				t.Fatal(err)
			}

			csv := filepath.Join(t.TempDir(), "members.csv")
			if err := os.WriteFile(csv, []byte("kind,value,points,earned_at,expires_at\nphone,13800138000,10,2026-01-01,2028-01-01\nphone,13800138001,20,2026-01-01,2028-01-01\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			e := probeEnv{base: startServeOn(t), merchant: m.ID, csv: csv, token: benchTestToken}
			ran := 0
			for _, path := range commandPaths() {
				name := strings.Join(path, " ")
				if why, ok := commandsNotRun[name]; ok {
					t.Logf("%-22s not run: %s", name, why)
					continue
				}
				probe, ok := commandProbes[name]
				if !ok {
					t.Errorf("command %q has no probe (commandProbes) and no reason not to run (commandsNotRun)", name)
					continue
				}
				code, _, stderr := runCLI(probe(e)...)
				first, _, _ := strings.Cut(stderr, "\n")
				t.Logf("%-22s exit %d %s", name, code, first)
				ran++
			}
			if ran < 15 {
				t.Fatalf("only %d commands ran", ran)
			}
			var bad []string
			if err := db.W.Select(&bad, `SELECT DISTINCT t.kind FROM ledger_transactions t JOIN postings p ON p.tx_id = t.id JOIN accounts a ON a.name = p.account
				WHERE t.id > ? AND a.kind IN ('pending', 'available') AND p.amount < 0 AND t.kind <> ?`, before, ledger.KindRelease); err != nil {
				t.Fatal(err)
			}
			if len(bad) > 0 {
				t.Fatalf("commands debited members' points: %v", bad)
			}
			if now := memberHeld(t, db, member); now < held {
				t.Fatalf("the member held %d points, now %d", held, now)
			}
			var imported int
			if err := db.W.Get(&imported, `SELECT COUNT(*) FROM purchases WHERE merchant_id = ? AND kind = ?`, m.ID, points.PurchaseImport); err != nil || imported != 2 {
				t.Fatalf("the import did not run: %d %v", imported, err)
			}
		})
	}
}

// memberHeld is a member's pending and available points.
func memberHeld(t *testing.T, db *store.DB, member string) int64 {
	t.Helper()
	b, err := db.Balances(context.Background(), ledger.MemberPending(member), ledger.MemberAvailable(member))
	if err != nil {
		t.Fatal(err)
	}
	return b[ledger.MemberPending(member)] + b[ledger.MemberAvailable(member)]
}

// startServeOn runs serve in process on the configuration of the
// environment (the probe's database) until the test ends.
func startServeOn(t *testing.T) string {
	t.Helper()
	cfg, err := loadConfig("")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), ready) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("serve did not stop")
		}
	})
	select {
	case addr := <-ready:
		return "http://" + addr
	case err := <-done:
		t.Fatalf("serve: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("serve did not start")
	}
	return ""
}
