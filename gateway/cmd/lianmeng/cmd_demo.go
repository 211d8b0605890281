package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/lianmeng/lianmeng/gateway/api"
	"github.com/lianmeng/lianmeng/gateway/config"
	"github.com/lianmeng/lianmeng/gateway/consent"
	"github.com/lianmeng/lianmeng/gateway/merchant"
	"github.com/lianmeng/lianmeng/gateway/messaging"
	"github.com/lianmeng/lianmeng/gateway/points"
	"github.com/lianmeng/lianmeng/gateway/rules"
	"github.com/lianmeng/lianmeng/gateway/scheduler"
	"github.com/lianmeng/lianmeng/gateway/settlement"
	"github.com/lianmeng/lianmeng/gateway/staff"
	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/plugins/sandbox"
	"github.com/lianmeng/lianmeng/sdk"
	"github.com/lianmeng/lianmeng/sdk/client"
	"github.com/lianmeng/lianmeng/sdk/payment"
	"github.com/lianmeng/lianmeng/sdk/signature"
)

func init() {
	register(newDemoCommand)
}

// demoOptions are the demo command's flags.
type demoOptions struct {
	listen string
	data   string
	days   int
	seed   uint64
	// pluginEnv is passed to the sandbox plugin's process (tests: the
	// variable that makes the test binary serve builtin plugins).
	pluginEnv []string
}

func newDemoCommand() *cobra.Command {
	var o demoOptions
	c := &cobra.Command{
		Use:   "demo [flags]",
		Short: "run a gateway on a sample alliance, so every page has something to show",
		Long: `demo seeds a sample alliance on the embedded SQLite database and serves it
like serve does, until SIGINT or SIGTERM: four merchants of four industries
(restaurant, retail, fuel, hotel) with their earning rules and funded
budgets, members, purchases earning points, releases and redemptions over
the last --days simulated days, a favourable rule change taken at once and
a less favourable one scheduled with the notice the gateway enforces, and
one snapshot per day for the transparency page's charts.

It prints where the pages are and how to sign in to each: the merchant
console's staff logins, an operator token for the operator console, and
members' phone numbers (the development sender prints their sign-in codes
in the log). Budgets are funded as merchants fund them: through the
SANDBOX payment channel (plugins/sandbox; no real money), each top-up an
order paid on the sandbox's page and credited on its signed notification;
the gateway it serves has the sandbox channel configured, so the console's
top-up works too.

With --data DIR the alliance is kept in DIR (seeded on the first run only);
without, it lives in a temporary directory removed on exit. Nothing here is
real money: never point a demo at a production database.`,
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if o.days < 2 || o.days > 366 {
				return usagef("--days must be between 2 and 366")
			}
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			return demo(ctx, o, c.OutOrStdout(), c.ErrOrStderr(), nil)
		},
	}
	c.Flags().StringVar(&o.listen, "listen", "127.0.0.1:8080", "listen on `HOST:PORT`")
	c.Flags().StringVar(&o.data, "data", "", "keep the demo database and its keys in `DIR` (default: a temporary directory removed on exit)")
	c.Flags().IntVar(&o.days, "days", 30, "simulate this many `DAYS` of activity before today (2-366)")
	c.Flags().Uint64Var(&o.seed, "seed", 1, "`SEED` of the simulated purchases: the same seed, the same alliance")
	return c
}

// demoPassword is every demo staff account's password.
const demoPassword = "demo-password"

// demoMerchant is a sample merchant and its earning terms.
type demoMerchant struct {
	name, industry  string
	rateBP, maxPts  int64
	fundFen         int64
	perDay, meanFen int64 // purchases a day and their mean amount
	id, store       string
	api             *client.Client // signed as the merchant
}

