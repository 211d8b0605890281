package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/gateway/internal/eventually"
)

// TestServeMemberSignInWithDevSender signs a phone in end to end through
// the real serve with members.sender: dev, reading the code from the log
// as a developer would. The phone is no member yet, so the right code
// answers unknown_member; a wrong one signin_code_invalid.
func TestServeMemberSignInWithDevSender(t *testing.T) {
	addr, logs, cancel, done := startServe(t, testConfig(t))
	defer func() { cancel(); <-done }()
	if !strings.Contains(logs.String(), "members.sender is dev") {
		t.Errorf("no warning that codes are only logged:\n%s", logs.String())
	}
	post := func(path, body string) (int, map[string]any) {
		t.Helper()
		resp, err := http.Post("http://"+addr+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	status, out := post("/v1/member/signin", `{"phone":"13800138000"}`)
	if status != 202 || out["expires_at"] == nil {
		t.Fatalf("signin: %d %v", status, out)
	}
	var code string
	eventually.True(t, 10*time.Second, "the code in the log", func() bool {
		for _, line := range strings.Split(logs.String(), "\n") {
			if strings.Contains(line, "purpose=member_signin") {
				for _, f := range strings.Fields(line) {
					if c, ok := strings.CutPrefix(f, "code="); ok {
						code = c
					}
				}
			}
		}
		return code != ""
	})
	wrong := "000000"
	if code == wrong {
		wrong = "000001"
	}
	errCode := func(out map[string]any) any {
		e, _ := out["error"].(map[string]any)
		return e["code"]
	}
	if status, out := post("/v1/member/signin/verify", `{"phone":"13800138000","code":"`+wrong+`"}`); status != 401 || errCode(out) != "signin_code_invalid" {
		t.Fatalf("wrong code: %d %v", status, out)
	}
	if status, out := post("/v1/member/signin/verify", `{"phone":"13800138000","code":"`+code+`"}`); status != 404 || errCode(out) != "unknown_member" {
		t.Fatalf("right code for a phone with no points: %d %v", status, out)
	}
	if status, out := post("/v1/member/signin", `{"phone":"13800138000"}`); status != 429 || errCode(out) != "code_resend_throttled" {
		t.Fatalf("resend at once: %d %v", status, out)
	}
}
