package consent

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/lianmeng/lianmeng/gateway/points"
	"github.com/lianmeng/lianmeng/sdk"
	"github.com/lianmeng/lianmeng/sdk/payment"
)

// Mini-program sign-in: the member's WeChat or Alipay app gives the
// mini-program a one-time login code (wx.login, my.getAuthCode); the
// channel's plugin exchanges it with the channel for the user's id in that
// app (payment.LoginExchanger), and that id is a member identity
// (wechat_openid, alipay_user_id) like the ones POS payments report. Only
// the channel can vouch for the id, so nothing the client says about who
// it is counts; the code works once and for minutes, at the channel.

// Channels finds a payment channel plugin by its configured name
// (pluginhost.Host does).
type Channels interface {
	PaymentChannel(name string) (payment.Channel, error)
}

// Refusal codes of the mini-program sign-in.
const (
	CodeLoginCodeMalformed = "login_code_malformed" // not a code at all: nothing was asked
	CodeLoginCodeInvalid   = "login_code_invalid"   // the channel refused it: invalid, expired or used
	CodeLoginUnsupported   = "login_unsupported"    // the channel's plugin has no mini-program sign-in
	CodeLoginChannel       = "unknown_channel"      // no payment channel of that name
	CodeLoginChannelDown   = "channel_unavailable"  // the plugin or the channel cannot answer now
	loginChannelRetry      = 10 * time.Second       // Retry-After of channel_unavailable
	maxLoginCode           = 128                    // WeChat's and Alipay's codes are far shorter
	maxChannelName         = 64                     // as configured plugin names
	loginKinds             = "wechat_openid or alipay_user_id"
)

// SignInWithChannel exchanges a mini-program login code through the named
// channel plugin and returns the member it signs in. Nothing is written:
// the code's single use is the channel's. A user who is no member yet
// answers unknown_member, as the SMS sign-in does: a member comes into
// being with a first purchase, which the channel's payments report under
// the same id.
func (s *Service) SignInWithChannel(ctx context.Context, channel, code string) (string, error) {
	if channel == "" || len(channel) > maxChannelName {
		return "", refuse(points.Invalid, CodeLoginChannel, "channel must name a payment channel (1-%d characters)", maxChannelName)
	}
	if !printableASCII(code, maxLoginCode) {
		return "", refuse(points.Invalid, CodeLoginCodeMalformed, "code must be the 1-%d character login code the mini-program got from wx.login or my.getAuthCode", maxLoginCode)
	}
	if s.Channels == nil {
		e := refuse(points.Unavailable, CodeLoginChannelDown, "no payment channel is configured on this gateway")
		e.RetryAfter = loginChannelRetry
		return "", e
	}
	ch, err := s.Channels.PaymentChannel(channel)
	if err != nil {
		return "", refuse(points.Invalid, CodeLoginChannel, "no payment channel %q", channel)
	}
	x, ok := ch.(payment.LoginExchanger)
	if !ok {
		return "", refuse(points.Invalid, CodeLoginUnsupported, "payment channel %q has no mini-program sign-in", channel)
	}
	who, err := x.ExchangeLoginCode(ctx, payment.LoginRequest{Code: code})
	switch {
	case errors.Is(err, sdk.ErrInvalidInput):
		return "", refuse(Unauthenticated, CodeLoginCodeInvalid, "the channel refused the login code (invalid, expired or already used): get a new one and sign in again")
	case errors.Is(err, sdk.ErrUnimplemented):
		return "", refuse(points.Invalid, CodeLoginUnsupported, "payment channel %q has no mini-program sign-in configured", channel)
	case err != nil:
		e := refuse(points.Unavailable, CodeLoginChannelDown, "payment channel %q cannot sign members in now; try again", channel)
		e.RetryAfter = loginChannelRetry
		return "", errors.Join(e, fmt.Errorf("consent: sign-in through %s: %w", channel, err))
	}
	id := points.Identity{Kind: who.Kind, Value: who.UserID}
	if (id.Kind != points.IdentityWeChatOpenID && id.Kind != points.IdentityAlipayUserID) || points.CheckIdentity(id) != nil {
		// The plugin vouched for something that is not a member identity:
		// never sign anyone in on it.
		e := refuse(points.Unavailable, CodeLoginChannelDown, "payment channel %q answered an identity the gateway cannot use", channel)
		e.RetryAfter = loginChannelRetry
		return "", errors.Join(e, fmt.Errorf("consent: %s answered identity kind %q (want %s)", channel, who.Kind, loginKinds))
	}
	memberID, err := s.Store.FindMember(ctx, "", id)
	if errors.Is(err, points.ErrNotFound) {
		return "", refuse(points.NotFound, points.CodeUnknownMember, "no points yet for this %s account: it becomes a member with its first purchase at an alliance merchant", channel)
	}
	return memberID, err
}

func printableASCII(s string, max int) bool {
	if s == "" || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}
