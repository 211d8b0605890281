// Command lianmeng is the Lianmeng gateway: one binary that serves the HTTP
// API, runs migrations, verifies the ledger and serves its own first-party
// plugins out of process.
//
// The command line is built with github.com/spf13/cobra: every subcommand
// answers --help/-h (and "lianmeng help CMD") with its flags, and
// "lianmeng completion SHELL" prints a shell completion script. Subcommands
// register themselves in init() (see register), so each lives in its own
// file: cmd_serve.go, cmd_migrate.go, cmd_plugin.go, ...
//
// Flags are accepted with one dash or two (-config FILE and --config FILE,
// -json and --json): run rewrites a single-dash long flag to the double-dash
// spelling before cobra parses (see normalizeArgs), so scripts written for
// the std flag package keep working. Single-letter flags (-q, -v, -h) are
// shorthands as usual.
//
// Exit codes: 0 success (and help), 1 failure, 2 usage error (unknown
// command or flag, bad arguments), with a one-line error and the usage on
// stderr. Nothing but a command's own output goes to stdout; in particular
// "lianmeng plugin serve NAME" writes only the go-plugin handshake there.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// builders are the registered subcommands. Each builder returns a new
// command with its flags bound to fresh variables, so that every run (and
// every test) starts from the defaults.
var builders []func() *cobra.Command

// register adds a subcommand; call it from init().
func register(build func() *cobra.Command) {
	builders = append(builders, build)
}

// usageError marks an error caused by how the command was invoked: it is
// printed with the usage, and the exit code is 2.
type usageError struct {
	msg string
	// usage is the command whose usage follows the message; nil for the
	// command that failed.
	usage *cobra.Command
}

func (e usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return usageError{msg: fmt.Sprintf(format, a...)} }

// noArgs is cobra's NoArgs as a usage error.
func noArgs(_ *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usagef("takes no arguments, got %q", args)
	}
	return nil
}

// exactArgs is cobra's ExactArgs as a usage error naming the argument.
func exactArgs(n int, what string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) != n {
			return usagef("want %s, got %q", what, args)
		}
		return nil
	}
}

// configFlag adds the -config flag every command that reads the
// configuration shares.
func configFlag(c *cobra.Command, path *string) {
	c.Flags().StringVar(path, "config", "", "configuration `FILE` (default: $LIANMENG_CONFIG, else configs/lianmeng.yaml when present, else built-in defaults; LIANMENG_* variables override it)")
	_ = c.MarkFlagFilename("config", "yaml", "yml")
}

// newRootCommand builds the command tree, writing to stdout and stderr.
func newRootCommand(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "lianmeng",
		Short: "Lianmeng merchant alliance points gateway",
		Long: `lianmeng is the Lianmeng merchant alliance points gateway: it serves the
HTTP API, runs the database migrations, verifies the ledger and its evidence
chain, and serves its own first-party plugins.

Flags may be written with one dash or two: -config FILE or --config FILE.`,
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{msg: err.Error()} })
	seen := map[string]bool{}
	for _, build := range builders {
		c := build()
		if seen[c.Name()] {
			panic("lianmeng: duplicate command " + c.Name())
		}
		seen[c.Name()] = true
		root.AddCommand(c)
	}
	root.SetHelpCommand(newHelpCommand())
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	var fix func(c *cobra.Command)
	fix = func(c *cobra.Command) {
		// Help flags up front, so that "help CMD" lists -h like "CMD -h".
		c.InitDefaultHelpFlag()
		if c.HasParent() && c.Args != nil {
			args := c.Args
			c.Args = func(c *cobra.Command, a []string) error {
				err := args(c, a)
				if err != nil && !errors.As(err, new(usageError)) {
					err = usageError{msg: err.Error()}
				}
				return err
			}
		}
		// A command that only groups others (plugin, completion) fails
		// without one, instead of printing its help and exiting 0.
		if c.HasParent() && c.HasSubCommands() && !c.Runnable() {
			c.RunE = func(c *cobra.Command, _ []string) error {
				return usagef("missing command (one of: %s)", strings.Join(subcommandNames(c), ", "))
			}
		}
		for _, sub := range c.Commands() {
			fix(sub)
		}
	}
	fix(root)
	return root
}

func subcommandNames(c *cobra.Command) []string {
	var names []string
	for _, sub := range c.Commands() {
		if sub.IsAvailableCommand() {
			names = append(names, sub.Name())
		}
	}
	return names
}

