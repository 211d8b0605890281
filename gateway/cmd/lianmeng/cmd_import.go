package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/lianmeng/lianmeng/gateway/ledger"
	"github.com/lianmeng/lianmeng/gateway/legacy"
	"github.com/lianmeng/lianmeng/gateway/lifecycle"
	"github.com/lianmeng/lianmeng/gateway/points"
	"github.com/lianmeng/lianmeng/gateway/store"
)

func init() {
	register(newImportCommand)
}

type importOptions struct {
	config, merchant, format string
	commit, quiet            bool
	minValidity              time.Duration
	chunk                    int
}

func newImportCommand() *cobra.Command {
	var o importOptions
	c := &cobra.Command{
		Use:   "import [flags] FILE",
		Short: "import a joining merchant's existing member points (CSV or JSON lines)",
		Long: `import brings a joining merchant's members' existing points into the
alliance. FILE is CSV with the header kind,value,points,earned_at,expires_at
(any order) or JSON lines with those keys; kind is phone, wechat_openid,
alipay_user_id or customer; dates are RFC 3339 or YYYY-MM-DD (China time).

Without --commit it is a dry run: it reports, by line, the rows it would
refuse (bad encoding, malformed, unknown identity kind, negative or absurd
points, expired, duplicate), and counts the rows of members the alliance
already knows and the new members, and writes nothing. With --commit it
imports the valid rows as available lots that keep their earned date and
expiry (never expiring sooner than --min-validity from now), issued from the
merchant's funded budget: it refuses to start unless the budget covers every
valid row (fund the budget first). Interrupted (even by SIGKILL), it resumes
when run again with the same file: rows already imported are skipped, none
is imported twice. A progress bar with the rate and the time left is drawn on
stderr when it is a terminal.`,
		Args: exactArgs(1, "the FILE to import"),
		RunE: func(c *cobra.Command, args []string) error {
			return cmdImport(o, args[0], c.OutOrStdout(), c.ErrOrStderr())
		},
	}
	configFlag(c, &o.config)
	c.Flags().StringVar(&o.merchant, "merchant", "", "the joining merchant's `ID` (required)")
	c.Flags().StringVar(&o.format, "format", "", "csv or jsonl (default: from the file name, .csv or .jsonl/.ndjson)")
	c.Flags().BoolVar(&o.commit, "commit", false, "import (without it: a dry run that writes nothing)")
	c.Flags().DurationVar(&o.minValidity, "min-validity", 30*24*time.Hour, "the alliance minimum: an imported lot expires no sooner than this after the import")
	c.Flags().IntVar(&o.chunk, "chunk", 500, "rows per database transaction")
	c.Flags().BoolVarP(&o.quiet, "quiet", "q", false, "no progress bar")
	return c
}

// errImportRefused makes import exit non-zero when it refuses to commit.
var errImportRefused = errors.New("import refused")

func cmdImport(o importOptions, path string, stdout, stderr io.Writer) error {
	if o.merchant == "" {
		return usagef("--merchant is required")
	}
	if o.format == "" {
		switch strings.ToLower(filepath.Ext(path)) {
		case ".csv":
			o.format = legacy.CSV
		case ".jsonl", ".ndjson":
			o.format = legacy.JSONL
		default:
			return usagef("cannot tell the format of %q: pass --format csv or --format jsonl", path)
		}
	}
	if o.chunk <= 0 || o.chunk > 5000 {
		return usagef("--chunk must be between 1 and 5000")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	cfg, db, err := openConfigured(ctx, o.config)
	if err != nil {
		return err
	}
	defer db.Close()
	svc := &points.Service{Policy: cfg.Points.Policy(), Reader: db}
	src := func() (io.ReadCloser, int64, error) {
		f, err := os.Open(path)
		if err != nil {
			return nil, 0, err
		}
		st, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, 0, err
		}
		return f, st.Size(), nil
	}
	bar := newProgress(stderr, o.quiet)
	start := time.Now()
	lo := legacy.Options{MerchantID: o.merchant, Format: o.format, MinValidity: o.minValidity, Chunk: o.chunk,
		Progress: func(phase string, done, total int64) { bar.set(phase, done, total, rateETA(start, done, total)) }}
	rep, err := legacy.Plan(ctx, db, svc, src, lo)
	bar.done()
	if err != nil {
		return err
	}
	defer rep.Close() // its scratch file of repeated lines
	for _, e := range rep.Errors {
		fmt.Fprintln(stdout, e.Error())
	}
	if rep.ErrorCount > len(rep.Errors) {
		fmt.Fprintf(stdout, "... and %d more refused lines\n", rep.ErrorCount-len(rep.Errors))
	}
	fmt.Fprintf(stdout, "import %s: %d rows, %d valid (%d points), %d refused; %d rows of known members, %d new members\n",
		rep.ImportID, rep.Rows, rep.Valid, rep.Points, rep.ErrorCount, rep.Matches, rep.NewMembers)
	if !o.commit {
		fmt.Fprintln(stdout, "dry run: nothing written (run again with --commit to import the valid rows)")
		return nil
	}
	// Imported points are issued points: none once a wind-down is announced.
	if err := (&lifecycle.Service{DB: db}).IssuanceClosed(ctx); err != nil {
		fmt.Fprintf(stdout, "refused: %v\n", err)
		return errImportRefused
	}
	budget := ledger.MerchantBudget(o.merchant)
	bal, err := db.Balances(ctx, budget)
	if err != nil {
		return err
	}
	done, err := db.ImportedPoints(ctx, o.merchant, rep.ImportID)
	if err != nil {
		return err
	}
	if need := rep.Points - done; bal[budget] < need {
		fmt.Fprintf(stdout, "refused: the import needs %d points of funded budget, merchant %s has %d; fund %d fen first (no unfunded issuance)\n",
			need, o.merchant, bal[budget], (need-bal[budget])*cfg.Points.FaceValueFen)
		return errImportRefused
	}
	w := db.NewWriter(store.WriterOptions{BatchSize: 8, Now: time.Now})
	defer w.Close()
	submit := func(c points.Command) (any, error) {
		r := w.Submit(ctx, &store.Op{Command: c})
		return r.Value, r.Err
	}
	start = time.Now()
	res, err := legacy.Commit(ctx, svc, submit, src, rep, lo)
	bar.done()
	elapsed := time.Since(start)
	fmt.Fprintf(stdout, "imported %d rows (%d points), %d already imported by an earlier run, in %s (%.0f rows/s), peak memory %s\n",
		res.Imported, res.Points, res.Skipped, elapsed.Round(time.Millisecond), float64(res.Imported+res.Skipped)/elapsed.Seconds(), peakRSS())
	return err
}

// rateETA is the progress bar's note: bytes per second and time left.
func rateETA(start time.Time, done, total int64) string {
	el := time.Since(start).Seconds()
	if el <= 0 || done <= 0 {
		return ""
	}
	rate := float64(done) / el
	left := time.Duration(float64(total-done) / rate * float64(time.Second)).Round(time.Second)
	return fmt.Sprintf("%.1f MB/s, %s left", rate/1e6, left)
}

// peakRSS is the process's peak resident memory.
func peakRSS() string {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return "unknown"
	}
	return fmt.Sprintf("%.1f MiB", float64(ru.Maxrss)/1024) // Linux: KiB
}
