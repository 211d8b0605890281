// Package config loads the gateway's configuration: a YAML file, then
// environment overrides named LIANMENG_<PATH> (for example
// LIANMENG_DATABASE_DSN overrides database.dsn). A list is given whole, as
// JSON (or a YAML flow sequence) with the same fields as in the file, and
// replaces the file's list; an empty value clears it:
//
//	LIANMENG_PLUGINS='[{"name":"restaurant","kind":"earning_rule","path":"builtin:restaurant"}]'
//
// Secret values may instead be read from a file named by
// LIANMENG_<PATH>_FILE or written in YAML as {file: path}, so they need not
// appear in the file or in the process environment listing. Secrets never
// print: Secret.String masks them.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Config is the whole gateway configuration.
type Config struct {
	// Listen is the HTTP listen address.
	Listen      string      `yaml:"listen"`
	Database    Database    `yaml:"database"`
	Log         Log         `yaml:"log"`
	HTTP        HTTP        `yaml:"http"`
	Metrics     Metrics     `yaml:"metrics"`
	Operator    Operator    `yaml:"operator"`
	Auth        Auth        `yaml:"auth"`
	Idempotency Idempotency `yaml:"idempotency"`
	Points      Points      `yaml:"points"`
	Evidence    Evidence    `yaml:"evidence"`
	PII         PII         `yaml:"pii"`
	Plugins     []Plugin    `yaml:"plugins"`
	RateLimits  RateLimits  `yaml:"rate_limits"`
	// Environment is development (the default) or production, which
	// refuses development-only parts (the logging message sender).
	Environment string     `yaml:"environment"`
	Members     Members    `yaml:"members"`
	Rules       Rules      `yaml:"rules"`
	Settlement  Settlement `yaml:"settlement"`
}

// Database selects and tunes the store.
type Database struct {
	// Driver is "sqlite" (embedded, the default) or "mysql" (MySQL/MariaDB).
	Driver string `yaml:"driver"`
	// DSN is a file path for sqlite, a go-sql-driver DSN for mysql.
	DSN Secret `yaml:"dsn"`
	// MigrateOnStart applies pending migrations when serve starts.
	MigrateOnStart bool `yaml:"migrate_on_start"`
	// MaxOpenConns bounds the MySQL pool (sqlite always uses one writer).
	MaxOpenConns int `yaml:"max_open_conns"`
	// SQLiteCacheMiB is the page cache of the SQLite writer in MiB. Every
	// page the writer must read back delays the writes queued behind it,
	// but the cache costs about twice its size in memory, so it pays only
	// where the members' index pages then fit.
	SQLiteCacheMiB int `yaml:"sqlite_cache_mib"`
}

// Log configures the process logger.
type Log struct {
	Level  string `yaml:"level"`  // debug, info, warn, error
	Format string `yaml:"format"` // text or json
}

// HTTP tunes the HTTP server.
type HTTP struct {
	BodyLimit   int      `yaml:"body_limit"` // bytes
	ReadTimeout Duration `yaml:"read_timeout"`
	// WriteTimeout also bounds each request's work: its context ends one
	// second earlier, and what is still waiting for the database then is
	// answered 503 unavailable (api.requestDeadline).
	WriteTimeout    Duration `yaml:"write_timeout"`
	ShutdownTimeout Duration `yaml:"shutdown_timeout"`
}

// Metrics configures the operations listener, apart from the public API.
type Metrics struct {
	// Listen is the address /metrics (Prometheus) and, with Pprof,
	// /debug/pprof/ are served on, unauthenticated: keep it on loopback or
	// a private network. Empty disables the listener.
	Listen string `yaml:"listen"`
	// Pprof serves net/http/pprof under /debug/pprof/ on that listener.
	Pprof bool `yaml:"pprof"`
}

// Operator holds the operator's bootstrap credential.
type Operator struct {
	// Token is the bootstrap credential (Authorization: Bearer <token>): it
	// can only create named operator tokens (POST /v1/operator/tokens),
	// which do everything else. Empty: no bootstrap; named tokens still work.
	Token Secret `yaml:"token"`
}

