package web

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"golang.org/x/time/rate"

	"github.com/lianmeng/lianmeng/gateway/merchant"
	"github.com/lianmeng/lianmeng/gateway/points"
	"github.com/lianmeng/lianmeng/gateway/rules"
	"github.com/lianmeng/lianmeng/gateway/settlement"
	"github.com/lianmeng/lianmeng/gateway/staff"
	"github.com/lianmeng/lianmeng/gateway/store"
)

// The merchant console: staff sign in with a password (argon2id), get a
// session cookie (HttpOnly, SameSite=Strict, Secure over TLS) and see what
// their role allows: today's figures (every role), budget and payable
// (owner, finance), API credentials with revocation (owner). Every form
// carries the session's CSRF token; every query is filtered by the
// session's merchant. Pages are rendered on the server (html/template).

//go:embed templates
var templates embed.FS

var consoleTmpl = template.Must(template.New("").Funcs(template.FuncMap{
	"yuan": yuan, "num": func(n int64) string { return group(fmt.Sprint(n)) },
	"when": func(t time.Time) string { return t.In(chinaTime).Format("2006-01-02 15:04") },
	"whenp": func(t *time.Time) string {
		if t == nil || t.IsZero() {
			return "—"
		}
		return t.In(chinaTime).Format("2006-01-02 15:04")
	},
	"local":    func(t time.Time) string { return t.In(chinaTime).Format("2006-01-02T15:04") },
	"pct":      percentBP,
	"can":      staff.Can,
	"hasScope": func(set []string, s string) bool { return slices.Contains(set, s) },
}).ParseFS(templates, "templates/*.html"))

// chinaTime is the alliance's day: "today" runs midnight to midnight in
// China Standard Time (UTC+8, no daylight saving).
var chinaTime = time.FixedZone("CST", 8*3600)

const (
	cookieName = "lianmeng_staff"
	cookiePath = "/merchant"
)

// Console serves the merchant console.
type Console struct {
	DB        *store.DB
	Merchants merchant.Repository
	Points    *points.Service
	// Rules is the rules service the API uses (nil: one on DB with the
	// points policy and the default notice); Payouts the payout service
	// (nil: no payment channel, the console lists payouts only).
	Rules   *rules.Service
	Payouts *settlement.Payouts
	// Funding is the API's funding service and FundingChannels the payment
	// channels a top-up may use (nil: no channel, no top-up form).
	Funding         *settlement.Funding
	FundingChannels []string
	Log             *slog.Logger
	// Now is the clock (tests move it); SessionTTL defaults to 8 hours.
	Now        func() time.Time
	SessionTTL time.Duration

	mu     sync.Mutex
	tries  map[string]*rate.Limiter
	tryCap int
}

// RegisterConsole adds the console's routes under /merchant.
func RegisterConsole(r fiber.Router, k *Console) {
	if k.Now == nil {
		k.Now = time.Now
	}
	if k.SessionTTL == 0 {
		k.SessionTTL = 8 * time.Hour
	}
	if k.Log == nil {
		k.Log = slog.Default()
	}
	if k.Rules == nil {
		k.Rules = &rules.Service{Policy: k.Points.Policy, Notice: rules.DefaultNotice, Store: k.DB, Now: k.Now}
	}
	k.tries, k.tryCap = map[string]*rate.Limiter{}, 10000
	r.Get("/merchant/login", k.loginPage)
	r.Post("/merchant/login", k.login)
	r.Get("/merchant", k.require(staff.ViewToday), k.today)
	r.Get("/merchant/finance", k.require(staff.ViewFinance), k.finance)
	r.Get("/merchant/credentials", k.require(staff.ViewCredentials), k.credentials)
	r.Post("/merchant/credentials", k.require(staff.ViewCredentials), k.checkCSRF, k.createCredential)
	r.Post("/merchant/credentials/:key/revoke", k.require(staff.ViewCredentials), k.checkCSRF, k.revoke)
	r.Post("/merchant/logout", k.require(staff.ViewToday), k.checkCSRF, k.logout)
	k.registerMore(r)    // console_more.go
	k.registerFunding(r) // console_funding.go
}

// page is what every console template gets.
type page struct {
	Title   string
	Session *staff.Session
	Message string
	Data    any
}

func (k *Console) render(c *fiber.Ctx, status int, name string, p page) error {
	var b strings.Builder
	if err := consoleTmpl.ExecuteTemplate(&b, name, p); err != nil {
		return fmt.Errorf("console template %s: %w", name, err)
	}
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	c.Set(fiber.HeaderContentSecurityPolicy, csp)
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	// same-origin, not no-referrer: with no-referrer a browser sends
	// "Origin: null" on the console's own forms, which checkCSRF refuses.
	c.Set(fiber.HeaderReferrerPolicy, "same-origin")
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.Status(status).SendString(b.String())
}

