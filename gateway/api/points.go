package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/lianmeng/lianmeng/gateway/config"
	"github.com/lianmeng/lianmeng/gateway/ledger"
	"github.com/lianmeng/lianmeng/gateway/merchant"
	"github.com/lianmeng/lianmeng/gateway/points"
	"github.com/lianmeng/lianmeng/gateway/store"
)

// RuleEvaluator computes points with a merchant's earning-rule plugin. It
// returns an error wrapping ErrRuleUnavailable (with a retry hint) when the
// plugin cannot answer: earn then answers 503, never a guessed amount.
type RuleEvaluator interface {
	EvaluateEarning(ctx context.Context, plugin string, req RuleRequest) (points int64, version string, err error)
}

// RuleRequest is what a rule plugin sees of a purchase.
type RuleRequest struct {
	MerchantID string
	StoreID    string
	OrderID    string
	AmountFen  int64
	Items      []Item
	OccurredAt time.Time
	Attributes map[string]string
}

// Item is a purchase line.
type Item struct {
	SKU       string `json:"sku"`
	Name      string `json:"name"`
	Category  string `json:"category"`
	Quantity  int64  `json:"quantity"`
	AmountFen int64  `json:"amount_fen"`
}

// ErrRuleUnavailable marks a rule plugin that is down, slow or crashing.
var ErrRuleUnavailable = errors.New("earning rule unavailable")

// RetryAfterer is implemented by errors carrying a retry hint.
type RetryAfterer interface{ RetryAfter() time.Duration }

// PolicyFrom builds the points policy from configuration.
func PolicyFrom(c config.Config) points.Policy {
	p := c.Points
	return points.Policy{FaceValueFen: p.FaceValueFen, ReleaseDelay: p.ReleaseDelay.D(), Validity: p.Validity.D(),
		ExpiryPolicy: p.ExpiryPolicy, MaxPointsPerEarn: p.MaxPointsPerEarn, MaxAmountFen: p.MaxAmountFen}
}

// Idempotency and points error codes.
const (
	CodeIdemRequired = "idempotency_key_required"
	CodeIdemInvalid  = "idempotency_key_invalid"
	CodeIdemConflict = "idempotency_key_reused"
)

func (s *Server) routesPoints() {
	mw := s.merchantAuthWrite
	s.handle(fiber.MethodPost, "/v1/merchant/earn", mw, s.earn)
	s.handle(fiber.MethodPost, "/v1/merchant/earn/refund", mw, s.refundEarn)
	s.handle(fiber.MethodPost, "/v1/merchant/redeem", mw, s.redeem)
	s.handle(fiber.MethodPost, "/v1/merchant/redeem/refund", mw, s.refundRedeem)
	s.handle(fiber.MethodGet, "/v1/merchant/account", s.merchantAuth, s.merchantAccount)
	s.handle(fiber.MethodPost, "/v1/merchant/members/lookup", s.merchantAuth, s.memberLookup)
	s.handle(fiber.MethodPost, "/v1/merchant/members/token", s.merchantAuth, s.memberToken)

	op := s.operatorAuth
	s.handle(fiber.MethodPost, "/v1/operator/merchants/:merchant/fund", op, s.fund)
	s.handle(fiber.MethodPut, "/v1/operator/merchants/:merchant/earning", op, s.setEarning)
	s.handle(fiber.MethodGet, "/v1/operator/merchants/:merchant/earning", op, s.getEarning)
	s.handle(fiber.MethodGet, "/v1/operator/merchants/:merchant/account", op, s.operatorMerchantAccount)
	s.handle(fiber.MethodGet, "/v1/operator/totals", op, s.totals)
	s.handle(fiber.MethodGet, "/v1/public/coverage", s.coverage)

	s.handle(fiber.MethodGet, "/v1/member/balance", s.memberAuth, s.memberBalance)
	s.handle(fiber.MethodGet, "/v1/member/lots", s.memberAuth, s.memberLots)
	s.handle(fiber.MethodGet, "/v1/member/history", s.memberAuth, s.memberHistory)
}

