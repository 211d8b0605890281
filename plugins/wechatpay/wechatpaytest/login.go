package wechatpaytest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// The mini-program login API (api.weixin.qq.com/sns/jscode2session) is not
// signed: it authenticates the app by its appid and AppSecret in the query.
// The fake serves it on the same 127.0.0.1 server; it checks the appid,
// the secret and the grant type, and each code works once, within
// LoginCodeTTL, like wx.login's codes.

// LoginCodeTTL is how long a login code is valid (WeChat: 5 minutes).
const LoginCodeTTL = 5 * time.Minute

type loginCode struct {
	openID, unionID string
	issued          time.Time
	used            bool
}

// LoginCode issues a login code for a user of the mini-program, as
// wx.login gives one to the mini-program; unionID may be empty.
func (s *Server) LoginCode(openID, unionID string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	code := fmt.Sprintf("0a1b%04dWxLoginCode%s", s.seq, randomString(8))
	s.logins[code] = &loginCode{openID: openID, unionID: unionID, issued: time.Now()}
	return code
}

// AgeLoginCode makes a code look issued d earlier (to expire it).
func (s *Server) AgeLoginCode(code string, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.logins[code]; ok {
		c.issued = c.issued.Add(-d)
	}
}

func (s *Server) jscode2session(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls["GET /sns/jscode2session"]++
	// WeChat answers errors with HTTP 200 and an errcode.
	answer := func(v map[string]any) {
		w.Header().Set("Content-Type", "text/plain") // as WeChat does
		_ = json.NewEncoder(w).Encode(v)
	}
	fail := func(code int, msg string) { answer(map[string]any{"errcode": code, "errmsg": msg + ", rid: fake"}) }
	if s.down {
		fail(-1, "system error")
		return
	}
	switch {
	case r.Method != http.MethodGet:
		fail(43001, "require GET method")
	case q.Get("appid") != s.MiniAppID:
		fail(40013, "invalid appid")
	case q.Get("secret") != s.MiniSecret:
		fail(40125, "invalid appsecret")
	case q.Get("grant_type") != "authorization_code":
		fail(40002, "invalid grant_type")
	default:
		c, ok := s.logins[q.Get("js_code")]
		switch {
		case !ok || time.Since(c.issued) > LoginCodeTTL:
			fail(40029, "invalid code")
		case c.used:
			fail(40163, "code been used")
		default:
			c.used = true
			out := map[string]any{"openid": c.openID, "session_key": "fakeSessionKey" + randomString(16)}
			if c.unionID != "" {
				out["unionid"] = c.unionID
			}
			answer(out)
		}
	}
}
