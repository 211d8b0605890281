package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/lianmeng/lianmeng/gateway/evidence"
	"github.com/lianmeng/lianmeng/gateway/settlement"
)

func init() {
	register(newSettleCommand)
}

func newSettleCommand() *cobra.Command {
	var config, date string
	var quiet bool
	c := &cobra.Command{
		Use:   "settle --date YYYY-MM-DD [flags]",
		Short: "make the day's merchant statements (clearing), signed with the evidence key",
		Long: `settle nets each merchant's payable over one clearing day (the 24
hours ending at settlement.cutoff on that day in settlement.time_zone;
by default midnight, Asia/Shanghai): the payable at the start, each kind of movement (redemptions at its
stores, reversals, payout holds and returns, ...), the payable at the end;
and stores one statement per merchant, its JSON signed with the evidence key
(SM2 over "lianmeng-statement-v1\n" + body). Running a day again makes the
same statements again. A progress bar is drawn on stderr when it is a
terminal.`,
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return cmdSettle(config, date, quiet, c.OutOrStdout(), c.ErrOrStderr())
		},
	}
	configFlag(c, &config)
	c.Flags().StringVar(&date, "date", "", "the day to settle, YYYY-MM-DD (required)")
	c.Flags().BoolVarP(&quiet, "quiet", "q", false, "no progress bar")
	return c
}

func cmdSettle(cfgPath, date string, quiet bool, stdout, stderr io.Writer) error {
	if date == "" {
		return usageError{msg: "settle needs --date YYYY-MM-DD"}
	}
	ctx := context.Background()
	cfg, db, err := openConfigured(ctx, cfgPath)
	if err != nil {
		return err
	}
	defer db.Close()
	key, err := signingKey(cfg, slog.New(slog.NewTextHandler(stderr, nil)))
	if err != nil {
		return err
	}
	signer, err := evidence.NewSigner(key)
	if err != nil {
		return err
	}
	cal, err := settlementCalendar(cfg)
	if err != nil {
		return err
	}
	bar := newProgress(stderr, quiet)
	cl := &settlement.Clearing{DB: db, Calendar: cal, Signer: settlement.SM2Signer{Key: key, ID: signer.KeyID()}}
	sts, err := cl.Run(ctx, date, func(done, total int) { bar.set("statements "+date, int64(done), int64(total), "") })
	bar.done()
	if err != nil {
		return err
	}
	for _, st := range sts {
		fmt.Fprintln(stdout, st.String())
	}
	fmt.Fprintf(stdout, "ok: %d statement(s) for %s\n", len(sts), date)
	return nil
}
