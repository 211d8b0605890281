package web_test

import (
	"io"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"

	"github.com/lianmeng/lianmeng/gateway/web"
)

var inlineAttr = regexp.MustCompile(`\s(style|on[a-z]+)=`)

// Every page and asset is served with its type and the strict security
// headers; nothing outside assets/ is reachable, and no page is served
// under the asset prefix (each page has one address).
func TestServesPagesAndAssets(t *testing.T) {
	app := fiber.New()
	web.Register(app)
	get := func(path string) (int, string, string, string) {
		t.Helper()
		resp, err := app.Test(httptest.NewRequest("GET", path, nil))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("Content-Security-Policy"), string(b)
	}
	for path := range web.Pages {
		code, ct, csp, body := get(path)
		if code != 200 || !strings.HasPrefix(ct, "text/html") || !strings.Contains(csp, "script-src 'self'") {
			t.Errorf("%s: %d %q csp %q", path, code, ct, csp)
		}
		// Every page declares its language and loads only local scripts.
		if !strings.Contains(body, `<html lang="zh-CN">`) || strings.Contains(body, "http://") || strings.Contains(body, "https://") {
			t.Errorf("%s: no lang, or a reference to another host", path)
		}
		if strings.Contains(body, "<script>") || inlineAttr.MatchString(body) {
			t.Errorf("%s: inline script or style, which the CSP refuses", path)
		}
	}
	for path, want := range map[string]string{
		"/assets/site.css":                            "text/css",
		"/assets/i18n.js":                             "text/javascript",
		"/assets/vendor/qrcode.js":                    "text/javascript",
		"/assets/vendor/LICENSE-qrcode-generator.txt": "text/plain",
	} {
		code, ct, _, _ := get(path)
		if code != 200 || !strings.HasPrefix(ct, want) {
			t.Errorf("%s: %d %q, want %s", path, code, ct, want)
		}
	}
	for _, path := range []string{"/assets/index.html", "/assets/../web.go", "/assets/%2e%2e/web.go", "/assets/", "/assets/nope.js", "/web.go"} {
		if code, _, _, _ := get(path); code != 404 {
			t.Errorf("%s: %d, want 404", path, code)
		}
	}
}
