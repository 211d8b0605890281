package loadgen

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/sdk/client"
	"github.com/lianmeng/lianmeng/sdk/signature"
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

// The generator's hand-written encodings are the ones it replaced: the
// earn body is what json.Marshal writes (also for strings it must escape),
// and a member of the pool is "139" and its number in eight digits.
func TestEarnBodyAndMemberEncodings(t *testing.T) {
	for _, b := range []EarnBody{
		{OrderID: "a1b2c3-0-17", Member: PhoneMember(42), AmountFen: 12345},
		{OrderID: "", Member: Member{Kind: "phone", Value: ""}, AmountFen: 0},
		{OrderID: `q"<>&\` + "\x01é\u2028", Member: Member{Kind: "customer", Value: "x y"}, AmountFen: -1},
	} {
		want, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		if got := b.AppendJSON([]byte("prefix")); string(got) != "prefix"+string(want) {
			t.Errorf("AppendJSON = %s, want %s", got, want)
		}
	}
	for _, i := range []int{0, 7, 42, 99_999, 12_345_678, 99_999_999, 100_000_000, -3} {
		if got, want := PhoneMember(i).Value, "139"+fmt.Sprintf("%08d", i); got != want {
			t.Errorf("PhoneMember(%d) = %s, want %s", i, got, want)
		}
	}
}

// BenchmarkSignedEarnRequest is the generator's own work per earn before
// the network: the body, the request and its signature (HMAC, as bench
// sets the merchants up).
func BenchmarkSignedEarnRequest(b *testing.B) {
	s, err := signature.NewHMACSigner("key_0123456789abcdef0123", "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")
	if err != nil {
		b.Fatal(err)
	}
	c := client.NewMerchant("http://127.0.0.1:8080", "mch_0123456789abcdef0123", s)
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		order := "a1b2c3-0-" + strconv.Itoa(i)
		body := EarnBody{OrderID: order, Member: PhoneMember(i % 100_000), AmountFen: int64(100 + i%50_000)}.AppendJSON(make([]byte, 0, 128))
		if _, err := c.NewRequest(ctx, "POST", "/v1/merchant/earn", body, client.IdempotencyKey(order)); err != nil {
			b.Fatal(err)
		}
	}
}
