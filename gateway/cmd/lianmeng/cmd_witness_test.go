package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/gateway/config"
	"github.com/lianmeng/lianmeng/gateway/evidence"
	"github.com/lianmeng/lianmeng/gateway/internal/eventually"
	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
	sdk "github.com/lianmeng/lianmeng/sdk/evidence"
)

// lianmeng witness and a gateway configured with it: every checkpoint is
// cosigned, the cosignatures verify with the printed verifier key, and the
// quorum holds; a gateway whose witness is down has no quorum.
func TestWitnessCommandAndGateway(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		cfg := config.Default()
		cfg.Evidence.KeyDir = filepath.Join(t.TempDir(), "keys")
		cfg.Evidence.Settle = config.Duration(time.Millisecond)
		cfg.Evidence.SealInterval = config.Duration(10 * time.Millisecond)
		cfg.Evidence.Origin = "cmd.test/lianmeng"
		if _, _, err := evidence.LoadOrCreateKey(cfg.Evidence.KeyDir); err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		ready := make(chan string, 1)
		wctx, stopWitness := context.WithCancel(ctx)
		werr := make(chan error, 1)
		go func() {
			werr <- runWitness(wctx, witnessOptions{listen: "127.0.0.1:0", dir: t.TempDir(), name: "regulator.example/w",
				logs: []string{cfg.Evidence.Origin + "=" + filepath.Join(cfg.Evidence.KeyDir, evidence.PublicKeyFile)}}, &out, ready)
		}()
		var addr string
		select {
		case addr = <-ready:
		case err := <-werr:
			t.Fatal(err)
		}
		_, vkey, ok := strings.Cut(strings.TrimSpace(out.String()), ": ")
		if !ok {
			t.Fatalf("no verifier key printed: %q", out.String())
		}
		wk, err := sdk.ParseWitnessKey(vkey)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Evidence.Witnesses = []config.EvidenceWitness{{URL: "http://" + addr, Key: vkey}}
		prov, wait, err := startEvidence(ctx, cfg, db, slog.New(slog.DiscardHandler), nil)
		if err != nil {
			t.Fatal(err)
		}
		for i := range 5 {
			evInsertTx(t, db, int64(700+i))
		}
		eventually.NoError(t, 20*time.Second, "checkpoint 5 cosigned", func() error {
			cp, err := prov.Checkpoint(ctx)
			if err != nil {
				return err
			}
			cos, err := prov.Cosignatures(ctx, cp.Size)
			if err != nil {
				return err
			}
			if cp.Size != 5 || len(cos) != 1 {
				return fmt.Errorf("checkpoint %d with %d cosignatures", cp.Size, len(cos))
			}
			body, _ := cp.Body()
			_, err = sdk.VerifyCosignature(wk, body, cos[0].Line)
			return err
		})
		q, ok := prov.(interface{ WitnessQuorum(context.Context) error })
		if !ok {
			t.Fatal("provider does not report its witness quorum")
		}
		if err := q.WitnessQuorum(ctx); err != nil {
			t.Fatalf("quorum: %v", err)
		}
		stopWitness()
		<-werr
		cancel()
		wait()

		// Misconfigured witnesses are refused at start.
		for _, bad := range [][]config.EvidenceWitness{
			{{URL: "http://x", Key: "nope"}},
			{{URL: "ftp://x", Key: vkey}},
			{{URL: "http://x", Key: vkey}, {URL: "http://y", Key: vkey}},
		} {
			c2 := cfg
			c2.Evidence.Witnesses = bad
			c2.Evidence.Disabled = true
			if _, _, err := startEvidence(context.Background(), c2, db, slog.New(slog.DiscardHandler), nil); err == nil {
				t.Errorf("witnesses %+v accepted", bad)
			}
		}
		c3 := cfg
		c3.Evidence.WitnessQuorum = 2
		if _, _, err := startEvidence(context.Background(), c3, db, slog.New(slog.DiscardHandler), nil); err == nil {
			t.Error("a quorum larger than the witnesses accepted")
		}
	})
}
