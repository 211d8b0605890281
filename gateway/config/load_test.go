package config_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/gateway/config"
)

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// loadErr loads yaml (if not empty) with env and returns the error, which
// must exist and be one line containing every want.
func loadErr(t *testing.T, yaml string, env []string, want ...string) {
	t.Helper()
	path := ""
	if yaml != "" {
		path = writeFile(t, "lianmeng.yaml", yaml)
	}
	_, err := config.Load(path, env)
	if err == nil {
		t.Fatalf("Load accepted yaml %q env %q", yaml, env)
	}
	msg := err.Error()
	if strings.Contains(msg, "\n") {
		t.Errorf("error is not one line: %q", msg)
	}
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("error %q does not mention %q", msg, w)
		}
	}
}

func TestEmbeddedDefaultFileMatchesDefault(t *testing.T) {
	cfg, err := config.Load("../../configs/lianmeng.yaml", nil)
	if err != nil {
		t.Fatalf("configs/lianmeng.yaml: %v", err)
	}
	if !reflect.DeepEqual(cfg, config.Default()) {
		t.Fatalf("configs/lianmeng.yaml and config.Default() differ:\nfile    %+v\ndefault %+v", cfg, config.Default())
	}
	noFile, err := config.Load("", nil)
	if err != nil || !reflect.DeepEqual(noFile, config.Default()) {
		t.Fatalf("Load without a file: %v", err)
	}
	empty, err := config.Load(writeFile(t, "empty.yaml", "# nothing\n"), nil)
	if err != nil || !reflect.DeepEqual(empty, config.Default()) {
		t.Fatalf("Load of an empty file: %v", err)
	}
}

