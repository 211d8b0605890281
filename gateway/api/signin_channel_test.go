package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/gateway/config"
	"github.com/lianmeng/lianmeng/gateway/consent"
	"github.com/lianmeng/lianmeng/gateway/merchant"
	"github.com/lianmeng/lianmeng/gateway/points"
	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
	"github.com/lianmeng/lianmeng/plugins/alipay"
	"github.com/lianmeng/lianmeng/plugins/alipay/alipaytest"
	"github.com/lianmeng/lianmeng/plugins/wechatpay"
	"github.com/lianmeng/lianmeng/plugins/wechatpay/wechatpaytest"
	"github.com/lianmeng/lianmeng/sdk"
	"github.com/lianmeng/lianmeng/sdk/payment"
)

func init() {
	oaContracts = append(oaContracts, oaContract{"POST", "/v1/member/signin/channel", typeOf[channelSignInRequest](), "200", typeOf[memberTokenResponse]()})
	fzBodyRoutes["FuzzMemberSignInChannel"] = fzRoute{"POST", "/v1/member/signin/channel", fzPublic}
}

// fzLoginChannel refuses every login code, as a channel refuses codes it
// never issued.
type fzLoginChannel struct{ payment.Channel }

func (fzLoginChannel) ExchangeLoginCode(context.Context, payment.LoginRequest) (payment.LoginIdentity, error) {
	return payment.LoginIdentity{}, fmt.Errorf("%w: unknown code", sdk.ErrInvalidInput)
}

func FuzzMemberSignInChannel(f *testing.F) {
	fuzzRoute(f, "FuzzMemberSignInChannel", `{"channel":"wechatpay","code":"0a1bCode"}`, `{"channel":"","code":""}`,
		`{"channel":"wechatpay","code":"a b"}`, `{"channel":"wechatpay"}`, `{"channel":"x","code":"y","z":1}`)
}

// scGateway is a gateway whose members sign in through the real WeChat Pay
// and Alipay plugins, in process, against their fakes.
type scGateway struct {
	*fndGateway
	wx  *wechatpaytest.Server
	ali *alipaytest.Server
	w   *store.Writer
}

func newSCGateway(t *testing.T, db *store.DB, limits func(*config.RateLimits)) *scGateway {
	t.Helper()
	ctx := context.Background()
	wx, err := wechatpaytest.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(wx.Close)
	ali, err := alipaytest.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ali.Close)
	wcfg, _ := json.Marshal(map[string]any{"mch_id": wx.MchID, "app_id": wx.AppID, "merchant_serial_no": wx.MerchantSerial,
		"merchant_private_key": wx.MerchantKeyPEM(), "public_key_id": wx.PublicKeyID, "public_key": wx.PlatformPublicKeyPEM(),
		"api_v3_key": wx.APIv3Key, "notify_url": "https://gw.example/v1/channels/wechatpay/notify", "api_base": wx.URL,
		"mini_program_app_id": wx.MiniAppID, "mini_program_secret": wx.MiniSecret, "login_api_base": wx.URL})
	wch, err := wechatpay.New(ctx, wcfg)
	if err != nil {
		t.Fatal(err)
	}
	acfg, _ := json.Marshal(map[string]any{"app_id": ali.AppID, "app_private_key": ali.AppKeyPEM(), "alipay_public_key": ali.AlipayPublicKeyPEM(),
		"notify_url": "https://gw.example/v1/channels/alipay/notify", "gateway": ali.Gateway()})
	ach, err := alipay.New(ctx, acfg)
	if err != nil {
		t.Fatal(err)
	}
	// A channel without sign-in: WeChat Pay configured with no AppSecret.
	var plain map[string]any
	_ = json.Unmarshal(wcfg, &plain)
	delete(plain, "mini_program_secret")
	pcfg, _ := json.Marshal(plain)
	pch, err := wechatpay.New(ctx, pcfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg := fndConfig()
	if limits != nil {
		limits(&cfg.RateLimits)
	}
	clock := newFndClock()
	w := db.NewWriter(store.WriterOptions{})
	t.Cleanup(w.Close)
	d := Deps{Config: cfg, DB: db, Log: fndLogger(), Now: clock.Now, Writer: w,
		Points: &points.Service{Policy: cfg.Points.Policy(), Reader: db}}
	d.Consent = &consent.Service{Store: db, Channels: fundingChannels{"wechatpay": wch, "alipay": ach, "paynosignin": pch}}
	s := New(d)
	base, _ := fndServe(t, s)
	return &scGateway{fndGateway: &fndGateway{db: db, srv: s, base: base, clock: clock}, wx: wx, ali: ali, w: w}
}

