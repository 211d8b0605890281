package alipay

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/smartwalle/alipay/v3"

	"github.com/lianmeng/lianmeng/sdk"
	"github.com/lianmeng/lianmeng/sdk/payment"
)

// maxAuthCode bounds a code before it is sent anywhere.
const maxAuthCode = 128

// ExchangeLoginCode exchanges a mini-program's my.getAuthCode code (scope
// auth_base) for the user's Alipay user_id, through
// alipay.system.oauth.token, RSA2-signed like every call and its answer
// verified. Alipay refuses a bad, expired or used code with an isv.code-*
// sub code: that is the member's (sdk.ErrInvalidInput); anything else is
// Alipay or the configuration failing. The access token stays here.
func (ch *Channel) ExchangeLoginCode(ctx context.Context, req payment.LoginRequest) (payment.LoginIdentity, error) {
	if req.Code == "" || len(req.Code) > maxAuthCode || strings.IndexFunc(req.Code, func(r rune) bool { return r <= ' ' || r > '~' }) >= 0 {
		return payment.LoginIdentity{}, fmt.Errorf("%w: alipay: an auth code is 1 to %d printable characters", sdk.ErrInvalidInput, maxAuthCode)
	}
	rsp, err := ch.client.SystemOauthToken(ctx, alipay.SystemOauthToken{GrantType: "authorization_code", Code: req.Code})
	if err != nil {
		var ae *alipay.Error
		if errors.As(err, &ae) && strings.HasPrefix(ae.SubCode, "isv.code-") {
			return payment.LoginIdentity{}, fmt.Errorf("%w: alipay: auth code refused: %s %s", sdk.ErrInvalidInput, ae.SubCode, ae.SubMsg)
		}
		return payment.LoginIdentity{}, fmt.Errorf("alipay: oauth token: %w", err)
	}
	// A success carries no code; a signed business failure does.
	if rsp.Code != "" && !rsp.Code.IsSuccess() {
		if strings.HasPrefix(rsp.SubCode, "isv.code-") {
			return payment.LoginIdentity{}, fmt.Errorf("%w: alipay: auth code refused: %s %s", sdk.ErrInvalidInput, rsp.SubCode, rsp.SubMsg)
		}
		return payment.LoginIdentity{}, fmt.Errorf("alipay: oauth token: %s %s", firstNonEmpty(rsp.SubCode, string(rsp.Code)), rsp.SubMsg)
	}
	if rsp.UserId == "" {
		// Apps in open-id mode get open_id instead: another id space than
		// the user_id payments report, so it is not taken for one.
		return payment.LoginIdentity{}, errors.New("alipay: oauth token answered no user_id (is the app in open_id mode?)")
	}
	return payment.LoginIdentity{Kind: payment.IdentityAlipayUserID, UserID: rsp.UserId, Properties: map[string]string{"app_id": ch.c.AppID}}, nil
}
