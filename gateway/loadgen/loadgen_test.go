package loadgen

import (
	"testing"
	"time"
)

func TestCheckLoopback(t *testing.T) {
	for _, ok := range []string{"http://127.0.0.1:8080", "http://localhost:1", "http://[::1]:80", "http://127.3.4.5"} {
		if err := CheckLoopback(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, bad := range []string{"http://10.0.0.1:8080", "http://example.com", "ftp://127.0.0.1", "127.0.0.1:8080", "http://0.0.0.0:80", ""} {
		if err := CheckLoopback(bad); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

func TestValidateBounds(t *testing.T) {
	good := Config{BaseURL: "http://127.0.0.1:1", Duration: time.Second}
	good.defaults()
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, mut := range map[string]func(*Config){
		"clients":   func(c *Config) { c.Clients = MaxClients + 1 },
		"duration":  func(c *Config) { c.Duration = MaxDuration + 1 },
		"merchants": func(c *Config) { c.Merchants = MaxMerchants + 1 },
		"shape":     func(c *Config) { c.Shape = "wave" },
		"algorithm": func(c *Config) { c.Algorithm = "rsa" },
		"remote":    func(c *Config) { c.BaseURL = "http://192.168.1.1:8080" },
	} {
		c := good
		mut(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: out-of-bounds config accepted", name)
		}
	}
	hot := good
	hot.Shape, hot.Merchants = ShapeHot, 0
	if err := hot.Validate(); err != nil {
		t.Errorf("hot ignores merchants: %v", err)
	}
}

func TestQuantile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	if q := quantile(d, 0.5); q != 50*time.Millisecond {
		t.Errorf("p50 = %v", q)
	}
	if q := quantile(d, 0.99); q != 99*time.Millisecond {
		t.Errorf("p99 = %v", q)
	}
	if q := quantile(nil, 0.99); q != 0 {
		t.Errorf("empty p99 = %v", q)
	}
}
