package web

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/lianmeng/lianmeng/gateway/points"
	"github.com/lianmeng/lianmeng/gateway/rules"
	"github.com/lianmeng/lianmeng/gateway/settlement"
	"github.com/lianmeng/lianmeng/gateway/staff"
	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/sdk/payment"
)

// The console's rules, statements, payouts and POS pages. Each goes
// through the service the API uses for the same thing (rules.Service,
// settlement.Payouts, the store's statements and inbox), on the signed-in
// merchant only: another merchant's draft, statement or event is not
// found, exactly like one that does not exist.

func (k *Console) registerMore(r fiber.Router) {
	r.Get("/merchant/rules", k.require(staff.ViewRules), k.rulesPage)
	r.Post("/merchant/rules/drafts", k.require(staff.ViewRules), k.checkCSRF, k.createDraft)
	r.Post("/merchant/rules/drafts/:draft/simulate", k.require(staff.ViewRules), k.checkCSRF, k.simulateDraft)
	r.Post("/merchant/rules/drafts/:draft/publish", k.require(staff.ViewRules), k.checkCSRF, k.publishDraft)
	r.Post("/merchant/rules/versions/:version/withdraw", k.require(staff.ViewRules), k.checkCSRF, k.withdrawVersion)
	r.Get("/merchant/statements", k.require(staff.ViewStatements), k.statementsPage)
	r.Get("/merchant/statements/:file", k.require(staff.ViewStatements), k.statementFile)
	r.Get("/merchant/payouts", k.require(staff.ViewPayouts), k.payoutsPage)
	r.Post("/merchant/payouts", k.require(staff.ViewPayouts), k.checkCSRF, k.requestPayout)
	r.Get("/merchant/pos", k.require(staff.ViewPOS), k.posPage)
	r.Post("/merchant/pos/inbox/:event/replay", k.require(staff.ViewPOS), k.checkCSRF, k.replayEvent)
	r.Get("/merchant/purchases", k.require(staff.ViewPurchases), k.purchasesPage)
}

// purchasesData is a page of the merchant's purchase history.
type purchasesData struct {
	Purchases []points.MerchantPurchase
	// Next is the cursor of the next (older) page ("" on the last).
	Next string
}

// purchasesPageSize is how many purchases a page of the console lists.
const purchasesPageSize = 50

// purchasesPage lists the merchant's purchases, newest first, each with
// how its points were computed: the same read as GET
// /v1/merchant/purchases.
func (k *Console) purchasesPage(c *fiber.Ctx) error {
	s := sessionOf(c)
	var before int64
	if cur := c.Query("cursor"); cur != "" {
		n, err := strconv.ParseInt(cur, 10, 64)
		if err != nil || n <= 0 {
			return k.fail(c, 400, s, "翻页参数无效。The page cursor is not valid.")
		}
		before = n
	}
	ps, err := k.DB.MerchantPurchases(c.UserContext(), s.MerchantID, "", before, purchasesPageSize)
	if err != nil {
		return err
	}
	d := purchasesData{Purchases: ps}
	if len(ps) == purchasesPageSize {
		d.Next = strconv.FormatInt(ps[len(ps)-1].ID, 10)
	}
	return k.render(c, 200, "purchases", page{Title: "购买记录 Purchases", Session: s, Data: d})
}

// rulesData is the rules page: the versions with their states, the
// notice the gateway enforces, and a draft's simulation when asked.
type rulesData struct {
	Versions   []rules.Version
	NoticeDays int64
	Sim        *rules.Simulation
	SimID      int64
	// Earliest is when the simulated draft may take effect: now, or after
	// the notice if it is less favourable to members.
	Earliest time.Time
	Problems []rules.Problem
}

func (k *Console) notice() time.Duration { return k.Rules.Notice }

