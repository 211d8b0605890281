package consent_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/gateway/consent"
	"github.com/lianmeng/lianmeng/gateway/merchant"
	"github.com/lianmeng/lianmeng/gateway/points"
	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
	"github.com/lianmeng/lianmeng/sdk"
	"github.com/lianmeng/lianmeng/sdk/payment"
)

// earnAs makes a member with identity id by an earn at a new merchant and
// returns the member id.
func earnAs(t *testing.T, db *store.DB, id points.Identity) string {
	t.Helper()
	ctx := context.Background()
	m, err := merchant.NewMerchant("Tea", "restaurant", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Merchants().CreateMerchant(ctx, m, "test"); err != nil {
		t.Fatal(err)
	}
	w := db.NewWriter(store.WriterOptions{})
	defer w.Close()
	svc := &points.Service{Policy: points.Policy{FaceValueFen: 1, ReleaseDelay: time.Hour, Validity: 24 * time.Hour, ExpiryPolicy: "breakage",
		MaxPointsPerEarn: 1000, MaxAmountFen: 1_000_000}}
	if r := w.Submit(ctx, &store.Op{Command: svc.FundCommand(points.FundRequest{MerchantID: m.ID, AmountFen: 1000, ExternalRef: "f-" + id.Value})}); r.Err != nil {
		t.Fatal(r.Err)
	}
	p := int64(10)
	r := w.Submit(ctx, &store.Op{Command: points.Command{IDs: 8, Apply: func(tx points.Tx) (any, error) {
		return svc.Earn(tx, points.EarnRequest{MerchantID: m.ID, OrderID: "o", AmountFen: 100, Points: &p, Member: id})
	}}})
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	return r.Value.(points.EarnResult).MemberID
}

// loginChannel answers login codes from a table; err, when set, is what
// every exchange fails with.
type loginChannel struct {
	payment.Channel
	ids   map[string]payment.LoginIdentity
	err   error
	calls int
}

func (c *loginChannel) ExchangeLoginCode(_ context.Context, req payment.LoginRequest) (payment.LoginIdentity, error) {
	c.calls++
	if c.err != nil {
		return payment.LoginIdentity{}, c.err
	}
	id, ok := c.ids[req.Code]
	if !ok {
		return payment.LoginIdentity{}, fmt.Errorf("%w: code refused", sdk.ErrInvalidInput)
	}
	return id, nil
}

// payOnly is a channel without mini-program sign-in.
type payOnly struct{ payment.Channel }

type channelSet map[string]payment.Channel

func (c channelSet) PaymentChannel(name string) (payment.Channel, error) {
	ch, ok := c[name]
	if !ok {
		return nil, errors.New("no such channel")
	}
	return ch, nil
}

// Signing in with a mini-program login code: the channel's word names the
// member (by the same identity its payments earn under); every refusal has
// its code and the service writes nothing.
func TestSignInWithChannel(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		wxMember := earnAs(t, db, points.Identity{Kind: points.IdentityWeChatOpenID, Value: "oWx_member_0001"})
		aliMember := earnAs(t, db, points.Identity{Kind: points.IdentityAlipayUserID, Value: "2088102177846141"})
		wx := &loginChannel{ids: map[string]payment.LoginIdentity{
			"wx-good":     {Kind: payment.IdentityWeChatOpenID, UserID: "oWx_member_0001"},
			"wx-stranger": {Kind: payment.IdentityWeChatOpenID, UserID: "oWx_never_shopped"},
			"wx-phone":    {Kind: "phone", UserID: "13800000001"},
		}}
		ali := &loginChannel{ids: map[string]payment.LoginIdentity{"ali-good": {Kind: payment.IdentityAlipayUserID, UserID: "2088102177846141"}}}
		down := &loginChannel{err: errors.New("pluginhost: plugin down")}
		old := &loginChannel{err: fmt.Errorf("plugin ExchangeLoginCode: %w", sdk.ErrUnimplemented)}
		s := &consent.Service{Store: db, Channels: channelSet{"wechatpay": wx, "alipay": ali, "down": down, "old": old, "payonly": payOnly{}}}

		if got, err := s.SignInWithChannel(ctx, "wechatpay", "wx-good"); err != nil || got != wxMember {
			t.Fatalf("wechat: %q %v, want %s", got, err, wxMember)
		}
		if got, err := s.SignInWithChannel(ctx, "alipay", "ali-good"); err != nil || got != aliMember {
			t.Fatalf("alipay: %q %v, want %s", got, err, aliMember)
		}
		calls := wx.calls
		for name, c := range map[string]struct {
			channel, code, want string
		}{
			"refused code":       {"wechatpay", "wx-used", consent.CodeLoginCodeInvalid},
			"not a member yet":   {"wechatpay", "wx-stranger", points.CodeUnknownMember},
			"not a member kind":  {"wechatpay", "wx-phone", consent.CodeLoginChannelDown},
			"empty code":         {"wechatpay", "", consent.CodeLoginCodeMalformed},
			"code with a space":  {"wechatpay", "wx good", consent.CodeLoginCodeMalformed},
			"unknown channel":    {"paypal", "x", consent.CodeLoginChannel},
			"no channel":         {"", "x", consent.CodeLoginChannel},
			"channel down":       {"down", "x", consent.CodeLoginChannelDown},
			"old plugin":         {"old", "x", consent.CodeLoginUnsupported},
			"no sign-in at all":  {"payonly", "x", consent.CodeLoginUnsupported},
			"alipay on wechat's": {"wechatpay", "ali-good", consent.CodeLoginCodeInvalid},
		} {
			if _, err := s.SignInWithChannel(ctx, c.channel, c.code); code(err) != c.want {
				t.Errorf("%s: got %v, want %s", name, err, c.want)
			}
		}
		if wx.calls != calls+4 { // the malformed codes never reached the channel
			t.Fatalf("%d exchanges for the refusals, want 4", wx.calls-calls)
		}
		var pe *points.Error
		if _, err := s.SignInWithChannel(ctx, "down", "x"); !errors.As(err, &pe) || pe.RetryAfter <= 0 {
			t.Fatalf("channel down: want a retry hint, got %v", err)
		}
		if _, err := (&consent.Service{Store: db}).SignInWithChannel(ctx, "wechatpay", "wx-good"); code(err) != consent.CodeLoginChannelDown {
			t.Fatalf("no channels configured: %v", err)
		}
	})
}
