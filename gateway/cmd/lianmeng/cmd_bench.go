package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/lianmeng/lianmeng/gateway/loadgen"
)

func init() {
	register(newBenchCommand)
	startDebugPprof()
}

// pprofEnv, when set for `lianmeng serve`, opens net/http/pprof on that
// loopback address so `lianmeng bench -cpuprofile` (or go tool pprof) can
// profile the gateway under load. Off unless set; never on a public address.
const pprofEnv = "LIANMENG_DEBUG_PPROF_LISTEN"

func startDebugPprof() {
	addr := os.Getenv(pprofEnv)
	if addr == "" || len(os.Args) < 2 || os.Args[1] != "serve" {
		return
	}
	host, _, err := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		fmt.Fprintf(os.Stderr, "lianmeng: %s=%q ignored: must be a loopback host:port\n", pprofEnv, addr)
		return
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "lianmeng: %s: %v\n", pprofEnv, err)
		return
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	go (&http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}).Serve(ln)
}

// benchOptions are bench's flags.
type benchOptions struct {
	url, token, shape, algorithm, cpuprofile, pprofURL, cpuPids string
	posAdapter, ruleExpression                                  string
	clients, merchants                                          int
	duration, warmup                                            time.Duration
	maxRequests                                                 int64
	json                                                        bool
}

func newBenchCommand() *cobra.Command {
	var o benchOptions
	c := &cobra.Command{
		Use:   "bench [flags]",
		Short: "load-test a running gateway with signed earns (loopback only)",
		Long: `bench sets up merchants on a running gateway with the operator token, then
sends signed earn requests (with --shape pos, Shopify webhooks to each
merchant's POS connection) from concurrent clients and reports earn/s,
latency percentiles and errors (with --cpu-pids, also the CPU each process
spent per earn). It only targets loopback addresses. scripts/bench.sh runs
the whole benchmark against SQLite and MySQL.`,
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error { return cmdBench(o, c.OutOrStdout(), c.ErrOrStderr()) },
	}
	f := c.Flags()
	f.StringVar(&o.url, "url", "http://127.0.0.1:8080", "gateway base `URL` (loopback only)")
	f.StringVar(&o.token, "token", "", "operator `TOKEN` (default $LIANMENG_OPERATOR_TOKEN)")
	f.IntVar(&o.clients, "clients", 64, "concurrent clients, one request in flight each")
	f.DurationVar(&o.duration, "duration", 15*time.Second, "measured duration")
	f.DurationVar(&o.warmup, "warmup", 3*time.Second, "warm-up before measuring (not counted)")
	f.StringVar(&o.shape, "shape", loadgen.ShapeSpread, "traffic `SHAPE`: spread (over --merchants merchants), hot (all on one merchant) or pos (like spread, each sale a Shopify webhook through the inbox; earn/s includes draining the inbox after the window)")
	f.IntVar(&o.merchants, "merchants", 1000, "merchants for --shape spread and pos")
	f.StringVar(&o.posAdapter, "pos-adapter", "shopify", "for --shape pos: the `NAME` of the gateway's Shopify pos_adapter plugin")
	f.StringVar(&o.ruleExpression, "rule-expression", "", "earn through a CEL rule version with this `EXPRESSION` (published at once over the flat rate of 1 point per yuan, so it must award at least eligible_fen / 100) instead of the flat rate")
	f.StringVar(&o.algorithm, "algorithm", "hmac-sha256", "merchant credential `ALGORITHM`: hmac-sha256 or ed25519")
	f.Int64Var(&o.maxRequests, "max-requests", 0, "stop after this many requests (0: only the duration bounds the run)")
	f.BoolVar(&o.json, "json", false, "print the result as JSON")
	f.StringVar(&o.cpuprofile, "cpuprofile", "", "write a CPU profile of the gateway over the measured window to `FILE` (serve must run with "+pprofEnv+")")
	_ = c.MarkFlagFilename("cpuprofile")
	f.StringVar(&o.pprofURL, "pprof-url", "", "the gateway's pprof base `URL` for --cpuprofile (default http://$"+pprofEnv+")")
	f.StringVar(&o.cpuPids, "cpu-pids", "", "also report the CPU that these processes (`NAME=PID,...`; Linux) and the generator spend over the measured window")
	return c
}

