package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/lianmeng/lianmeng/gateway/consent"
	"github.com/lianmeng/lianmeng/gateway/merchant"
	"github.com/lianmeng/lianmeng/gateway/points"
	"github.com/lianmeng/lianmeng/gateway/store"
)

// Idempotency and points error codes.
const (
	CodeIdemRequired = "idempotency_key_required"
	CodeIdemInvalid  = "idempotency_key_invalid"
	CodeIdemConflict = "idempotency_key_reused"
)

func (s *Server) routesPoints() {
	mw := s.merchantAuthWrite
	// Signed routes: authentication, the credential's rate limit and scope
	// (ratelimit.go, scopes.go), then the member limits where a member is named.
	lc, sc := s.limitCredential, s.requireScope
	s.handle(fiber.MethodPost, "/v1/merchant/earn", mw, lc, sc, s.earn)
	s.handle(fiber.MethodPost, "/v1/merchant/earn/refund", mw, lc, sc, s.refundEarn)
	s.handle(fiber.MethodPost, "/v1/merchant/redeem", mw, lc, sc, s.limitMember, s.redeem)
	s.handle(fiber.MethodPost, "/v1/merchant/redeem/refund", mw, lc, sc, s.refundRedeem)
	s.handle(fiber.MethodGet, "/v1/merchant/account", s.merchantAuth, lc, sc, s.merchantAccount)
	s.handle(fiber.MethodGet, "/v1/merchant/purchases", s.merchantAuth, lc, sc, s.merchantPurchases)
	s.handle(fiber.MethodPost, "/v1/merchant/members/lookup", s.merchantAuth, lc, sc, s.limitLookup, s.limitMember, s.memberLookup)
	s.handle(fiber.MethodPost, "/v1/merchant/members/token", s.merchantAuth, lc, sc, s.limitLookup, s.limitMember, s.memberToken)

	op := s.operatorAuth
	s.handle(fiber.MethodPost, "/v1/operator/merchants/:merchant/fund", op, s.fund)
	s.handle(fiber.MethodPut, "/v1/operator/merchants/:merchant/earning", op, s.setEarning)
	s.handle(fiber.MethodGet, "/v1/operator/merchants/:merchant/earning", op, s.getEarning)
	s.handle(fiber.MethodGet, "/v1/operator/merchants/:merchant/account", op, s.operatorMerchantAccount)
	s.handle(fiber.MethodGet, "/v1/operator/totals", op, s.totals)
	s.handle(fiber.MethodGet, "/v1/public/coverage", s.limitByAddress("public"), s.coverage)

	s.handle(fiber.MethodGet, "/v1/member/balance", s.memberOrTillAuth, s.memberBalance)
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
			points.Unprocessable: 422, points.Unavailable: 503, points.Forbidden: 403,
			consent.Throttled: 429, consent.Unauthenticated: 401}[pe.Class]
		if status == 0 {
			status = 400
		}
		e := Errorf(status, pe.Code, "%s", pe.Message)
		if status == 503 || status == 429 {
			e.RetryAfter = max(1, int((pe.RetryAfter+time.Second-1)/time.Second))
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

// envelope is what the store keeps with a command in the same commit,
// besides the command's own effects: the idempotency scope (the merchant,
// or "operator"), the signed request's nonce, and for operator actions the
// audit event that attributes it. Each handler builds it explicitly.
type envelope struct {
	Scope string
	Nonce *store.Nonce
	Audit *store.OpAudit
}

// signedWrite is the envelope of a signed merchant write: its nonce is
// consumed in the batch that commits the effect.
func (s *Server) signedWrite(c *fiber.Ctx, merchantID string) envelope {
	return envelope{Scope: merchantID, Nonce: takeNonce(c)}
}

// operatorWrite is the envelope of an operator write: audited as kind on
// subject, attributed to the operator token, only if the write applies.
func operatorWrite(c *fiber.Ctx, kind, subject string, request any) envelope {
	return envelope{Scope: "operator", Audit: &store.OpAudit{Kind: kind, Actor: actor(c), Subject: subject,
		Request: map[string]any{"body": request, "idempotency_key": c.Get("Idempotency-Key")}}}
}

// write submits a domain command through the batching writer under the
// request's Idempotency-Key, with its envelope in the same commit: the
// same key and body replays the stored response, the same key with another
// body is 409, and concurrent duplicates produce one effect. status is the
// success status; each of applied is called with the domain result of a
// write that applied now (not of a replay).
func (s *Server) write(c *fiber.Ctx, e envelope, cmd points.Command, status int, applied ...func(any)) error {
	key := c.Get("Idempotency-Key")
	if key == "" {
		return Errorf(400, CodeIdemRequired, "writes need an Idempotency-Key header (1-128 characters, unique per operation)")
	}
	if len(key) > 128 || !printable(key) {
		return Errorf(400, CodeIdemInvalid, "Idempotency-Key must be 1-128 printable ASCII characters")
	}
	h := sha256.New()
	h.Write([]byte(c.Method() + " " + c.Path() + "\n"))
	h.Write(rawBody(c)) // the bytes as sent, never decompressed
	hash := hex.EncodeToString(h.Sum(nil))
	ctx, cancel := writeContext(c.UserContext())
	defer cancel()
	// Replays are found inside the batch (one query for the whole batch),
	// which also consumes the retry's nonce in the same commit.
	res := s.writer.Submit(ctx, &store.Op{Command: cmd, Nonce: e.Nonce,
		Idem: &store.Idem{MerchantID: e.Scope, Key: key, RequestHash: hash, Status: status}, Audit: e.Audit})
	if res.Err != nil {
		return mapPointsErr(res.Err)
	}
	if res.Replay != nil {
		if res.Replay.RequestHash == hash {
			s.attachReceipt(c, res)
		}
		return replay(c, res.Replay, hash)
	}
	for _, f := range applied {
		f(res.Value)
	}
	s.attachReceipt(c, res)
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return c.Status(status).Send(res.Body)
}

// writeTimeout bounds a write's wait for the batching writer.
const writeTimeout = 10 * time.Second

// writeContext bounds a write's wait for the batching writer to
// writeTimeout. The request's own deadline (requestDeadline: one second
// before http.write_timeout, 9 s by default) usually comes first, and then
// ctx is used as it is: a second timer per request would only repeat it.
func writeContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if d, ok := ctx.Deadline(); ok && time.Until(d) <= writeTimeout {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, writeTimeout)
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

type earnRequest struct {
	OrderID    string          `json:"order_id"`
	StoreID    string          `json:"store_id"`
	Member     points.Identity `json:"member"`
	AmountFen  int64           `json:"amount_fen"`
	Points     *int64          `json:"points,omitempty"`
	Items      []points.Item   `json:"items,omitempty"`
	OccurredAt time.Time       `json:"occurred_at,omitempty"`
	// Attributes are free-form facts for rule plugins (channel, table...).
	Attributes map[string]string `json:"attributes,omitempty"`
}

func (s *Server) earn(c *fiber.Ctx) error {
	var req earnRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	mid := merchantID(c)
	er := points.EarnRequest{MerchantID: mid, StoreID: req.StoreID, OrderID: req.OrderID, Member: req.Member,
		AmountFen: req.AmountFen, Points: req.Points, Items: req.Items, OccurredAt: req.OccurredAt, Attributes: req.Attributes}
	if err := s.svc.ValidateEarn(&er); err != nil {
		return mapPointsErr(err)
	}
	if err := s.checkStore(c, mid, req.StoreID); err != nil {
		return err
	}
	cmd, err := s.svc.PrepareEarn(c.UserContext(), er)
	if err != nil {
		return mapPointsErr(err)
	}
	return s.write(c, s.signedWrite(c, mid), cmd, fiber.StatusCreated)
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
	cmd := s.svc.RefundEarnCommand(points.RefundEarnRequest{MerchantID: mid, OrderID: req.OrderID, AmountFen: req.AmountFen})
	return s.write(c, s.signedWrite(c, mid), cmd, fiber.StatusOK)
}

type redeemRequest struct {
	OrderID string `json:"order_id"`
	StoreID string `json:"store_id"`
	// Code is the member's consent: the redemption code their app shows,
	// or the code sent to their phone (then member is required).
	Code      string          `json:"code"`
	Member    points.Identity `json:"member"`
	Points    int64           `json:"points"`
	AmountFen int64           `json:"amount_fen"`
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
	cmd := s.svc.RedeemCommand(points.RedeemRequest{MerchantID: mid, StoreID: req.StoreID, OrderID: req.OrderID,
		Code: req.Code, Member: req.Member, Points: req.Points, AmountFen: req.AmountFen})
	return s.write(c, s.signedWrite(c, mid), cmd, fiber.StatusCreated, func(v any) { s.observeRedeem(c, mid, v) })
}

// observeRedeem feeds the velocity detector: a merchant redeeming the
// points of members it never served is how stolen credentials drain
// members, so a spike of such first-contact redemptions is alerted.
func (s *Server) observeRedeem(c *fiber.Ctx, merchantID string, v any) {
	r, ok := v.(points.RedeemResult)
	if !ok || s.velocity == nil {
		return
	}
	related, err := s.consent.IsCustomer(c.UserContext(), r.MemberID, merchantID)
	if err != nil {
		s.log.Warn("redeem velocity: cannot tell whether the member is a customer", "merchant", merchantID, "err", err)
		return
	}
	s.velocity.observe(merchantID, !related, s.now())
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
	cmd := s.svc.RefundRedeemCommand(points.RefundRedeemRequest{MerchantID: mid, OrderID: req.OrderID, Points: req.Points})
	return s.write(c, s.signedWrite(c, mid), cmd, fiber.StatusOK)
}

func (s *Server) accountOf(c *fiber.Ctx, mid string) error {
	a, err := s.svc.MerchantAccount(c.UserContext(), mid)
	if err != nil {
		return err
	}
	return c.JSON(a)
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
	cmd := s.svc.FundCommand(points.FundRequest{MerchantID: m.ID, AmountFen: req.AmountFen, ExternalRef: req.ExternalRef})
	return s.write(c, operatorWrite(c, "reserve.funded", m.ID, req), cmd, fiber.StatusCreated)
}

func (s *Server) getEarning(c *fiber.Ctx) error {
	m, err := s.pathMerchant(c)
	if err != nil {
		return err
	}
	ec, err := s.svc.Earning(c.UserContext(), m.ID)
	if err != nil {
		return err
	}
	return c.JSON(ec)
}

func (s *Server) totals(c *fiber.Ctx) error {
	r, err := s.svc.Coverage(c.UserContext())
	if err != nil {
		return err
	}
	return c.JSON(r)
}

// coverage is public: anyone can see that outstanding points are backed.
func (s *Server) coverage(c *fiber.Ctx) error {
	r, err := s.svc.Coverage(c.UserContext())
	if err != nil {
		return err
	}
	return c.JSON(publicCoverage{ReserveFen: r.ReserveFen, OutstandingPoints: r.OutstandingPts, FaceValueFen: r.FaceValueFen,
		CoverageBP: r.BasisPoints, Covered: r.Covered, AsOf: r.AsOf})
}

// publicCoverage is what anyone may see of the totals.
type publicCoverage struct {
	ReserveFen        int64     `json:"reserve_fen"`
	OutstandingPoints int64     `json:"outstanding_points"`
	FaceValueFen      int64     `json:"face_value_fen"`
	CoverageBP        int64     `json:"coverage_bp"`
	Covered           bool      `json:"covered"`
	AsOf              time.Time `json:"as_of"`
}

type lookupRequest struct {
	Member points.Identity `json:"member"`
	// Code, the member's redemption code presented at the till, adds the
	// member's alliance-wide balance to the answer.
	Code string `json:"code,omitempty"`
}

// lookupResponse is what a merchant learns of its own customer; the
// balance only when the member presented a code.
type lookupResponse struct {
	MemberID string                `json:"member_id"`
	Balance  *points.MemberBalance `json:"balance,omitempty"`
}

func (s *Server) balanceOf(c *fiber.Ctx, memberID string) error {
	b, err := s.svc.MemberBalance(c.UserContext(), memberID)
	if err != nil {
		return err
	}
	return c.JSON(b)
}

// memberLookup answers a merchant about one of its own customers (a
// member who earned there or was asked for consent there); any other
// identity, member or not, is unknown_member. With the member's
// redemption code it also answers the member's balance.
func (s *Server) memberLookup(c *fiber.Ctx) error {
	var req lookupRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	ctx := c.UserContext()
	mid, err := s.svc.FindMember(ctx, merchantID(c), req.Member)
	if err == nil {
		var related bool
		if related, err = s.consent.IsCustomer(ctx, mid, merchantID(c)); err == nil && !related {
			err = &points.Error{Class: points.NotFound, Code: points.CodeUnknownMember, Message: "no member with this " + req.Member.Kind}
		}
	}
	if err != nil {
		return mapPointsErr(err)
	}
	out := lookupResponse{MemberID: mid}
	if req.Code != "" {
		owner, err := s.consent.TillMember(ctx, req.Code)
		if err != nil {
			return mapPointsErr(err)
		}
		if owner != mid {
			return Errorf(403, points.CodeConsentMember, "this code belongs to another member")
		}
		b, err := s.svc.MemberBalance(ctx, mid)
		if err != nil {
			return err
		}
		out.Balance = &b
	}
	return c.JSON(out)
}

func (s *Server) memberBalance(c *fiber.Ctx) error { return s.balanceOf(c, memberID(c)) }

func (s *Server) memberLots(c *fiber.Ctx) error {
	limit, err := pageLimit(c, 100, 1000)
	if err != nil {
		return err
	}
	lots, err := s.svc.MemberLots(c.UserContext(), memberID(c), c.Query("include_closed") == "true", limit)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"lots": lots})
}