func TestFileErrors(t *testing.T) {
	t.Run("unknown_key", func(t *testing.T) {
		loadErr(t, "listen: 127.0.0.1:1\nlisten_addr: x\n", nil, "listen_addr", "line 2")
	})
	t.Run("unknown_nested_key", func(t *testing.T) {
		loadErr(t, "database:\n  drvier: sqlite\n", nil, "drvier")
	})
	t.Run("bad_duration", func(t *testing.T) {
		loadErr(t, "http:\n  read_timeout: 10 seconds\n", nil, "10 seconds", "not a duration", "line 2")
	})
	t.Run("bad_driver", func(t *testing.T) {
		loadErr(t, "database:\n  driver: postgres\n", nil, "database.driver", "postgres")
	})
	t.Run("short_operator_token", func(t *testing.T) {
		loadErr(t, "operator:\n  token: short\n", nil, "operator.token", "16")
	})
	t.Run("wrong_type", func(t *testing.T) {
		loadErr(t, "http:\n  body_limit: lots\n", nil, "lots")
	})
	t.Run("bad_log_level", func(t *testing.T) {
		loadErr(t, "log:\n  level: verbose\n", nil, "log.level", "verbose")
	})
	t.Run("bad_expiry_policy", func(t *testing.T) {
		loadErr(t, "points:\n  expiry_policy: keep\n", nil, "points.expiry_policy")
	})
	t.Run("plugin_without_checksum", func(t *testing.T) {
		loadErr(t, "plugins:\n  - name: pos\n    kind: pos_adapter\n    path: /usr/bin/pos\n", nil, "sha256", "pos")
	})
	t.Run("duplicate_plugin", func(t *testing.T) {
		loadErr(t, "plugins:\n  - {name: a, kind: earning_rule, path: 'builtin:a'}\n  - {name: a, kind: earning_rule, path: 'builtin:a'}\n", nil, "duplicate")
	})
	t.Run("three_referral_levels", func(t *testing.T) {
		loadErr(t, "rules:\n  referral:\n    levels_permille: [100, 50, 25]\n    monthly_cap_points: 1000\n", nil, "rules.referral", "at most 2 levels")
	})
	t.Run("uncapped_referral", func(t *testing.T) {
		loadErr(t, "rules:\n  referral:\n    levels_permille: [100]\n", nil, "rules.referral", "monthly_cap_points")
	})
	t.Run("missing_file", func(t *testing.T) {
		_, err := config.Load(filepath.Join(t.TempDir(), "nope.yaml"), nil)
		if err == nil || !strings.Contains(err.Error(), "nope.yaml") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("not_yaml", func(t *testing.T) {
		loadErr(t, "listen: [\n", nil, "config")
	})
}

func TestEnvironmentOverrides(t *testing.T) {
	file := writeFile(t, "c.yaml", "listen: 127.0.0.1:9000\ndatabase:\n  driver: sqlite\n  dsn: from-file.db\n")
	cfg, err := config.Load(file, []string{
		"LIANMENG_LISTEN=0.0.0.0:8443",
		"LIANMENG_DATABASE_DRIVER=mysql",
		"LIANMENG_DATABASE_DSN=u:p@tcp(db:3306)/lm",
		"LIANMENG_DATABASE_MIGRATE_ON_START=false",
		"LIANMENG_DATABASE_MAX_OPEN_CONNS=7",
		"LIANMENG_DATABASE_SQLITE_CACHE_MIB=512",
		"LIANMENG_HTTP_READ_TIMEOUT=3s",
		"LIANMENG_HTTP_BODY_LIMIT=2048",
		"LIANMENG_AUTH_CLOCK_SKEW=90s",
		"LIANMENG_POINTS_EXPIRY_POLICY=breakage",
		"LIANMENG_OPERATOR_TOKEN=env-token-0123456789",
		"PATH=/usr/bin",          // not ours
		"LIANMENG_UNRELATED=1",   // no such key: ignored
		"LIANMENG_LISTENX=bogus", // not a prefix match
		"malformed",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		name      string
		got, want any
	}{
		{"listen", cfg.Listen, "0.0.0.0:8443"},
		{"driver", cfg.Database.Driver, "mysql"},
		{"dsn", cfg.Database.DSN.Reveal(), "u:p@tcp(db:3306)/lm"},
		{"migrate_on_start", cfg.Database.MigrateOnStart, false},
		{"max_open_conns", cfg.Database.MaxOpenConns, 7},
		{"sqlite_cache_mib", cfg.Database.SQLiteCacheMiB, 512},
		{"read_timeout", cfg.HTTP.ReadTimeout.D(), 3 * time.Second},
		{"body_limit", cfg.HTTP.BodyLimit, 2048},
		{"clock_skew", cfg.Auth.ClockSkew.D(), 90 * time.Second},
		{"expiry_policy", cfg.Points.ExpiryPolicy, "breakage"},
		{"operator token", cfg.Operator.Token.Reveal(), "env-token-0123456789"},
		{"untouched", cfg.HTTP.WriteTimeout.D(), 10 * time.Second},
	}
	for _, w := range want {
		if !reflect.DeepEqual(w.got, w.want) {
			t.Errorf("%s = %v, want %v", w.name, w.got, w.want)
		}
	}
}

func TestEnvironmentErrors(t *testing.T) {
	for _, tc := range []struct{ env, want string }{
		{"LIANMENG_DATABASE_MIGRATE_ON_START=maybe", "LIANMENG_DATABASE_MIGRATE_ON_START"},
		{"LIANMENG_DATABASE_MAX_OPEN_CONNS=many", "LIANMENG_DATABASE_MAX_OPEN_CONNS"},
		{"LIANMENG_DATABASE_SQLITE_CACHE_MIB=4", "database.sqlite_cache_mib"},
		{"LIANMENG_HTTP_BODY_LIMIT=1MB", "LIANMENG_HTTP_BODY_LIMIT"},
		{"LIANMENG_HTTP_READ_TIMEOUT=10", "LIANMENG_HTTP_READ_TIMEOUT"},
		{"LIANMENG_AUTH_CLOCK_SKEW=-5m", "auth.clock_skew"},
		{"LIANMENG_DATABASE_DRIVER=oracle", "database.driver"},
		{"LIANMENG_OPERATOR_TOKEN=short", "operator.token"},
		{"LIANMENG_DATABASE_DSN=", "database.dsn"},
	} {
		t.Run(strings.SplitN(tc.env, "=", 2)[0], func(t *testing.T) {
			loadErr(t, "", []string{tc.env}, tc.want)
		})
	}
}

func TestSecretFiles(t *testing.T) {
	tokenFile := writeFile(t, "token", "  file-token-0123456789\n")
	dsnFile := writeFile(t, "dsn", "root:pw@tcp(127.0.0.1:3306)/lm\n")

	t.Run("env_FILE", func(t *testing.T) {
		cfg, err := config.Load("", []string{
			"LIANMENG_OPERATOR_TOKEN_FILE=" + tokenFile,
			"LIANMENG_DATABASE_DSN_FILE=" + dsnFile,
		})
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Operator.Token.Reveal() != "file-token-0123456789" || cfg.Database.DSN.Reveal() != "root:pw@tcp(127.0.0.1:3306)/lm" {
			t.Fatalf("token %q dsn %q", cfg.Operator.Token.Reveal(), cfg.Database.DSN.Reveal())
		}
	})
	t.Run("env_FILE_missing", func(t *testing.T) {
		loadErr(t, "", []string{"LIANMENG_OPERATOR_TOKEN_FILE=/nonexistent/token"}, "LIANMENG_OPERATOR_TOKEN_FILE")
	})
	t.Run("yaml_file", func(t *testing.T) {
		cfg, err := config.Load(writeFile(t, "c.yaml", "operator:\n  token: {file: "+tokenFile+"}\n"), nil)
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Operator.Token.Reveal() != "file-token-0123456789" {
			t.Fatalf("token %q", cfg.Operator.Token.Reveal())
		}
	})
	t.Run("yaml_file_missing", func(t *testing.T) {
		loadErr(t, "operator:\n  token: {file: /nonexistent/token}\n", nil, "line 2", "secret file")
	})
	t.Run("yaml_file_empty_path", func(t *testing.T) {
		loadErr(t, "operator:\n  token: {path: x}\n", nil, "line 2", "{file: path}")
	})
	t.Run("env_wins_over_yaml", func(t *testing.T) {
		cfg, err := config.Load(writeFile(t, "c.yaml", "operator:\n  token: yaml-token-0123456789\n"),
			[]string{"LIANMENG_OPERATOR_TOKEN=env-token-0123456789"})
		if err != nil || cfg.Operator.Token.Reveal() != "env-token-0123456789" {
			t.Fatalf("token %q err %v", cfg.Operator.Token.Reveal(), err)
		}
	})
}

func TestSecretsNeverPrint(t *testing.T) {
	secrets := []string{"op-token-SECRET-0123456789", "dbuser:DBPASS-SECRET@tcp(db:3306)/lm", "SIGNING-KEY-SECRET", "PII-KEYS-SECRET", "INDEX-KEY-SECRET"}
	cfg, err := config.Load(writeFile(t, "c.yaml", "database:\n  driver: mysql\n  dsn: "+secrets[1]+"\n"), []string{
		"LIANMENG_OPERATOR_TOKEN=" + secrets[0],
		"LIANMENG_EVIDENCE_SIGNING_KEY=" + secrets[2],
		"LIANMENG_PII_KEYS=" + secrets[3],
		"LIANMENG_PII_INDEX_KEY=" + secrets[4],
	})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Evidence.SigningKey.Reveal() != secrets[2] || cfg.PII.IndexKey.Reveal() != secrets[4] {
		t.Fatal("secrets not loaded")
	}
	var out bytes.Buffer
	fmt.Fprintf(&out, "%v %+v %#v\n", cfg, cfg, cfg)
	fmt.Fprintf(&out, "%v %+v %#v\n", &cfg, &cfg, &cfg)
	fmt.Fprintf(&out, "%s %q %x %d %t\n", cfg.Operator.Token, cfg.Operator.Token, cfg.Operator.Token, cfg.Operator.Token, cfg.Operator.Token)
	fmt.Fprint(&out, cfg.Database, cfg.Operator.Token, "\n")
	fmt.Fprintln(&out, cfg.Database.DSN)
	js, _ := json.Marshal(cfg)
	out.Write(js)
	slog.New(slog.NewJSONHandler(&out, nil)).Info("config", "cfg", cfg, "token", cfg.Operator.Token)
	slog.New(slog.NewTextHandler(&out, nil)).Info("config", "cfg", cfg, "token", cfg.Operator.Token)
	for _, s := range secrets {
		for _, part := range []string{s, strings.SplitN(s, "@", 2)[0]} {
			if strings.Contains(out.String(), part) {
				t.Errorf("secret %q printed:\n%s", part, out.String())
			}
		}
	}
	if !strings.Contains(out.String(), "******") {
		t.Error("secrets are not shown masked")
	}
	if config.Secret("").String() != "" {
		t.Error("an empty secret should print empty (so 'not set' is visible)")
	}
}

// rules.referral.effective_from reads an RFC 3339 time from the file or
// the environment; empty is at once (the zero time).
func TestReferralEffectiveFrom(t *testing.T) {
	cfg, err := config.Load(writeFile(t, "c.yaml", "rules:\n  referral:\n    levels_permille: [100]\n    monthly_cap_points: 10\n    effective_from: 2027-02-01T00:00:00+08:00\n"), nil)
	if err != nil || !cfg.Rules.Referral.EffectiveFrom.Equal(time.Date(2027, 1, 31, 16, 0, 0, 0, time.UTC)) {
		t.Fatalf("from the file: %v %v", cfg.Rules.Referral.EffectiveFrom, err)
	}
	cfg, err = config.Load(writeFile(t, "c.yaml", "rules:\n  referral:\n    effective_from:\n"), []string{"LIANMENG_RULES_REFERRAL_EFFECTIVE_FROM=2027-03-01T00:00:00Z"})
	if err != nil || !cfg.Rules.Referral.EffectiveFrom.Equal(time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("from the environment: %v %v", cfg.Rules.Referral.EffectiveFrom, err)
	}
	if cfg, err := config.Load(writeFile(t, "c.yaml", "rules:\n  referral:\n    effective_from:\n"), nil); err != nil || !cfg.Rules.Referral.EffectiveFrom.IsZero() {
		t.Fatalf("empty: %v %v", cfg.Rules.Referral.EffectiveFrom, err)
	}
	loadErr(t, "", []string{"LIANMENG_RULES_REFERRAL_EFFECTIVE_FROM=tomorrow"}, "LIANMENG_RULES_REFERRAL_EFFECTIVE_FROM", "RFC 3339")
}