// mapPointsErr maps domain refusals to API errors.
func mapPointsErr(err error) error {
	var pe *points.Error
	var ie *points.ErrInsufficient
	switch {
	case errors.As(err, &pe):
		status := map[points.Class]int{points.Invalid: 400, points.NotFound: 404, points.Conflict: 409,
			points.Unprocessable: 422, points.Unavailable: 503}[pe.Class]
		if status == 0 {
			status = 400
		}
		e := Errorf(status, pe.Code, "%s", pe.Message)
		if status == 503 {
			e.RetryAfter = 1
		}
		return e
	case errors.As(err, &ie):
		return Errorf(422, "insufficient_balance", "%s", ie.Error())
	case errors.Is(err, store.ErrNonceReplayed):
		return Errorf(fiber.StatusUnauthorized, CodeNonceReplayed, "nonce already used; make a new nonce for every request")
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return &Error{Status: 503, Code: CodeUnavailable, Message: "the ledger did not answer in time; retry with the same Idempotency-Key", RetryAfter: 1}
	case errors.Is(err, store.ErrWriterClosed):
		return &Error{Status: 503, Code: CodeUnavailable, Message: "the gateway is shutting down; retry with the same Idempotency-Key", RetryAfter: 1}
	}
	return err
}

// write runs a ledger write through the batching writer under the
// request's Idempotency-Key: the same key and body replays the stored
// response, the same key with another body is 409, and concurrent
// duplicates produce one effect. scope is the idempotency namespace
// (the merchant, or "operator").
func (s *Server) write(c *fiber.Ctx, scope string, keys store.Keys, ids int, status int, apply func(tx points.Tx) (any, error)) error {
	key := c.Get("Idempotency-Key")
	if key == "" {
		return Errorf(400, CodeIdemRequired, "writes need an Idempotency-Key header (1-128 characters, unique per operation)")
	}
	if len(key) > 128 || !printable(key) {
		return Errorf(400, CodeIdemInvalid, "Idempotency-Key must be 1-128 printable ASCII characters")
	}
	h := sha256.New()
	h.Write([]byte(c.Method() + " " + c.Path() + "\n"))
	h.Write(c.Body())
	hash := hex.EncodeToString(h.Sum(nil))
	nonce := pendingNonce(c)
	ctx, cancel := context.WithTimeout(c.UserContext(), 10*time.Second)
	defer cancel()
	// Replays are found inside the batch (one query for the whole batch),
	// which also consumes the retry's nonce in the same commit.
	op := &store.Op{Keys: keys, IDs: ids, Nonce: nonce, Idem: &store.Idem{MerchantID: scope, Key: key, RequestHash: hash},
		Apply: func(tx points.Tx) (int, []byte, error) {
			v, err := apply(tx)
			if err != nil {
				return 0, nil, err
			}
			b, err := json.Marshal(v)
			return status, b, err
		}}
	c.Locals(localNonce, nil) // the batch consumes it
	res := s.writer.Submit(ctx, op)
	if res.Err != nil {
		return mapPointsErr(res.Err)
	}
	if res.Replay != nil {
		return replay(c, res.Replay, hash)
	}
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return c.Status(res.Status).Send(res.Body)
}

func replay(c *fiber.Ctx, rec *store.IdemRecord, hash string) error {
	if rec.RequestHash != hash {
		return Errorf(409, CodeIdemConflict, "this Idempotency-Key was used for a different request; use a new key for a new operation")
	}
	c.Set("Idempotent-Replayed", "true")
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return c.Status(rec.Status).SendString(rec.Response)
}

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

type memberRef struct {
	Kind  string `json:"kind"`
	Value string `json:"value"`
}

func (m memberRef) identity() points.Identity { return points.Identity{Kind: m.Kind, Value: m.Value} }