// MinIdempotencyRetention is the shortest idempotency.retention accepted:
// a client retrying an operation within a day must get its first answer.
const MinIdempotencyRetention = 24 * time.Hour

// Idempotency configures how long Idempotency-Key records are kept.
type Idempotency struct {
	// Retention is how long a write's Idempotency-Key is remembered: a retry
	// within it replays the first answer; after it the record is purged and
	// the key may be used again. At least 24h.
	Retention Duration `yaml:"retention"`
}

// Auth tunes merchant request signing.
type Auth struct {
	// ClockSkew is the accepted distance between a request's timestamp and
	// the gateway's clock.
	ClockSkew Duration `yaml:"clock_skew"`
	// MemberTokenKey MACs member access tokens (hex, 32+ bytes). Set the
	// same key on every instance; unset, a random per-process key is used.
	MemberTokenKey Secret `yaml:"member_token_key"`
}

// Points holds the alliance's published points policy.
type Points struct {
	// FaceValueFen is what one point is worth in fen. Fixed once.
	FaceValueFen int64 `yaml:"face_value_fen"`
	// ReleaseDelay is the return window before earned points become spendable.
	ReleaseDelay Duration `yaml:"release_delay"`
	// Validity is how long released points remain spendable.
	Validity Duration `yaml:"validity"`
	// ExpiryPolicy says where the cash behind expired points goes:
	// "return_to_merchant" or "breakage".
	ExpiryPolicy string `yaml:"expiry_policy"`
	// MaxPointsPerEarn bounds a single earn.
	MaxPointsPerEarn int64 `yaml:"max_points_per_earn"`
	// MaxAmountFen bounds a single purchase amount.
	MaxAmountFen int64 `yaml:"max_amount_fen"`
	// SchedulerInterval is how often release and expiry jobs run.
	SchedulerInterval Duration `yaml:"scheduler_interval"`
	// BatchSize and BatchWait tune the batching writer.
	BatchSize int      `yaml:"batch_size"`
	BatchWait Duration `yaml:"batch_wait"`
	// Writers is how many batches may commit at once on MySQL (0: 2).
	// SQLite always has one writer.
	Writers int `yaml:"writers"`
}

// Evidence configures the tamper-evidence sealer.
type Evidence struct {
	// SigningKey is the SM2 private key (PEM, PKCS#8) that signs checkpoints.
	SigningKey Secret `yaml:"signing_key"`
	// KeyDir is where generated development keys are kept when no signing
	// key is configured. Empty: a "keys" directory beside the SQLite
	// database (data/keys by default), or data/keys with MySQL.
	KeyDir string `yaml:"key_dir"`
	// SealInterval is how often a checkpoint is written (at most; none is
	// written while nothing new was sealed).
	SealInterval Duration `yaml:"seal_interval"`
	// Origin names this log in every checkpoint, e.g.
	// "points.example.com/lianmeng" (no spaces). Keep it stable: verifiers
	// reject checkpoints of another origin.
	Origin string `yaml:"origin"`
	// Settle is how old a ledger transaction must be before it is sealed.
	Settle Duration `yaml:"settle"`
	// CheckpointEvery forces a checkpoint after this many new entries.
	CheckpointEvery int `yaml:"checkpoint_every"`
	// Disabled turns the sealer off in this instance (proofs are still
	// served). Another instance, or a later start, seals what was missed.
	Disabled bool `yaml:"disabled"`
	// AllowKeyChange lets the sealer continue a log whose latest checkpoint
	// was signed by a different key (a deliberate signing-key rotation),
	// with a loud warning. Default false: the sealer refuses to seal, so
	// instances with different keys are noticed.
	AllowKeyChange bool `yaml:"allow_key_change"`
	// PublishedFile is where the sealer remembers, outside the database,
	// the largest checkpoint it published; it refuses to seal a log that
	// does not contain it (docs/evidence.md §13). Empty: published-checkpoint
	// in the key directory. Best on another volume than the database.
	PublishedFile string `yaml:"published_file"`
	// Witnesses receive every checkpoint (C2SP tlog-witness) and cosign it;
	// their cosignatures are published with it (docs/evidence.md §14).
	Witnesses []EvidenceWitness `yaml:"witnesses"`
	// WitnessQuorum is how many witnesses must cosign the latest checkpoint
	// before /readyz stops reporting evidence_witnesses as degraded
	// (0: all configured witnesses).
	WitnessQuorum int `yaml:"witness_quorum"`
}

