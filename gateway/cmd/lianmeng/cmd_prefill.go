package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"os/signal"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/lianmeng/lianmeng/gateway/config"
	"github.com/lianmeng/lianmeng/gateway/evidence"
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
	cacheMiB              int
	points                int64
	quiet                 bool
	cpuprofile            string
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
writer like a real one (batches as large as --clients), without HTTP,
idempotency records or nonces, so every invariant holds. The evidence
sealer runs alongside, with the gateway's key and configuration, and seals
the last transactions before prefill returns, so 'lianmeng verify' passes
and a gateway started next has no backlog to seal. Run it while no gateway
uses the database (SQLite has one writer). Not for a production database.`,
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error { return cmdPrefill(o, c.OutOrStdout(), c.ErrOrStderr()) },
	}
	configFlag(c, &o.config)
	c.Flags().IntVar(&o.transactions, "transactions", 0, "earn transactions to write (required, at most 100,000,000)")
	c.Flags().IntVar(&o.merchants, "merchants", 1000, "merchants to spread them over (created as prefill-N)")
	c.Flags().IntVar(&o.members, "members", 100_000, "members, from the phone-number pool of 'lianmeng bench'")
	c.Flags().Int64Var(&o.points, "points", 100, "points per earn")
	c.Flags().IntVar(&o.clients, "clients", 4096, "concurrent submitters, and the writer's largest batch")
	c.Flags().IntVar(&o.cacheMiB, "sqlite-cache-mib", 2048, "SQLite: the writer's page cache in MiB for this run (the member indexes of a large ledger; the configuration's database.sqlite_cache_mib is for serve)")
	c.Flags().BoolVarP(&o.quiet, "quiet", "q", false, "no progress bar")
	c.Flags().StringVar(&o.cpuprofile, "cpuprofile", "", "write a CPU profile of the whole prefill to `FILE`")
	_ = c.MarkFlagFilename("cpuprofile")
	return c
}

func cmdPrefill(o prefillOptions, stdout, stderr io.Writer) (rerr error) {
	switch {
	case o.transactions <= 0 || o.transactions > 100_000_000:
		return usagef("--transactions must be between 1 and 100000000")
	case o.merchants <= 0 || o.merchants > 100_000:
		return usagef("--merchants must be between 1 and 100000")
	case o.members <= 0 || o.members > 100_000_000:
		return usagef("--members must be between 1 and 100000000")
	case o.points <= 0 || o.points > 1_000_000:
		return usagef("--points must be between 1 and 1000000")
	case o.clients <= 0 || o.clients > 16384:
		return usagef("--clients must be between 1 and 16384")
	}
	cfg, err := loadConfig(o.config)
	if err != nil {
		return err
	}
	// The flag overrides database.sqlite_cache_mib for this run, within
	// the bounds the configuration itself sets.
	cfg.Database.SQLiteCacheMiB = o.cacheMiB
	if err := cfg.Validate(); err != nil {
		return usagef("--sqlite-cache-mib: %v", err)
	}
	if o.cpuprofile != "" {
		f, err := os.Create(o.cpuprofile)
		if err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return fmt.Errorf("cpu profile: %w", err)
		}
		defer func() {
			pprof.StopCPUProfile()
			if cerr := f.Close(); cerr != nil && rerr == nil {
				rerr = fmt.Errorf("cpu profile: %w", cerr)
			}
		}()
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	db, err := openStore(ctx, cfg)
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
	// Batches as large as the submitters can fill: a batch's pages are
	// written once per commit, so larger batches write less per earn
	// [100k earns on SQLite, one run each on a loaded machine: 295 µs CPU
	// per earn with 4096 submitters, 430 with 256].
	w := db.NewWriter(store.WriterOptions{BatchSize: o.clients, Now: time.Now})
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
	}
	// Funded concurrently, so the fundings share the writer's batches.
	if err := parallel(o.clients, len(ms), func(i int) error {
		fund := svc.FundCommand(points.FundRequest{MerchantID: ms[i], AmountFen: perMerchant * policy.FaceValueFen, ExternalRef: fmt.Sprintf("prefill-%d-%d", run, i)})
		if err := submit(fund); err != nil {
			return fmt.Errorf("fund merchant %s: %w", ms[i], err)
		}
		return nil
	}); err != nil {
		return err
	}

	// The evidence sealer seals while the earns are written, as in serve.
	sealCtx, stopSealer := context.WithCancel(ctx)
	sealed := make(chan struct{})
	sealer, err := prefillSealer(cfg, db, evidence.DefaultSettle, false, nil)
	if err != nil {
		stopSealer()
		return err
	}
	go func() {
		defer close(sealed)
		sealer.Run(sealCtx)
	}()
	defer func() { stopSealer(); <-sealed }()

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
	stopSealer()
	<-sealed
	fmt.Fprintf(stdout, "prefilled %d earn transactions over %d merchants and up to %d members in %s (%.0f earns/s)\n",
		done.Load(), o.merchants, o.members, el.Round(time.Millisecond), float64(done.Load())/el.Seconds())
	// What the sealer has not reached yet: a fresh sealer (one that loads
	// the log and checks every table for rows without a leaf, as a gateway
	// does when it takes the lease) seals it all without the settle delay,
	// and writes a checkpoint.
	sealStart := time.Now()
	size, err := sealBacklog(ctx, cfg, db, stderr, o.quiet)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "sealed the evidence log to %d entries in %s after the earns; peak memory %s\n",
		size, time.Since(sealStart).Round(time.Millisecond), peakRSS())
	return nil
}

// parallel runs f(0..n-1) on up to workers goroutines and returns the first
// error.
func parallel(workers, n int, f func(int) error) error {
	var next atomic.Int64
	var first error
	var once sync.Once
	var wg sync.WaitGroup
	for range min(workers, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := f(i); err != nil {
					once.Do(func() { first = err })
					next.Store(int64(n))
					return
				}
			}
		}()
	}
	wg.Wait()
	return first
}

// prefillSealer is an evidence sealer as serve configures it (same key,
// origin, checkpoint settings and published-checkpoint memory), with its
// own lease holder name, the given settle delay and, when final, a
// checkpoint at the end of every round (so the last one covers the log).
func prefillSealer(cfg config.Config, db *store.DB, settle time.Duration, final bool, reg prometheus.Registerer) (*evidence.Sealer, error) {
	log := slog.New(slog.DiscardHandler)
	key, err := signingKey(cfg, log)
	if err != nil {
		return nil, err
	}
	signer, err := evidence.NewSigner(key)
	if err != nil {
		return nil, err
	}
	remotes, _, err := witnessRemotes(cfg)
	if err != nil {
		return nil, err
	}
	o := sealerOptions(cfg, remotes, signer, log, reg)
	o.Holder, o.Settle, o.Batch = fmt.Sprintf("prefill:%d", os.Getpid()), settle, 2000
	if final {
		o.CheckpointInterval = time.Nanosecond
	}
	s, err := evidence.NewSealer(db.Evidence(), signer, o)
	if err != nil {
		return nil, fmt.Errorf("evidence: %w", err)
	}
	return s, nil
}

// sealBacklog seals every entry not yet in the evidence log and returns
// the log's size. Progress comes from the sealer's own counter.
func sealBacklog(ctx context.Context, cfg config.Config, db *store.DB, stderr io.Writer, quiet bool) (uint64, error) {
	ev := db.Evidence()
	leaves, err := ev.LeafCount(ctx)
	if err != nil {
		return 0, err
	}
	var rows int64
	for _, typ := range evidence.EntryTypes {
		n, _, err := ev.CountEntries(ctx, typ, 0, math.MaxInt64)
		if err != nil {
			return 0, fmt.Errorf("count %s entries: %w", typ, err)
		}
		rows += n
	}
	reg := prometheus.NewRegistry()
	s, err := prefillSealer(cfg, db, evidence.NoSettle, true, reg)
	if err != nil {
		return 0, err
	}
	bar := newProgress(stderr, quiet)
	start := time.Now()
	tick := time.NewTicker(500 * time.Millisecond)
	stopBar := make(chan struct{})
	barDone := make(chan struct{})
	go func() {
		defer close(barDone)
		for {
			select {
			case <-stopBar:
				return
			case <-tick.C:
				n := sealedCount(reg)
				bar.set("sealing", leaves+n, rows, rate(start, n, rows-leaves))
			}
		}
	}()
	// One round seals all that is due. A lease another holder still has is
	// waited out for twice its lifetime, long enough for the lease of a
	// gateway that was killed to lapse; a holder that keeps renewing it is a
	// gateway running on this database, whose sealer seals these entries.
	giveUp := time.Now().Add(2 * s.Lease().TTL)
	held := false
	for err == nil {
		var leader bool
		if leader, err = s.SealOnce(ctx); err == nil && !leader {
			if time.Now().After(giveUp) {
				held = true
				break
			}
			select {
			case <-ctx.Done():
				err = ctx.Err()
			case <-time.After(time.Second):
			}
		} else if leader {
			break
		}
	}
	tick.Stop()
	close(stopBar)
	<-barDone
	bar.done()
	if err != nil {
		return 0, fmt.Errorf("seal the evidence log: %w", err)
	}
	if held {
		fmt.Fprintf(stderr, "prefill: another sealer (a gateway running on this database?) holds the evidence lease; it seals the new entries (%d of %d sealed now)\n", leaves, rows)
		return uint64(leaves), nil
	}
	if err := ev.ReleaseLease(context.WithoutCancel(ctx), s.Lease()); err != nil {
		return 0, fmt.Errorf("release the sealer lease: %w", err)
	}
	cp, err := ev.LatestCheckpoint(ctx)
	if err != nil {
		return 0, fmt.Errorf("latest checkpoint after sealing: %w", err)
	}
	if int64(cp.Signed.Size) < rows {
		return 0, fmt.Errorf("evidence log has %d entries after sealing, the tables %d", cp.Signed.Size, rows)
	}
	return cp.Signed.Size, nil
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

// sealedCount reads the sealer's counter of entries sealed.
func sealedCount(reg *prometheus.Registry) int64 {
	mfs, err := reg.Gather()
	if err != nil {
		return 0
	}
	for _, mf := range mfs {
		if mf.GetName() == "lianmeng_evidence_sealed_total" && len(mf.GetMetric()) > 0 {
			return int64(mf.GetMetric()[0].GetCounter().GetValue())
		}
	}
	return 0
}