func (k *Console) fail(c *fiber.Ctx, status int, s *staff.Session, msg string) error {
	return k.render(c, status, "error", page{Title: http.StatusText(status), Session: s, Message: msg})
}

func (k *Console) loginPage(c *fiber.Ctx) error {
	return k.render(c, 200, "login", page{Title: "商户登录 Merchant sign-in"})
}

// allow takes a sign-in attempt from the bucket of this address, merchant
// and login: five, then one a minute.
func (k *Console) allow(key string) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	l, ok := k.tries[key]
	if !ok {
		if len(k.tries) >= k.tryCap {
			k.tries = map[string]*rate.Limiter{} // bounded: forget everyone rather than grow
		}
		l = rate.NewLimiter(rate.Every(time.Minute), 5)
		k.tries[key] = l
	}
	return l.AllowN(k.Now(), 1)
}

func (k *Console) login(c *fiber.Ctx) error {
	merchantID, login, password := strings.TrimSpace(c.FormValue("merchant")), strings.TrimSpace(c.FormValue("login")), c.FormValue("password")
	if merchantID == "" || login == "" || password == "" || len(password) > 1024 {
		return k.render(c, 400, "login", page{Title: "商户登录 Merchant sign-in", Message: "请填写商户编号、用户名和密码。Fill in the merchant id, login and password."})
	}
	if !k.allow(c.IP() + "|" + merchantID + "|" + login) {
		c.Set(fiber.HeaderRetryAfter, "60")
		return k.render(c, 429, "login", page{Title: "商户登录 Merchant sign-in", Message: "尝试次数过多，请一分钟后再试。Too many attempts: try again in a minute."})
	}
	st, err := staff.Authenticate(c.UserContext(), k.DB, merchantID, login, password)
	if errors.Is(err, staff.ErrNotFound) {
		return k.render(c, 401, "login", page{Title: "商户登录 Merchant sign-in", Message: "商户编号、用户名或密码不对。Wrong merchant id, login or password."})
	} else if err != nil {
		return err
	}
	token, sess, err := staff.NewSession(st, k.Now().UTC().Truncate(time.Microsecond), k.SessionTTL)
	if err != nil {
		return err
	}
	if err := k.DB.CreateStaffSession(c.UserContext(), sess); err != nil {
		return err
	}
	c.Cookie(&fiber.Cookie{Name: cookieName, Value: token, Path: cookiePath, Expires: sess.ExpiresAt, HTTPOnly: true,
		Secure: c.Protocol() == "https", SameSite: fiber.CookieSameSiteStrictMode})
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.Redirect("/merchant", fiber.StatusSeeOther)
}

const localSession = "staff_session"

func sessionOf(c *fiber.Ctx) *staff.Session {
	s, _ := c.Locals(localSession).(*staff.Session)
	return s
}

// require admits a live session whose role may open view: no session
// sends a page request to the sign-in (and refuses a form post with 401);
// another role gets 403 and nothing else.
func (k *Console) require(view string) fiber.Handler {
	return func(c *fiber.Ctx) error {
		s, err := k.current(c.UserContext(), c.Cookies(cookieName))
		if err != nil {
			return err
		}
		if s == nil {
			if c.Method() == fiber.MethodGet {
				return c.Redirect("/merchant/login", fiber.StatusSeeOther)
			}
			return k.fail(c, 401, nil, "请先登录（会话不存在或已过期）。Sign in first: no session, or it expired.")
		}
		if !staff.Can(s.Role, view) {
			return k.fail(c, 403, s, "您的角色（"+s.Role+"）不能打开此页面。Your role ("+s.Role+") cannot open this page.")
		}
		c.Locals(localSession, s)
		return c.Next()
	}
}

func (k *Console) current(ctx context.Context, token string) (*staff.Session, error) {
	if token == "" || len(token) > 100 {
		return nil, nil
	}
	s, err := k.DB.StaffSession(ctx, staff.TokenHash(token))
	if errors.Is(err, staff.ErrNotFound) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	if !k.Now().Before(s.ExpiresAt) {
		return nil, nil
	}
	return &s, nil
}

// checkCSRF refuses a form without the session's CSRF token, or sent from
// another origin, before anything is changed.
func (k *Console) checkCSRF(c *fiber.Ctx) error {
	s := sessionOf(c)
	if o := c.Get(fiber.HeaderOrigin); o != "" && o != c.BaseURL() {
		return k.fail(c, 403, s, "来源不符，未做任何更改。The request came from another origin; nothing was changed.")
	}
	if !s.CheckCSRF(c.FormValue("csrf")) {
		return k.fail(c, 403, s, "缺少或错误的 CSRF 令牌，未做任何更改。Missing or wrong CSRF token; nothing was changed.")
	}
	return c.Next()
}