func cmdBench(o benchOptions, stdout, stderr io.Writer) error {
	if o.token == "" {
		o.token = os.Getenv("LIANMENG_OPERATOR_TOKEN")
	}
	if o.token == "" {
		return usagef("an operator token is required: -token or LIANMENG_OPERATOR_TOKEN")
	}
	cfg := loadgen.Config{BaseURL: o.url, OperatorToken: o.token, Clients: o.clients, Duration: o.duration, Warmup: o.warmup,
		Shape: o.shape, Merchants: o.merchants, Algorithm: o.algorithm, MaxRequests: o.maxRequests, Members: 100_000,
		RequestTimeout: 10 * time.Second, SetupConcurrency: 16, POSAdapter: o.posAdapter, RuleExpression: o.ruleExpression}
	if err := cfg.Validate(); err != nil {
		return usagef("%v", err)
	}
	if o.cpuprofile != "" && o.pprofURL == "" {
		addr := os.Getenv(pprofEnv)
		if addr == "" {
			return usagef("-cpuprofile needs -pprof-url or %s", pprofEnv)
		}
		o.pprofURL = "http://" + addr
	}
	if o.pprofURL != "" {
		if err := loadgen.CheckLoopback(o.pprofURL); err != nil {
			return usagef("-pprof-url: %v", err)
		}
	}
	procs, err := parseCPUProcs(o.cpuPids)
	if err != nil {
		return usagef("-cpu-pids: %v", err)
	}
	if o.cpuPids != "" {
		procs = append(procs, cpuProc{"generator", os.Getpid()})
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	var measureHooks []func()
	profDone := make(chan error, 1)
	if o.cpuprofile != "" {
		secs := max(1, int(cfg.Duration.Seconds()))
		measureHooks = append(measureHooks, func() {
			go func() { profDone <- fetchProfile(ctx, o.pprofURL, secs, o.cpuprofile) }()
		})
	}
	// CPU snapshots at the start and the end of the measured window.
	var cpuBefore, cpuAfter map[string]float64
	cpuDone := make(chan struct{})
	if len(procs) > 0 {
		measureHooks = append(measureHooks, func() {
			before := cpuSnapshot(procs)
			time.AfterFunc(cfg.Duration, func() {
				cpuBefore, cpuAfter = before, cpuSnapshot(procs)
				close(cpuDone)
			})
		})
	}
	var onMeasure func()
	if len(measureHooks) > 0 {
		onMeasure = func() {
			for _, h := range measureHooks {
				h()
			}
		}
	}
	if !o.json {
		n := cfg.Merchants
		if cfg.Shape == loadgen.ShapeHot {
			n = 1
		}
		fmt.Fprintf(stderr, "bench: setting up %d merchant(s) at %s, then %s warm-up and %s with %d clients (%s)\n",
			n, cfg.BaseURL, cfg.Warmup, cfg.Duration, cfg.Clients, cfg.Shape)
	}
	res, err := loadgen.Run(ctx, cfg, onMeasure)
	if err != nil {
		return err
	}
	if o.cpuprofile != "" {
		select {
		case err := <-profDone:
			if err != nil {
				fmt.Fprintf(stderr, "bench: cpu profile: %v\n", err)
			} else {
				fmt.Fprintf(stderr, "bench: gateway CPU profile written to %s (go tool pprof -top %s)\n", o.cpuprofile, o.cpuprofile)
			}
		case <-time.After(30 * time.Second):
			fmt.Fprintln(stderr, "bench: cpu profile did not finish")
		}
	}
	out := benchOutput{Result: res}
	if len(procs) > 0 {
		select {
		case <-cpuDone:
			out.CPU = cpuUses(procs, cpuBefore, cpuAfter, res.Seconds, res.OK)
		case <-time.After(5 * time.Second):
			fmt.Fprintln(stderr, "bench: CPU snapshots did not finish")
		}
	}
	if o.json {
		enc := json.NewEncoder(stdout)
		return enc.Encode(out)
	}
	printResult(stdout, out)
	return nil
}

// benchOutput is what bench prints: the load generator's result and, with
// -cpu-pids, the CPU each process spent.
type benchOutput struct {
	loadgen.Result
	CPU []cpuUse `json:"cpu,omitempty"`
}

func printResult(w io.Writer, out benchOutput) {
	r := out.Result
	defer func() {
		for _, c := range out.CPU {
			fmt.Fprintf(w, "cpu      %-10s %.2f cores, %.0f µs per earn\n", c.Name, c.Cores, c.MicrosPerEarn)
		}
	}()
	fmt.Fprintf(w, "shape %s, %d merchant(s), %d clients, %.1f s measured (setup %.1f s, warm-up %d requests)\n",
		r.Shape, r.Merchants, r.Clients, r.Seconds, r.SetupSeconds, r.WarmupRequests)
	fmt.Fprintf(w, "earn/s   %.0f (%d ok of %d requests)\n", r.EarnPerS, r.OK, r.Requests)
	if r.Shape == loadgen.ShapePOS {
		fmt.Fprintf(w, "webhooks %.0f acknowledged/s; the inbox processed the rest %.1f s after the window (counted in earn/s)\n", r.AckPerS, r.DrainSeconds)
	}
	fmt.Fprintf(w, "latency  p50 %.2f ms  p95 %.2f ms  p99 %.2f ms  max %.2f ms\n", r.P50Ms, r.P95Ms, r.P99Ms, r.MaxMs)
	if len(r.Errors) == 0 {
		fmt.Fprintln(w, "errors   none")
		return
	}
	codes := make([]string, 0, len(r.Errors))
	for c := range r.Errors {
		codes = append(codes, c)
	}
	sort.Strings(codes)
	parts := make([]string, len(codes))
	for i, c := range codes {
		parts[i] = fmt.Sprintf("%s=%d", c, r.Errors[c])
	}
	fmt.Fprintf(w, "errors   %d (%s)\n", r.ErrorCount(), strings.Join(parts, ", "))
}

func fetchProfile(ctx context.Context, base string, secs int, path string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Duration(secs+30)*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", strings.TrimRight(base, "/"), secs), nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("GET profile: %s", resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
