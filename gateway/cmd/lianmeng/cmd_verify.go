package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/lianmeng/lianmeng/gateway/store"
)

func init() {
	register(newVerifyCommand)
}

func newVerifyCommand() *cobra.Command {
	var o verifyOptions
	c := &cobra.Command{
		Use:   "verify [flags]",
		Short: "check the ledger invariants and the evidence chain against the database",
		Long: `verify checks the ledger invariants and replays the evidence chain and its
signed checkpoints from the database (docs/evidence.md §7). It prints "ok"
or one line per finding, and exits 1 on any finding. With --checkpoint FILE
it also checks that the database's log contains a checkpoint saved earlier
(or fetched from a witness): a log cut off at the end, with the checkpoints
after the cut, verifies on its own, but not against a checkpoint taken
before (the finding names the first missing index). Entries the sealer has
not reached yet are warnings unless --require-sealed. A progress bar is drawn
on stderr when it is a terminal.`,
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error { return cmdVerify(o, c.OutOrStdout(), c.ErrOrStderr()) },
	}
	configFlag(c, &o.config)
	c.Flags().BoolVarP(&o.quiet, "quiet", "q", false, "no progress bar")
	c.Flags().BoolVar(&o.requireSealed, "require-sealed", false, "also fail when settled entries are not sealed yet (sealer stopped or behind)")
	c.Flags().StringArrayVar(&o.checkpoints, "checkpoint", nil, "a checkpoint saved earlier (the signed text, or the JSON of /v1/evidence/checkpoint): fail unless the database's log contains it (repeatable)")
	return c
}

type verifyOptions struct {
	config               string
	quiet, requireSealed bool
	checkpoints          []string
}

// errViolations makes verify exit non-zero after printing its findings.
var errViolations = errors.New("the ledger does not verify")

func cmdVerify(o verifyOptions, stdout, stderr io.Writer) error {
	ctx := context.Background()
	saved, err := readSavedCheckpoints(o.checkpoints)
	if err != nil {
		return err
	}
	cfg, db, err := openConfigured(ctx, o.config)
	if err != nil {
		return err
	}
	defer db.Close()
	bar := newProgress(stderr, o.quiet)
	violations, err := db.CheckInvariants(ctx, cfg.Points.FaceValueFen, func(step int, name string) {
		bar.set("ledger invariants", int64(step), int64(store.InvariantSteps), name)
	})
	bar.done()
	if err != nil {
		return err
	}
	lines := make([]string, 0, len(violations))
	for _, v := range violations {
		lines = append(lines, v.String())
	}
	ev, err := verifyEvidence(ctx, cfg, db, saved, func(done, total int64) { bar.set("evidence chain", done, total, "") })
	bar.done()
	if err != nil {
		return fmt.Errorf("evidence: %w", err)
	}
	// Entries the sealer has not reached are not tampering: after a crash
	// a new instance waits for the old sealer's lease to lapse. They are
	// warnings unless -require-sealed.
	var warnings []string
	for _, l := range ev {
		if strings.HasPrefix(l, "not sealed:") && !o.requireSealed {
			warnings = append(warnings, l)
			continue
		}
		lines = append(lines, l)
	}
	for _, w := range warnings {
		fmt.Fprintln(stdout, "warning: "+w)
	}
	if len(lines) == 0 {
		fmt.Fprintln(stdout, "ok: ledger invariants hold and the evidence chain verifies")
		return nil
	}
	for _, l := range lines {
		fmt.Fprintln(stdout, l)
	}
	return fmt.Errorf("%w: %d finding(s)", errViolations, len(lines))
}
