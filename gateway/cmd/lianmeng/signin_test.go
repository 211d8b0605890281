package main

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/gateway/config"
	"github.com/lianmeng/lianmeng/gateway/internal/eventually"
	"github.com/lianmeng/lianmeng/plugins/wechatpay/wechatpaytest"
	"github.com/lianmeng/lianmeng/sdk"
	"github.com/lianmeng/lianmeng/sdk/client"
	"github.com/lianmeng/lianmeng/sdk/signature"
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

// TestServeMemberSignInThroughWeChat signs a member in from a WeChat
// mini-program end to end through the real serve: the builtin wechatpay
// plugin runs out of process, exchanges the wx.login code at the fake
// WeChat (which checks the mini-program's appid and AppSecret), and the
// member whose purchase earned under that openid gets a token that reads
// their balance; the same code again, and WeChat being busy, are refused.
func TestServeMemberSignInThroughWeChat(t *testing.T) {
	t.Setenv(reexecEnv, "1")
	wx, err := wechatpaytest.New()
	must(t, err)
	defer wx.Close()
	cfg := testConfig(t)
	cfg.Operator.Token = "operator-token-0123456789"
	cfg.Plugins = []config.Plugin{{Name: "wechatpay", Kind: sdk.KindPaymentChannel, Path: "builtin:wechatpay", Env: []string{reexecEnv},
		Timeout: config.Duration(5 * time.Second), Config: map[string]any{"mch_id": wx.MchID, "app_id": wx.AppID,
			"merchant_serial_no": wx.MerchantSerial, "merchant_private_key": wx.MerchantKeyPEM(), "public_key_id": wx.PublicKeyID,
			"public_key": wx.PlatformPublicKeyPEM(), "api_v3_key": wx.APIv3Key, "notify_url": "https://gw.example/v1/channels/wechatpay/notify",
			"api_base": wx.URL, "mini_program_app_id": wx.MiniAppID, "mini_program_secret": wx.MiniSecret, "login_api_base": wx.URL}}}
	addr, _, cancel, done := startServe(t, cfg)
	defer func() { cancel(); <-done }()
	base, ctx := "http://"+addr, context.Background()

	var named struct{ Token string }
	must(t, client.NewOperator(base, cfg.Operator.Token.Reveal()).Do(ctx, "POST", "/v1/operator/tokens",
		map[string]any{"label": "test", "scopes": []string{"merchants:write", "funds:write"}}, &named))
	op := client.NewOperator(base, named.Token)
	var m struct{ ID string }
	must(t, op.Do(ctx, "POST", "/v1/operator/merchants", map[string]string{"name": "Hotpot", "industry": "restaurant"}, &m))
	var cred struct{ ID, Secret string }
	must(t, op.Do(ctx, "POST", "/v1/operator/merchants/"+m.ID+"/credentials", map[string]string{"algorithm": "hmac-sha256"}, &cred))
	must(t, op.Do(ctx, "POST", "/v1/operator/merchants/"+m.ID+"/fund", map[string]any{"amount_fen": 100_000, "external_ref": "p1"}, nil, client.IdempotencyKey("f1")))
	signer, err := signature.NewHMACSigner(cred.ID, cred.Secret)
	must(t, err)
	const openid = "oWx_serve_member_0000000001"
	var earned struct {
		MemberID string `json:"member_id"`
	}
	must(t, client.NewMerchant(base, m.ID, signer).Do(ctx, "POST", "/v1/merchant/earn", map[string]any{"order_id": "w1", "amount_fen": 5000, "points": 50,
		"member": map[string]string{"kind": "wechat_openid", "value": openid}}, &earned, client.IdempotencyKey("e1")))

	post := func(body string) (int, map[string]any) {
		t.Helper()
		resp, err := http.Post(base+"/v1/member/signin/channel", "application/json", strings.NewReader(body))
		must(t, err)
		defer resp.Body.Close()
		var out map[string]any
		json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	code := wx.LoginCode(openid, "")
	status, out := post(`{"channel":"wechatpay","code":"` + code + `"}`)
	if status != 200 || out["member_id"] != earned.MemberID || out["token"] == "" {
		t.Fatalf("sign-in: %d %v, want member %s", status, out, earned.MemberID)
	}
	var bal struct {
		MemberID string `json:"member_id"`
	}
	must(t, client.NewOperator(base, out["token"].(string)).Do(ctx, "GET", "/v1/member/balance", nil, &bal))
	if bal.MemberID != earned.MemberID {
		t.Fatalf("balance with the token: %+v", bal)
	}
	errCode := func(out map[string]any) any {
		e, _ := out["error"].(map[string]any)
		return e["code"]
	}
	if status, out := post(`{"channel":"wechatpay","code":"` + code + `"}`); status != 401 || errCode(out) != "login_code_invalid" {
		t.Fatalf("the same code again: %d %v", status, out)
	}
	wx.SetDown(true)
	if status, out := post(`{"channel":"wechatpay","code":"` + wx.LoginCode(openid, "") + `"}`); status != 503 || errCode(out) != "channel_unavailable" {
		t.Fatalf("WeChat busy: %d %v", status, out)
	}
}
