//go:build faults

package faults

import (
	"bufio"
	"fmt"
	"html"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/gateway/store"
)

// sample is one soak measurement of the gateway process and its database.
type sample struct {
	At         time.Duration
	RSSMiB     float64
	HeapMiB    float64
	Goroutines float64
	OpenFiles  float64
	DBConns    float64
	Acked      int64
}

// TestSoak (FAULTS_SOAK=30m, not in CI) runs the mixed load against one
// gateway on a private MariaDB for that long, sampling the gateway's
// resident memory, heap in use, goroutines and open files, and the
// database's connections every FAULTS_SOAK_EVERY (10s); it writes
// soak.csv and soak.svg to FAULTS_SOAK_OUT and fails on growth: the last
// quarter's median against the first quarter's (after a one-minute
// warm-up) may not exceed +20% (+20 absolute) for goroutines, open files
// and connections, or twice the heap.
func TestSoak(t *testing.T) {
	dur, err := time.ParseDuration(os.Getenv("FAULTS_SOAK"))
	if err != nil || dur <= 0 {
		t.Skip("set FAULTS_SOAK=30m to run the soak")
	}
	every := 10 * time.Second
	if d, err := time.ParseDuration(os.Getenv("FAULTS_SOAK_EVERY")); err == nil && d > 0 {
		every = d
	}
	out := os.Getenv("FAULTS_SOAK_OUT")
	if out == "" {
		out = t.TempDir()
	}
	sz := sizes()
	m := startMariaDB(t)
	dsn := privateDatabase(t, m, "soak")
	metricsPort := freePort(t)
	g := newGateway(t, "gateway", t.TempDir(), gatewayEnv(store.MySQL, dsn, fmt.Sprintf("LIANMENG_METRICS_LISTEN=127.0.0.1:%d", metricsPort)))
	g.start()
	admin := openMySQL(t, m.dsn(""))
	l := newLoad(t, runID("s"), []string{g.base()}, sz.merchants, sz.members, g.signinCode)
	clients := sz.clients
	if n, err := strconv.Atoi(os.Getenv("FAULTS_SOAK_CLIENTS")); err == nil && n > 0 {
		clients = n // fewer clients, a gentler rate on a shared machine
	}
	l.start(clients)
	t.Logf("soak: %s, %d clients, sampled every %s", dur, clients, every)
	start := time.Now()
	var samples []sample
	for time.Since(start) < dur {
		time.Sleep(every)
		s := sample{At: time.Since(start), Acked: l.acked.Load()}
		met := scrape(fmt.Sprintf("http://127.0.0.1:%d/metrics", metricsPort))
		s.RSSMiB = met["process_resident_memory_bytes"] / (1 << 20)
		s.HeapMiB = met["go_memstats_heap_inuse_bytes"] / (1 << 20)
		s.Goroutines = met["go_goroutines"]
		s.OpenFiles = met["process_open_fds"]
		admin.QueryRow("SELECT COUNT(*) FROM information_schema.processlist WHERE db = 'soak'").Scan(&s.DBConns)
		samples = append(samples, s)
		t.Logf("soak %s: rss %.0f MiB, heap %.0f MiB, goroutines %.0f, open files %.0f, db connections %.0f, acknowledged %d",
			s.At.Round(time.Second), s.RSSMiB, s.HeapMiB, s.Goroutines, s.OpenFiles, s.DBConns, s.Acked)
	}
	l.halt()
	l.check(t, store.MySQL, dsn, g)
	l.report("soak", "mariadb-private", 0, nil).emit(t)
	g.stop()
	if err := writeSoak(out, samples, dur); err != nil {
		t.Error(err)
	}
	t.Logf("soak chart: %s", filepath.Join(out, "soak.svg"))

	// Growth: first quarter after the warm-up against the last quarter.
	var steady []sample
	for _, s := range samples {
		if s.At >= time.Minute || dur < 4*time.Minute {
			steady = append(steady, s)
		}
	}
	if len(steady) < 8 {
		t.Logf("too few samples (%d) to judge growth", len(steady))
		return
	}
	q := len(steady) / 4
	first, last := steady[:q], steady[len(steady)-q:]
	for _, c := range []struct {
		name  string
		get   func(sample) float64
		limit func(float64) float64
	}{
		{"goroutines", func(s sample) float64 { return s.Goroutines }, func(v float64) float64 { return v*1.2 + 20 }},
		{"open files", func(s sample) float64 { return s.OpenFiles }, func(v float64) float64 { return v*1.2 + 20 }},
		{"database connections", func(s sample) float64 { return s.DBConns }, func(v float64) float64 { return v*1.2 + 20 }},
		{"heap in use (MiB)", func(s sample) float64 { return s.HeapMiB }, func(v float64) float64 { return v * 2 }},
	} {
		a, b := median(first, c.get), median(last, c.get)
		t.Logf("GROWTH %s: %.1f -> %.1f", c.name, a, b)
		if b > c.limit(a) {
			t.Errorf("%s grew from %.1f to %.1f over the soak", c.name, a, b)
		}
	}
}

