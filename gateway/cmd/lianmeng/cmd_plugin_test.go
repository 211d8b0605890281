package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// reexecEnv makes this test binary act as the lianmeng binary when the
// plugin host re-executes it for a builtin:NAME plugin ("plugin serve NAME").
const reexecEnv = "LIANMENG_TEST_PLUGIN_REEXEC"

func init() {
	if os.Getenv(reexecEnv) == "1" && len(os.Args) > 2 && os.Args[1] == "plugin" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
}

func writeConfig(t *testing.T, yaml string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "lianmeng.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

const restaurantConfig = `
plugins:
  - name: dinner
    kind: earning_rule
    path: builtin:restaurant
    timeout: 1s
    env: [` + reexecEnv + `]
    config:
      points_per_yuan: 1
`

func TestPluginList(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"plugin", "list", "-config", writeConfig(t, restaurantConfig)}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	for _, want := range []string{"dinner", "builtin:restaurant", "BUILTIN", "restaurant", "earning_rule"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("list output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestPluginDescribe(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"plugin", "describe", "restaurant"}, &out, &errb); code != 0 || !strings.Contains(out.String(), `"points_per_yuan"`) {
		t.Fatalf("exit %d: %s %s", code, out.String(), errb.String())
	}
}

func TestPluginVerify(t *testing.T) {
	t.Setenv(reexecEnv, "1")
	var out, errb bytes.Buffer
	if code := run([]string{"plugin", "verify", "-config", writeConfig(t, restaurantConfig)}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s %s", code, out.String(), errb.String())
	}
	if !strings.Contains(out.String(), "ok    dinner: earning_rule restaurant") {
		t.Fatalf("verify output:\n%s", out.String())
	}

	// A bad configuration and a wrong checksum are reported and fail.
	bad := strings.Replace(restaurantConfig, "points_per_yuan: 1", "points_per_yuan: 0", 1) + `
  - name: tampered
    kind: earning_rule
    path: ` + os.Args[0] + `
    sha256: ` + strings.Repeat("0", 64) + `
`
	out.Reset()
	code := run([]string{"plugin", "verify", "-config", writeConfig(t, bad)}, &out, &errb)
	if code != 1 || !strings.Contains(out.String(), "FAIL  dinner") || !strings.Contains(out.String(), "FAIL  tampered") ||
		!strings.Contains(out.String(), "checksum") {
		t.Fatalf("exit %d, output:\n%s", code, out.String())
	}
}

func TestPluginUsage(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"plugin"}, &out, &errb); code != 2 {
		t.Fatalf("exit %d, want 2", code)
	}
	// An unknown builtin is a failure (exit 1), not a usage error.
	if code := run([]string{"plugin", "serve", "nosuch"}, &out, &errb); code != 1 {
		t.Fatalf("plugin serve nosuch: exit %d, want 1", code)
	}
}
