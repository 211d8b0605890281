package wechatpay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/lianmeng/lianmeng/sdk"
	"github.com/lianmeng/lianmeng/sdk/payment"
)

// LoginAPI is WeChat's mini-program API host (jscode2session).
const LoginAPI = "https://api.weixin.qq.com"

// jscode2session errcodes that refuse the code itself: the member gets a
// new one from wx.login. Anything else (a wrong secret, -1 busy, 45011 rate
// limited) is WeChat or the configuration failing, not the member.
var refusedCodes = map[int]string{
	40029: "invalid or expired code",
	40163: "code already used",
	40226: "WeChat refused this user's login (high-risk user)",
}

// maxLoginCode bounds a code before it is sent anywhere (wx.login codes are
// 32 characters).
const maxLoginCode = 128

// ExchangeLoginCode exchanges a wx.login code for the user's openid in the
// mini-program (the openid WeChat Pay reports for that app's payments) via
// GET /sns/jscode2session. The session key WeChat returns stays here.
func (ch *Channel) ExchangeLoginCode(ctx context.Context, req payment.LoginRequest) (payment.LoginIdentity, error) {
	if ch.c.MiniProgramSecret == "" {
		return payment.LoginIdentity{}, fmt.Errorf("%w: wechatpay: no mini_program_secret configured", sdk.ErrUnimplemented)
	}
	if !printableCode(req.Code) {
		return payment.LoginIdentity{}, fmt.Errorf("%w: wechatpay: a login code is 1 to %d printable characters", sdk.ErrInvalidInput, maxLoginCode)
	}
	q := url.Values{"appid": {ch.miniAppID()}, "secret": {ch.c.MiniProgramSecret}, "js_code": {req.Code}, "grant_type": {"authorization_code"}}
	hr, err := http.NewRequestWithContext(ctx, http.MethodGet, ch.loginBase()+"/sns/jscode2session?"+q.Encode(), nil)
	if err != nil {
		return payment.LoginIdentity{}, fmt.Errorf("wechatpay: jscode2session: %w", err)
	}
	res, err := ch.login.Do(hr)
	if err != nil {
		// The URL carries the AppSecret: never let it into an error.
		return payment.LoginIdentity{}, fmt.Errorf("wechatpay: jscode2session: %s", redact(err))
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	if err != nil {
		return payment.LoginIdentity{}, fmt.Errorf("wechatpay: jscode2session: reading the answer: %s", redact(err))
	}
	if res.StatusCode != http.StatusOK {
		return payment.LoginIdentity{}, fmt.Errorf("wechatpay: jscode2session answered %s", res.Status)
	}
	var a struct {
		OpenID  string `json:"openid"`
		UnionID string `json:"unionid"`
		ErrCode int    `json:"errcode"`
		ErrMsg  string `json:"errmsg"`
	}
	if err := json.Unmarshal(body, &a); err != nil {
		return payment.LoginIdentity{}, fmt.Errorf("wechatpay: jscode2session: malformed answer: %v", err)
	}
	if a.ErrCode != 0 {
		if why, ok := refusedCodes[a.ErrCode]; ok {
			return payment.LoginIdentity{}, fmt.Errorf("%w: wechatpay: %s (errcode %d)", sdk.ErrInvalidInput, why, a.ErrCode)
		}
		return payment.LoginIdentity{}, fmt.Errorf("wechatpay: jscode2session errcode %d: %s", a.ErrCode, a.ErrMsg)
	}
	if a.OpenID == "" {
		return payment.LoginIdentity{}, errors.New("wechatpay: jscode2session answered no openid")
	}
	return payment.LoginIdentity{Kind: payment.IdentityWeChatOpenID, UserID: a.OpenID, UnionID: a.UnionID,
		Properties: map[string]string{"app_id": ch.miniAppID()}}, nil
}

func (ch *Channel) miniAppID() string {
	if ch.c.MiniProgramAppID != "" {
		return ch.c.MiniProgramAppID
	}
	return ch.c.AppID
}

func (ch *Channel) loginBase() string {
	if ch.c.LoginAPIBase != "" {
		return ch.c.LoginAPIBase
	}
	return LoginAPI
}

func printableCode(code string) bool {
	if code == "" || len(code) > maxLoginCode {
		return false
	}
	for i := 0; i < len(code); i++ {
		if code[i] <= ' ' || code[i] > '~' {
			return false
		}
	}
	return true
}

// redact keeps an HTTP client error's cause without its URL.
func redact(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "timeout"
	}
	return err.Error()
}

// loginClient is the client for jscode2session: bounded, and it follows no
// redirect (the request carries the AppSecret).
func loginClient(timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}
