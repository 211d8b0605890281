package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/lianmeng/lianmeng/gateway/api"
	"github.com/lianmeng/lianmeng/gateway/config"
	"github.com/lianmeng/lianmeng/gateway/consent"
	"github.com/lianmeng/lianmeng/gateway/lifecycle"
	"github.com/lianmeng/lianmeng/gateway/points"
	"github.com/lianmeng/lianmeng/gateway/scheduler"
	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/web"
)

func init() {
	register(newServeCommand)
}

func newServeCommand() *cobra.Command {
	var cfgPath, listen string
	c := &cobra.Command{
		Use:   "serve [flags]",
		Short: "run the gateway (HTTP API, scheduler, plugins)",
		Long: `serve runs the gateway until SIGINT or SIGTERM: the HTTP API, the scheduled
jobs, the evidence sealer and the configured plugins. It refuses to start on
a database with pending migrations unless database.migrate_on_start is set.`,
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error { return cmdServe(cfgPath, listen, c.ErrOrStderr()) },
	}
	configFlag(c, &cfgPath)
	c.Flags().StringVar(&listen, "listen", "", "listen on `HOST:PORT`, overriding the configuration's listen")
	return c
}

// loadConfig is shared by every subcommand: -config path, else
// LIANMENG_CONFIG, else configs/lianmeng.yaml when present, else defaults.
func loadConfig(path string) (config.Config, error) {
	if path == "" {
		path = os.Getenv("LIANMENG_CONFIG")
	}
	if path == "" {
		if _, err := os.Stat("configs/lianmeng.yaml"); err == nil {
			path = "configs/lianmeng.yaml"
		}
	}
	return config.Load(path, os.Environ())
}

func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(cfg.Log.Level))
	opts := &slog.HandlerOptions{Level: lvl}
	if cfg.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func openStore(ctx context.Context, cfg config.Config) (*store.DB, error) {
	return store.Open(ctx, cfg.Database.Driver, cfg.Database.DSN.Reveal(), store.Options{MaxOpenConns: cfg.Database.MaxOpenConns, SQLiteCacheMiB: cfg.Database.SQLiteCacheMiB})
}

// openConfigured loads the configuration at cfgPath and opens its database,
// the start of every offline command (migrate, verify, reencrypt).
func openConfigured(ctx context.Context, cfgPath string) (config.Config, *store.DB, error) {
	cfg, err := loadConfig(cfgPath)
	if err != nil {
		return config.Config{}, nil, err
	}
	db, err := openStore(ctx, cfg)
	if err != nil {
		return config.Config{}, nil, err
	}
	return cfg, db, nil
}

func cmdServe(cfgPath, listen string, stderr io.Writer) error {
	cfg, err := loadConfig(cfgPath)
	if err != nil {
		return err
	}
	if listen != "" {
		cfg.Listen = listen
	}
	log := newLogger(cfg, stderr)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	return serve(ctx, cfg, log, nil)
}

