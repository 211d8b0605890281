package main

import (
	"bytes"
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

func TestCLIUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"serve", "-bogus"}, []string{"lianmeng serve", "-bogus", "-config"}},
		{[]string{"serve", "extra"}, []string{"lianmeng serve", "extra"}},
		{[]string{"bogus"}, []string{`unknown command "bogus"`, "lianmeng help"}},
		{[]string{"migrate"}, []string{"up|status"}},
		{[]string{"migrate", "down"}, []string{"up|status"}},
		{[]string{"migrate", "-x", "up"}, []string{"-x"}},
		{[]string{"version", "now"}, []string{"no arguments"}},
	} {
		t.Run(strings.Join(tc.args, "_"), func(t *testing.T) {
			code, stdout, stderr := runCLI(tc.args...)
			if code != 2 {
				t.Fatalf("exit %d, want 2 (stderr %q)", code, stderr)
			}
			if stdout != "" {
				t.Fatalf("stdout %q", stdout)
			}
			oneLine(t, stderr, tc.want...)
		})
	}
}

func TestCLIHelpAndVersion(t *testing.T) {
	code, _, stderr := runCLI()
	if code != 2 || !strings.Contains(stderr, "usage:") {
		t.Fatalf("no args: exit %d %q", code, stderr)
	}
	code, _, stderr = runCLI("help")
	if code != 0 {
		t.Fatalf("help: exit %d", code)
	}
	for _, c := range []string{"serve", "migrate", "version"} {
		if !strings.Contains(stderr, c) {
			t.Errorf("help does not list %s", c)
		}
	}
	code, stdout, _ := runCLI("version")
	if code != 0 || stdout != "lianmeng "+version+"\n" {
		t.Fatalf("version: exit %d %q", code, stdout)
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
