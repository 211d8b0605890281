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

	"github.com/lianmeng/lianmeng/gateway/loadgen"
)

func init() {
	register(command{name: "bench", summary: "load-test a running gateway with signed earns (loopback only)", run: cmdBench})
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

func cmdBench(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("bench", stderr)
	base := fs.String("url", "http://127.0.0.1:8080", "gateway base URL (loopback only)")
	token := fs.String("token", "", "operator token (default $LIANMENG_OPERATOR_TOKEN)")
	clients := fs.Int("clients", 64, "concurrent clients, one request in flight each")
	duration := fs.Duration("duration", 15*time.Second, "measured duration")
	warmup := fs.Duration("warmup", 3*time.Second, "warm-up before measuring (not counted)")
	shape := fs.String("shape", loadgen.ShapeSpread, "spread (traffic over -merchants merchants) or hot (all on one merchant)")
	merchants := fs.Int("merchants", 1000, "merchants for -shape spread")
	alg := fs.String("algorithm", "hmac-sha256", "merchant credential algorithm: hmac-sha256 or ed25519")
	maxReq := fs.Int64("max-requests", 0, "stop after this many requests (0: only the duration bounds the run)")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the gateway over the measured window to this file (serve must run with "+pprofEnv+")")
	pprofURL := fs.String("pprof-url", "", "the gateway's pprof base URL for -cpuprofile (default http://$"+pprofEnv+")")
	cpuPids := fs.String("cpu-pids", "", "also report the CPU that these processes (name=pid,...; Linux) and the generator spend over the measured window")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("bench takes no arguments, got %q", fs.Args())
	}
	if *token == "" {
		*token = os.Getenv("LIANMENG_OPERATOR_TOKEN")
	}
	if *token == "" {
		return usagef("an operator token is required: -token or LIANMENG_OPERATOR_TOKEN")
	}
	cfg := loadgen.Config{BaseURL: *base, OperatorToken: *token, Clients: *clients, Duration: *duration, Warmup: *warmup,
		Shape: *shape, Merchants: *merchants, Algorithm: *alg, MaxRequests: *maxReq, Members: 100_000,
		RequestTimeout: 10 * time.Second, SetupConcurrency: 16}
	if err := cfg.Validate(); err != nil {
		return usagef("%v", err)
	}
	if *cpuprofile != "" && *pprofURL == "" {
		addr := os.Getenv(pprofEnv)
		if addr == "" {
			return usagef("-cpuprofile needs -pprof-url or %s", pprofEnv)
		}
		*pprofURL = "http://" + addr
	}
	if *pprofURL != "" {
		if err := loadgen.CheckLoopback(*pprofURL); err != nil {
			return usagef("-pprof-url: %v", err)
		}
	}
	procs, err := parseCPUProcs(*cpuPids)
	if err != nil {
		return usagef("-cpu-pids: %v", err)
	}
	if *cpuPids != "" {
		procs = append(procs, cpuProc{"generator", os.Getpid()})
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	var measureHooks []func()
	profDone := make(chan error, 1)
	if *cpuprofile != "" {
		secs := max(1, int(cfg.Duration.Seconds()))
		measureHooks = append(measureHooks, func() {
			go func() { profDone <- fetchProfile(ctx, *pprofURL, secs, *cpuprofile) }()
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
	if !*asJSON {
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
	if *cpuprofile != "" {
		select {
		case err := <-profDone:
			if err != nil {
				fmt.Fprintf(stderr, "bench: cpu profile: %v\n", err)
			} else {
				fmt.Fprintf(stderr, "bench: gateway CPU profile written to %s (go tool pprof -top %s)\n", *cpuprofile, *cpuprofile)
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
	if *asJSON {
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
