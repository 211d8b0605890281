package api

import (
	"encoding/json"
	"errors"

	"github.com/gofiber/fiber/v2"

	"github.com/lianmeng/lianmeng/gateway/merchant"
	"github.com/lianmeng/lianmeng/gateway/settlement"
	"github.com/lianmeng/lianmeng/gateway/store"
)

// Statements and reconciliation (issue 13; gateway/settlement).

func init() {
	merchantScopes[Route{fiber.MethodGet, "/v1/merchant/statements/:date"}] = merchant.ScopeFinance
	operatorScopes[Route{fiber.MethodGet, "/v1/operator/reconciliation"}] = OperatorRead
	operatorScopes[Route{fiber.MethodPost, "/v1/operator/reconciliation"}] = OperatorFundsWrite
}

func (s *Server) routesStatements() {
	s.handle(fiber.MethodGet, "/v1/merchant/statements/:date", s.merchantAuth, s.limitCredential, s.requireScope, s.getStatement)
	s.handle(fiber.MethodGet, "/v1/operator/reconciliation", s.operatorAuth, s.listReconciliation)
	s.handle(fiber.MethodPost, "/v1/operator/reconciliation", s.operatorAuth, s.runReconciliation)
}

// statementView is a stored statement: body is the JSON exactly as signed
// (verify the signature over "lianmeng-statement-v1\n" + body with the
// evidence public key), statement the same decoded, csv for spreadsheets.
type statementView struct {
	Statement settlement.Statement `json:"statement"`
	Body      string               `json:"body"`
	KeyID     string               `json:"key_id"`
	Signature string               `json:"signature"`
	CSV       string               `json:"csv"`
}

func (s *Server) getStatement(c *fiber.Ctx) error {
	st, err := s.db.Statement(c.UserContext(), merchantID(c), c.Params("date"))
	if errors.Is(err, store.ErrStatementNotFound) {
		return Errorf(404, CodeNotFound, "no statement for that day (days are settled after their cut-off; a day without payable movements has none)")
	}
	if err != nil {
		return err
	}
	v := statementView{Body: st.Body, KeyID: st.KeyID, Signature: st.Signature}
	if err := json.Unmarshal([]byte(st.Body), &v.Statement); err != nil {
		return err
	}
	v.CSV = string(v.Statement.CSV())
	return c.JSON(v)
}

type reconExceptionList struct {
	Exceptions []store.ReconException `json:"exceptions"`
}

func (s *Server) listReconciliation(c *fiber.Ctx) error {
	date := c.Query("date")
	if len(date) != 10 {
		return Errorf(400, CodeValidation, "date=YYYY-MM-DD is required")
	}
	ex, err := s.db.ReconExceptions(c.UserContext(), c.Query("channel"), date)
	if err != nil {
		return err
	}
	if ex == nil {
		ex = []store.ReconException{}
	}
	return c.JSON(reconExceptionList{Exceptions: ex})
}

type reconRunRequest struct {
	Channel string `json:"channel"`
	Date    string `json:"date"`
}

func (s *Server) runReconciliation(c *fiber.Ctx) error {
	var req reconRunRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if s.reconciler == nil { // no payment channel configured: none by that name
		return Errorf(400, CodeUnknownChannel, "no payment channel %q is configured on this gateway", req.Channel)
	}
	res, err := s.reconciler.Run(c.UserContext(), req.Channel, req.Date)
	if err != nil {
		return fundingErr(err)
	}
	return c.JSON(res)
}
