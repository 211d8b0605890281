package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// dry-run replays a payload through the generic adapter and a connection
// configuration and prints the normalized purchase; a payload the mapping
// cannot read is reported and fails the command.
func TestAdapterDryRun(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	conn := write("conn.json", `{"verify": {"kind": "static_token", "secret": "tok", "header": "X-Token"},
	  "event_id": "string(body.id)",
	  "map": {"order_id": "string(body.id)", "amount_fen": "toMinor(body.total, 'CNY')", "occurred_at": "parseTime(body.at)",
	          "phone": "normPhone(body.phone, 'CN')"}}`)
	good := write("good.json", `{"id": 42, "total": "88.80", "at": "2026-12-01T10:00:00Z", "phone": "13800138000"}`)
	var out, errb bytes.Buffer
	if code := run([]string{"adapter", "dry-run", "--connection", conn, "--header", "X-Token: tok", good}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s %s", code, out.String(), errb.String())
	}
	var res dryRunResult
	if err := json.Unmarshal(out.Bytes(), &res); err != nil || res.Outcome != "accepted" || res.EventID != "42" || len(res.Events) != 1 ||
		res.Events[0].AmountFen != 8880 || res.Events[0].Members[0].Value != "+8613800138000" {
		t.Fatalf("%s %v", out.String(), err)
	}
	bad := write("bad.json", `{"id": 43, "total": "1.001", "at": "2026-12-01T10:00:00Z", "phone": "1"}`)
	out.Reset()
	if code := run([]string{"adapter", "dry-run", "--connection", conn, "--header", "X-Token: tok", bad}, &out, &errb); code == 0 || !strings.Contains(out.String(), "decimal places") {
		t.Fatalf("bad payload: exit %d: %s", code, out.String())
	}
	out.Reset()
	if code := run([]string{"adapter", "dry-run", "--connection", conn, good}, &out, &errb); code != 0 || !strings.Contains(out.String(), `"rejected"`) {
		t.Fatalf("no token: exit %d: %s", code, out.String())
	}
}