func (k *Console) renderRules(c *fiber.Ctx, status int, msg string, d rulesData) error {
	s := sessionOf(c)
	vs, err := k.Rules.Versions(c.UserContext(), s.MerchantID)
	if err != nil {
		return err
	}
	d.Versions, d.NoticeDays = vs, int64(k.notice()/(24*time.Hour))
	return k.render(c, status, "rules", page{Title: "积分规则 Earning rules", Session: s, Message: msg, Data: d})
}

func (k *Console) rulesPage(c *fiber.Ctx) error { return k.renderRules(c, 200, "", rulesData{}) }

// rulesRefusal renders a refusal of the rules service as the page with
// its message (and an expression's compile errors); anything else is an
// error.
func (k *Console) rulesRefusal(c *fiber.Ctx, err error) error {
	var re *rules.Error
	if !errors.As(err, &re) {
		return err
	}
	msg := "[" + re.Code + "] " + re.Message
	if !re.Earliest.IsZero() {
		msg += "（最早可生效 earliest: " + re.Earliest.In(chinaTime).Format("2006-01-02 15:04") + " 北京时间 CST）"
	}
	return k.renderRules(c, re.Status, msg, rulesData{Problems: re.Problems})
}

// formInt reads an optional non-negative integer field.
func formInt(c *fiber.Ctx, name string) (int64, bool) {
	v := strings.TrimSpace(c.FormValue(name))
	if v == "" {
		return 0, true
	}
	n, err := strconv.ParseInt(v, 10, 64)
	return n, err == nil && n >= 0
}

func (k *Console) createDraft(c *fiber.Ctx) error {
	s := sessionOf(c)
	rate, ok1 := formInt(c, "rate_bp")
	maxPts, ok2 := formInt(c, "max_points")
	if !ok1 || !ok2 {
		return k.renderRules(c, 400, "返还比例和每笔上限须为非负整数。rate_bp and max_points must be whole numbers, 0 or more.", rulesData{})
	}
	d := rules.Draft{RateBP: rate, MaxPoints: maxPts, Expression: strings.TrimSpace(c.FormValue("expression")),
		SummaryZH: strings.TrimSpace(c.FormValue("summary_zh")), SummaryEN: strings.TrimSpace(c.FormValue("summary_en"))}
	if _, err := k.Rules.CreateDraft(c.UserContext(), s.MerchantID, d, "staff:"+s.StaffID); err != nil {
		return k.rulesRefusal(c, err)
	}
	return c.Redirect("/merchant/rules", fiber.StatusSeeOther)
}

func pathID(c *fiber.Ctx, name string) int64 {
	n, err := strconv.ParseInt(c.Params(name), 10, 64)
	if err != nil || n <= 0 {
		return 0
	}
	return n
}

// simulateDraft runs the draft on the merchant's recent purchases (the
// industry's sample purchases when it has none) and says when it may take
// effect.
func (k *Console) simulateDraft(c *fiber.Ctx) error {
	s := sessionOf(c)
	id := pathID(c, "draft")
	sim, err := k.Rules.Simulate(c.UserContext(), s.MerchantID, id, rules.SimulationRequest{Recent: 20})
	if err != nil {
		return k.rulesRefusal(c, err)
	}
	earliest := k.Now()
	if rules.LessFavourable(sim.Changes) {
		earliest = earliest.Add(k.notice())
	}
	return k.renderRules(c, 200, "", rulesData{Sim: &sim, SimID: id, Earliest: earliest})
}

// publishDraft publishes the draft to take effect at the time given in
// China Standard Time (empty: now); the rules service refuses a less
// favourable change before its notice with the earliest allowed time.
func (k *Console) publishDraft(c *fiber.Ctx) error {
	s := sessionOf(c)
	m, err := k.Merchants.GetMerchant(c.UserContext(), s.MerchantID)
	if err != nil {
		return err
	}
	var at time.Time
	if v := strings.TrimSpace(c.FormValue("effective_at")); v != "" {
		if at, err = time.ParseInLocation("2006-01-02T15:04", v, chinaTime); err != nil {
			return k.renderRules(c, 400, "生效时间格式应为 YYYY-MM-DDTHH:MM。effective_at must be YYYY-MM-DDTHH:MM.", rulesData{})
		}
	}
	if _, err := k.Rules.Publish(c.UserContext(), m.ID, m.Industry, pathID(c, "draft"), at, "staff:"+s.StaffID); err != nil {
		return k.rulesRefusal(c, err)
	}
	return c.Redirect("/merchant/rules", fiber.StatusSeeOther)
}

