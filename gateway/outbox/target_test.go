package outbox_test

import (
	"bufio"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/gateway/outbox"
)

// fakeDNS answers fixed addresses, so the test needs no network.
type fakeDNS map[string]string

func (f fakeDNS) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	s, ok := f[host]
	if !ok {
		return nil, errors.New("no such host")
	}
	var out []netip.Addr
	for _, a := range strings.Split(s, ",") {
		out = append(out, netip.MustParseAddr(a))
	}
	return out, nil
}

func TestTargetsRefuseSSRF(t *testing.T) {
	dns := fakeDNS{"hooks.example.com": "93.184.216.34", "metadata.example.com": "169.254.169.254", "intranet.example.com": "10.1.2.3",
		"mixed.example.com": "93.184.216.34,192.168.1.1", "v6.example.com": "2606:2800:220:1::1", "ula.example.com": "fd00::1",
		"localhost": "127.0.0.1", "cgnat.example.com": "100.64.0.1"}
	prod := outbox.Targets{Resolver: dns}
	dev := outbox.Targets{Development: true, Resolver: dns}
	for _, c := range []struct {
		url       string
		prod, dev string // "" accepted, else the code
	}{
		{"https://hooks.example.com/lianmeng", "", ""},
		{"https://v6.example.com/x", "", ""},
		{"http://hooks.example.com/lianmeng", outbox.CodeURLInvalid, outbox.CodeURLInvalid},
		{"https://127.0.0.1:8443/x", outbox.CodeURLForbidden, ""},
		{"http://127.0.0.1:8080/x", outbox.CodeURLForbidden, ""},
		{"http://localhost:8080/x", outbox.CodeURLForbidden, ""},
		{"http://[::1]:8080/x", outbox.CodeURLForbidden, ""},
		{"https://[::ffff:127.0.0.1]/x", outbox.CodeURLForbidden, ""},
		{"https://10.0.0.5/x", outbox.CodeURLForbidden, outbox.CodeURLForbidden},
		{"https://intranet.example.com/x", outbox.CodeURLForbidden, outbox.CodeURLForbidden},
		{"https://metadata.example.com/latest", outbox.CodeURLForbidden, outbox.CodeURLForbidden},
		{"https://169.254.169.254/latest", outbox.CodeURLForbidden, outbox.CodeURLForbidden},
		{"https://mixed.example.com/x", outbox.CodeURLForbidden, outbox.CodeURLForbidden},
		{"https://ula.example.com/x", outbox.CodeURLForbidden, outbox.CodeURLForbidden},
		{"https://cgnat.example.com/x", outbox.CodeURLForbidden, outbox.CodeURLForbidden},
		{"https://0.0.0.0/x", outbox.CodeURLForbidden, outbox.CodeURLForbidden},
		{"https://nowhere.example.com/x", outbox.CodeURLInvalid, outbox.CodeURLInvalid},
		{"https://user:pw@hooks.example.com/x", outbox.CodeURLInvalid, outbox.CodeURLInvalid},
		{"ftp://hooks.example.com/x", outbox.CodeURLInvalid, outbox.CodeURLInvalid},
		{"hooks.example.com/x", outbox.CodeURLInvalid, outbox.CodeURLInvalid},
		{"https://hooks.example.com/x#frag", outbox.CodeURLInvalid, outbox.CodeURLInvalid},
		{"https://hooks.example.com/" + strings.Repeat("a", 2100), outbox.CodeURLInvalid, outbox.CodeURLInvalid},
	} {
		for _, env := range []struct {
			name string
			tg   outbox.Targets
			want string
		}{{"production", prod, c.prod}, {"development", dev, c.dev}} {
			err := env.tg.Check(context.Background(), c.url)
			var ue *outbox.URLError
			switch {
			case env.want == "" && err != nil:
				t.Errorf("%s %s: refused: %v", env.name, clipURL(c.url), err)
			case env.want != "" && (!errors.As(err, &ue) || ue.Code != env.want):
				t.Errorf("%s %s: %v, want %s", env.name, clipURL(c.url), err, env.want)
			}
		}
	}
}

func clipURL(s string) string {
	if len(s) > 60 {
		return s[:60] + "..."
	}
	return s
}

// The production client never connects to a loopback address (a name that
// resolved elsewhere at registration cannot be rebound to one), and no
// client follows a redirect.
func TestClientRefusesLoopbackAndRedirects(t *testing.T) {
	var hits, elsewhere atomic.Int32
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { elsewhere.Add(1) }))
	defer target.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		http.Redirect(w, r, target.URL, http.StatusTemporaryRedirect)
	}))
	defer srv.Close()

	_, err := outbox.Targets{}.Client(time.Second).Post(srv.URL, "application/json", strings.NewReader("{}"))
	var ue *outbox.URLError
	if !errors.As(err, &ue) || ue.Code != outbox.CodeURLForbidden || hits.Load() != 0 {
		t.Fatalf("production client to loopback: %v (%d requests arrived)", err, hits.Load())
	}
	_, err = outbox.Targets{Development: true}.Client(time.Second).Post(srv.URL, "application/json", strings.NewReader("{}"))
	if !errors.Is(err, outbox.ErrRedirect) || hits.Load() != 1 || elsewhere.Load() != 0 {
		t.Fatalf("redirect: %v (hits %d, followed %d)", err, hits.Load(), elsewhere.Load())
	}
}

// The signing vectors in the README (section "Webhooks") verify, and Sign
// reproduces them: the Standard Webhooks specification's own vector and one
// delivery signed by two secrets during a rotation.
func TestReadmeSigningVectors(t *testing.T) {
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(raw)
	const begin, end = "<!-- webhooks-signing:begin -->", "<!-- webhooks-signing:end -->"
	i, j := strings.Index(s, begin), strings.Index(s, end)
	if i < 0 || j < i {
		t.Fatalf("README has no %s ... %s section", begin, end)
	}
	var vectors []map[string]string
	var cur map[string]string
	sc := bufio.NewScanner(strings.NewReader(s[i:j]))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "```") {
			if cur != nil {
				vectors = append(vectors, cur)
				cur = nil
			} else {
				cur = map[string]string{}
			}
			continue
		}
		if cur != nil {
			k, v, _ := strings.Cut(line, ": ")
			cur[k] = v
		}
	}
	if len(vectors) < 2 {
		t.Fatalf("%d vectors in the README, want 2", len(vectors))
	}
	for n, v := range vectors {
		var keys [][]byte
		for _, f := range strings.Fields(v["secrets"]) {
			k, err := outbox.ParseSecret(f)
			if err != nil {
				t.Fatalf("vector %d: %v", n, err)
			}
			keys = append(keys, k)
		}
		var sec int64
		for _, c := range v["webhook-timestamp"] {
			sec = sec*10 + int64(c-'0')
		}
		ts := time.Unix(sec, 0)
		body := []byte(v["body"])
		if got := outbox.Sign(keys, v["webhook-id"], ts, body); got != v["webhook-signature"] {
			t.Fatalf("vector %d: Sign gives %q, README says %q", n, got, v["webhook-signature"])
		}
		for _, k := range keys {
			if err := outbox.Verify(k, v["webhook-id"], v["webhook-timestamp"], v["webhook-signature"], body, ts, time.Minute); err != nil {
				t.Fatalf("vector %d: %v", n, err)
			}
		}
		if err := outbox.Verify(keys[0], v["webhook-id"], v["webhook-timestamp"], v["webhook-signature"], append(body, ' '), ts, time.Minute); err == nil {
			t.Fatalf("vector %d: a changed body verifies", n)
		}
	}
}