// demo seeds (unless the database exists) and serves the sample alliance
// until ctx ends. ready, if not nil, receives the address once serving.
func demo(ctx context.Context, o demoOptions, stdout, stderr io.Writer, ready chan<- string) error {
	dir := o.data
	if dir == "" {
		tmp, err := os.MkdirTemp("", "lianmeng-demo-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	} else if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	cfg := config.Default()
	cfg.Database.Driver = store.SQLite
	cfg.Database.DSN = config.Secret(filepath.Join(dir, "lianmeng.db"))
	cfg.Database.MigrateOnStart = true
	listen, notify, err := demoListen(o.listen)
	if err != nil {
		return err
	}
	cfg.Listen = listen
	// The served gateway has the sandbox channel too, so the console's
	// top-up works as it would with a licensed channel (no real money).
	secret := make([]byte, 16)
	if _, err := rand.Read(secret); err != nil {
		return err
	}
	cfg.Plugins = append(cfg.Plugins, config.Plugin{Name: sandbox.Name, Kind: sdk.KindPaymentChannel, Path: "builtin:" + sandbox.Name,
		Timeout: config.Duration(5 * time.Second), Env: o.pluginEnv,
		Config: map[string]any{"notify_url": "http://" + notify + "/v1/channels/" + sandbox.Name + "/notify", "secret": hex.EncodeToString(secret)}})
	cfg.Log.Level = "warn" // the guide, not the request log; codes sent to members are warnings
	cfg.Members.Sender = "dev"
	cfg.Metrics.Listen = "" // no second port to collide with a gateway already running
	boot := make([]byte, 24)
	if _, err := rand.Read(boot); err != nil {
		return err
	}
	cfg.Operator.Token = config.Secret(hex.EncodeToString(boot))
	log := newLogger(cfg, stderr)

	ms := demoMerchants()
	_, statErr := os.Stat(store.SQLitePath(cfg.Database.DSN.Reveal()))
	fresh := errors.Is(statErr, os.ErrNotExist)
	if fresh {
		fmt.Fprintf(stdout, "Seeding a sample alliance of %d days in %s ...\n", o.days, dir)
		if err := seedDemo(ctx, cfg, log, ms, o.days, o.seed, time.Now()); err != nil {
			return fmt.Errorf("seed the demo: %w", err)
		}
	} else {
		fmt.Fprintf(stdout, "Using the alliance already in %s\n", dir)
	}

	up := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, log, up) }()
	var addr string
	select {
	case addr = <-up:
	case err := <-done:
		return err
	}
	base := "http://" + addr
	// A named operator token with every scope, made with the bootstrap
	// token as an operator would.
	var tok struct{ Token string }
	if err := client.NewOperator(base, cfg.Operator.Token.Reveal()).Do(ctx, "POST", "/v1/operator/tokens",
		map[string]any{"label": "demo", "scopes": api.OperatorScopes}, &tok); err != nil {
		return fmt.Errorf("operator token: %w", err)
	}
	list, err := demoExisting(ctx, cfg)
	if err != nil {
		return err
	}
	printDemoGuide(stdout, base, tok.Token, list)
	if ready != nil {
		ready <- addr
	}
	return <-done
}

func demoMerchants() []*demoMerchant {
	return []*demoMerchant{
		{name: "老街面馆 Old Street Noodles", industry: "restaurant", rateBP: 150, maxPts: 300, fundFen: 500_000, perDay: 8, meanFen: 6_000},
		{name: "鲜果超市 Fresh Mart", industry: "retail", rateBP: 100, fundFen: 800_000, perDay: 10, meanFen: 12_000},
		{name: "城东加油站 East Fuel", industry: "fuel", rateBP: 50, maxPts: 200, fundFen: 300_000, perDay: 6, meanFen: 30_000},
		{name: "江畔酒店 Riverside Hotel", industry: "hotel", rateBP: 300, maxPts: 3_000, fundFen: 1_000_000, perDay: 2, meanFen: 60_000},
	}
}

// demoClock is the simulated time of the seeding.
type demoClock struct{ us atomic.Int64 }