type earnRequest struct {
	OrderID    string    `json:"order_id"`
	StoreID    string    `json:"store_id"`
	Member     memberRef `json:"member"`
	AmountFen  int64     `json:"amount_fen"`
	Points     *int64    `json:"points,omitempty"`
	Items      []Item    `json:"items,omitempty"`
	OccurredAt time.Time `json:"occurred_at,omitempty"`
	// Attributes are free-form facts for rule plugins (channel, table...).
	Attributes map[string]string `json:"attributes,omitempty"`
}

func (s *Server) earn(c *fiber.Ctx) error {
	var req earnRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	mid := merchantID(c)
	er := points.EarnRequest{MerchantID: mid, StoreID: req.StoreID, OrderID: req.OrderID, Member: req.Member.identity(),
		AmountFen: req.AmountFen, Points: req.Points}
	if err := s.svc.ValidateEarn(&er); err != nil {
		return mapPointsErr(err)
	}
	if len(req.Items) > 500 {
		return Errorf(400, CodeValidation, "at most 500 items per purchase")
	}
	for _, it := range req.Items {
		if it.Quantity < 0 || it.AmountFen < 0 || it.AmountFen > s.cfg.Points.MaxAmountFen {
			return Errorf(400, CodeValidation, "item quantity and amount_fen must be non-negative integers within the purchase maximum")
		}
	}
	if len(req.Attributes) > 20 {
		return Errorf(400, CodeValidation, "at most 20 attributes")
	}
	for k, v := range req.Attributes {
		if len(k) == 0 || len(k) > 64 || len(v) > 256 {
			return Errorf(400, CodeValidation, "attribute keys are 1-64 bytes, values at most 256")
		}
	}
	if err := s.checkStore(c, mid, req.StoreID); err != nil {
		return err
	}
	if req.Points == nil {
		if err := s.evaluateRule(c, mid, req, &er); err != nil {
			return err
		}
	}
	keys := store.Keys{Merchants: []string{mid}, Accounts: []string{ledger.MerchantBudget(mid)},
		Identities: []store.IdentityKey{{MerchantID: mid, Identity: er.Member}},
		Purchases:  []store.PurchaseKey{{MerchantID: mid, Kind: points.PurchaseEarn, OrderID: er.OrderID}}}
	return s.write(c, mid, keys, 8, fiber.StatusCreated, func(tx points.Tx) (any, error) {
		return s.svc.Earn(tx, er)
	})
}

// evaluateRule asks the merchant's rule plugin, if it has one, before the
// write: plugins are never called while a batch holds the ledger.
func (s *Server) evaluateRule(c *fiber.Ctx, mid string, req earnRequest, er *points.EarnRequest) error {
	ec, err := s.cache.earningConfig(c.UserContext(), mid)
	if err != nil {
		return err
	}
	if ec.RulePlugin == "" {
		return nil
	}
	if s.rules == nil {
		return &Error{Status: 503, Code: points.CodeRuleUnavailable, Message: "earning rule plugin " + ec.RulePlugin + " is not loaded", RetryAfter: 30}
	}
	at := req.OccurredAt
	if at.IsZero() {
		at = s.now()
	}
	pts, version, err := s.rules.EvaluateEarning(c.UserContext(), ec.RulePlugin, RuleRequest{MerchantID: mid, StoreID: req.StoreID,
		OrderID: req.OrderID, AmountFen: req.AmountFen, Items: req.Items, OccurredAt: at.UTC(), Attributes: req.Attributes})
	if err != nil {
		retry := 5
		var ra RetryAfterer
		if errors.As(err, &ra) && ra.RetryAfter() > 0 {
			retry = int((ra.RetryAfter() + time.Second - 1) / time.Second)
		}
		if errors.Is(err, ErrRuleUnavailable) {
			return &Error{Status: 503, Code: points.CodeRuleUnavailable, Message: "the earning rule is unavailable; retry with the same Idempotency-Key", RetryAfter: retry}
		}
		var pe *points.Error
		if errors.As(err, &pe) {
			return mapPointsErr(err)
		}
		return &Error{Status: 503, Code: points.CodeRuleUnavailable, Message: "the earning rule failed; retry with the same Idempotency-Key", RetryAfter: retry}
	}
	er.RulePoints, er.RuleVersion = &pts, version
	return nil
}

