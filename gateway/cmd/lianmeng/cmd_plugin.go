package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	_ "github.com/lianmeng/lianmeng/adapters/all" // and the first-party POS adapters
	"github.com/lianmeng/lianmeng/gateway/config"
	"github.com/lianmeng/lianmeng/gateway/pluginhost"
	"github.com/lianmeng/lianmeng/plugins"
	_ "github.com/lianmeng/lianmeng/plugins/all" // link the first-party plugins in
	"github.com/lianmeng/lianmeng/sdk"
	"github.com/lianmeng/lianmeng/sdk/host"
)

func init() {
	register(newPluginCommand)
}

func newPluginCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "plugin",
		Short: "list, describe, verify and serve plugins",
		Long: `plugin lists the configured and the builtin plugins, prints a builtin's
manifest, launches every configured plugin to verify it, and serves a builtin
plugin out of process (the gateway runs "lianmeng plugin serve NAME" itself
for path: builtin:NAME).`,
	}
	builtins := func(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
		return plugins.Names(), cobra.ShellCompDirectiveNoFileComp
	}
	nameArg := "one builtin plugin NAME (builtins: " + strings.Join(plugins.Names(), ", ") + ")"

	var listOpts, verifyOpts pluginOptions
	list := &cobra.Command{
		Use:   "list [flags]",
		Short: "list the configured plugins and the builtin ones",
		Args:  noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return pluginList(listOpts, c.OutOrStdout())
		},
	}
	pluginFlags(list, &listOpts, false)
	verify := &cobra.Command{
		Use:   "verify [flags]",
		Short: "launch every configured plugin and check checksum, handshake, Describe, Configure and health",
		Args:  noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return pluginVerify(verifyOpts, c.OutOrStdout(), c.ErrOrStderr())
		},
	}
	pluginFlags(verify, &verifyOpts, true)
	describe := &cobra.Command{
		Use:               "describe NAME",
		Short:             "print a builtin plugin's manifest (JSON)",
		Args:              exactArgs(1, nameArg),
		ValidArgsFunction: builtins,
		RunE: func(c *cobra.Command, args []string) error {
			p, ok := plugins.Lookup(args[0])
			if !ok {
				return fmt.Errorf("no builtin plugin %q (builtins: %s)", args[0], strings.Join(plugins.Names(), ", "))
			}
			return sdk.WriteManifest(c.OutOrStdout(), p)
		},
	}
	serve := &cobra.Command{
		Use:   "serve NAME",
		Short: "serve a builtin plugin over the go-plugin protocol (run by the gateway, not by hand)",
		Long: `serve serves the builtin plugin NAME over the go-plugin protocol. The gateway
runs it itself for a plugin configured with path: builtin:NAME; stdout
carries the go-plugin handshake, so nothing else is written to it.`,
		Args:              exactArgs(1, nameArg),
		ValidArgsFunction: builtins,
		// Run by the gateway itself for builtin:NAME. stdout carries the
		// go-plugin handshake, so nothing else may be written to it (run
		// writes errors and usage to stderr only).
		RunE: func(_ *cobra.Command, args []string) error { return plugins.Serve(args[0]) },
	}
	c.AddCommand(list, verify, describe, serve)
	return c
}

type pluginOptions struct {
	config  string
	verbose bool
}

func pluginFlags(c *cobra.Command, o *pluginOptions, verbose bool) {
	c.Flags().StringVar(&o.config, "config", "", "configuration `FILE` (default: built-in defaults; LIANMENG_* variables override it)")
	_ = c.MarkFlagFilename("config", "yaml", "yml")
	if verbose {
		c.Flags().BoolVarP(&o.verbose, "verbose", "v", false, "log plugin start-up to stderr")
	}
}

func pluginList(o pluginOptions, stdout io.Writer) error {
	cfg, err := config.Load(o.config, os.Environ())
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CONFIGURED\tKIND\tPATH\tREQUIRED\tTIMEOUT")
	if len(cfg.Plugins) == 0 {
		fmt.Fprintln(tw, "(none)")
	}
	for _, p := range cfg.Plugins {
		timeout := "default"
		if p.Timeout > 0 {
			timeout = p.Timeout.D().String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%t\t%s\n", p.Name, p.Kind, p.Path, p.Required, timeout)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(stdout)
	tw = tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "BUILTIN\tKIND\tVERSION\tSUMMARY\t")
	for _, name := range plugins.Names() {
		p, _ := plugins.Lookup(name)
		for _, d := range sdk.Describe(p).Plugins {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t\n", name, d.Kind, d.Version, d.Summary)
		}
	}
	return tw.Flush()
}

// pluginVerify launches every configured plugin through the real host, one
// at a time, and reports checksum, handshake, Describe, Configure and health.
func pluginVerify(o pluginOptions, stdout, stderr io.Writer) error {
	cfg, err := config.Load(o.config, os.Environ())
	if err != nil {
		return err
	}
	if len(cfg.Plugins) == 0 {
		fmt.Fprintln(stdout, "no plugins configured")
		return nil
	}
	logOut := io.Discard
	if o.verbose {
		logOut = stderr
	}
	logger := slog.New(slog.NewTextHandler(logOut, &slog.HandlerOptions{Level: slog.LevelDebug}))
	failed := 0
	for _, p := range cfg.Plugins {
		if err := verifyOne(p, logger, stdout); err != nil {
			failed++
			fmt.Fprintf(stdout, "FAIL  %s: %v\n", p.Name, err)
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d plugins failed verification", failed, len(cfg.Plugins))
	}
	return nil
}

func verifyOne(p config.Plugin, logger *slog.Logger, stdout io.Writer) error {
	where := "builtin (gateway binary)"
	if !strings.HasPrefix(p.Path, "builtin:") {
		sum, err := host.FileSHA256(p.Path)
		if err != nil {
			return err
		}
		if got := fmt.Sprintf("%x", sum); !strings.EqualFold(got, p.SHA256) {
			return fmt.Errorf("%w: %s has sha256 %s, configuration pins %s", pluginhost.ErrChecksum, p.Path, got, p.SHA256)
		}
		where = "sha256 ok"
	}
	p.Required = true // surface permanent start failures as errors
	h, err := pluginhost.New([]config.Plugin{p}, pluginhost.Options{Logger: logger, HealthInterval: time.Hour})
	if err != nil {
		return err
	}
	defer h.Close()
	if err := h.Ready(); err != nil {
		return err
	}
	st := h.Status()[0]
	fmt.Fprintf(stdout, "ok    %s: %s %s %s (sdk %s, protocol %d, pid %d, %s, healthy)\n",
		p.Name, st.Plugin.Kind, st.Plugin.Name, st.Plugin.Version, st.Plugin.SDKVersion, st.Plugin.ProtocolVersion, st.Pid, where)
	return nil
}