func (c *demoClock) Now() time.Time      { return time.UnixMicro(c.us.Load()).UTC() }
func (c *demoClock) Set(t time.Time)     { c.us.Store(t.UnixMicro()) }
func (c *demoClock) Add(d time.Duration) { c.us.Add(d.Microseconds()) }

// seedDemo writes the sample alliance through the domain (points, rules,
// staff) with a simulated clock running over the last days days, ending
// yesterday, then takes the daily snapshots.
func seedDemo(ctx context.Context, cfg config.Config, log *slog.Logger, ms []*demoMerchant, days int, seed uint64, now time.Time) error {
	db, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.Migrate(ctx, nil); err != nil {
		return err
	}
	// Members' phone numbers sealed with the keys serve will use.
	if err := setupPII(ctx, cfg, db, log); err != nil {
		return err
	}
	clk := &demoClock{}
	today := now.In(points.DayZone)
	start := time.Date(today.Year(), today.Month(), today.Day(), 9, 0, 0, 0, points.DayZone).AddDate(0, 0, -days)
	clk.Set(start)
	w := db.NewWriter(store.WriterOptions{Now: clk.Now, Log: log})
	defer w.Close()
	svc := &points.Service{Policy: cfg.Points.Policy(), Reader: db, Earnings: db, Now: clk.Now}
	rs := &rules.Service{Policy: svc.Policy, Notice: cfg.Rules.NoticePeriod.D(), Store: db, Now: clk.Now}
	submit := func(c points.Command) (any, error) {
		r := w.Submit(ctx, &store.Op{Command: c})
		return r.Value, r.Err
	}
	jobs := scheduler.PointsJobs(w, svc, time.Minute)
	al, err := startDemoAPI(ctx, cfg, db, w, svc, clk, log)
	if err != nil {
		return err
	}
	defer al.stop()
	for _, m := range ms {
		mm, err := merchant.NewMerchant(m.name, m.industry, clk.Now())
		if err != nil {
			return err
		}
		if err := db.Merchants().CreateMerchant(ctx, mm, "demo"); err != nil {
			return err
		}
		st, err := merchant.NewStore(mm.ID, m.name+" 1", clk.Now())
		if err != nil {
			return err
		}
		if err := db.Merchants().CreateStore(ctx, st, "demo"); err != nil {
			return err
		}
		m.id, m.store = mm.ID, st.ID
		if _, err := rs.PublishNow(ctx, m.id, m.industry, rules.Draft{RateBP: m.rateBP, MaxPoints: m.maxPts}, "demo"); err != nil {
			return fmt.Errorf("rules of %s: %w", m.name, err)
		}
		for _, role := range staff.Roles {
			s, err := staff.New(merchant.NewID("stf_"), m.id, role, role, demoPassword, clk.Now())
			if err != nil {
				return err
			}
			if err := db.CreateStaff(ctx, s, "demo"); err != nil {
				return err
			}
		}
		if err := al.fund(ctx, m, m.fundFen, "demo-funding-1"); err != nil {
			return err
		}
		// The merchant's API credential, for its redemptions.
		cred, secret, err := merchant.NewCredential(m.id, "hmac-sha256", "", "demo till", clk.Now())
		if err != nil {
			return err
		}
		if err := db.Merchants().CreateCredential(ctx, cred, "demo"); err != nil {
			return err
		}
		signer, err := signature.NewHMACSigner(cred.ID, secret)
		if err != nil {
			return err
		}
		m.api = client.NewMerchant(al.base, m.id, signer, client.WithClock(clk.Now))
	}
	rng := mrand.New(mrand.NewPCG(seed, 0x6c69616e6d656e67))
	phones := make([]string, 24)
	for i := range phones {
		phones[i] = fmt.Sprintf("1390000%04d", i+1)
	}
	order := 0
	for d := 0; d < days; d++ {
		clk.Set(start.AddDate(0, 0, d))
		if d == days/3 { // a favourable change, taken at once
			h := ms[3]
			if _, err := rs.PublishNow(ctx, h.id, h.industry, rules.Draft{RateBP: 400, MaxPoints: h.maxPts}, "demo"); err != nil {
				return fmt.Errorf("favourable change: %w", err)
			}
		}
		if d == days/2 { // a top-up
			if err := al.fund(ctx, ms[0], 200_000, "demo-funding-2"); err != nil {
				return err
			}
		}
		if d == days-2 { // a less favourable change, scheduled after the notice
			n := ms[0]
			v, err := rs.CreateDraft(ctx, n.id, rules.Draft{RateBP: 100, MaxPoints: n.maxPts,
				SummaryZH: "返还由 1.5% 调整为 1%", SummaryEN: "Rate from 1.5% to 1%"}, "demo")
			if err != nil {
				return err
			}
			if _, err := rs.Publish(ctx, n.id, n.industry, v.ID, clk.Now().Add(rs.Notice+24*time.Hour), "demo"); err != nil {
				return fmt.Errorf("scheduled change: %w", err)
			}
		}
		for _, m := range ms {
			for i := int64(0); i < m.perDay/2+rng.Int64N(m.perDay+1); i++ {
				clk.Add(time.Duration(rng.Int64N(int64(15 * time.Minute)))) // a day's purchases end before midnight
				order++
				amt := m.meanFen/2 + rng.Int64N(m.meanFen)
				c, err := svc.PrepareEarn(ctx, points.EarnRequest{MerchantID: m.id, StoreID: m.store, OrderID: fmt.Sprintf("demo-%d", order),
					Member: points.Identity{Kind: "phone", Value: phones[rng.IntN(len(phones))]}, AmountFen: amt})
				if err == nil {
					_, err = submit(c)
				}
				if err != nil {
					return fmt.Errorf("earn at %s: %w", m.name, err)
				}
			}
		}
		// Due lots released and expired as the scheduler does it.
		for _, j := range jobs {
			if _, err := j.Run(ctx); err != nil {
				return fmt.Errorf("%s: %w", j.Name, err)
			}
		}
		// Members spend some of what was released: each signs in with the
		// code texted to them, makes a redemption code in the app, and the
		// merchant redeems with it, all through the API.
		for i := 0; i < 3; i++ {
			clk.Add(10 * time.Minute)
			if err := al.redeem(ctx, ms[rng.IntN(len(ms))], phones[rng.IntN(len(phones))], rng, clk); err != nil {
				return err
			}
		}
	}
	if _, err := db.TakeSnapshots(ctx, now, 10*time.Minute, cfg.Points.FaceValueFen); err != nil {
		return err
	}
	return nil
}

