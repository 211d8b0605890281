package main

import (
	"strings"
	"testing"
)

// A newcomer's first minute: serve answers / with the transparency page
// (not a JSON 404), serves the member page, the operator console and the
// merchant console's sign-in, and logs where they are.
func TestServePages(t *testing.T) {
	addr, logs, cancel, done := startServe(t, testConfig(t))
	defer func() {
		cancel()
		<-done
	}()
	base := "http://" + addr
	for path, want := range map[string]string{"/": "联盟透明度", "/member": "我的积分", "/operator": "运营后台", "/merchant/login": "Staff sign-in"} {
		code, body := get(t, base+path)
		if code != 200 || !strings.Contains(body, "<title") || !strings.Contains(body, want) {
			t.Errorf("%s: %d, want the page with %q", path, code, want)
		}
	}
	if code, body := get(t, base+"/assets/i18n.js"); code != 200 || !strings.Contains(body, "const LM") {
		t.Errorf("/assets/i18n.js: %d", code)
	}
	if l := logs.String(); !strings.Contains(l, "transparency="+base+"/") || !strings.Contains(l, "operator="+base+"/operator") {
		t.Errorf("serve does not log the pages' addresses:\n%s", l)
	}
}