func median(ss []sample, get func(sample) float64) float64 {
	v := make([]float64, len(ss))
	for i, s := range ss {
		v[i] = get(s)
	}
	sort.Float64s(v)
	return v[len(v)/2]
}

// scrape reads the unlabelled samples of a Prometheus text page.
func scrape(url string) map[string]float64 {
	out := map[string]float64{}
	resp, err := http.Get(url)
	if err != nil {
		return out
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 2 && !strings.HasPrefix(f[0], "#") && !strings.Contains(f[0], "{") {
			if v, err := strconv.ParseFloat(f[1], 64); err == nil {
				out[f[0]] = v
			}
		}
	}
	return out
}

// writeSoak writes the samples as CSV and as an SVG chart: one panel per
// series, each on its own scale from zero.
func writeSoak(dir string, ss []sample, dur time.Duration) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var csv strings.Builder
	csv.WriteString("seconds,rss_mib,heap_mib,goroutines,open_files,db_connections,acknowledged\n")
	for _, s := range ss {
		fmt.Fprintf(&csv, "%.0f,%.1f,%.1f,%.0f,%.0f,%.0f,%d\n", s.At.Seconds(), s.RSSMiB, s.HeapMiB, s.Goroutines, s.OpenFiles, s.DBConns, s.Acked)
	}
	if err := os.WriteFile(filepath.Join(dir, "soak.csv"), []byte(csv.String()), 0o644); err != nil {
		return err
	}
	series := []struct {
		name string
		get  func(sample) float64
	}{
		{"resident memory (MiB)", func(s sample) float64 { return s.RSSMiB }},
		{"heap in use (MiB)", func(s sample) float64 { return s.HeapMiB }},
		{"goroutines", func(s sample) float64 { return s.Goroutines }},
		{"open files", func(s sample) float64 { return s.OpenFiles }},
		{"database connections", func(s sample) float64 { return s.DBConns }},
	}
	const w, ph, pad = 720.0, 110.0, 40.0
	h := pad + float64(len(series))*(ph+30)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" font-family="sans-serif" font-size="12">`+"\n", w, h)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/><text x="10" y="20" font-size="14">Lianmeng soak: %s of mixed load, sampled every %s</text>`+"\n",
		html.EscapeString(dur.String()), html.EscapeString(sampleEvery(ss).String()))
	total := dur.Seconds()
	if len(ss) > 0 {
		total = max(total, ss[len(ss)-1].At.Seconds())
	}
	fmt.Fprintf(&b, `<text x="60" y="%.0f">0 s</text><text x="%.0f" y="%.0f" text-anchor="end">%.0f s</text>`+"\n", h-8, w-20, h-8, total)
	for i, se := range series {
		top := pad + float64(i)*(ph+30)
		maxV := 0.0
		for _, s := range ss {
			maxV = max(maxV, se.get(s))
		}
		if maxV == 0 {
			maxV = 1
		}
		fmt.Fprintf(&b, `<text x="10" y="%.0f">%s (max %.1f)</text>`+"\n", top-4, html.EscapeString(se.name), maxV)
		fmt.Fprintf(&b, `<rect x="60" y="%.0f" width="%.0f" height="%.0f" fill="none" stroke="#999"/>`+"\n", top, w-80, ph)
		fmt.Fprintf(&b, `<text x="55" y="%.0f" text-anchor="end">%.0f</text><text x="55" y="%.0f" text-anchor="end">0</text>`+"\n", top+10, maxV, top+ph)
		var pts []string
		for _, s := range ss {
			x := 60 + (w-80)*s.At.Seconds()/total
			y := top + ph - ph*se.get(s)/maxV
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x, y))
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="#1f77b4" stroke-width="1.5" points="%s"/>`+"\n", strings.Join(pts, " "))
	}
	b.WriteString("</svg>\n")
	return os.WriteFile(filepath.Join(dir, "soak.svg"), []byte(b.String()), 0o644)
}

func sampleEvery(ss []sample) time.Duration {
	if len(ss) < 2 {
		return 0
	}
	return ((ss[len(ss)-1].At - ss[0].At) / time.Duration(len(ss)-1)).Round(time.Second)
}