// newHelpCommand replaces cobra's help command: an unknown topic is a usage
// error (exit 2) rather than a message and exit 0.
func newHelpCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "help [command]",
		Short: "Help about any command",
		Long:  "help COMMAND prints the usage of COMMAND with its flags, exactly as 'lianmeng COMMAND --help' does.",
		ValidArgsFunction: func(c *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
			parent, rest, err := c.Root().Find(args)
			if err != nil || len(rest) > 0 {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			var out []cobra.Completion
			for _, sub := range parent.Commands() {
				if sub.IsAvailableCommand() && strings.HasPrefix(sub.Name(), toComplete) {
					out = append(out, cobra.CompletionWithDesc(sub.Name(), sub.Short))
				}
			}
			return out, cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(c *cobra.Command, args []string) error {
			root := c.Root()
			target, rest, err := root.Find(args)
			if err != nil || firstNonFlag(rest) != "" {
				return usageError{msg: fmt.Sprintf("unknown help topic %q", strings.Join(args, " ")), usage: root}
			}
			target.InitDefaultHelpFlag()
			return target.Help()
		},
	}
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run runs the command line args and returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	root := newRootCommand(stdout, stderr)
	if len(args) == 0 {
		fmt.Fprint(stderr, root.UsageString())
		return 2
	}
	// Shell completion requests (__complete, __completeNoDesc) go to cobra
	// untouched.
	if !strings.HasPrefix(args[0], cobra.ShellCompRequestCmd) {
		target, rest, err := root.Find(args)
		if name := firstNonFlag(rest); err != nil || (target.HasSubCommands() && name != "") {
			msg := fmt.Sprintf("unknown command %q", name)
			if s := target.SuggestionsFor(name); len(s) > 0 {
				msg += fmt.Sprintf(" (did you mean %q?)", s[0])
			}
			fmt.Fprintf(stderr, "%s: %s\n", target.CommandPath(), msg)
			fmt.Fprint(stderr, target.UsageString())
			return 2
		}
		args = normalizeArgs(target.Flags(), args)
	}
	root.SetArgs(append([]string{}, args...))
	cmd, err := root.ExecuteC()
	if err == nil {
		return 0
	}
	if cmd == nil {
		cmd = root
	}
	var ue usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(stderr, "%s: %s\n", cmd.CommandPath(), ue.msg)
		if ue.usage != nil {
			cmd = ue.usage
		}
		fmt.Fprint(stderr, cmd.UsageString())
		return 2
	}
	fmt.Fprintf(stderr, "%s: %v\n", cmd.CommandPath(), err)
	return 1
}

// firstNonFlag returns the first argument that does not start with a dash,
// in the arguments left after a command path; those commands take no
// flag values, only -h.
func firstNonFlag(args []string) string {
	for _, a := range args {
		if a == "--" {
			return ""
		}
		if !strings.HasPrefix(a, "-") {
			return a
		}
	}
	return ""
}

// normalizeArgs rewrites single-dash long flags of fs (-config, -cpu-pids,
// -json=false) to their double-dash spelling, so the std flag package's
// spelling keeps working with pflag, which reads "-abc" as the shorthands
// a, b and c. An unknown single-dash word that does not start with a known
// shorthand is rewritten too, so that pflag reports it as "unknown flag:
// --word". Values of flags that take one and everything after "--" are left
// alone.
func normalizeArgs(fs *pflag.FlagSet, args []string) []string {
	out := make([]string, 0, len(args))
	takesValue := func(f *pflag.Flag, inline bool) bool { return f != nil && !inline && f.NoOptDefVal == "" }
	for i := 0; i < len(args); i++ {
		a := args[i]
		out = append(out, a)
		if a == "--" {
			out = append(out, args[i+1:]...)
			break
		}
		if len(a) < 2 || a[0] != '-' {
			continue
		}
		var f *pflag.Flag
		if strings.HasPrefix(a, "--") {
			name, _, inline := strings.Cut(a[2:], "=")
			if f = fs.Lookup(name); !takesValue(f, inline) {
				continue
			}
		} else {
			name, _, inline := strings.Cut(a[1:], "=")
			switch {
			case name == "":
				continue
			case len(name) == 1:
				f = fs.ShorthandLookup(name)
			case fs.Lookup(name) != nil:
				f = fs.Lookup(name)
				out[len(out)-1] = "-" + a
			case fs.ShorthandLookup(name[:1]) != nil:
				continue // shorthands with a value or grouped: -qv
			default:
				out[len(out)-1] = "-" + a
				continue
			}
			if !takesValue(f, inline) {
				continue
			}
		}
		if i+1 < len(args) {
			i++
			out = append(out, args[i])
		}
	}
	return out
}