// demoAPI is a private gateway API on the simulated clock that the
// seeding talks to as members and merchants do: members sign in with the
// code texted to them (captured here, as their phone would show it) and
// make redemption codes; merchants redeem with them, signed.
type demoAPI struct {
	base    string
	texts   *demoTexts
	tokens  map[string]demoSession // by phone
	stop    func()
	db      *store.DB
	funding *settlement.Funding // on the sandbox channel
	sandbox *sandbox.Channel
}

// demoChannels is the seeding's one payment channel, the sandbox.
type demoChannels struct{ ch *sandbox.Channel }

func (d demoChannels) PaymentChannel(name string) (payment.Channel, error) {
	if name != sandbox.Name {
		return nil, fmt.Errorf("%w: %q", settlement.ErrUnknownChannel, name)
	}
	return d.ch, nil
}

// fund tops up m's budget as a merchant does: a funding order on the
// sandbox channel (settlement.Funding.Create, as POST /v1/merchant/funding),
// paid on the sandbox's page, whose signed notification reaches the demo
// API's /v1/channels/sandbox/notify and is credited there, once.
func (a *demoAPI) fund(ctx context.Context, m *demoMerchant, fen int64, key string) error {
	o, err := a.funding.Create(ctx, settlement.FundingRequest{MerchantID: m.id, Channel: sandbox.Name, AmountFen: fen, IdemKey: key, CreatedBy: "demo"})
	if err != nil {
		return fmt.Errorf("funding order of %s: %w", m.name, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.sandbox.PageURL(o.ID), nil)
	if err != nil {
		return err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("pay the sandbox order of %s: %w", m.name, err)
	}
	b, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("pay the sandbox order of %s: %s %s", m.name, res.Status, b)
	}
	if o, err = a.db.FundingOrder(ctx, o.ID); err != nil {
		return err
	} else if o.Status != store.FundingSucceeded {
		return fmt.Errorf("the sandbox order of %s is %s after its payment", m.name, o.Status)
	}
	return nil
}