func (s *Server) checkStore(c *fiber.Ctx, mid, storeID string) error {
	if storeID == "" {
		return nil
	}
	st, err := s.cache.store(c.UserContext(), storeID)
	if errors.Is(err, merchant.ErrNotFound) || err == nil && st.MerchantID != mid {
		return Errorf(404, "unknown_store", "no store %q for this merchant", storeID)
	}
	return err
}

type refundEarnRequest struct {
	OrderID   string `json:"order_id"`
	AmountFen int64  `json:"amount_fen"`
}

func (s *Server) refundEarn(c *fiber.Ctx) error {
	var req refundEarnRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	mid := merchantID(c)
	keys := store.Keys{Purchases: []store.PurchaseKey{{MerchantID: mid, Kind: points.PurchaseEarn, OrderID: req.OrderID}}}
	return s.write(c, mid, keys, 4, fiber.StatusOK, func(tx points.Tx) (any, error) {
		return s.svc.RefundEarn(tx, points.RefundEarnRequest{MerchantID: mid, OrderID: req.OrderID, AmountFen: req.AmountFen})
	})
}

type redeemRequest struct {
	OrderID   string    `json:"order_id"`
	StoreID   string    `json:"store_id"`
	Member    memberRef `json:"member"`
	Points    int64     `json:"points"`
	AmountFen int64     `json:"amount_fen"`
}

func (s *Server) redeem(c *fiber.Ctx) error {
	var req redeemRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	mid := merchantID(c)
	if err := s.checkStore(c, mid, req.StoreID); err != nil {
		return err
	}
	keys := store.Keys{Merchants: []string{mid}, Identities: []store.IdentityKey{{MerchantID: mid, Identity: req.Member.identity()}},
		Purchases: []store.PurchaseKey{{MerchantID: mid, Kind: points.PurchaseRedeem, OrderID: req.OrderID}}}
	return s.write(c, mid, keys, 4, fiber.StatusCreated, func(tx points.Tx) (any, error) {
		return s.svc.Redeem(tx, points.RedeemRequest{MerchantID: mid, StoreID: req.StoreID, OrderID: req.OrderID,
			Member: req.Member.identity(), Points: req.Points, AmountFen: req.AmountFen})
	})
}

type refundRedeemRequest struct {
	OrderID string `json:"order_id"`
	Points  int64  `json:"points"`
}

func (s *Server) refundRedeem(c *fiber.Ctx) error {
	var req refundRedeemRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	mid := merchantID(c)
	keys := store.Keys{Purchases: []store.PurchaseKey{{MerchantID: mid, Kind: points.PurchaseRedeem, OrderID: req.OrderID}}}
	return s.write(c, mid, keys, 2, fiber.StatusOK, func(tx points.Tx) (any, error) {
		return s.svc.RefundRedeem(tx, points.RefundRedeemRequest{MerchantID: mid, OrderID: req.OrderID, Points: req.Points})
	})
}

type merchantAccount struct {
	MerchantID   string `json:"merchant_id"`
	BudgetPoints int64  `json:"budget_points"`
	PayableFen   int64  `json:"payable_fen"`
}

func (s *Server) accountOf(c *fiber.Ctx, mid string) error {
	b, err := s.db.Balances(c.UserContext(), ledger.MerchantBudget(mid), ledger.MerchantPayable(mid))
	if err != nil {
		return err
	}
	return c.JSON(merchantAccount{MerchantID: mid, BudgetPoints: b[ledger.MerchantBudget(mid)], PayableFen: b[ledger.MerchantPayable(mid)]})
}