// serve runs the gateway until ctx ends. ready, if not nil, receives the
// bound address once the listener is open (tests).
func serve(ctx context.Context, cfg config.Config, log *slog.Logger, ready chan<- string) error {
	db, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	if cfg.Database.MigrateOnStart {
		applied, err := db.Migrate(ctx, nil)
		if err != nil {
			return err
		}
		if len(applied) > 0 {
			log.Info("migrations applied", "versions", applied)
		}
	} else if pending, err := db.HasPending(ctx); err != nil {
		return err
	} else if pending {
		return fmt.Errorf("database has pending migrations: run 'lianmeng migrate up' or set database.migrate_on_start")
	}
	if err := ensureMemberTokenKey(&cfg, log); err != nil {
		return err
	}
	// A rule version 1 migrated from a flat rate inherits the policy's
	// release and validity: fix them now, so later policy edits cannot
	// change a published version's terms.
	if err := db.PinInheritedTerms(ctx, cfg.Points.Policy()); err != nil {
		return fmt.Errorf("pin the inherited terms of rule versions: %w", err)
	}
	// The referral terms this gateway pays under: a change of them is an
	// entry in the evidence log and in the public history.
	// Less favourable terms are refused here unless published with notice;
	// until a scheduled change takes effect, rewards keep the terms in force.
	rec, referral, err := db.PublishReferralTerms(ctx, cfg.Rules.Referral.Terms(), cfg.Rules.Referral.EffectiveFrom, time.Now(), cfg.Rules.NoticePeriod.D())
	if err != nil {
		return fmt.Errorf("publish the referral terms: %w", err)
	} else if rec != nil {
		log.Info("referral terms published", "version", rec.Version, "effective_from", rec.EffectiveFrom, "less_favourable", rec.LessFavourable)
	}
	reg := prometheus.NewRegistry()
	writer := db.NewWriter(store.WriterOptions{BatchSize: cfg.Points.BatchSize, BatchWait: cfg.Points.BatchWait.D(),
		Concurrency: cfg.Points.Writers, Log: log, Registry: reg})
	defer writer.Close()
	// Background work (sealer, scheduled jobs) stops when ctx ends or serve
	// returns early; serve waits for it before the writer and the database
	// close (deferred above, so they run after this).
	runCtx, stopBackground := context.WithCancel(ctx)
	var waits []func()
	defer func() {
		stopBackground()
		for i := len(waits) - 1; i >= 0; i-- {
			waits[i]()
		}
	}()
	evidence, waitEvidence, err := startEvidence(runCtx, cfg, db, log, reg)
	if err != nil {
		return err
	}
	waits = append(waits, waitEvidence)
	// One points module for the API and the scheduler; the API fills in
	// its cached earning-configuration reads, plugins its rule evaluator.
	svc := &points.Service{Policy: cfg.Points.Policy(), Reader: db}
	svc.SetReferralSchedule(referral)
	deps := api.Deps{Config: cfg, DB: db, Log: log, Registry: reg, Writer: writer, Evidence: evidence, Points: svc,
		Ready: []api.ReadyCheck{{Name: "writer", Check: writer.Check}}}
	deps.Inbox = newInbox(db, writer, svc, log, reg) // POS webhooks (pos.go)
	deps.Ready = append(deps.Ready, inboxReady(deps.Inbox))
	stopPlugins, err := startPlugins(ctx, cfg, log, reg, &deps)
	if err != nil {
		return err
	}
	defer stopPlugins()
	sender, err := memberSender(cfg, log, &deps)
	if err != nil {
		return err
	}
	// Exits and the wind-down; once a wind-down is announced nothing
	// issues points (earn, POS webhooks, funding).
	deps.Lifecycle = &lifecycle.Service{DB: db, Writer: writer, Points: svc, Refunds: deps.Refunds, Payouts: deps.Payouts, Notice: cfg.Rules.NoticePeriod.D()}
	svc.Issuance = deps.Lifecycle
	m := cfg.Members
	deps.Consent = &consent.Service{Store: db, Sender: sender, CodeTTL: m.CodeTTL.D(), SMSTTL: m.SMSTTL.D(), SignInTTL: m.SignInTTL.D(),
		Resend: m.Resend.D(), MaxAttempts: m.MaxAttempts}
	if deps.Funding != nil { // mini-programs sign members in through the channel plugins
		deps.Consent.Channels = deps.Funding.Channels
	}
	srv := api.New(deps)
	web.Register(srv.App())                              // the pages: /, /member, /operator
	web.RegisterHistory(srv.App(), &web.History{DB: db}) // the transparency page's charts
	// The merchant console (/merchant): staff sign-in, pages by role.
	// Top-ups go through the API's funding service (nil: no channel).
	console := &web.Console{DB: db, Merchants: db.Merchants(), Points: svc, Rules: srv.Rules(), Payouts: deps.Payouts, Log: log}
	if deps.Funding != nil {
		console.Funding, console.FundingChannels = deps.Funding, paymentChannelNames(cfg)
	}
	web.RegisterConsole(srv.App(), console)

	host, _ := os.Hostname()
	sched := &scheduler.Scheduler{DB: db, Holder: fmt.Sprintf("%s:%d", host, os.Getpid()), Log: log}
	jobs := append(scheduler.PointsJobs(writer, svc, cfg.Points.SchedulerInterval.D()),
		scheduler.NonceJob(db, time.Now), scheduler.IdempotencyJob(db, cfg.Idempotency.Retention.D(), time.Now), scheduler.ConsentJob(db, time.Now),
		scheduler.SnapshotJob(db, cfg.Points.FaceValueFen, time.Now))
	if cfg.RateLimits.Shared(cfg.Database.Driver) { // full shared buckets are forgotten
		jobs = append(jobs, scheduler.RateLimitJob(db, time.Now))
	}
	if deps.Payouts != nil { // payouts are sent, queried and retried under the lease
		jobs = append(jobs, scheduler.Job{Name: "settlement.payouts", Interval: 30 * time.Second, Run: deps.Payouts.ProcessDue})
	}
	if deps.Refunds != nil { // funding refunds are sent and asked again under the lease
		jobs = append(jobs, scheduler.Job{Name: "settlement.refunds", Interval: 30 * time.Second, Run: deps.Refunds.ProcessDue})
	}
	if deps.Funding != nil { // fundings whose notification is overdue are asked about
		jobs = append(jobs, scheduler.Job{Name: "settlement.funding_query", Interval: time.Minute, Run: deps.Funding.QueryOpen})
	}
	jobs = append(jobs, scheduler.Job{Name: "lifecycle", Interval: time.Minute, Run: deps.Lifecycle.ProcessDue}) // exits and the wind-down at their dates
	jobs = append(jobs, settlementDailyJob(cfg, db, log, deps.Reconciler, deps.Payouts))                         // statements and reconciliation of yesterday
	waits = append(waits, sched.Start(runCtx, jobs...))
	waits = append(waits, startInbox(runCtx, deps.Inbox))
	waits = append(waits, startWebhooks(runCtx, cfg, db, log)) // merchants' webhooks (webhooks.go)

	waitMetrics, err := startMetrics(runCtx, cfg.Metrics, reg, log)
	if err != nil {
		return err
	}
	waits = append(waits, waitMetrics)
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	log.Info("lianmeng gateway listening", "addr", ln.Addr().String(), "database", cfg.Database.Driver, "version", version)
	log.Info("pages", "transparency", "http://"+ln.Addr().String()+"/", "member", "http://"+ln.Addr().String()+"/member", "operator", "http://"+ln.Addr().String()+"/operator")
	if ready != nil {
		ready <- ln.Addr().String()
	}
	if err := srv.Serve(ctx, ln); err != nil {
		return err
	}
	log.Info("gateway stopped")
	return nil
}
