package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/gateway/config"
	"github.com/lianmeng/lianmeng/gateway/internal/eventually"
	"github.com/lianmeng/lianmeng/gateway/points"
	"github.com/lianmeng/lianmeng/gateway/store"
)

// runDemo starts demo and returns its address, its printed guide and a
// stop function that returns demo's result.
func runDemo(t *testing.T, o demoOptions) (base, guide string, stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncBuffer{}
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- demo(ctx, o, out, io.Discard, ready) }()
	select {
	case addr := <-ready:
		base = "http://" + addr
	case err := <-done:
		cancel()
		t.Fatalf("demo: %v\n%s", err, out.String())
	case <-time.After(2 * time.Minute):
		cancel()
		t.Fatal("demo did not start in 2 minutes")
	}
	return base, out.String(), func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(time.Minute):
			t.Fatal("demo did not stop within a minute of its signal")
			return nil
		}
	}
}

// lianmeng demo: the sample alliance is seeded through the domain over
// the simulated days, every page is served with something to show (the
// history has a snapshot per day, four merchants of four industries, one
// with a scheduled rule change), the printed staff logins, operator token
// and members' phones work, the ledger passes every invariant, it stops
// cleanly on its signal, reuses a kept database, and removes a temporary
// one.
func TestDemo(t *testing.T) {
	const days = 10 // more than the release delay: members redeem
	data := t.TempDir()
	t.Setenv(reexecEnv, "1") // this test binary serves builtin:sandbox
	base, guide, stop := runDemo(t, demoOptions{listen: "127.0.0.1:0", data: data, days: days, seed: 7, pluginEnv: []string{reexecEnv}})
	for path, want := range map[string]string{"/": "联盟透明度", "/member": "我的积分", "/operator": "运营后台", "/merchant/login": "Staff sign-in"} {
		if code, body := get(t, base+path); code != 200 || !strings.Contains(body, want) {
			t.Errorf("%s: %d", path, code)
		}
	}
	var hist struct{ Days []points.DaySnapshot }
	_, body := get(t, base+"/v1/public/history?days=30")
	if err := json.Unmarshal([]byte(body), &hist); err != nil {
		t.Fatal(err)
	}
	want := days
	if now := time.Now().In(points.DayZone); now.Hour() == 0 && now.Minute() < 10 {
		want-- // yesterday has not settled yet
	}
	var issued, redeemed int64
	for _, d := range hist.Days {
		issued, redeemed = issued+d.IssuedPoints, redeemed+d.RedeemedPoints
		if !d.Covered {
			t.Errorf("%s not covered: %+v", d.Day, d)
		}
	}
	if len(hist.Days) != want || issued == 0 || redeemed == 0 {
		t.Errorf("history: %d days (want %d), %d issued, %d redeemed", len(hist.Days), want, issued, redeemed)
	}
	if code, svg := get(t, base+"/charts/points.svg"); code != 200 || !strings.Contains(svg, "<rect") {
		t.Errorf("points chart: %d", code)
	}
	var ms struct {
		Merchants []struct {
			ID, Industry string
			Scheduled    *struct{ Version int64 }
		}
	}
	_, body = get(t, base+"/v1/public/merchants")
	if err := json.Unmarshal([]byte(body), &ms); err != nil {
		t.Fatal(err)
	}
	industries, scheduled := map[string]string{}, 0
	for _, m := range ms.Merchants {
		industries[m.Industry] = m.ID
		if m.Scheduled != nil {
			scheduled++
		}
	}
	if len(industries) != 4 || scheduled != 1 {
		t.Errorf("merchants %+v: want four industries, one scheduled change", ms)
	}

	// The guide's logins: staff, operator, member.
	for _, m := range industries {
		if !strings.Contains(guide, m) {
			t.Errorf("the guide does not list merchant %s:\n%s", m, guide)
		}
	}
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := hc.PostForm(base+"/merchant/login", url.Values{"merchant": {industries["hotel"]}, "login": {"owner"}, "password": {demoPassword}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 303 || resp.Header.Get("Location") != "/merchant" {
		t.Errorf("owner sign-in with the printed password: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	tok := regexp.MustCompile(`token: (\S+)`).FindStringSubmatch(guide)
	if tok == nil {
		t.Fatalf("no operator token in the guide:\n%s", guide)
	}
	req, _ := http.NewRequest("GET", base+"/v1/operator/totals", nil)
	req.Header.Set("Authorization", "Bearer "+tok[1])
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Errorf("operator token from the guide: %v %v", resp, err)
	}
	// The served gateway has the sandbox channel, so the console can top up.
	eventually.True(t, 30*time.Second, "the sandbox channel up in the served demo", func() bool {
		req, _ := http.NewRequest("GET", base+"/v1/operator/plugins", nil)
		req.Header.Set("Authorization", "Bearer "+tok[1])
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var ps struct {
			Plugins []struct{ Name, Kind, State string }
		}
		if resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(&ps) != nil {
			return false
		}
		for _, p := range ps.Plugins {
			if p.Name == "sandbox" && p.Kind == "payment_channel" && p.State == "up" {
				return true
			}
		}
		return false
	})
	resp, err = http.Post(base+"/v1/member/signin", "application/json", strings.NewReader(`{"phone":"13900000001"}`))
	if err != nil || resp.StatusCode != 202 {
		t.Errorf("member sign-in for a printed phone: %v %v", resp, err)
	}
	if err := stop(); err != nil {
		t.Fatalf("demo stopped with %v", err)
	}

	// The kept ledger passes every invariant, and a second run reuses it.
	cfg := config.Default()
	cfg.Database.DSN = config.Secret(filepath.Join(data, "lianmeng.db"))
	db, err := openStore(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	vs, err := db.CheckInvariants(context.Background(), 1, nil)
	// Every budget was funded through the sandbox channel: five paid
	// orders (four first top-ups, one later), each credited by its
	// notification (a channel transaction, not a direct funding).
	var paid, credited, direct int
	_ = db.R.GetContext(context.Background(), &paid, `SELECT COUNT(*) FROM funding_orders WHERE channel = 'sandbox' AND status = 'succeeded'`)
	_ = db.R.GetContext(context.Background(), &credited, `SELECT COUNT(*) FROM funding_orders WHERE channel = 'sandbox' AND fund_tx_id > 0`)
	_ = db.R.GetContext(context.Background(), &direct, `SELECT COUNT(*) FROM funding_orders WHERE channel <> 'sandbox'`)
	if paid != 5 || credited != 5 || direct != 0 {
		t.Errorf("funding orders: %d paid, %d credited, %d on another channel; want 5, 5, 0", paid, credited, direct)
	}
	db.Close()
	if err != nil || len(vs) > 0 {
		t.Fatalf("invariants: %v %v", vs, err)
	}
	_, guide2, stop2 := runDemo(t, demoOptions{listen: "127.0.0.1:0", data: data, days: days, seed: 7})
	if !strings.Contains(guide2, "Using the alliance already in "+data) {
		t.Errorf("second run:\n%s", guide2)
	}
	if err := stop2(); err != nil {
		t.Fatal(err)
	}

	// Without --data: a temporary directory, removed on exit.
	_, guide3, stop3 := runDemo(t, demoOptions{listen: "127.0.0.1:0", days: 2, seed: 1})
	dir := regexp.MustCompile(`days in (\S+) \.\.\.`).FindStringSubmatch(guide3)
	if err := stop3(); err != nil || dir == nil {
		t.Fatalf("temporary run: %v\n%s", err, guide3)
	}
	if _, err := os.Stat(dir[1]); !os.IsNotExist(err) {
		t.Errorf("the temporary directory %s is still there: %v", dir[1], err)
	}
	_ = store.SQLite
}
