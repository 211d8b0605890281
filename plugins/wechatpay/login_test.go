package wechatpay_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/lianmeng/lianmeng/plugins/wechatpay"
	"github.com/lianmeng/lianmeng/plugins/wechatpay/wechatpaytest"
	"github.com/lianmeng/lianmeng/sdk"
	"github.com/lianmeng/lianmeng/sdk/payment"
	"github.com/lianmeng/lianmeng/sdk/plugintest"
)

func loginChannel(t *testing.T, f *wechatpaytest.Server, secret string) *wechatpay.Channel {
	t.Helper()
	ch, err := wechatpay.New(context.Background(), config(f, map[string]any{"mini_program_app_id": f.MiniAppID,
		"mini_program_secret": secret, "login_api_base": f.URL}))
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

// jscode2session against the fake, which checks the appid and AppSecret
// and lets each code work once within five minutes: a good code gives the
// openid; a used, unknown or expired code is refused as the member's
// mistake (sdk.ErrInvalidInput); a wrong secret or WeChat being busy is
// the channel failing, and no error ever carries the secret.
func TestMiniProgramLogin(t *testing.T) {
	f, ctx := fake(t), context.Background()
	ch := loginChannel(t, f, f.MiniSecret)
	code := f.LoginCode("oMember_openid_000000000001", "oUnion_0001")
	id := plugintest.CheckLogin(t, ch, code)
	if id.Kind != payment.IdentityWeChatOpenID || id.UserID != "oMember_openid_000000000001" || id.UnionID != "oUnion_0001" {
		t.Fatalf("identity %+v", id)
	}
	for _, v := range id.Properties {
		if strings.Contains(v, "SessionKey") {
			t.Fatalf("the session key left the plugin: %+v", id)
		}
	}
	aged := f.LoginCode("oMember_openid_000000000002", "")
	f.AgeLoginCode(aged, wechatpaytest.LoginCodeTTL+1)
	for name, c := range map[string]string{"used": code, "unknown": "0a1bNoSuchCode", "expired": aged} {
		if _, err := ch.ExchangeLoginCode(ctx, payment.LoginRequest{Code: c}); !errors.Is(err, sdk.ErrInvalidInput) {
			t.Errorf("%s code: want sdk.ErrInvalidInput, got %v", name, err)
		}
	}
	before := f.Calls("GET /sns/jscode2session")
	for _, c := range []string{"", "has space", strings.Repeat("x", 129), "newline\n"} {
		if _, err := ch.ExchangeLoginCode(ctx, payment.LoginRequest{Code: c}); !errors.Is(err, sdk.ErrInvalidInput) {
			t.Errorf("malformed code %q: want sdk.ErrInvalidInput, got %v", c, err)
		}
	}
	if n := f.Calls("GET /sns/jscode2session"); n != before {
		t.Fatalf("malformed codes reached WeChat (%d calls)", n-before)
	}

	wrong := loginChannel(t, f, "0000000000000000wrongsecret00000")
	_, err := wrong.ExchangeLoginCode(ctx, payment.LoginRequest{Code: f.LoginCode("o3", "")})
	if err == nil || errors.Is(err, sdk.ErrInvalidInput) || !strings.Contains(err.Error(), "40125") || strings.Contains(err.Error(), "wrongsecret") {
		t.Fatalf("wrong secret: want a channel failure naming errcode 40125 without the secret, got %v", err)
	}
	f.SetDown(true)
	if _, err := ch.ExchangeLoginCode(ctx, payment.LoginRequest{Code: f.LoginCode("o4", "")}); err == nil || errors.Is(err, sdk.ErrInvalidInput) {
		t.Fatalf("WeChat busy: want a channel failure, got %v", err)
	}
	f.SetDown(false)

	none, err := wechatpay.New(ctx, config(f, nil))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := none.ExchangeLoginCode(ctx, payment.LoginRequest{Code: f.LoginCode("o5", "")}); !errors.Is(err, sdk.ErrUnimplemented) {
		t.Fatalf("no secret configured: want sdk.ErrUnimplemented, got %v", err)
	}

	// WeChat unreachable: the error names the cause, never the URL.
	f.Close()
	_, err = ch.ExchangeLoginCode(ctx, payment.LoginRequest{Code: "0a1bAnyCode"})
	if err == nil || errors.Is(err, sdk.ErrInvalidInput) || strings.Contains(err.Error(), f.MiniSecret) {
		t.Fatalf("unreachable: %v", err)
	}
}
