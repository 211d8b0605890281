package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
