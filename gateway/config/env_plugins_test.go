package config_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/gateway/config"
)

const pluginsFile = `plugins:
  - {name: from-file, kind: earning_rule, path: 'builtin:restaurant'}
`

func TestEnvironmentPluginsJSON(t *testing.T) {
	sum := strings.Repeat("ab", 32)
	cfg, err := config.Load(writeFile(t, "c.yaml", pluginsFile), []string{
		`LIANMENG_PLUGINS=[
	{"name": "restaurant", "kind": "earning_rule", "path": "builtin:restaurant", "timeout": "500ms", "required": true,
	 "config": {"points_per_yuan": 1, "excluded_categories": ["service_charge", "tip"]}},
	{"name": "pos", "kind": "pos_adapter", "path": "/opt/lianmeng/pos", "sha256": "` + sum + `", "env": ["TZ"]}
]`,
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []config.Plugin{
		{Name: "restaurant", Kind: "earning_rule", Path: "builtin:restaurant", Timeout: config.Duration(500 * time.Millisecond), Required: true,
			Config: map[string]any{"points_per_yuan": 1, "excluded_categories": []any{"service_charge", "tip"}}},
		{Name: "pos", Kind: "pos_adapter", Path: "/opt/lianmeng/pos", SHA256: sum, Env: []string{"TZ"}},
	}
	if !reflect.DeepEqual(cfg.Plugins, want) {
		t.Fatalf("plugins from the environment (which replace the file's):\n got  %+v\n want %+v", cfg.Plugins, want)
	}
}

func TestEnvironmentPluginsYAMLFlow(t *testing.T) {
	cfg, err := config.Load("", []string{`LIANMENG_PLUGINS=[{name: restaurant, kind: earning_rule, path: "builtin:restaurant", timeout: 2s}]`})
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Plugins) != 1 || cfg.Plugins[0].Name != "restaurant" || cfg.Plugins[0].Timeout.D() != 2*time.Second {
		t.Fatalf("plugins %+v", cfg.Plugins)
	}
}

func TestEnvironmentPluginsCleared(t *testing.T) {
	for _, v := range []string{"", " ", "[]"} {
		cfg, err := config.Load(writeFile(t, "c.yaml", pluginsFile), []string{"LIANMENG_PLUGINS=" + v})
		if err != nil {
			t.Fatalf("LIANMENG_PLUGINS=%q: %v", v, err)
		}
		if len(cfg.Plugins) != 0 {
			t.Fatalf("LIANMENG_PLUGINS=%q left %+v", v, cfg.Plugins)
		}
	}
	// Unset, the file's list stays.
	cfg, err := config.Load(writeFile(t, "c.yaml", pluginsFile), nil)
	if err != nil || len(cfg.Plugins) != 1 || cfg.Plugins[0].Name != "from-file" {
		t.Fatalf("plugins %+v, err %v", cfg.Plugins, err)
	}
}

func TestEnvironmentPluginsErrors(t *testing.T) {
	for _, tc := range []struct {
		name, value string
		want        []string
	}{
		{"name_equals_path", "restaurant=builtin:restaurant", []string{"LIANMENG_PLUGINS", "JSON array"}},
		{"object_not_array", `{"name":"restaurant","kind":"earning_rule","path":"builtin:restaurant"}`, []string{"LIANMENG_PLUGINS"}},
		{"unknown_field", `[{"nme":"restaurant","kind":"earning_rule","path":"builtin:restaurant"}]`, []string{"LIANMENG_PLUGINS", "nme"}},
		{"bad_timeout", `[{"name":"r","kind":"earning_rule","path":"builtin:r","timeout":"5 seconds"}]`, []string{"LIANMENG_PLUGINS", "5 seconds"}},
		{"truncated", `[{"name":"r"`, []string{"LIANMENG_PLUGINS"}},
		{"validated_like_the_file", `[{"name":"pos","kind":"pos_adapter","path":"/usr/bin/pos"}]`, []string{"plugins[0]", "sha256"}},
		{"bad_kind", `[{"name":"r","kind":"rule","path":"builtin:r"}]`, []string{"plugins[0]", "kind"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			loadErr(t, "", []string{"LIANMENG_PLUGINS=" + tc.value}, tc.want...)
		})
	}
}

// TestEveryKeyCanBeSetFromTheEnvironment walks the configuration's keys, as
// the README promises ("any key can be overridden from the environment"),
// and sets each one through its LIANMENG_ name: none may be of a type the
// environment cannot express.
func TestEveryKeyCanBeSetFromTheEnvironment(t *testing.T) {
	durationType := reflect.TypeOf(config.Duration(0))
	var walk func(typ reflect.Type, name string)
	n := 0
	walk = func(typ reflect.Type, name string) {
		for i := 0; i < typ.NumField(); i++ {
			f := typ.Field(i)
			tag := strings.Split(f.Tag.Get("yaml"), ",")[0]
			if tag == "" || tag == "-" {
				continue
			}
			env := name + "_" + strings.ToUpper(tag)
			if f.Type.Kind() == reflect.Struct && f.Type != durationType {
				walk(f.Type, env)
				continue
			}
			var v string
			switch {
			case f.Type == durationType:
				v = "3s"
			case f.Type.Kind() == reflect.Bool:
				v = "true"
			case f.Type.Kind() == reflect.Int, f.Type.Kind() == reflect.Int64:
				v = "7"
			case f.Type.Kind() == reflect.Slice, f.Type.Kind() == reflect.Map:
				v = "[]"
			default:
				v = "some-value-0123456789"
			}
			n++
			// The value may be refused by validation (a driver named
			// "some-value..."), but never for its type.
			_, err := config.Load("", []string{env + "=" + v})
			if err != nil && strings.Contains(err.Error(), "cannot be set from the environment") {
				t.Errorf("%s: %v", env, err)
			}
		}
	}
	walk(reflect.TypeOf(config.Config{}), "LIANMENG")
	if n < 30 {
		t.Fatalf("walked only %d keys", n)
	}
}