// EvidenceWitness is one witness: its base URL (POST URL/add-checkpoint)
// and its verifier key ("name+hash+base64", printed by lianmeng witness).
type EvidenceWitness struct {
	URL string `yaml:"url"`
	Key string `yaml:"key"`
}

// PII configures encryption of members' personal identifiers.
type PII struct {
	// Keys are SM4 keys as "id:hex32" entries, comma separated; the first one
	// encrypts new data, all decrypt.
	Keys Secret `yaml:"keys"`
	// IndexKey is the HMAC-SM3 key of the blind index (hex).
	IndexKey Secret `yaml:"index_key"`
	// KeyDir is where development keys are generated when Keys is empty
	// (default: the evidence key directory).
	KeyDir string `yaml:"key_dir"`
}

// Plugin declares one out-of-process plugin.
type Plugin struct {
	// Name identifies the plugin inside the gateway.
	Name string `yaml:"name"`
	// Kind is earning_rule, pos_adapter, payment_channel or message_sender.
	Kind string `yaml:"kind"`
	// Path is an executable path, or builtin:NAME to re-execute the gateway
	// binary serving a first-party plugin.
	Path string `yaml:"path"`
	// SHA256 pins the executable (hex). Required for external binaries.
	SHA256 string `yaml:"sha256"`
	// Config is passed to the plugin's Configure call as JSON.
	Config map[string]any `yaml:"config"`
	// Timeout is the deadline of each call.
	Timeout Duration `yaml:"timeout"`
	// Required plugins must be healthy for /readyz to pass.
	Required bool `yaml:"required"`
	// Env lists host environment variables the plugin may see.
	Env []string `yaml:"env"`
}

// Default returns the built-in defaults, the same as configs/lianmeng.yaml.
func Default() Config {
	return Config{
		Listen:   "127.0.0.1:8080",
		Database: Database{Driver: "sqlite", DSN: "data/lianmeng.db", MigrateOnStart: true, MaxOpenConns: 32, SQLiteCacheMiB: 64},
		Log:      Log{Level: "info", Format: "text"},
		HTTP: HTTP{
			BodyLimit:       1 << 20,
			ReadTimeout:     Duration(10 * time.Second),
			WriteTimeout:    Duration(10 * time.Second),
			ShutdownTimeout: Duration(15 * time.Second),
		},
		Metrics:     Metrics{Listen: "127.0.0.1:9464", Pprof: true},
		Auth:        Auth{ClockSkew: Duration(5 * time.Minute)},
		Idempotency: Idempotency{Retention: Duration(30 * 24 * time.Hour)},
		Points: Points{
			FaceValueFen:      1,
			ReleaseDelay:      Duration(7 * 24 * time.Hour),
			Validity:          Duration(365 * 24 * time.Hour),
			ExpiryPolicy:      "return_to_merchant",
			MaxPointsPerEarn:  10_000_000,
			MaxAmountFen:      100_000_000_00, // 100 million yuan
			SchedulerInterval: Duration(time.Minute),
			BatchSize:         512,
			BatchWait:         Duration(time.Millisecond),
		},
		Evidence: Evidence{SealInterval: Duration(5 * time.Second), Origin: "localhost/lianmeng",
			Settle: Duration(2 * time.Second), CheckpointEvery: 10000},
		RateLimits:  defaultRateLimits(),
		Environment: EnvDevelopment,
		Members:     defaultMembers(),
		Rules:       defaultRules(),
		Settlement:  defaultSettlement(),
	}
}