func (s *Server) memberHistory(c *fiber.Ctx) error {
	limit, err := pageLimit(c, 50, 500)
	if err != nil {
		return err
	}
	before, err := pageCursor(c)
	if err != nil {
		return err
	}
	// Each entry with its purchase and how its points were computed.
	txs, err := s.svc.ExplainedHistory(c.UserContext(), s.db, memberID(c), before, limit)
	if err != nil {
		return err
	}
	out := fiber.Map{"transactions": txs}
	if len(txs) == limit {
		out["next_cursor"] = strconv.FormatInt(txs[len(txs)-1].ID, 10)
	}
	return c.JSON(out)
}

// merchantPurchaseList is a page of the merchant's purchase history.
type merchantPurchaseList struct {
	Purchases []points.MerchantPurchase `json:"purchases"`
	// NextCursor is present when the page is full: ?cursor= for the next
	// (older) page.
	NextCursor string `json:"next_cursor,omitempty"`
}

// merchantPurchases is the signed merchant's purchases, newest first, each
// with how its points were computed (the breakdown kept with it, or the
// rule version's terms): the member's history's explanation, seen by the
// merchant.
func (s *Server) merchantPurchases(c *fiber.Ctx) error {
	limit, err := pageLimit(c, 50, 500)
	if err != nil {
		return err
	}
	before, err := pageCursor(c)
	if err != nil {
		return err
	}
	kind := c.Query("kind")
	if kind != "" && !slices.Contains(points.MerchantPurchaseKinds, kind) {
		return Errorf(400, CodeValidation, "kind is one of %s", strings.Join(points.MerchantPurchaseKinds, ", "))
	}
	ps, err := s.db.MerchantPurchases(c.UserContext(), merchantID(c), kind, before, limit)
	if err != nil {
		return err
	}
	out := merchantPurchaseList{Purchases: ps}
	if len(ps) == limit {
		out.NextCursor = strconv.FormatInt(ps[len(ps)-1].ID, 10)
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(out)
}