// earnAs makes a member with identity id (an earn at a new merchant).
func (g *scGateway) earnAs(t *testing.T, id points.Identity) string {
	t.Helper()
	ctx := context.Background()
	m, err := merchant.NewMerchant("Tea "+id.Value, "restaurant", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := g.db.Merchants().CreateMerchant(ctx, m, "test"); err != nil {
		t.Fatal(err)
	}
	svc := &points.Service{Policy: points.Policy{FaceValueFen: 1, ReleaseDelay: time.Hour, Validity: 24 * time.Hour, ExpiryPolicy: "breakage",
		MaxPointsPerEarn: 1000, MaxAmountFen: 1_000_000}}
	if r := g.w.Submit(ctx, &store.Op{Command: svc.FundCommand(points.FundRequest{MerchantID: m.ID, AmountFen: 1000, ExternalRef: "f-" + id.Value})}); r.Err != nil {
		t.Fatal(r.Err)
	}
	p := int64(40)
	r := g.w.Submit(ctx, &store.Op{Command: points.Command{IDs: 8, Apply: func(tx points.Tx) (any, error) {
		return svc.Earn(tx, points.EarnRequest{MerchantID: m.ID, OrderID: "o", AmountFen: 100, Points: &p, Member: id})
	}}})
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	return r.Value.(points.EarnResult).MemberID
}

func (g *scGateway) signIn(t *testing.T, channel, code string) fndResp {
	t.Helper()
	b, _ := json.Marshal(map[string]string{"channel": channel, "code": code})
	return fndReq(t, "POST", g.base+"/v1/member/signin/channel", b, "Content-Type", "application/json")
}

func scCount(t *testing.T, db *store.DB, table string) int {
	t.Helper()
	var n int
	if err := db.R.QueryRow("SELECT COUNT(*) FROM " + table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// A member signs in from the WeChat and the Alipay mini-program: the code
// goes through the channel's plugin to the (fake) channel, which checks
// the app's secret or signature, and the answer is the same member token
// the SMS sign-in gives, for the member whose payments earned under that
// openid or user_id. Refusals have their codes and write nothing. Both
// databases.
func TestMemberSignInWithChannel(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		// No sign-in limit here: its own test checks it.
		g := newSCGateway(t, db, func(l *config.RateLimits) { l.SignIn = config.Limit{} })
		wxMember := g.earnAs(t, points.Identity{Kind: points.IdentityWeChatOpenID, Value: "oWx_member_000000000000001"})
		aliMember := g.earnAs(t, points.Identity{Kind: points.IdentityAlipayUserID, Value: "2088102177846141"})
		members := scCount(t, db, "members")

		for _, c := range []struct{ channel, code, member string }{
			{"wechatpay", g.wx.LoginCode("oWx_member_000000000000001", ""), wxMember},
			{"alipay", g.ali.AuthCode("2088102177846141"), aliMember},
		} {
			r := g.signIn(t, c.channel, c.code).expectOK(t)
			var tok memberTokenResponse
			if err := json.Unmarshal(r.Body, &tok); err != nil || tok.MemberID != c.member || tok.Scope != scopeMember || tok.Token == "" {
				t.Fatalf("%s: %s %v", c.channel, r, err)
			}
			if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
				t.Fatalf("%s: Cache-Control %q", c.channel, cc)
			}
			bal := fndReq(t, "GET", g.base+"/v1/member/balance", nil, "Authorization", "Bearer "+tok.Token).expectOK(t)
			var b struct {
				MemberID string `json:"member_id"`
				Pending  int64  `json:"pending"`
			}
			if err := json.Unmarshal(bal.Body, &b); err != nil || b.MemberID != c.member {
				t.Fatalf("%s: balance with the token: %s %v", c.channel, bal, err)
			}
			// The code worked once.
			g.signIn(t, c.channel, c.code).expectErr(t, http.StatusUnauthorized, consent.CodeLoginCodeInvalid)
		}

		expired := g.wx.LoginCode("oWx_member_000000000000001", "")
		g.wx.AgeLoginCode(expired, wechatpaytest.LoginCodeTTL+time.Second)
		g.signIn(t, "wechatpay", expired).expectErr(t, http.StatusUnauthorized, consent.CodeLoginCodeInvalid)
		aliExpired := g.ali.AuthCode("2088102177846141")
		g.ali.AgeAuthCode(aliExpired, alipaytest.AuthCodeTTL+time.Second)
		g.signIn(t, "alipay", aliExpired).expectErr(t, http.StatusUnauthorized, consent.CodeLoginCodeInvalid)
		g.signIn(t, "wechatpay", g.wx.LoginCode("oWx_never_shopped_00000000", "")).expectErr(t, http.StatusNotFound, points.CodeUnknownMember)
		g.signIn(t, "wechatpay", "two words").expectErr(t, http.StatusBadRequest, consent.CodeLoginCodeMalformed)
		g.signIn(t, "paypal", "abc").expectErr(t, http.StatusBadRequest, consent.CodeLoginChannel)
		g.signIn(t, "paynosignin", g.wx.LoginCode("oWx_member_000000000000001", "")).expectErr(t, http.StatusBadRequest, consent.CodeLoginUnsupported)
		fndReq(t, "POST", g.base+"/v1/member/signin/channel", []byte(`{"channel":"wechatpay","code":"x","openid":"oWx_member_000000000000001"}`),
			"Content-Type", "application/json").expectErr(t, http.StatusBadRequest, CodeValidation)

		// WeChat is busy, Alipay is down: 503 with a retry hint.
		g.wx.SetDown(true)
		g.ali.SetDown(true)
		for _, c := range []struct{ channel, code string }{
			{"wechatpay", g.wx.LoginCode("oWx_member_000000000000001", "")}, {"alipay", g.ali.AuthCode("2088102177846141")}} {
			r := g.signIn(t, c.channel, c.code)
			r.expectErr(t, http.StatusServiceUnavailable, consent.CodeLoginChannelDown)
			if s, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || s < 1 {
				t.Fatalf("%s down: Retry-After %q", c.channel, r.Header.Get("Retry-After"))
			}
		}
		if n := scCount(t, db, "members"); n != members {
			t.Fatalf("sign-ins wrote members: %d -> %d", members, n)
		}
	})
}

