package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/lianmeng/lianmeng/gateway/ledger"
	"github.com/lianmeng/lianmeng/gateway/points"
)

// Events that are not a member's points moving: payouts and funding
// refunds (ledger transactions between alliance accounts, announced to
// the merchant their reference names) and rule changes (no ledger
// transaction: enqueued by the transaction that publishes or withdraws the
// version, so an uncommitted change is never announced).

// Rule change event types.
const (
	EventRuleScheduled = "rule_change.scheduled" // published, in effect later
	EventRulePublished = "rule_change.published" // published, in effect now
	EventRuleWithdrawn = "rule_change.withdrawn" // a scheduled version withdrawn
)

var ruleEventTypes = []string{EventRuleScheduled, EventRulePublished, EventRuleWithdrawn}

func init() {
	eventTypes[ledger.KindPayoutHold] = "payout.requested"
	eventTypes[ledger.KindPayoutPaid] = "payout.succeeded"
	eventTypes[ledger.KindPayoutReturn] = "payout.failed"
	eventTypes[ledger.KindFundingRefundHold] = "funding_refund.requested"
	eventTypes[ledger.KindFundingRefundPaid] = "funding_refund.succeeded"
	eventTypes[ledger.KindFundingRefundReturn] = "funding_refund.failed"
	eventTypes[points.KindWindDownBudget] = "budget.returned" // at the alliance's wind-down
}

// refMerchant names the merchant of a transaction that touches none of its
// accounts: payouts ("payout_paid:{merchant}:{payout}") and funding refunds
// ("funding_refund:{merchant}:{part}") confirmed by the channel.
func refMerchant(t *ledger.Transaction) string {
	switch t.Kind {
	case ledger.KindPayoutHold, ledger.KindPayoutPaid, ledger.KindPayoutReturn:
	case ledger.KindFundingRefundHold, ledger.KindFundingRefundPaid, ledger.KindFundingRefundReturn:
	default:
		return ""
	}
	parts := strings.SplitN(t.Ref, ":", 3)
	if len(parts) != 3 {
		return ""
	}
	return parts[1]
}

// moneyMoved is the amount a payout or funding refund moved: its largest
// CNY posting.
func moneyMoved(t *ledger.Transaction) int64 {
	var n int64
	for _, p := range t.Postings {
		if p.Asset == ledger.CNY && p.Amount > n {
			n = p.Amount
		}
	}
	return n
}

// ruleEvent is the body of a rule change webhook.
type ruleEvent struct {
	ID         string        `json:"id"`
	Type       string        `json:"type"`
	CreatedAt  time.Time     `json:"created_at"`
	MerchantID string        `json:"merchant_id"`
	Data       ruleEventData `json:"data"`
}

type ruleEventData struct {
	Version     int64     `json:"version"`
	EffectiveAt time.Time `json:"effective_at,omitzero"`
	// Detail is what the publication or withdrawal recorded (the changes,
	// term by term, and the notice given).
	Detail any `json:"detail,omitempty"`
}

// enqueueRuleEvent writes a rule change event for each active endpoint of
// the merchant that wants it, inside tx.
func enqueueRuleEvent(ctx context.Context, tx *sqlx.Tx, merchantID, typ string, version int64, effective time.Time, detail any, at time.Time) error {
	var eps []struct {
		ID     string `db:"id"`
		Events string `db:"events"`
	}
	if err := tx.SelectContext(ctx, &eps, `SELECT id, events FROM webhook_endpoints WHERE status = 'active' AND merchant_id = ? ORDER BY id`, merchantID); err != nil {
		return fmt.Errorf("rule event endpoints: %w", err)
	}
	if len(eps) == 0 {
		return nil
	}
	id := fmt.Sprintf("evt_rule_%s_v%d_%s", merchantID, version, strings.TrimPrefix(typ, "rule_change."))
	body, err := json.Marshal(ruleEvent{ID: id, Type: typ, CreatedAt: at.UTC(), MerchantID: merchantID,
		Data: ruleEventData{Version: version, EffectiveAt: effective.UTC(), Detail: detail}})
	if err != nil {
		return fmt.Errorf("rule event: %w", err)
	}
	for _, e := range eps {
		if ev := splitEvents(e.Events); len(ev) > 0 && !contains(ev, typ) {
			continue
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO outbox (endpoint_id, merchant_id, event_id, event_type, payload, created_at, state, attempts, next_at, claimed_until, last_status, last_error, done_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, 0, 0, '', 0)`, e.ID, merchantID, id, typ, string(body), Micros(at), OutboxPending, Micros(at)); err != nil {
			return fmt.Errorf("rule event: %w", err)
		}
	}
	return nil
}
