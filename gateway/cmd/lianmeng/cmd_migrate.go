package main

import (
	"context"
	"fmt"
	"io"
)

func init() {
	register(command{name: "migrate", summary: "apply or list database migrations: migrate up|status", run: cmdMigrate})
	register(command{name: "version", summary: "print the version", run: func(args []string, stdout, _ io.Writer) error {
		if len(args) > 0 {
			return usagef("version takes no arguments")
		}
		fmt.Fprintln(stdout, "lianmeng", version)
		return nil
	}})
}

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func cmdMigrate(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("migrate", stderr)
	cfgPath := fs.String("config", "", "configuration file")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 || (fs.Arg(0) != "up" && fs.Arg(0) != "status") {
		return usagef("usage: lianmeng migrate [-config FILE] up|status")
	}
	ctx := context.Background()
	_, db, err := openConfigured(ctx, *cfgPath)
	if err != nil {
		return err
	}
	defer db.Close()
	if fs.Arg(0) == "up" {
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