type demoSession struct {
	token   string
	expires time.Time
}

// demoTexts keeps the last code texted to each phone.
type demoTexts struct {
	mu   sync.Mutex
	last map[string]string
}

func (d *demoTexts) Send(_ context.Context, m messaging.Message) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.last[m.To] = m.Code
	return nil
}

func (d *demoTexts) code(phone string) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.last[phone]
}

func startDemoAPI(ctx context.Context, cfg config.Config, db *store.DB, w *store.Writer, svc *points.Service, clk *demoClock, log *slog.Logger) (*demoAPI, error) {
	if err := ensureMemberTokenKey(&cfg, log); err != nil {
		return nil, err
	}
	// Its own limits: one address signs every simulated member in.
	cfg.RateLimits.SignIn = config.Limit{Requests: 100_000, Per: config.Duration(time.Second), Burst: 100_000}
	cfg.RateLimits.Member = cfg.RateLimits.SignIn
	texts := &demoTexts{last: map[string]string{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	base := "http://" + ln.Addr().String()
	secret := make([]byte, 16)
	if _, err := rand.Read(secret); err != nil {
		ln.Close()
		return nil, err
	}
	sbCfg, _ := json.Marshal(sandbox.Config{NotifyURL: base + "/v1/channels/sandbox/notify", Secret: hex.EncodeToString(secret)})
	sb, err := sandbox.New(ctx, sbCfg)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("start the sandbox channel: %w", err)
	}
	funding := &settlement.Funding{DB: db, Writer: w, Points: svc, Channels: demoChannels{sb}, Log: log, Now: clk.Now}
	srv := api.New(api.Deps{Config: cfg, DB: db, Log: slog.New(slog.DiscardHandler), Writer: w, Now: clk.Now, Points: svc,
		Consent: &consent.Service{Store: db, Sender: texts, Now: clk.Now}, Funding: funding})
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(sctx, ln) }()
	return &demoAPI{base: base, texts: texts, tokens: map[string]demoSession{}, db: db, funding: funding, sandbox: sb,
		stop: func() { cancel(); <-done; sb.Close() }}, nil
}

// member returns a signed-in client for phone, signing in again when the
// member token has expired.
func (a *demoAPI) member(ctx context.Context, phone string, clk *demoClock) (*client.Client, error) {
	s, ok := a.tokens[phone]
	if !ok || !clk.Now().Before(s.expires.Add(-time.Minute)) {
		anon := client.NewOperator(a.base, "", client.WithClock(clk.Now))
		if err := anon.Do(ctx, "POST", "/v1/member/signin", map[string]string{"phone": phone}, nil); err != nil {
			return nil, fmt.Errorf("member sign-in: %w", err)
		}
		var tok struct {
			Token     string    `json:"token"`
			ExpiresAt time.Time `json:"expires_at"`
		}
		if err := anon.Do(ctx, "POST", "/v1/member/signin/verify", map[string]string{"phone": phone, "code": a.texts.code(phone)}, &tok); err != nil {
			return nil, fmt.Errorf("member sign-in code: %w", err)
		}
		s = demoSession{token: tok.Token, expires: tok.ExpiresAt}
		a.tokens[phone] = s
	}
	return client.NewOperator(a.base, s.token, client.WithClock(clk.Now)), nil
}

