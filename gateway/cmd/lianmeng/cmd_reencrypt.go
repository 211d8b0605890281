package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/lianmeng/lianmeng/gateway/config"
	"github.com/lianmeng/lianmeng/gateway/pii"
	"github.com/lianmeng/lianmeng/gateway/store"
)

func init() {
	register(newReencryptCommand)
}

func newReencryptCommand() *cobra.Command {
	var cfgPath string
	var quiet bool
	c := &cobra.Command{
		Use:   "reencrypt [flags]",
		Short: "re-encrypt members' personal data and credential secrets under the active pii key (after rotation)",
		Long: `reencrypt re-seals every member identity and every HMAC credential secret that
is not under the active key of pii.keys, seals HMAC secrets still stored in
plaintext by an earlier version (docs/evidence.md §9, §11), then says whether
the older keys can be removed. It is safe to run while the gateway serves,
and to interrupt and run again; it never generates keys. A progress bar is
drawn on stderr when it is a terminal.`,
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return cmdReencrypt(cfgPath, quiet, c.OutOrStdout(), c.ErrOrStderr())
		},
	}
	configFlag(c, &cfgPath)
	c.Flags().BoolVarP(&quiet, "quiet", "q", false, "no progress bar")
	return c
}

// cmdReencrypt re-seals every member identity that is not under the active
// key of pii.keys, or not yet bound to its row, and every HMAC credential
// secret not under the active key, and seals the secrets still stored in
// plaintext (docs/evidence.md §9, §11).
// Safe to run while the gateway serves, and to interrupt and run again. It
// never generates keys: fresh keys could decrypt nothing.
func cmdReencrypt(cfgPath string, quiet bool, stdout, stderr io.Writer) error {
	ctx := context.Background()
	cfg, db, err := openConfigured(ctx, cfgPath)
	if err != nil {
		return err
	}
	defer db.Close()
	if pending, err := db.HasPending(ctx); err != nil {
		return err
	} else if pending {
		return fmt.Errorf("database has pending migrations: run 'lianmeng migrate up' first")
	}
	k, err := reencryptKeyring(cfg)
	if err != nil {
		return err
	}
	db.SetPII(k)
	bar := newProgress(stderr, quiet)
	st, err := db.ReencryptIdentities(ctx, func(done, total int64) { bar.set("re-encrypting", done, total, "") })
	bar.done()
	if err != nil {
		return err
	}
	cst, err := db.ReencryptCredentials(ctx)
	if err != nil {
		return err
	}
	fmt.Fprint(stdout, reencryptSummary(st, cst, k))
	return nil
}

// reencryptSummary tells the operator what was done and whether older keys
// can go. The pass walks rows in key order, so rows written behind it
// meanwhile (by instances still sealing with an older key) were missed:
// only the full counts after the pass (st.Remaining for identities,
// cst.Remaining for credential secrets) say whether any row still needs an
// older key.
func reencryptSummary(st store.ReencryptStats, cst store.CredentialReencryptStats, k *pii.Keyring) string {
	out := fmt.Sprintf("re-encrypted %d of %d sealed identities under key %s\n", st.Reencrypted, st.Scanned, k.ActiveKeyID())
	out += fmt.Sprintf("re-encrypted %d and sealed %d plaintext of %d HMAC credential secrets under key %s\n",
		cst.Reencrypted, cst.Sealed, cst.Scanned, k.ActiveKeyID())
	if cst.Sealed > 0 {
		out += "copies of the plaintext secrets may remain in database backups, logs or free space: re-issue those credentials if the database may have been read\n"
	}
	const again = "keep every key in pii.keys; run again after every instance restarted with the new key first\n"
	if st.Remaining > 0 {
		out += fmt.Sprintf("%d sealed identities still need re-encryption (written or changed during the run): "+again, st.Remaining)
	}
	if cst.Remaining > 0 {
		out += fmt.Sprintf("%d HMAC credential secrets still need sealing or re-encryption (written or changed during the run): "+again, cst.Remaining)
	}
	if st.Remaining > 0 || cst.Remaining > 0 {
		return out
	}
	if ids := k.KeyIDs(); len(ids) > 1 {
		out += fmt.Sprintf("no rows use the older keys any more: %v can be removed from pii.keys\n", ids[1:])
	}
	return out
}

// reencryptKeyring returns the configured personal-data keys, or the
// development keys already in pii.key_dir; unlike serve it never generates
// keys, and refuses to run without any.
func reencryptKeyring(cfg config.Config) (*pii.Keyring, error) {
	if k, ok, err := configuredPIIKeyring(cfg); ok || err != nil {
		return k, err
	}
	dir := piiKeyDir(cfg)
	k, err := pii.LoadDevKeyring(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("reencrypt: no personal-data keys: set pii.keys and pii.index_key, or point pii.key_dir at the directory holding %s (looked in %s); reencrypt never generates keys",
			pii.DevKeyFile, filepath.Join(dir, pii.DevKeyFile))
	} else if err != nil {
		return nil, fmt.Errorf("pii development keys in %s: %w", dir, err)
	}
	return k, nil
}
