package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// runCLI runs the binary's entry point and returns exit code and output.
func runCLI(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = run(args, &o, &e)
	return code, o.String(), e.String()
}

// oneLine asserts s is exactly one line containing every want.
func oneLine(t *testing.T, s string, want ...string) {
	t.Helper()
	if strings.Count(s, "\n") != 1 || !strings.HasSuffix(s, "\n") {
		t.Fatalf("want one line, got %q", s)
	}
	for _, w := range want {
		if !strings.Contains(s, w) {
			t.Errorf("%q does not mention %q", s, w)
		}
	}
}

// usageFor returns the usage text of the command at path ("" for the root).
func usageFor(t *testing.T, path ...string) string {
	t.Helper()
	c, rest, err := newRootCommand(io.Discard, io.Discard).Find(path)
	if err != nil || len(rest) > 0 {
		t.Fatalf("no command %q: %v", path, err)
	}
	return c.UsageString()
}

// usageOut asserts stderr is a one-line error mentioning every want,
// followed by exactly the usage of the command at path.
func usageOut(t *testing.T, stderr string, path []string, want ...string) {
	t.Helper()
	first, rest, _ := strings.Cut(stderr, "\n")
	oneLine(t, first+"\n", want...)
	if u := usageFor(t, path...); rest != u {
		t.Errorf("after the error line:\n%s\nwant the usage of %q:\n%s", rest, path, u)
	}
}

func TestCLIUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		path []string // whose usage follows the error
		want []string
	}{
		{[]string{"serve", "-bogus"}, []string{"serve"}, []string{"lianmeng serve:", "unknown flag", "-bogus"}},
		{[]string{"serve", "--bogus"}, []string{"serve"}, []string{"lianmeng serve:", "unknown flag", "--bogus"}},
		{[]string{"serve", "-listen"}, []string{"serve"}, []string{"lianmeng serve:", "listen", "argument"}},
		{[]string{"serve", "extra"}, []string{"serve"}, []string{"lianmeng serve:", "extra"}},
		{[]string{"bogus"}, nil, []string{"lianmeng:", `unknown command "bogus"`}},
		{[]string{"bogus", "--help"}, nil, []string{`unknown command "bogus"`}},
		{[]string{"serv"}, nil, []string{`unknown command "serv"`, `did you mean "serve"`}},
		{[]string{"migrate"}, []string{"migrate"}, []string{"up|status"}},
		{[]string{"migrate", "down"}, []string{"migrate"}, []string{"up|status", "down"}},
		{[]string{"migrate", "-x", "up"}, []string{"migrate"}, []string{"-x"}},
		{[]string{"version", "now"}, []string{"version"}, []string{"no arguments", "now"}},
		{[]string{"verify", "-q", "-bogus"}, []string{"verify"}, []string{"--bogus"}},
		{[]string{"bench", "-clients", "many"}, []string{"bench"}, []string{"--clients", "many"}},
		{[]string{"plugin"}, []string{"plugin"}, []string{"lianmeng plugin:", "missing command", "list", "serve"}},
		{[]string{"plugin", "bogus"}, []string{"plugin"}, []string{"lianmeng plugin:", `unknown command "bogus"`}},
		{[]string{"plugin", "describe"}, []string{"plugin", "describe"}, []string{"NAME", "restaurant"}},
		{[]string{"plugin", "serve", "a", "b"}, []string{"plugin", "serve"}, []string{"NAME"}},
		{[]string{"plugin", "list", "-v"}, []string{"plugin", "list"}, []string{"-v"}},
		{[]string{"help", "bogus"}, nil, []string{"lianmeng help:", `unknown help topic "bogus"`}},
		{[]string{"completion"}, []string{"completion"}, []string{"missing command", "bash"}},
		{[]string{"completion", "tcsh"}, []string{"completion"}, []string{`unknown command "tcsh"`}},
	} {
		t.Run(strings.Join(tc.args, "_"), func(t *testing.T) {
			code, stdout, stderr := runCLI(tc.args...)
			if code != 2 {
				t.Fatalf("exit %d, want 2 (stderr %q)", code, stderr)
			}
			if stdout != "" {
				t.Fatalf("stdout %q", stdout)
			}
			usageOut(t, stderr, tc.path, tc.want...)
		})
	}
}

