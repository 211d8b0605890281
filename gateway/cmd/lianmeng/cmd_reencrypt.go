package main

import (
	"context"
	"fmt"
	"io"
)

func init() {
	register(command{name: "reencrypt", summary: "re-encrypt members' sealed personal data under the active pii key (after rotation)", run: cmdReencrypt})
}

// cmdReencrypt re-seals every member identity that is not under the active
// key of pii.keys (docs/evidence.md §9). Safe to run while the gateway
// serves, and to interrupt and run again.
func cmdReencrypt(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("reencrypt", stderr)
	cfgPath := fs.String("config", "", "configuration file")
	quiet := fs.Bool("q", false, "no progress output")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("reencrypt takes no arguments")
	}
	ctx := context.Background()
	cfg, db, err := openConfigured(ctx, *cfgPath)
	if err != nil {
		return err
	}
	defer db.Close()
	if pending, err := db.HasPending(ctx); err != nil {
		return err
	} else if pending {
		return fmt.Errorf("database has pending migrations: run 'lianmeng migrate up' first")
	}
	if err := setupPII(cfg, db, newLogger(cfg, stderr)); err != nil {
		return err
	}
	k := db.PII()
	bar := newProgress(stderr, *quiet)
	st, err := db.ReencryptIdentities(ctx, func(done, total int64) { bar.set("re-encrypting", done, total, "") })
	bar.done()
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "re-encrypted %d of %d sealed identities under key %s\n", st.Reencrypted, st.Scanned, k.ActiveKeyID())
	if ids := k.KeyIDs(); len(ids) > 1 {
		fmt.Fprintf(stdout, "no rows use the older keys any more: %v can be removed from pii.keys\n", ids[1:])
	}
	return nil
}