type todayData struct {
	Day     string
	Figures store.DayFigures
}

func (k *Console) today(c *fiber.Ctx) error {
	s := sessionOf(c)
	now := k.Now().In(chinaTime)
	from := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, chinaTime)
	f, err := k.DB.MerchantFigures(c.UserContext(), s.MerchantID, from, from.AddDate(0, 0, 1))
	if err != nil {
		return err
	}
	return k.render(c, 200, "today", page{Title: "今日 Today", Session: s, Data: todayData{Day: from.Format("2006-01-02"), Figures: f}})
}

func (k *Console) finance(c *fiber.Ctx) error { return k.renderFinance(c, 200, "") }

// credentialsData is the credentials page: the merchant's keys, the
// scopes a new key may take, and a just-created key with its secret
// (shown on this one response, never stored in the clear nor shown again).
type credentialsData struct {
	Creds   []merchant.Credential
	Scopes  []string
	Default []string
	Created *merchant.Credential
	Secret  string
}

func (k *Console) credentials(c *fiber.Ctx) error {
	return k.renderCredentials(c, 200, "", credentialsData{})
}

func (k *Console) renderCredentials(c *fiber.Ctx, status int, msg string, d credentialsData) error {
	s := sessionOf(c)
	creds, err := k.Merchants.ListCredentials(c.UserContext(), s.MerchantID)
	if err != nil {
		return err
	}
	d.Creds, d.Scopes, d.Default = creds, merchant.Scopes, merchant.DefaultScopes()
	return k.render(c, status, "credentials", page{Title: "API 凭证 Credentials", Session: s, Message: msg, Data: d})
}

// createCredential issues a key to the session's merchant through the
// same domain constructor and store call as the operator API
// (merchant.NewCredential, ParseScopes, Repository.CreateCredential); an
// hmac-sha256 secret is on this page once.
func (k *Console) createCredential(c *fiber.Ctx) error {
	s := sessionOf(c)
	var scopes []string
	for _, v := range c.Request().PostArgs().PeekMulti("scope") {
		scopes = append(scopes, string(v))
	}
	cred, secret, err := merchant.NewCredential(s.MerchantID, c.FormValue("algorithm"), strings.TrimSpace(c.FormValue("public_key")), c.FormValue("label"), k.Now())
	if err == nil {
		cred.Scopes, err = merchant.ParseScopes(scopes)
	}
	var inv *merchant.InvalidError
	if errors.As(err, &inv) {
		return k.renderCredentials(c, 400, "[validation_failed] "+inv.Error(), credentialsData{})
	} else if err != nil {
		return err
	}
	if err := k.Merchants.CreateCredential(c.UserContext(), cred, "staff:"+s.StaffID); err != nil {
		return err
	}
	return k.renderCredentials(c, 201, "", credentialsData{Created: &cred, Secret: secret})
}

// revoke revokes one of the session's merchant's credentials; a key of
// another merchant is not found, exactly like one that does not exist.
func (k *Console) revoke(c *fiber.Ctx) error {
	s := sessionOf(c)
	err := k.Merchants.RevokeCredential(c.UserContext(), s.MerchantID, c.Params("key"), k.Now(), "staff:"+s.StaffID)
	if errors.Is(err, merchant.ErrNotFound) {
		return k.fail(c, 404, s, "没有这个凭证。No such credential.")
	} else if err != nil && !errors.Is(err, merchant.ErrAlreadyRevoked) {
		return err
	}
	return c.Redirect("/merchant/credentials", fiber.StatusSeeOther)
}

func (k *Console) logout(c *fiber.Ctx) error {
	if err := k.DB.DeleteStaffSession(c.UserContext(), sessionOf(c).TokenHash); err != nil {
		return err
	}
	c.Cookie(&fiber.Cookie{Name: cookieName, Value: "", Path: cookiePath, Expires: time.Unix(0, 0), MaxAge: -1, HTTPOnly: true,
		Secure: c.Protocol() == "https", SameSite: fiber.CookieSameSiteStrictMode})
	return c.Redirect("/merchant/login", fiber.StatusSeeOther)
}

// yuan formats fen as ¥ with two decimals and thousands separators.
func yuan(fen int64) string {
	sign := ""
	if fen < 0 {
		sign, fen = "-", -fen
	}
	return fmt.Sprintf("%s¥%s.%02d", sign, group(fmt.Sprint(fen/100)), fen%100)
}

func group(d string) string {
	neg := strings.HasPrefix(d, "-")
	d = strings.TrimPrefix(d, "-")
	for i := len(d) - 3; i > 0; i -= 3 {
		d = d[:i] + "," + d[i:]
	}
	if neg {
		return "-" + d
	}
	return d
}