func (s *Server) merchantAccount(c *fiber.Ctx) error { return s.accountOf(c, merchantID(c)) }

func (s *Server) operatorMerchantAccount(c *fiber.Ctx) error {
	m, err := s.pathMerchant(c)
	if err != nil {
		return err
	}
	return s.accountOf(c, m.ID)
}

type fundRequest struct {
	AmountFen   int64  `json:"amount_fen"`
	ExternalRef string `json:"external_ref"`
}

func (s *Server) fund(c *fiber.Ctx) error {
	var req fundRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	m, err := s.pathMerchant(c)
	if err != nil {
		return err
	}
	if req.ExternalRef == "" {
		return Errorf(400, CodeValidation, "external_ref (the payment channel's reference of the received money) is required")
	}
	keys := store.Keys{Merchants: []string{m.ID}, Purchases: []store.PurchaseKey{{MerchantID: m.ID, Kind: points.PurchaseFund, OrderID: req.ExternalRef}}}
	return s.write(c, "operator", keys, 3, fiber.StatusCreated, func(tx points.Tx) (any, error) {
		return s.svc.Fund(tx, points.FundRequest{MerchantID: m.ID, AmountFen: req.AmountFen, ExternalRef: req.ExternalRef})
	})
}

func (s *Server) setEarning(c *fiber.Ctx) error {
	var req store.EarningConfig
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	m, err := s.pathMerchant(c)
	if err != nil {
		return err
	}
	if req.RateBP < 0 || req.RateBP > 10000 {
		return Errorf(400, CodeValidation, "rate_bp must be between 0 and 10000 (basis points of the purchase amount)")
	}
	if req.MaxPoints < 0 || req.MaxPoints > s.cfg.Points.MaxPointsPerEarn {
		return Errorf(400, CodeValidation, "max_points must be between 0 (policy maximum) and %d", s.cfg.Points.MaxPointsPerEarn)
	}
	if len(req.RulePlugin) > 32 {
		return Errorf(400, CodeValidation, "rule_plugin is at most 32 characters")
	}
	if err := s.db.SetMerchantEarning(c.UserContext(), m.ID, req, actor(c), s.now()); err != nil {
		return err
	}
	s.cache.forget(m.ID, "")
	return c.JSON(req)
}

func (s *Server) getEarning(c *fiber.Ctx) error {
	m, err := s.pathMerchant(c)
	if err != nil {
		return err
	}
	ec, err := s.db.MerchantEarning(c.UserContext(), m.ID)
	if err != nil {
		return err
	}
	return c.JSON(ec)
}

type coverageResponse struct {
	store.Totals
	FaceValueFen int64 `json:"face_value_fen"`
	// CoverageBasisPoints is reserve ÷ (face value × outstanding points)
	// in basis points: 10000 means fully covered.
	CoverageBasisPoints int64  `json:"coverage_bp"`
	Covered             bool   `json:"covered"`
	AsOf                string `json:"as_of"`
}

func (s *Server) coverageOf(c *fiber.Ctx) (coverageResponse, error) {
	t, err := s.db.AllianceTotals(c.UserContext())
	if err != nil {
		return coverageResponse{}, err
	}
	need := t.OutstandingPts * s.cfg.Points.FaceValueFen
	r := coverageResponse{Totals: t, FaceValueFen: s.cfg.Points.FaceValueFen, Covered: t.ReserveFen >= need, AsOf: s.now().UTC().Format(time.RFC3339)}
	if need > 0 {
		r.CoverageBasisPoints = t.ReserveFen * 10000 / need
	} else {
		r.CoverageBasisPoints = 10000
	}
	return r, nil
}

func (s *Server) totals(c *fiber.Ctx) error {
	r, err := s.coverageOf(c)
	if err != nil {
		return err
	}
	return c.JSON(r)
}

