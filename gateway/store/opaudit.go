package store

import (
	"encoding/json"
	"fmt"
)

// OpAudit is an administrative action that an Op carries out (an operator
// funding a merchant's reserve, say): recorded in audit_events, and so in
// the evidence log, in the same transaction as the Op's command, and only
// when the command applies: a replay or a refusal records nothing.
type OpAudit struct {
	Kind    string // e.g. "reserve.funded"
	Actor   string // e.g. "operator:opt_..."
	Subject string // e.g. the merchant id
	// Request is what was asked, marshalled as JSON; the command's result
	// is recorded beside it (its ledger transaction id, for instance).
	Request any
}

type auditRow struct {
	Kind, Actor, Subject, Payload string
	CreatedAt                     int64
}

// recordAudit buffers op's audit event for the flush; value and body are
// the command's result and, when already encoded, its JSON.
func (u *uow) recordAudit(op *Op, value any, body []byte) error {
	if body == nil {
		b, err := json.Marshal(value)
		if err != nil {
			return fmt.Errorf("store: encode %s result for the audit log: %w", op.Command.Name, err)
		}
		body = b
	}
	payload, err := json.Marshal(struct {
		Request any             `json:"request"`
		Result  json.RawMessage `json:"result"`
	}{op.Audit.Request, body})
	if err != nil {
		return fmt.Errorf("store: encode %s audit payload: %w", op.Command.Name, err)
	}
	u.newAudit = append(u.newAudit, auditRow{Kind: op.Audit.Kind, Actor: op.Audit.Actor, Subject: op.Audit.Subject,
		Payload: string(payload), CreatedAt: Micros(u.now)})
	return nil
}

// flushAudit writes the batch's audit events. They change nothing the
// gateway caches, so the admin epoch stays as it is.
func (u *uow) flushAudit() error {
	if len(u.newAudit) == 0 {
		return nil
	}
	rows := make([][]any, len(u.newAudit))
	for i, a := range u.newAudit {
		rows[i] = []any{a.Kind, a.Actor, a.Subject, a.Payload, a.CreatedAt}
	}
	return u.bulkInsert("audit_events", []string{"kind", "actor", "subject", "payload", "created_at"}, rows, "")
}