// Load reads path (if not empty) over the defaults, then applies environment
// overrides from environ (os.Environ() form), then validates.
func Load(path string, environ []string) (Config, error) {
	cfg := Default()
	if path != "" {
		raw, err := os.ReadFile(path)
		if err != nil {
			return Config{}, fmt.Errorf("read config: %w", err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(raw))
		dec.KnownFields(true)
		if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
			return Config{}, fmt.Errorf("config %s: %s", path, oneLine(err))
		}
	}
	env := map[string]string{}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, "LIANMENG_") {
			env[k] = v
		}
	}
	if err := applyEnv(reflect.ValueOf(&cfg).Elem(), "LIANMENG", env); err != nil {
		return Config{}, err
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// Validate reports the first configuration mistake in words that say what to fix.
func (c *Config) Validate() error {
	switch c.Database.Driver {
	case "sqlite", "mysql":
	default:
		return fmt.Errorf("database.driver must be \"sqlite\" or \"mysql\", got %q", c.Database.Driver)
	}
	if c.Database.DSN == "" {
		return errors.New("database.dsn is empty: set a file path (sqlite) or a DSN (mysql)")
	}
	if c.Database.SQLiteCacheMiB < 8 || c.Database.SQLiteCacheMiB > 65536 {
		return fmt.Errorf("database.sqlite_cache_mib must be between 8 and 65536 (MiB), got %d", c.Database.SQLiteCacheMiB)
	}
	if c.Listen == "" {
		return errors.New("listen is empty: set host:port, e.g. 127.0.0.1:8080")
	}
	if c.HTTP.BodyLimit <= 0 {
		return errors.New("http.body_limit must be a positive number of bytes")
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("log.level must be debug, info, warn or error, got %q", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		return fmt.Errorf("log.format must be text or json, got %q", c.Log.Format)
	}
	if err := c.Metrics.validate(c.Listen); err != nil {
		return err
	}
	if c.Idempotency.Retention < Duration(MinIdempotencyRetention) {
		return fmt.Errorf("idempotency.retention is %s: it must be at least 24h (clients retry with the same Idempotency-Key for up to a day); the default is 720h", c.Idempotency.Retention.D())
	}
	if c.Operator.Token != "" && len(c.Operator.Token) < 16 {
		return errors.New("operator.token is too short: use at least 16 characters")
	}
	if c.Auth.ClockSkew <= 0 {
		return errors.New("auth.clock_skew must be positive, e.g. 5m")
	}
	if c.Auth.ClockSkew > Duration(15*time.Minute) {
		return errors.New("auth.clock_skew is at most 15m (nonces are remembered for 16 minutes)")
	}
	p := c.Points
	if p.FaceValueFen <= 0 {
		return errors.New("points.face_value_fen must be a positive integer")
	}
	if p.ReleaseDelay < 0 || p.Validity <= 0 {
		return errors.New("points.release_delay must be >= 0 and points.validity > 0")
	}
	switch p.ExpiryPolicy {
	case "return_to_merchant", "breakage":
	default:
		return fmt.Errorf("points.expiry_policy must be return_to_merchant or breakage, got %q", p.ExpiryPolicy)
	}
	if p.MaxPointsPerEarn <= 0 || p.MaxAmountFen <= 0 {
		return errors.New("points.max_points_per_earn and points.max_amount_fen must be positive")
	}
	if p.BatchSize <= 0 || p.BatchSize > 4096 {
		return errors.New("points.batch_size must be between 1 and 4096")
	}
	if p.SchedulerInterval <= 0 {
		return errors.New("points.scheduler_interval must be positive")
	}
	if err := c.Rules.validate(); err != nil {
		return err
	}
	if err := c.validateMembers(); err != nil {
		return err
	}
	if err := c.RateLimits.validate(c.Database.Driver); err != nil {
		return err
	}
	if err := c.Settlement.validate(); err != nil {
		return err
	}
	seen := map[string]bool{}
	for i, pl := range c.Plugins {
		if pl.Name == "" {
			return fmt.Errorf("plugins[%d].name is empty", i)
		}
		if seen[pl.Name] {
			return fmt.Errorf("plugins[%d]: duplicate plugin name %q", i, pl.Name)
		}
		seen[pl.Name] = true
		switch pl.Kind {
		case "earning_rule", "pos_adapter", "payment_channel", "message_sender":
		default:
			return fmt.Errorf("plugins[%d] (%s).kind must be earning_rule, pos_adapter, payment_channel or message_sender, got %q", i, pl.Name, pl.Kind)
		}
		if pl.Path == "" {
			return fmt.Errorf("plugins[%d] (%s).path is empty: give an executable path or builtin:NAME", i, pl.Name)
		}
		if !strings.HasPrefix(pl.Path, "builtin:") && len(pl.SHA256) != 64 {
			return fmt.Errorf("plugins[%d] (%s).sha256 must be the 64-hex-digit checksum of %s", i, pl.Name, pl.Path)
		}
	}
	return nil
}

func (m Metrics) validate(apiListen string) error {
	if m.Listen == "" {
		return nil
	}
	_, port, err := net.SplitHostPort(m.Listen)
	if err != nil {
		return fmt.Errorf("metrics.listen must be host:port (e.g. 127.0.0.1:9464) or empty to disable it, got %q", m.Listen)
	}
	if port != "0" && m.Listen == apiListen {
		return fmt.Errorf("metrics.listen %s is also listen: give the metrics listener its own port (or leave it empty to disable it)", m.Listen)
	}
	return nil
}

func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}

// applyEnv walks v's fields by yaml tag and overrides them from env.
func applyEnv(v reflect.Value, prefix string, env map[string]string) error {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := strings.Split(f.Tag.Get("yaml"), ",")[0]
		if tag == "" || tag == "-" {
			continue
		}
		name := prefix + "_" + strings.ToUpper(tag)
		fv := v.Field(i)
		if f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeOf(Duration(0)) && f.Type != reflect.TypeOf(time.Time{}) {
			if err := applyEnv(fv, name, env); err != nil {
				return err
			}
			continue
		}
		if fv.Type() == reflect.TypeOf(Secret("")) {
			if path, ok := env[name+"_FILE"]; ok {
				b, err := os.ReadFile(path)
				if err != nil {
					return fmt.Errorf("%s_FILE: %w", name, err)
				}
				fv.SetString(strings.TrimSpace(string(b)))
				continue
			}
		}
		s, ok := env[name]
		if !ok {
			continue
		}
		if err := setFromString(fv, s); err != nil {
			return fmt.Errorf("environment %s: %v", name, err)
		}
	}
	return nil
}