func (k *Console) withdrawVersion(c *fiber.Ctx) error {
	s := sessionOf(c)
	if _, err := k.Rules.Withdraw(c.UserContext(), s.MerchantID, pathID(c, "version"), "staff:"+s.StaffID); err != nil {
		return k.rulesRefusal(c, err)
	}
	return c.Redirect("/merchant/rules", fiber.StatusSeeOther)
}

// statementsData lists the days with a statement and shows one.
type statementsData struct {
	Dates     []string
	Date      string
	Statement *settlement.Statement
	KeyID     string
}

func (k *Console) statementsPage(c *fiber.Ctx) error {
	s := sessionOf(c)
	ds, err := k.DB.StatementDates(c.UserContext(), s.MerchantID, 90)
	if err != nil {
		return err
	}
	d := statementsData{Dates: ds}
	if date := c.Query("date"); date != "" {
		st, err := k.statement(c, s.MerchantID, date)
		if errors.Is(err, store.ErrStatementNotFound) {
			return k.fail(c, 404, s, "没有这一天的结算单。No statement for that day.")
		} else if err != nil {
			return err
		}
		d.Date, d.KeyID = date, st.KeyID
		var v settlement.Statement
		if err := json.Unmarshal([]byte(st.Body), &v); err != nil {
			return fmt.Errorf("statement %s: %w", date, err)
		}
		d.Statement = &v
	}
	return k.render(c, 200, "statements", page{Title: "结算单 Statements", Session: s, Data: d})
}

func (k *Console) statement(c *fiber.Ctx, merchantID, date string) (store.StoredStatement, error) {
	if _, err := time.Parse("2006-01-02", date); err != nil {
		return store.StoredStatement{}, store.ErrStatementNotFound
	}
	return k.DB.Statement(c.UserContext(), merchantID, date)
}