// Mini-program sign-in shares the per-address sign-in limit with the SMS
// sign-in: past the burst, 429 with Retry-After and no call to the channel.
func TestMemberSignInWithChannelRateLimited(t *testing.T) {
	db := storetest.Open(t, store.SQLite)
	g := newSCGateway(t, db, func(l *config.RateLimits) {
		l.SignIn = config.Limit{Requests: 1, Per: config.Duration(time.Minute), Burst: 2}
	})
	g.earnAs(t, points.Identity{Kind: points.IdentityWeChatOpenID, Value: "oWx_member_000000000000009"})
	for i := 0; i < 2; i++ {
		g.signIn(t, "wechatpay", g.wx.LoginCode("oWx_member_000000000000009", "")).expectOK(t)
	}
	calls := g.wx.Calls("GET /sns/jscode2session")
	expectLimited(t, g.signIn(t, "wechatpay", g.wx.LoginCode("oWx_member_000000000000009", "")), 60)
	if n := g.wx.Calls("GET /sns/jscode2session"); n != calls {
		t.Fatalf("a limited sign-in reached WeChat (%d calls)", n-calls)
	}
	// The SMS sign-in of the same address is limited too: one bucket.
	expectLimited(t, fndReq(t, "POST", g.base+"/v1/member/signin", []byte(`{"phone":"13800138000"}`), "Content-Type", "application/json"), 60)
}
