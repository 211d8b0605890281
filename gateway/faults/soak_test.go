//go:build faults

package faults

import (
	"bufio"
	"fmt"
	"html"
	"io"
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
	HeapMiB    float64 // heap in use: live objects plus garbage not yet collected
	LiveMiB    float64 // heap allocated right after a forced GC: the live heap
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
	metricsPort, pprofPort := freePort(t), freePort(t)
	g := newGateway(t, "gateway", t.TempDir(), gatewayEnv(store.MySQL, dsn, fmt.Sprintf("LIANMENG_METRICS_LISTEN=127.0.0.1:%d", metricsPort),
		fmt.Sprintf("LIANMENG_DEBUG_PPROF_LISTEN=127.0.0.1:%d", pprofPort),
		// Sample one allocation per 4 KiB instead of 512 KiB: the live heap
		// is a few MiB, which the default rate records as a dozen samples.
		"GODEBUG=memprofilerate=4096"))
	pprofBase := fmt.Sprintf("http://127.0.0.1:%d/debug/pprof", pprofPort)
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
	warm := false
	for n := 1; time.Since(start) < dur; n++ {
		// Every interval from the start, however long a sample took (the
		// live heap's forced GC and profile take a moment under load).
		time.Sleep(time.Until(start.Add(time.Duration(n) * every)))
		s := sample{At: time.Since(start), Acked: l.acked.Load()}
		if !warm && (s.At >= warmup || dur < 4*time.Minute) {
			warm = true
			saveHeapProfile(t, pprofBase, filepath.Join(out, "heap-warm.pb.gz"))
		}
		live, err := liveHeap(pprofBase)
		if err != nil {
			t.Errorf("soak %s: %v", s.At.Round(time.Second), err)
		}
		s.LiveMiB = live / (1 << 20)
		met := scrape(fmt.Sprintf("http://127.0.0.1:%d/metrics", metricsPort))
		s.RSSMiB = met["process_resident_memory_bytes"] / (1 << 20)
		s.HeapMiB = met["go_memstats_heap_inuse_bytes"] / (1 << 20)
		s.Goroutines = met["go_goroutines"]
		s.OpenFiles = met["process_open_fds"]
		admin.QueryRow("SELECT COUNT(*) FROM information_schema.processlist WHERE db = 'soak'").Scan(&s.DBConns)
		samples = append(samples, s)
		t.Logf("soak %s: rss %.0f MiB, heap %.0f MiB (live %.1f), goroutines %.0f, open files %.0f, db connections %.0f, acknowledged %d",
			s.At.Round(time.Second), s.RSSMiB, s.HeapMiB, s.LiveMiB, s.Goroutines, s.OpenFiles, s.DBConns, s.Acked)
	}
	saveHeapProfile(t, pprofBase, filepath.Join(out, "heap-end.pb.gz"))
	t.Logf("what grew: go tool pprof -base %s %s -top -inuse_space (after a GC each)",
		filepath.Join(out, "heap-warm.pb.gz"), filepath.Join(out, "heap-end.pb.gz"))
	l.halt()
	l.check(t, store.MySQL, dsn, g)
	l.report("soak", "mariadb-private", 0, nil).emit(t)
	g.stop()
	if err := writeSoak(out, samples, dur); err != nil {
		t.Error(err)
	}
	t.Logf("soak chart: %s", filepath.Join(out, "soak.svg"))

	verdicts, ok := judgeGrowth(samples, dur)
	if !ok {
		t.Logf("too few samples (%d) to judge growth", len(samples))
	} else {
		first, last, _ := quarters(samples, dur)
		rss := func(s sample) float64 { return s.RSSMiB }
		inuse := func(s sample) float64 { return s.HeapMiB }
		t.Logf("CHARTED (not judged) resident memory %.1f -> %.1f MiB, heap in use %.1f -> %.1f MiB (first to last quarter medians)",
			median(first, rss), median(last, rss), median(first, inuse), median(last, inuse))
	}
	for _, v := range verdicts {
		t.Logf("GROWTH %s: %.2f -> %.2f (limit %.2f)", v.name, v.first, v.last, v.limit)
		if v.grew() {
			t.Errorf("%s grew from %.2f to %.2f over the soak (limit %.2f)", v.name, v.first, v.last, v.limit)
		}
	}
}

// growth is one series' first- and last-quarter medians and the most the
// last may be.
type growth struct {
	name               string
	first, last, limit float64
}

func (g growth) grew() bool { return g.last > g.limit }

