package alipay_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/lianmeng/lianmeng/plugins/alipay"
	"github.com/lianmeng/lianmeng/plugins/alipay/alipaytest"
	"github.com/lianmeng/lianmeng/sdk"
	"github.com/lianmeng/lianmeng/sdk/payment"
	"github.com/lianmeng/lianmeng/sdk/plugintest"
)

// alipay.system.oauth.token against the fake, which verifies the request's
// RSA2 signature and signs its answers: a good auth code gives the
// user_id; a used, unknown or expired one is refused as the member's
// mistake; a request under another key, a reply Alipay did not sign and an
// outage are the channel failing.
func TestMiniProgramLogin(t *testing.T) {
	f, ctx := fake(t), context.Background()
	ch := channel(t, f)
	code := f.AuthCode("2088102177846141")
	id := plugintest.CheckLogin(t, ch, code)
	if id.Kind != payment.IdentityAlipayUserID || id.UserID != "2088102177846141" {
		t.Fatalf("identity %+v", id)
	}
	for _, v := range id.Properties {
		if strings.HasPrefix(v, "authusr") {
			t.Fatalf("the access token left the plugin: %+v", id)
		}
	}
	aged := f.AuthCode("2088102177846142")
	f.AgeAuthCode(aged, alipaytest.AuthCodeTTL+1)
	for name, c := range map[string]string{"used": code, "unknown": "authNoSuchCode", "expired": aged} {
		if _, err := ch.ExchangeLoginCode(ctx, payment.LoginRequest{Code: c}); !errors.Is(err, sdk.ErrInvalidInput) {
			t.Errorf("%s code: want sdk.ErrInvalidInput, got %v", name, err)
		}
	}
	before := f.Calls("alipay.system.oauth.token")
	if _, err := ch.ExchangeLoginCode(ctx, payment.LoginRequest{Code: "two words"}); !errors.Is(err, sdk.ErrInvalidInput) {
		t.Fatalf("malformed code: %v", err)
	}
	if f.Calls("alipay.system.oauth.token") != before {
		t.Fatal("a malformed code reached Alipay")
	}

	other, _ := alipaytest.New()
	defer other.Close()
	wrongKey, err := alipay.New(ctx, config(f, map[string]any{"app_private_key": other.AppKeyPEM()}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := wrongKey.ExchangeLoginCode(ctx, payment.LoginRequest{Code: f.AuthCode("2088000000000003")}); err == nil || errors.Is(err, sdk.ErrInvalidInput) {
		t.Fatalf("request under another key: want a channel failure, got %v", err)
	}
	distrust, _ := alipay.New(ctx, config(f, map[string]any{"alipay_public_key": other.AlipayPublicKeyPEM()}))
	if id, err := distrust.ExchangeLoginCode(ctx, payment.LoginRequest{Code: f.AuthCode("2088000000000004")}); err == nil {
		t.Fatalf("a reply that does not verify was believed: %+v", id)
	}
	f.SetDown(true)
	if _, err := ch.ExchangeLoginCode(ctx, payment.LoginRequest{Code: f.AuthCode("2088000000000005")}); err == nil || errors.Is(err, sdk.ErrInvalidInput) {
		t.Fatalf("Alipay down: want a channel failure, got %v", err)
	}
}