// redeem has the member at phone, if it has available points, spend up to
// half of them at m with a redemption code from its app.
func (a *demoAPI) redeem(ctx context.Context, m *demoMerchant, phone string, rng *mrand.Rand, clk *demoClock) error {
	mc, err := a.member(ctx, phone, clk)
	var ae *client.APIError
	if errors.As(err, &ae) && ae.Code == "unknown_member" {
		return nil // no purchase yet: not a member
	} else if err != nil {
		return err
	}
	var bal points.MemberBalance
	if err := mc.Do(ctx, "GET", "/v1/member/balance", nil, &bal); err != nil {
		return fmt.Errorf("member balance: %w", err)
	}
	if bal.Available < 20 {
		return nil
	}
	var code struct {
		Code string `json:"code"`
	}
	if err := mc.Do(ctx, "POST", "/v1/member/redemption-codes", map[string]int64{"max_points": 0}, &code); err != nil {
		return fmt.Errorf("redemption code: %w", err)
	}
	pts := 10 + rng.Int64N(bal.Available/2)
	order := fmt.Sprintf("demo-r-%d", rng.Int64())
	err = m.api.Do(ctx, "POST", "/v1/merchant/redeem", map[string]any{"store_id": m.store, "order_id": order, "code": code.Code,
		"points": pts, "amount_fen": pts * 3}, nil, client.IdempotencyKey(order))
	if err != nil {
		return fmt.Errorf("redeem at %s: %w", m.name, err)
	}
	return nil
}

// demoExisting lists the demo's merchants as the database has them.
func demoExisting(ctx context.Context, cfg config.Config) ([]merchant.Merchant, error) {
	db, err := openStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	return db.Merchants().ListMerchants(ctx, "", 100)
}

func printDemoGuide(w io.Writer, base, operatorToken string, ms []merchant.Merchant) {
	var b strings.Builder
	fmt.Fprintf(&b, "\nLianmeng demo: a sample alliance is running (press Ctrl-C to stop).\n\n")
	fmt.Fprintf(&b, "  Transparency page  %s/\n", base)
	fmt.Fprintf(&b, "  Member page        %s/member   sign in with 13900000001 ... 13900000024; the code is printed in the log below\n", base)
	fmt.Fprintf(&b, "  Operator console   %s/operator   token: %s\n", base, operatorToken)
	fmt.Fprintf(&b, "  Merchant console   %s/merchant/login   logins owner, finance, cashier; password %s\n\n", base, demoPassword)
	fmt.Fprintf(&b, "  %-26s %-12s %s\n", "merchant id", "industry", "name")
	for _, m := range ms {
		fmt.Fprintf(&b, "  %-26s %-12s %s\n", m.ID, m.Industry, m.Name)
	}
	fmt.Fprintf(&b, "\n  The API: %s/v1/openapi.json\n\n", base)
	fmt.Fprint(w, b.String())
}

// demoListen resolves port 0 of the listen address to a free port chosen
// now (the sandbox channel's notify URL must name it before serve starts)
// and returns the address to listen on and the one to notify, loopback for
// a wildcard host.
func demoListen(listen string) (addr, notify string, err error) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "", "", fmt.Errorf("--listen %q: %w", listen, err)
	}
	if port == "0" {
		l, err := net.Listen("tcp", listen)
		if err != nil {
			return "", "", fmt.Errorf("find a free port for %s: %w", listen, err)
		}
		_, port, _ = net.SplitHostPort(l.Addr().String())
		if err := l.Close(); err != nil {
			return "", "", err
		}
	}
	notifyHost := host
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		notifyHost = "127.0.0.1"
	}
	return net.JoinHostPort(host, port), net.JoinHostPort(notifyHost, port), nil
}
