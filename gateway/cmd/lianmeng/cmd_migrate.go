package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"
)

func init() {
	register(newMigrateCommand)
	register(newVersionCommand)
}

func newMigrateCommand() *cobra.Command {
	var cfgPath string
	c := &cobra.Command{
		Use:   "migrate [flags] up|status",
		Short: "apply pending database migrations (up) or list them (status)",
		Long: `migrate up applies the pending database migrations and prints their
versions; migrate status lists every migration and whether it is applied.`,
		ValidArgs: []string{"up", "status"},
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 || (args[0] != "up" && args[0] != "status") {
				return usagef("want up|status, got %q", args)
			}
			return nil
		},
		RunE: func(c *cobra.Command, args []string) error { return cmdMigrate(cfgPath, args[0], c.OutOrStdout()) },
	}
	configFlag(c, &cfgPath)
	return c
}

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "print the version",
		Args:  noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			fmt.Fprintln(c.OutOrStdout(), "lianmeng", version)
			return nil
		},
	}
}

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func cmdMigrate(cfgPath, action string, stdout io.Writer) error {
	ctx := context.Background()
	_, db, err := openConfigured(ctx, cfgPath)
	if err != nil {
		return err
	}
	defer db.Close()
	if action == "up" {
		applied, err := db.Migrate(ctx, nil)
		if err != nil {
			return err
		}
		if len(applied) == 0 {
			fmt.Fprintln(stdout, "database is up to date")
		}
		for _, v := range applied {
			fmt.Fprintf(stdout, "applied %05d\n", v)
		}
		return nil
	}
	st, err := db.MigrationStatus(ctx)
	if err != nil {
		return err
	}
	for _, m := range st {
		state := "pending"
		if m.Applied {
			state = "applied"
		}
		fmt.Fprintf(stdout, "%05d  %-8s %s\n", m.Version, state, m.Source)
	}
	return nil
}