// commandPaths returns the path of every command a person can run, the
// root's (nil) first.
func commandPaths() [][]string {
	paths := [][]string{nil}
	var walk func(c *cobra.Command, path []string)
	walk = func(c *cobra.Command, path []string) {
		for _, sub := range c.Commands() {
			if sub.Hidden {
				continue
			}
			p := append(append([]string{}, path...), sub.Name())
			paths = append(paths, p)
			walk(sub, p)
		}
	}
	walk(newRootCommand(io.Discard, io.Discard), nil)
	return paths
}

// TestCommandHelp asks every registered command for its help, the three
// ways, and checks it describes the command and each of its flags: a new
// command or flag without a description fails here.
func TestCommandHelp(t *testing.T) {
	paths := commandPaths()
	for _, want := range [][]string{{"serve"}, {"migrate"}, {"verify"}, {"reencrypt"}, {"plugin", "serve"}, {"bench"}, {"version"}, {"completion", "bash"}, {"help"}} {
		if !slices.ContainsFunc(paths, func(p []string) bool { return slices.Equal(p, want) }) {
			t.Errorf("no command %q", want)
		}
	}
	for _, path := range paths {
		name := strings.Join(append([]string{"lianmeng"}, path...), " ")
		t.Run(name, func(t *testing.T) {
			c, _, err := newRootCommand(io.Discard, io.Discard).Find(path)
			if err != nil {
				t.Fatal(err)
			}
			if c.Short == "" {
				t.Errorf("%s has no one-line summary (Short)", name)
			}
			code, help, stderr := runCLI(append(slices.Clone(path), "--help")...)
			if code != 0 || stderr != "" {
				t.Fatalf("--help: exit %d, stderr %q", code, stderr)
			}
			for _, args := range [][]string{append(slices.Clone(path), "-h"), append([]string{"help"}, path...)} {
				if code, out, stderr := runCLI(args...); code != 0 || stderr != "" || out != help {
					t.Errorf("%q: exit %d, stderr %q, output differs from --help:\n%s", args, code, stderr, out)
				}
			}
			if !strings.Contains(help, "Usage:\n  "+name) {
				t.Errorf("help lacks the usage line for %s:\n%s", name, help)
			}
			lines := strings.Split(help, "\n")
			c.Flags().VisitAll(func(f *pflag.Flag) {
				_, usage := pflag.UnquoteUsage(f)
				if strings.TrimSpace(usage) == "" {
					t.Errorf("flag --%s has no description", f.Name)
					return
				}
				i := slices.IndexFunc(lines, func(l string) bool { return strings.Contains(l, "--"+f.Name+" ") && strings.Contains(l, usage) })
				if i < 0 {
					t.Errorf("help does not list --%s with %q:\n%s", f.Name, usage, help)
					return
				}
				if f.Shorthand != "" && !strings.Contains(lines[i], "-"+f.Shorthand+", --"+f.Name) {
					t.Errorf("help line %q lacks -%s", lines[i], f.Shorthand)
				}
				switch f.DefValue {
				case "", "0", "false", "0s", "[]":
				default:
					if !strings.Contains(lines[i], "(default ") || !strings.Contains(lines[i], f.DefValue) {
						t.Errorf("help line %q lacks the default %s", lines[i], f.DefValue)
					}
				}
			})
			for _, sub := range c.Commands() {
				if sub.IsAvailableCommand() && !slices.ContainsFunc(lines, func(l string) bool {
					return strings.HasPrefix(strings.TrimSpace(l), sub.Name()+" ") && strings.HasSuffix(l, " "+sub.Short)
				}) {
					t.Errorf("help does not list %s with its summary %q:\n%s", sub.Name(), sub.Short, help)
				}
			}
		})
	}
}

