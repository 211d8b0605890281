package alipaytest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// alipay.system.oauth.token, as a mini-program's my.getAuthCode code is
// exchanged: RSA2-signed like every call (serve verifies it), the code and
// grant_type as plain form parameters. Each code works once, within
// AuthCodeTTL. A success is signed and has no "code" field, as Alipay
// answers it; a refusal is a signed error_response.

// AuthCodeTTL is how long an auth code is valid in the fake.
const AuthCodeTTL = 5 * time.Minute

type authCode struct {
	userID string
	issued time.Time
	used   bool
}

// AuthCode issues a mini-program auth code for an Alipay user.
func (s *Server) AuthCode(userID string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	code := fmt.Sprintf("auth%04dbf2c0e1d%x", s.seq, time.Now().UnixNano()&0xffffff)
	s.authCodes[code] = &authCode{userID: userID, issued: time.Now()}
	return code
}

// AgeAuthCode makes a code look issued d earlier (to expire it).
func (s *Server) AgeAuthCode(code string, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.authCodes[code]; ok {
		c.issued = c.issued.Add(-d)
	}
}

// errorResponse answers a signed error_response.
func (s *Server) errorResponse(w http.ResponseWriter, code, msg, subCode, subMsg string) {
	obj, _ := json.Marshal(map[string]string{"code": code, "msg": msg, "sub_code": subCode, "sub_msg": subMsg})
	var b bytes.Buffer
	fmt.Fprintf(&b, `{"error_response":%s,"sign":"%s"}`, obj, base64.StdEncoding.EncodeToString(signBytes(s.AlipayKey, obj)))
	w.Header().Set("Content-Type", "text/html;charset=utf-8")
	_, _ = w.Write(b.Bytes())
}

// oauthToken serves alipay.system.oauth.token (s.mu held).
func (s *Server) oauthToken(w http.ResponseWriter, v url.Values) {
	s.calls["alipay.system.oauth.token"]++
	if v.Get("grant_type") != "authorization_code" {
		s.errorResponse(w, "40002", "Invalid Arguments", "isv.grant-type-invalid", "grant_type参数不正确")
		return
	}
	c, ok := s.authCodes[v.Get("code")]
	switch {
	case !ok || c.used:
		s.errorResponse(w, "40002", "Invalid Arguments", "isv.code-invalid", "授权码code无效")
		return
	case time.Since(c.issued) > AuthCodeTTL:
		s.errorResponse(w, "40002", "Invalid Arguments", "isv.code-expired", "授权码code过期")
		return
	}
	c.used = true
	s.seq++
	s.reply(w, "alipay.system.oauth.token", map[string]any{"user_id": c.userID, "access_token": fmt.Sprintf("authusrB%08d", s.seq),
		"expires_in": 1296000, "refresh_token": fmt.Sprintf("authusrR%08d", s.seq), "re_expires_in": 2592000,
		"auth_start": time.Now().Format("2006-01-02 15:04:05")})
}

// Calls counts calls of a method that reached the fake signed.
func (s *Server) Calls(method string) int { s.mu.Lock(); defer s.mu.Unlock(); return s.calls[method] }