// statementFile downloads a statement: DATE.csv for spreadsheets, or
// DATE.json, the body exactly as signed with its signature (verify it
// over "lianmeng-statement-v1\n" + body with the evidence key).
func (k *Console) statementFile(c *fiber.Ctx) error {
	s := sessionOf(c)
	file := c.Params("file")
	date, ext, _ := strings.Cut(file, ".")
	st, err := k.statement(c, s.MerchantID, date)
	if errors.Is(err, store.ErrStatementNotFound) || ext != "csv" && ext != "json" {
		return k.fail(c, 404, s, "没有这一天的结算单。No statement for that day.")
	} else if err != nil {
		return err
	}
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="statement-`+s.MerchantID+`-`+file+`"`)
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	if ext == "json" {
		return c.JSON(fiber.Map{"body": st.Body, "key_id": st.KeyID, "signature": st.Signature})
	}
	var v settlement.Statement
	if err := json.Unmarshal([]byte(st.Body), &v); err != nil {
		return fmt.Errorf("statement %s: %w", date, err)
	}
	c.Set(fiber.HeaderContentType, "text/csv; charset=utf-8")
	return c.Send(v.CSV())
}

type payoutsData struct {
	PayableFen int64
	Payouts    []store.Payout
	CanRequest bool
	Key        string // this form's idempotency key: a double submit is one payout
}

func (k *Console) renderPayouts(c *fiber.Ctx, status int, msg string) error {
	s := sessionOf(c)
	a, err := k.Points.MerchantAccount(c.UserContext(), s.MerchantID)
	if err != nil {
		return err
	}
	ps, err := k.DB.MerchantPayouts(c.UserContext(), s.MerchantID, 100)
	if err != nil {
		return err
	}
	key := make([]byte, 16)
	if _, err := rand.Read(key); err != nil {
		return err
	}
	d := payoutsData{PayableFen: a.PayableFen, Payouts: ps, CanRequest: k.Payouts != nil, Key: hex.EncodeToString(key)}
	return k.render(c, status, "payouts", page{Title: "付款 Payouts", Session: s, Message: msg, Data: d})
}

func (k *Console) payoutsPage(c *fiber.Ctx) error { return k.renderPayouts(c, 200, "") }

// parseYuan reads a form's amount in yuan ("123", "¥123.4", "123.45") as
// fen with payment.ParseYuan; at most 12 digits of yuan, a sanity bound
// for a form. Callers refuse amounts that are not positive.
func parseYuan(v string) (int64, bool) {
	v = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), "¥"))
	if whole, _, _ := strings.Cut(strings.TrimPrefix(v, "-"), "."); len(whole) > 12 {
		return 0, false
	}
	fen, err := payment.ParseYuan(v)
	return fen, err == nil
}

func (k *Console) requestPayout(c *fiber.Ctx) error {
	s := sessionOf(c)
	if k.Payouts == nil {
		return k.renderPayouts(c, 503, "本网关未配置支付渠道，无法付款。No payment channel is configured on this gateway.")
	}
	fen, ok := parseYuan(c.FormValue("amount"))
	key := c.FormValue("key")
	if !ok || fen <= 0 || key == "" || len(key) > 128 {
		return k.renderPayouts(c, 400, "请填写金额（元，最多两位小数）。Enter an amount in yuan with at most two decimals.")
	}
	_, err := k.Payouts.Request(c.UserContext(), settlement.PayoutRequest{MerchantID: s.MerchantID, AmountFen: fen, IdemKey: "console:" + key})
	switch {
	case errors.Is(err, settlement.ErrInsufficientPayable):
		return k.renderPayouts(c, 422, "[payout_exceeds_payable] 金额超过联盟应付。The amount is more than the alliance owes.")
	case errors.Is(err, settlement.ErrNoPayoutAccount):
		return k.renderPayouts(c, 422, "[no_payout_account] 运营方尚未设置收款账户。The operator has not set a payout account.")
	case errors.Is(err, settlement.ErrInvalid):
		return k.renderPayouts(c, 400, err.Error())
	case err != nil:
		return err
	}
	return c.Redirect("/merchant/payouts", fiber.StatusSeeOther)
}

type posData struct {
	Connections []store.POSConnection
	Dead        []store.InboxEvent
	Recent      []store.InboxEvent
}

func (k *Console) posPage(c *fiber.Ctx) error {
	s := sessionOf(c)
	ctx := c.UserContext()
	cs, err := k.DB.POSConnections(ctx, s.MerchantID)
	if err != nil {
		return err
	}
	dead, err := k.DB.InboxEvents(ctx, store.InboxFilter{MerchantID: s.MerchantID, State: store.InboxDead, Limit: 100})
	if err != nil {
		return err
	}
	recent, err := k.DB.InboxEvents(ctx, store.InboxFilter{MerchantID: s.MerchantID, Limit: 100})
	if err != nil {
		return err
	}
	return k.render(c, 200, "pos", page{Title: "收银系统 POS", Session: s, Data: posData{Connections: cs, Dead: dead, Recent: recent}})
}

// replayEvent sends one of the merchant's dead-lettered events back to the
// inbox; another merchant's event is not found.
func (k *Console) replayEvent(c *fiber.Ctx) error {
	s := sessionOf(c)
	err := k.DB.ReplayInboxEvent(c.UserContext(), pathID(c, "event"), s.MerchantID, k.Now(), "staff:"+s.StaffID)
	if errors.Is(err, store.ErrInboxEventNotFound) {
		return k.fail(c, 404, s, "没有这个失败的事件（只能重放失败的事件）。No such dead-lettered event: only those replay.")
	} else if err != nil {
		return err
	}
	return c.Redirect("/merchant/pos", fiber.StatusSeeOther)
}