// judgeGrowth compares the median of the first quarter of the samples
// after the warm-up with that of the last quarter: goroutines, open files
// and database connections may grow by 20% (+20), the live heap (after a
// GC) by 25% (+2 MiB: a few tables the runtime and caches fill once).
// Heap in use and resident memory are charted, not judged: they follow the
// GC cycle and the runtime's page release, not what the gateway holds.
// ok is false with fewer than 8 samples after the warm-up.
func judgeGrowth(samples []sample, dur time.Duration) (out []growth, ok bool) {
	first, last, ok := quarters(samples, dur)
	if !ok {
		return nil, false
	}
	for _, c := range []struct {
		name  string
		get   func(sample) float64
		limit func(float64) float64
	}{
		{"goroutines", func(s sample) float64 { return s.Goroutines }, func(v float64) float64 { return v*1.2 + 20 }},
		{"open files", func(s sample) float64 { return s.OpenFiles }, func(v float64) float64 { return v*1.2 + 20 }},
		{"database connections", func(s sample) float64 { return s.DBConns }, func(v float64) float64 { return v*1.2 + 20 }},
		{"live heap after GC (MiB)", func(s sample) float64 { return s.LiveMiB }, func(v float64) float64 { return v*1.25 + 2 }},
	} {
		a, b := median(first, c.get), median(last, c.get)
		out = append(out, growth{name: c.name, first: a, last: b, limit: c.limit(a)})
	}
	return out, true
}

const warmup = time.Minute

// saveHeapProfile writes the gateway's heap profile, taken right after a
// GC (so it holds live objects only), to path; `go tool pprof -base` of
// two of them shows what the soak grew.
func saveHeapProfile(t testing.TB, base, path string) {
	resp, err := http.Get(base + "/heap?gc=1")
	if err != nil {
		t.Errorf("heap profile: %v", err)
		return
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != 200 {
		err = fmt.Errorf("status %s", resp.Status)
	}
	if err == nil {
		err = os.WriteFile(path, b, 0o644)
	}
	if err != nil {
		t.Errorf("heap profile %s: %v", path, err)
	}
}

// liveHeap is the gateway's heap allocated right after a forced GC (the
// HeapAlloc the text heap profile ends with), in bytes. Unlike heap in
// use, it does not swing with where the GC cycle stands.
func liveHeap(base string) (float64, error) {
	resp, err := http.Get(base + "/heap?gc=1&debug=1")
	if err != nil {
		return 0, fmt.Errorf("live heap: %w", err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "# HeapAlloc = "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	return 0, fmt.Errorf("live heap: no HeapAlloc in %s/heap?debug=1 (%v)", base, sc.Err())
}

// quarters are the first and last quarter of the samples after the
// warm-up (all of them in a soak under 4 minutes); ok is false with fewer
// than 8.
func quarters(samples []sample, dur time.Duration) (first, last []sample, ok bool) {
	var steady []sample
	for _, s := range samples {
		if s.At >= warmup || dur < 4*time.Minute {
			steady = append(steady, s)
		}
	}
	if len(steady) < 8 {
		return nil, nil, false
	}
	q := len(steady) / 4
	return steady[:q], steady[len(steady)-q:], true
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
	csv.WriteString("seconds,rss_mib,heap_mib,live_heap_mib,goroutines,open_files,db_connections,acknowledged\n")
	for _, s := range ss {
		fmt.Fprintf(&csv, "%.0f,%.1f,%.1f,%.2f,%.0f,%.0f,%.0f,%d\n", s.At.Seconds(), s.RSSMiB, s.HeapMiB, s.LiveMiB, s.Goroutines, s.OpenFiles, s.DBConns, s.Acked)
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
		{"live heap after GC (MiB)", func(s sample) float64 { return s.LiveMiB }},
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

// TestJudgeGrowth: a flat soak with GC-cycle noise passes; a live heap,
// goroutines or connections that keep rising fail, even when heap in use
// stays within twice its start (the bound this judgement replaced).
func TestJudgeGrowth(t *testing.T) {
	soak := func(live func(i int) float64, gor func(i int) float64) []sample {
		var ss []sample
		for i := range 180 { // 30 minutes every 10 s
			ss = append(ss, sample{At: time.Duration(i+1) * 10 * time.Second, HeapMiB: 6 + float64(i%7),
				LiveMiB: live(i), Goroutines: gor(i), OpenFiles: 25 + float64(i%3), DBConns: 10 + float64(i%4)})
		}
		return ss
	}
	flat := func(i int) float64 { return 3 + float64(i%5)*0.2 }
	gflat := func(i int) float64 { return 50 + float64(i%6) }
	grew := func(vs []growth) []string {
		var out []string
		for _, v := range vs {
			if v.grew() {
				out = append(out, v.name)
			}
		}
		return out
	}
	for _, c := range []struct {
		name string
		ss   []sample
		want []string
	}{
		{"flat", soak(flat, gflat), nil},
		{"live heap leak", soak(func(i int) float64 { return 3 + float64(i)*0.03 }, gflat), []string{"live heap after GC (MiB)"}},
		{"goroutine leak", soak(flat, func(i int) float64 { return 50 + float64(i)/2 }), []string{"goroutines"}},
		{"early spike only", soak(func(i int) float64 { return 3 + 20*float64(max(0, 3-i)) }, gflat), nil},
	} {
		vs, ok := judgeGrowth(c.ss, 30*time.Minute)
		if !ok {
			t.Fatalf("%s: not judged", c.name)
		}
		if got := grew(vs); strings.Join(got, ",") != strings.Join(c.want, ",") {
			t.Errorf("%s: grew %v, want %v", c.name, got, c.want)
		}
	}
	if _, ok := judgeGrowth(soak(flat, gflat)[:10], 30*time.Minute); ok {
		t.Error("10 samples, 6 of them in the warm-up: judged, want too few")
	}
}
