package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/lianmeng/lianmeng/gateway/loadgen"
	"github.com/lianmeng/lianmeng/gateway/merchant"
	"github.com/lianmeng/lianmeng/gateway/points"
	"github.com/lianmeng/lianmeng/gateway/store"
)

func init() {
	register(newPrefillCommand)
}

type prefillOptions struct {
	config                string
	transactions, members int
	merchants, clients    int
	points                int64
	quiet                 bool
}

func newPrefillCommand() *cobra.Command {
	var o prefillOptions
	c := &cobra.Command{
		Use:   "prefill [flags]",
		Short: "fill a benchmark database with earn transactions (for measuring a large ledger)",
		Long: `prefill writes earn transactions into the configured database so that a
benchmark can measure a ledger that already holds millions of them
(scripts/bench.sh BENCH_PREFILL). It migrates the database, creates
--merchants merchants named prefill-N and funds their budgets, then earns
--transactions times for members drawn from the same pool of phone numbers
that 'lianmeng bench' uses (--members), so the benchmark's earns land on
members with history. Every earn goes through the domain and the batching
writer like a real one, without HTTP, idempotency records or nonces, so
every invariant holds and 'lianmeng verify' passes; the evidence sealer
seals the transactions when the gateway next runs. Run it while no gateway
uses the database (SQLite has one writer). Not for a production database.`,
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error { return cmdPrefill(o, c.OutOrStdout(), c.ErrOrStderr()) },
	}
	configFlag(c, &o.config)
	c.Flags().IntVar(&o.transactions, "transactions", 0, "earn transactions to write (required, at most 100,000,000)")
	c.Flags().IntVar(&o.merchants, "merchants", 1000, "merchants to spread them over (created as prefill-N)")
	c.Flags().IntVar(&o.members, "members", 100_000, "members, from the phone-number pool of 'lianmeng bench'")
	c.Flags().Int64Var(&o.points, "points", 100, "points per earn")
	c.Flags().IntVar(&o.clients, "clients", 256, "concurrent submitters (the writer batches them)")
	c.Flags().BoolVarP(&o.quiet, "quiet", "q", false, "no progress bar")
	return c
}

func cmdPrefill(o prefillOptions, stdout, stderr io.Writer) error {
	switch {
	case o.transactions <= 0 || o.transactions > 100_000_000:
		return usagef("--transactions must be between 1 and 100000000")
	case o.merchants <= 0 || o.merchants > 100_000:
		return usagef("--merchants must be between 1 and 100000")
	case o.members <= 0 || o.members > 100_000_000:
		return usagef("--members must be between 1 and 100000000")
	case o.points <= 0 || o.points > 1_000_000:
		return usagef("--points must be between 1 and 1000000")
	case o.clients <= 0 || o.clients > 4096:
		return usagef("--clients must be between 1 and 4096")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	cfg, db, err := openConfigured(ctx, o.config)
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.Migrate(ctx, nil); err != nil {
		return err
	}
	// The same keyring as serve, so phone members get the blind index the
	// gateway will look them up by.
	if err := setupPII(ctx, cfg, db, slog.New(slog.DiscardHandler)); err != nil {
		return err
	}
	policy := cfg.Points.Policy()
	if o.points > policy.MaxPointsPerEarn {
		return usagef("--points is above the policy's max_points_per_earn (%d)", policy.MaxPointsPerEarn)
	}
	svc := &points.Service{Policy: policy, Reader: db}
	w := db.NewWriter(store.WriterOptions{BatchSize: 1024, Now: time.Now})
	defer w.Close()
	submit := func(c points.Command) error { return w.Submit(ctx, &store.Op{Command: c}).Err }

	run := time.Now().UnixMilli()
	ms := make([]string, o.merchants)
	perMerchant := int64(o.transactions/o.merchants+1) * o.points
	for i := range ms {
		m, err := merchant.NewMerchant(fmt.Sprintf("prefill-%d", i), "restaurant", time.Now())
		if err != nil {
			return err
		}
		if err := db.Merchants().CreateMerchant(ctx, m, "prefill"); err != nil {
			return err
		}
		ms[i] = m.ID
		fund := svc.FundCommand(points.FundRequest{MerchantID: m.ID, AmountFen: perMerchant * policy.FaceValueFen, ExternalRef: fmt.Sprintf("prefill-%d-%d", run, i)})
		if err := submit(fund); err != nil {
			return fmt.Errorf("fund merchant %s: %w", m.ID, err)
		}
	}

	bar := newProgress(stderr, o.quiet)
	start := time.Now()
	var next, done atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, o.clients)
	amount := o.points * 100 // a purchase the points are 1% of
	for range o.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(run), uint64(next.Load())+rand.Uint64()))
			for ctx.Err() == nil {
				i := next.Add(1) - 1
				if i >= int64(o.transactions) {
					return
				}
				mem := loadgen.PhoneMember(rng.IntN(o.members))
				p := o.points
				cmd, err := svc.PrepareEarn(ctx, points.EarnRequest{MerchantID: ms[i%int64(len(ms))], OrderID: fmt.Sprintf("pf-%d-%d", run, i),
					Member: points.Identity{Kind: mem.Kind, Value: mem.Value}, AmountFen: amount, Points: &p})
				if err == nil {
					err = submit(cmd)
				}
				if err != nil {
					errs <- fmt.Errorf("earn %d: %w", i, err)
					stop()
					return
				}
				if n := done.Add(1); n%1000 == 0 {
					bar.set("earns", n, int64(o.transactions), rate(start, n, int64(o.transactions)))
				}
			}
		}()
	}
	wg.Wait()
	bar.done()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("prefill interrupted after %d earns: %w", done.Load(), err)
	}
	el := time.Since(start)
	fmt.Fprintf(stdout, "prefilled %d earn transactions over %d merchants and up to %d members in %s (%.0f earns/s), peak memory %s\n",
		done.Load(), o.merchants, o.members, el.Round(time.Millisecond), float64(done.Load())/el.Seconds(), peakRSS())
	return nil
}

// rate is the progress bar's note for counted work: per second and time
// left.
func rate(start time.Time, done, total int64) string {
	el := time.Since(start).Seconds()
	if el <= 0 || done <= 0 {
		return ""
	}
	r := float64(done) / el
	return fmt.Sprintf("%.0f/s, %s left", r, time.Duration(float64(total-done)/r*float64(time.Second)).Round(time.Second))
}