func TestCLIHelpAndVersion(t *testing.T) {
	code, stdout, stderr := runCLI()
	if code != 2 || stdout != "" || stderr != usageFor(t) || !strings.Contains(stderr, "Usage:") {
		t.Fatalf("no args: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	_, help, _ := runCLI("--help")
	for _, args := range [][]string{{"help"}, {"-h"}, {"-help"}} {
		code, stdout, stderr := runCLI(args...)
		if code != 0 || stderr != "" || stdout != help {
			t.Fatalf("%q: exit %d, stderr %q, output differs from --help:\n%s", args, code, stderr, stdout)
		}
	}
	for _, c := range []string{"serve", "migrate", "verify", "reencrypt", "plugin", "bench", "version", "completion", "help"} {
		if !strings.Contains(help, "\n  "+c+" ") {
			t.Errorf("help does not list %s:\n%s", c, help)
		}
	}
	code, stdout, _ = runCLI("version")
	if code != 0 || stdout != "lianmeng "+version+"\n" {
		t.Fatalf("version: exit %d %q", code, stdout)
	}
	code, stdout, stderr = runCLI("completion", "bash")
	if code != 0 || !strings.Contains(stdout, "bash completion") || stderr != "" {
		t.Fatalf("completion bash: exit %d, stderr %q", code, stderr)
	}
}

// TestFlagSpellings: the std flag package's single-dash long flags keep
// working (scripts/bench.sh, the README), rewritten to pflag's double dash.
func TestFlagSpellings(t *testing.T) {
	root := newRootCommand(io.Discard, io.Discard)
	for _, tc := range []struct{ in, out string }{
		{"bench -url U -token T -json -cpu-pids gateway=1 -clients 8", "bench --url U --token T --json --cpu-pids gateway=1 --clients 8"},
		{"bench --url U -duration=1s -json=false", "bench --url U --duration=1s --json=false"},
		{"bench -token -json -url -x", "bench --token -json --url -x"}, // flag values stay
		{"bench -bogus -b", "bench --bogus -b"},                        // unknown: reported as --bogus; -b as shorthand
		{"bench -h -help", "bench -h --help"},
		{"bench -- -json", "bench -- -json"},
		{"verify -q -require-sealed -config f -qh", "verify -q --require-sealed --config f -qh"},
		{"plugin verify -v -config=f", "plugin verify -v --config=f"},
		{"migrate -config f status", "migrate --config f status"},
	} {
		args := strings.Fields(tc.in)
		c, _, err := root.Find(args)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(normalizeArgs(c.Flags(), args), " "); got != tc.out {
			t.Errorf("%s\n got %s\nwant %s", tc.in, got, tc.out)
		}
	}
}

// TestPluginServeStdout: the go-plugin handshake owns plugin serve's stdout,
// so its errors and usage go to stderr only.
func TestPluginServeStdout(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{"plugin", "serve"}, 2},
		{[]string{"plugin", "serve", "-bogus", "restaurant"}, 2},
		{[]string{"plugin", "serve", "nosuch"}, 1},
	} {
		code, stdout, stderr := runCLI(tc.args...)
		if code != tc.code || stdout != "" || !strings.HasPrefix(stderr, "lianmeng plugin serve: ") {
			t.Errorf("%q: exit %d (want %d), stdout %q, stderr %q", tc.args, code, tc.code, stdout, stderr)
		}
	}
}

func TestCLIBadConfig(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		name, yaml string
		want       []string
	}{
		{"unknown_key", "listen: 127.0.0.1:0\ndatabse:\n  driver: sqlite\n", []string{"databse", "line 2"}},
		{"bad_duration", "http:\n  shutdown_timeout: soon\n", []string{"soon", "duration"}},
		{"bad_driver", "database:\n  driver: postgres\n", []string{"database.driver", "sqlite", "mysql"}},
		{"short_token", "operator:\n  token: abc\n", []string{"operator.token", "16"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := write(tc.name+".yaml", tc.yaml)
			for _, cmd := range []string{"serve", "migrate"} {
				args := []string{cmd, "-config", f}
				if cmd == "migrate" {
					args = append(args, "up")
				}
				code, _, stderr := runCLI(args...)
				if code != 1 {
					t.Fatalf("%s: exit %d, want 1 (stderr %q)", cmd, code, stderr)
				}
				oneLine(t, stderr, tc.want...)
			}
		})
	}
	t.Run("missing_file", func(t *testing.T) {
		code, _, stderr := runCLI("serve", "-config", filepath.Join(dir, "nope.yaml"))
		if code != 1 {
			t.Fatalf("exit %d", code)
		}
		oneLine(t, stderr, "nope.yaml")
	})
	t.Run("env_error", func(t *testing.T) {
		t.Setenv("LIANMENG_HTTP_BODY_LIMIT", "1MB")
		code, _, stderr := runCLI("migrate", "status")
		if code != 1 {
			t.Fatalf("exit %d", code)
		}
		oneLine(t, stderr, "LIANMENG_HTTP_BODY_LIMIT")
	})
}