func setFromString(fv reflect.Value, s string) error {
	switch {
	case fv.Type() == reflect.TypeOf(Duration(0)):
		d, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("not a duration (e.g. 5s, 1m): %q", s)
		}
		fv.SetInt(int64(d))
	case fv.Type() == reflect.TypeOf(time.Time{}):
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return fmt.Errorf("not an RFC 3339 time (e.g. 2027-01-01T00:00:00+08:00): %q", s)
		}
		fv.Set(reflect.ValueOf(t))
	case fv.Kind() == reflect.String:
		fv.SetString(s)
	case fv.Kind() == reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("not a boolean: %q", s)
		}
		fv.SetBool(b)
	case fv.Kind() == reflect.Int || fv.Kind() == reflect.Int64:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return fmt.Errorf("not an integer: %q", s)
		}
		fv.SetInt(n)
	case fv.Kind() == reflect.Slice || fv.Kind() == reflect.Map:
		// The whole list, in JSON or YAML flow form, decoded as strictly
		// as the file; an empty value is an empty list.
		nv := reflect.New(fv.Type())
		if strings.TrimSpace(s) != "" {
			dec := yaml.NewDecoder(strings.NewReader(s))
			dec.KnownFields(true)
			if err := dec.Decode(nv.Interface()); err != nil {
				return fmt.Errorf("not a JSON array with the fields of the YAML file's list, e.g. "+
					`[{"name":"restaurant","kind":"earning_rule","path":"builtin:restaurant"}]: %s`, oneLine(err))
			}
		}
		fv.Set(nv.Elem())
	default:
		return fmt.Errorf("cannot be set from the environment")
	}
	return nil
}