// coverage is public: anyone can see that outstanding points are backed.
func (s *Server) coverage(c *fiber.Ctx) error {
	r, err := s.coverageOf(c)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"reserve_fen": r.ReserveFen, "outstanding_points": r.OutstandingPts, "face_value_fen": r.FaceValueFen,
		"coverage_bp": r.CoverageBasisPoints, "covered": r.Covered, "as_of": r.AsOf})
}

type lookupRequest struct {
	Member memberRef `json:"member"`
}

type balanceResponse struct {
	MemberID  string `json:"member_id"`
	Pending   int64  `json:"pending"`
	Available int64  `json:"available"`
}

func (s *Server) balanceOf(c *fiber.Ctx, memberID string) error {
	b, err := s.db.Balances(c.UserContext(), ledger.MemberPending(memberID), ledger.MemberAvailable(memberID))
	if err != nil {
		return err
	}
	return c.JSON(balanceResponse{MemberID: memberID, Pending: b[ledger.MemberPending(memberID)], Available: b[ledger.MemberAvailable(memberID)]})
}

// memberInBody finds the member a merchant names in a {"member": {...}}
// body, 404 unknown_member. Members are named in bodies, never in URLs,
// so phone numbers stay out of access logs.
func (s *Server) memberInBody(c *fiber.Ctx) (string, error) {
	var req lookupRequest
	if err := decodeJSON(c, &req); err != nil {
		return "", err
	}
	id := req.Member.identity()
	mid, err := s.db.FindMember(c.UserContext(), merchantID(c), id)
	var pe *points.Error
	if errors.As(err, &pe) {
		return "", mapPointsErr(err)
	}
	if errors.Is(err, points.ErrNotFound) {
		return "", Errorf(404, points.CodeUnknownMember, "no member with this %s", id.Kind)
	}
	return mid, err
}

// memberLookup answers a member's balance to a merchant.
func (s *Server) memberLookup(c *fiber.Ctx) error {
	mid, err := s.memberInBody(c)
	if err != nil {
		return err
	}
	return s.balanceOf(c, mid)
}

func (s *Server) memberBalance(c *fiber.Ctx) error { return s.balanceOf(c, memberID(c)) }

func (s *Server) memberLots(c *fiber.Ctx) error {
	limit, err := pageLimit(c, 100, 1000)
	if err != nil {
		return err
	}
	lots, err := s.db.MemberLots(c.UserContext(), memberID(c), c.Query("include_closed") == "true", limit)
	if err != nil {
		return err
	}
	if lots == nil {
		lots = []ledger.Lot{}
	}
	return c.JSON(fiber.Map{"lots": lots})
}

func (s *Server) memberHistory(c *fiber.Ctx) error {
	limit, err := pageLimit(c, 50, 500)
	if err != nil {
		return err
	}
	var before int64
	if cur := c.Query("cursor"); cur != "" {
		before, err = strconv.ParseInt(cur, 10, 64)
		if err != nil || before <= 0 {
			return Errorf(400, CodeValidation, "cursor must be the next_cursor of a previous page")
		}
	}
	mid := memberID(c)
	txs, err := s.db.AccountHistory(c.UserContext(), []string{ledger.MemberPending(mid), ledger.MemberAvailable(mid)}, before, limit)
	if err != nil {
		return err
	}
	// A member sees their own side of each transaction, not the merchant
	// or alliance accounts on the other side (which would tell any merchant
	// holding a member token where that member shops).
	own := "member:" + mid + ":"
	for i := range txs {
		var ps []ledger.Posting
		for _, p := range txs[i].Postings {
			if strings.HasPrefix(p.Account, own) {
				ps = append(ps, p)
			}
		}
		txs[i].Postings = ps
	}
	out := fiber.Map{"transactions": txs}
	if txs == nil {
		out["transactions"] = []ledger.Transaction{}
	}
	if len(txs) == limit {
		out["next_cursor"] = strconv.FormatInt(txs[len(txs)-1].ID, 10)
	}
	return c.JSON(out)
}
