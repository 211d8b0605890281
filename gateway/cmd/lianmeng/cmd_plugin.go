package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/lianmeng/lianmeng/gateway/config"
	"github.com/lianmeng/lianmeng/gateway/pluginhost"
	"github.com/lianmeng/lianmeng/plugins"
	_ "github.com/lianmeng/lianmeng/plugins/all" // link the first-party plugins in
	"github.com/lianmeng/lianmeng/sdk"
	"github.com/lianmeng/lianmeng/sdk/host"
)

func init() {
	register(command{
		name:    "plugin",
		summary: "plugins: plugin list|verify [-config FILE], plugin describe|serve NAME",
		run:     cmdPlugin,
	})
}

const pluginUsage = "usage: lianmeng plugin list|verify [-config FILE] | describe NAME | serve NAME"

func cmdPlugin(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usagef(pluginUsage)
	}
	switch args[0] {
	case "list":
		return pluginList(args[1:], stdout, stderr)
	case "verify":
		return pluginVerify(args[1:], stdout, stderr)
	case "describe":
		if len(args) != 2 {
			return usagef("usage: lianmeng plugin describe NAME (builtins: %s)", strings.Join(plugins.Names(), ", "))
		}
		p, ok := plugins.Lookup(args[1])
		if !ok {
			return fmt.Errorf("no builtin plugin %q (builtins: %s)", args[1], strings.Join(plugins.Names(), ", "))
		}
		return sdk.WriteManifest(stdout, p)
	case "serve":
		// Run by the gateway itself for builtin:NAME. stdout carries the
		// go-plugin handshake, so nothing else may be written to it.
		if len(args) != 2 {
			return usagef("usage: lianmeng plugin serve NAME (builtins: %s)", strings.Join(plugins.Names(), ", "))
		}
		return plugins.Serve(args[1])
	}
	return usagef(pluginUsage)
}

func pluginConfig(name string, args []string, stderr io.Writer) (config.Config, bool, error) {
	fs := newFlagSet("plugin "+name, stderr)
	cfgPath := fs.String("config", "", "configuration file")
	verbose := fs.Bool("v", false, "log plugin start-up to stderr")
	if err := parseFlags(fs, args); err != nil {
		return config.Config{}, false, err
	}
	if fs.NArg() != 0 {
		return config.Config{}, false, usagef("plugin %s takes no arguments besides flags", name)
	}
	cfg, err := config.Load(*cfgPath, os.Environ())
	return cfg, *verbose, err
}

func pluginList(args []string, stdout, stderr io.Writer) error {
	cfg, _, err := pluginConfig("list", args, stderr)
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
func pluginVerify(args []string, stdout, stderr io.Writer) error {
	cfg, verbose, err := pluginConfig("verify", args, stderr)
	if err != nil {
		return err
	}
	if len(cfg.Plugins) == 0 {
		fmt.Fprintln(stdout, "no plugins configured")
		return nil
	}
	logOut := io.Discard
	if verbose {
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
