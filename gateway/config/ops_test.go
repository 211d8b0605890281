package config_test

import (
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/gateway/config"
)

// TestMetricsAndIdempotencyKeys: the metrics listener is on loopback by
// default and can be moved or disabled; idempotency records are kept 30
// days by default and never less than a day.
func TestMetricsAndIdempotencyKeys(t *testing.T) {
	d := config.Default()
	if d.Metrics.Listen != "127.0.0.1:9464" || !d.Metrics.Pprof {
		t.Fatalf("default metrics = %+v", d.Metrics)
	}
	if d.Idempotency.Retention.D() != 30*24*time.Hour {
		t.Fatalf("default idempotency.retention = %s", d.Idempotency.Retention.D())
	}

	cfg, err := config.Load(writeFile(t, "c.yaml", "metrics:\n  listen: 10.0.0.5:9100\n  pprof: false\nidempotency:\n  retention: 48h\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Metrics.Listen != "10.0.0.5:9100" || cfg.Metrics.Pprof || cfg.Idempotency.Retention.D() != 48*time.Hour {
		t.Fatalf("from file: %+v %+v", cfg.Metrics, cfg.Idempotency)
	}
	cfg, err = config.Load("", []string{"LIANMENG_METRICS_LISTEN=", "LIANMENG_IDEMPOTENCY_RETENTION=24h"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Metrics.Listen != "" || cfg.Idempotency.Retention.D() != 24*time.Hour {
		t.Fatalf("from environment: %+v %+v", cfg.Metrics, cfg.Idempotency)
	}
	// The API and the metrics listener may both ask for any free port.
	if _, err := config.Load("", []string{"LIANMENG_LISTEN=127.0.0.1:0", "LIANMENG_METRICS_LISTEN=127.0.0.1:0"}); err != nil {
		t.Fatal(err)
	}

	t.Run("retention_below_a_day", func(t *testing.T) {
		loadErr(t, "idempotency:\n  retention: 23h59m\n", nil, "idempotency.retention", "at least 24h")
		loadErr(t, "", []string{"LIANMENG_IDEMPOTENCY_RETENTION=1h"}, "idempotency.retention", "at least 24h")
		loadErr(t, "", []string{"LIANMENG_IDEMPOTENCY_RETENTION=0s"}, "idempotency.retention")
	})
	t.Run("metrics_listen_not_an_address", func(t *testing.T) {
		loadErr(t, "metrics:\n  listen: localhost\n", nil, "metrics.listen", "host:port")
	})
	t.Run("metrics_listen_is_the_api", func(t *testing.T) {
		loadErr(t, "listen: 127.0.0.1:8080\nmetrics:\n  listen: 127.0.0.1:8080\n", nil, "metrics.listen", "own port")
	})
}
