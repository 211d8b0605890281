package store

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/lianmeng/lianmeng/gateway/ledger"
	"github.com/lianmeng/lianmeng/gateway/points"
)

// The outbox of merchant webhooks (issue 16). An event is a projection of
// a posted ledger transaction: flushOutbox, called by uow.flush, turns
// every transaction of the batch that touches a merchant (its budget or
// payable, or a lot it issued) into one row per active endpoint of that
// merchant, in the same database transaction. So no flow can forget to
// announce a change, a committed change is always announced and a refused
// or rolled-back one never is. Delivery (gateway/outbox) reads the rows.

// Event types, one per ledger transaction kind; a kind without a name here
// (a later flow) is announced as "ledger." + kind.
var eventTypes = map[string]string{
	ledger.KindFund:           "budget.funded",
	ledger.KindEarn:           "points.earned",
	ledger.KindRelease:        "points.released",
	ledger.KindRedeem:         "points.redeemed",
	ledger.KindClawback:       "points.refunded",
	ledger.KindRedeemReversal: "redemption.refunded",
	ledger.KindDebtRecovery:   "debt.recovered",
	ledger.KindExpire:         "points.expired",
	points.KindImport:         "points.imported",
}

// EventType is the webhook event type announcing a ledger transaction kind.
func EventType(kind string) string {
	if t, ok := eventTypes[kind]; ok {
		return t
	}
	return "ledger." + kind
}

// EventTypes lists the named event types, sorted.
func EventTypes() []string {
	out := make([]string, 0, len(eventTypes)+len(ruleEventTypes))
	for _, t := range eventTypes {
		out = append(out, t)
	}
	out = append(out, ruleEventTypes...)
	sort.Strings(out)
	return out
}

// Webhook endpoint states and outbox delivery states.
const (
	EndpointActive   = "active"
	EndpointDisabled = "disabled"

	OutboxPending   = "pending"
	OutboxDelivered = "delivered"
	OutboxDead      = "dead"
)

// Errors of the webhook store.
var (
	ErrEndpointNotFound = errors.New("store: webhook endpoint not found")
	ErrDeliveryNotFound = errors.New("store: webhook delivery not found")
)

// WebhookSecret is one signing secret of an endpoint. Until is zero for
// the current secret and the end of the overlap for the one it replaced.
type WebhookSecret struct {
	ID     string
	Secret []byte
	Until  time.Time
}

// WebhookEndpoint is a merchant's receiving URL.
type WebhookEndpoint struct {
	ID         string     `json:"id"`
	MerchantID string     `json:"merchant_id"`
	URL        string     `json:"url"`
	Events     []string   `json:"events"` // empty: every event
	Status     string     `json:"status"`
	SecretID   string     `json:"secret_id"`
	PrevID     string     `json:"previous_secret_id,omitempty"`
	PrevUntil  *time.Time `json:"previous_secret_until,omitempty"`
	CreatedBy  string     `json:"-"`
	CreatedAt  time.Time  `json:"created_at"`
	// Secrets are the secrets that sign now, current first (set only by
	// WebhookEndpointSecrets).
	Secrets []WebhookSecret `json:"-"`
}

const endpointCols = `id, merchant_id, url, events, status, secret_id, secret_sealed, prev_id, prev_sealed, prev_until, created_by, created_at`

type endpointRow struct {
	ID           string `db:"id"`
	MerchantID   string `db:"merchant_id"`
	URL          string `db:"url"`
	Events       string `db:"events"`
	Status       string `db:"status"`
	SecretID     string `db:"secret_id"`
	SecretSealed string `db:"secret_sealed"`
	PrevID       string `db:"prev_id"`
	PrevSealed   string `db:"prev_sealed"`
	PrevUntil    int64  `db:"prev_until"`
	CreatedBy    string `db:"created_by"`
	CreatedAt    int64  `db:"created_at"`
}

func (r endpointRow) endpoint() WebhookEndpoint {
	e := WebhookEndpoint{ID: r.ID, MerchantID: r.MerchantID, URL: r.URL, Status: r.Status, SecretID: r.SecretID, PrevID: r.PrevID,
		CreatedBy: r.CreatedBy, CreatedAt: FromMicros(r.CreatedAt), Events: splitEvents(r.Events)}
	if r.PrevID != "" {
		u := FromMicros(r.PrevUntil)
		e.PrevUntil = &u
	}
	return e
}

func splitEvents(s string) []string {
	if s == "" {
		return []string{}
	}
	return strings.Split(s, ",")
}

// secretAD binds a sealed secret to its endpoint and secret id.
func secretAD(endpointID, secretID string) []byte {
	return []byte("webhook_endpoint:" + endpointID + ":" + secretID)
}

func (db *DB) sealSecret(endpointID, secretID string, secret []byte) (string, error) {
	k := db.PII()
	if k == nil {
		return "", fmt.Errorf("seal webhook secret: %w", ErrNoKeyring)
	}
	return base64.StdEncoding.EncodeToString(k.Encrypt(secret, secretAD(endpointID, secretID))), nil
}

func (db *DB) openSecret(endpointID, secretID, sealed string) ([]byte, error) {
	k := db.PII()
	if k == nil {
		return nil, fmt.Errorf("webhook endpoint %s: %w", endpointID, ErrNoKeyring)
	}
	ct, err := base64.StdEncoding.DecodeString(sealed)
	if err != nil {
		return nil, fmt.Errorf("webhook endpoint %s: sealed secret is not base64", endpointID)
	}
	return k.Decrypt(ct, secretAD(endpointID, secretID))
}

// CreateWebhookEndpoint stores e with its first secret sealed, and audits
// the registration (without the secret) in the same transaction.
func (db *DB) CreateWebhookEndpoint(ctx context.Context, e WebhookEndpoint, secretID string, secret []byte) error {
	if e.ID == "" || e.MerchantID == "" || e.URL == "" || secretID == "" || len(secret) == 0 {
		return fmt.Errorf("store: incomplete webhook endpoint %q", e.ID)
	}
	sealed, err := db.sealSecret(e.ID, secretID, secret)
	if err != nil {
		return err
	}
	return db.inTx(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO webhook_endpoints (`+endpointCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, '', '', 0, ?, ?)`,
			e.ID, e.MerchantID, e.URL, strings.Join(e.Events, ","), EndpointActive, secretID, sealed, e.CreatedBy, Micros(e.CreatedAt)); err != nil {
			return fmt.Errorf("insert webhook endpoint: %w", err)
		}
		return insertAudit(ctx, tx, "webhook_endpoint.created", e.CreatedBy, e.ID, map[string]any{
			"id": e.ID, "merchant_id": e.MerchantID, "url": e.URL, "events": e.Events, "secret_id": secretID}, e.CreatedAt)
	})
}

// WebhookEndpoints lists a merchant's endpoints (without secrets).
func (db *DB) WebhookEndpoints(ctx context.Context, merchantID string) ([]WebhookEndpoint, error) {
	var rows []endpointRow
	if err := db.R.SelectContext(ctx, &rows, `SELECT `+endpointCols+` FROM webhook_endpoints WHERE merchant_id = ? ORDER BY created_at, id`, merchantID); err != nil {
		return nil, fmt.Errorf("list webhook endpoints: %w", err)
	}
	out := make([]WebhookEndpoint, 0, len(rows))
	for _, r := range rows {
		out = append(out, r.endpoint())
	}
	return out, nil
}

// WebhookEndpointSecrets reads endpoint id with the secrets that sign at
// now opened (the current one, and the previous one during its overlap).
func (db *DB) WebhookEndpointSecrets(ctx context.Context, id string, now time.Time) (WebhookEndpoint, error) {
	var r endpointRow
	err := db.R.GetContext(ctx, &r, `SELECT `+endpointCols+` FROM webhook_endpoints WHERE id = ?`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return WebhookEndpoint{}, ErrEndpointNotFound
	}
	if err != nil {
		return WebhookEndpoint{}, fmt.Errorf("read webhook endpoint: %w", err)
	}
	e := r.endpoint()
	cur, err := db.openSecret(r.ID, r.SecretID, r.SecretSealed)
	if err != nil {
		return WebhookEndpoint{}, err
	}
	e.Secrets = []WebhookSecret{{ID: r.SecretID, Secret: cur}}
	if r.PrevID != "" && Micros(now) < r.PrevUntil {
		prev, err := db.openSecret(r.ID, r.PrevID, r.PrevSealed)
		if err != nil {
			return WebhookEndpoint{}, err
		}
		e.Secrets = append(e.Secrets, WebhookSecret{ID: r.PrevID, Secret: prev, Until: FromMicros(r.PrevUntil)})
	}
	return e, nil
}

// RotateWebhookSecret makes secret the endpoint's current secret; the one
// it replaces keeps signing (beside it) until overlapUntil, so a receiver
// can switch without refusing a delivery. merchantID must own the endpoint.
func (db *DB) RotateWebhookSecret(ctx context.Context, id, merchantID, secretID string, secret []byte, overlapUntil time.Time, actor string, now time.Time) error {
	sealed, err := db.sealSecret(id, secretID, secret)
	if err != nil {
		return err
	}
	return db.inTx(ctx, func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE webhook_endpoints SET prev_id = secret_id, prev_sealed = secret_sealed, prev_until = ?, secret_id = ?, secret_sealed = ?
			WHERE id = ? AND merchant_id = ?`, Micros(overlapUntil), secretID, sealed, id, merchantID)
		if err != nil {
			return fmt.Errorf("rotate webhook secret: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return ErrEndpointNotFound
		}
		return insertAudit(ctx, tx, "webhook_endpoint.secret_rotated", actor, id, map[string]any{
			"id": id, "merchant_id": merchantID, "secret_id": secretID, "previous_until": overlapUntil.UTC().Format(time.RFC3339)}, now)
	})
}

// SetWebhookEndpointStatus enables or disables an endpoint. A disabled
// endpoint gets no new events and its pending deliveries wait.
func (db *DB) SetWebhookEndpointStatus(ctx context.Context, id, merchantID, status, actor string, now time.Time) error {
	if status != EndpointActive && status != EndpointDisabled {
		return fmt.Errorf("store: webhook endpoint status %q", status)
	}
	return db.inTx(ctx, func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE webhook_endpoints SET status = ? WHERE id = ? AND merchant_id = ?`, status, id, merchantID)
		if err != nil {
			return fmt.Errorf("set webhook endpoint status: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			// MySQL counts a row set to its own value as unchanged.
			var one int
			if err := tx.GetContext(ctx, &one, `SELECT 1 FROM webhook_endpoints WHERE id = ? AND merchant_id = ?`, id, merchantID); err != nil {
				return ErrEndpointNotFound
			}
		}
		return insertAudit(ctx, tx, "webhook_endpoint."+status, actor, id, map[string]any{"id": id, "merchant_id": merchantID}, now)
	})
}

// ---- inside the batch

// eventPayload is the JSON body of a webhook: the announced transaction as
// the merchant sees it.
type eventPayload struct {
	ID         string    `json:"id"`
	Type       string    `json:"type"`
	CreatedAt  time.Time `json:"created_at"`
	MerchantID string    `json:"merchant_id"`
	Data       eventData `json:"data"`
}

type eventData struct {
	TxID     int64  `json:"tx_id"`
	Kind     string `json:"kind"`
	Ref      string `json:"ref"`
	Reverses int64  `json:"reverses,omitempty"`
	MemberID string `json:"member_id,omitempty"`
	// Points moved to (positive) or from (negative) the member.
	Points int64 `json:"points"`
	// BudgetPoints and PayableFen are this merchant's account changes.
	BudgetPoints int64 `json:"budget_points"`
	PayableFen   int64 `json:"payable_fen"`
	// The purchase (earn, redeem and their refunds) or lot (release,
	// expiry) behind the transaction.
	OrderID   string    `json:"order_id,omitempty"`
	StoreID   string    `json:"store_id,omitempty"`
	AmountFen int64     `json:"amount_fen,omitempty"`
	LotID     int64     `json:"lot_id,omitempty"`
	ExpiresAt time.Time `json:"lot_expires_at,omitzero"`
}

// refID returns the number after prefix in a transaction reference
// ("purchase:12", "purchase:12:refund:300", "lot:7").
func refID(ref, prefix string) int64 {
	if !strings.HasPrefix(ref, prefix) {
		return 0
	}
	s := ref[len(prefix):]
	if i := strings.IndexByte(s, ':'); i >= 0 {
		s = s[:i]
	}
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}

// flushOutbox writes the batch's events: one row per ledger transaction,
// merchant it touches and active endpoint of that merchant that wants its
// type. The endpoints come from the endpoint cache, checked against the
// admin epoch inside the batch's transaction; a batch for merchants without
// endpoints writes nothing.
func (u *uow) flushOutbox() error {
	if len(u.txs) == 0 {
		return nil
	}
	type touch struct {
		tx       *ledger.Transaction
		merchant string
	}
	var touches []touch
	merchants := map[string]bool{}
	for i := range u.txs {
		t := &u.txs[i]
		seen := map[string]bool{}
		add := func(m string) {
			if m != "" && !seen[m] {
				seen[m] = true
				merchants[m] = true
				touches = append(touches, touch{t, m})
			}
		}
		for _, p := range t.Postings {
			if a := ledger.ParseAccount(p.Account); a.Kind == ledger.KindBudget || a.Kind == ledger.KindPayable {
				add(a.Owner)
			}
		}
		if id := refID(t.Ref, "lot:"); id != 0 {
			if l := u.lots[id]; l != nil {
				add(l.MerchantID) // the issuer of a released or expired lot
			}
		}
		add(refMerchant(t)) // a payout or funding refund the channel settled
	}
	if len(merchants) == 0 {
		return nil
	}
	eps, err := u.db.hooks.active(u)
	if err != nil {
		return err
	}
	if len(eps) == 0 {
		return nil
	}
	var rows [][]any
	for _, tc := range touches {
		mine := eps[tc.merchant]
		if len(mine) == 0 {
			continue
		}
		typ := EventType(tc.tx.Kind)
		var body []byte
		for _, e := range mine {
			if len(e.Events) > 0 && !contains(e.Events, typ) {
				continue
			}
			if body == nil {
				var err error
				if body, err = json.Marshal(u.eventPayload(tc.tx, tc.merchant, typ)); err != nil {
					return fmt.Errorf("outbox payload: %w", err)
				}
			}
			rows = append(rows, []any{e.ID, tc.merchant, eventID(tc.tx.ID), typ, string(body), Micros(u.now), OutboxPending, 0, Micros(u.now), 0, 0, "", 0})
		}
	}
	return u.bulkInsert("outbox", []string{"endpoint_id", "merchant_id", "event_id", "event_type", "payload", "created_at", "state", "attempts",
		"next_at", "claimed_until", "last_status", "last_error", "done_at"}, rows, "")
}

// endpointCache holds the active webhook endpoints of every merchant, as
// of an admin epoch. Every change to an endpoint (creation, rotation,
// status) writes an audit event, which increments the epoch in the same
// transaction (insertAudit). Each batch reads the epoch inside its own
// transaction, one primary-key row, and reloads the endpoints only when it
// moved: so a batch never uses a set older than what its transaction can
// see, on any instance, and most batches spare the endpoints query.
type endpointCache struct {
	mu     sync.Mutex
	loaded bool
	epoch  int64
	byM    map[string][]cachedEndpoint
}

type cachedEndpoint struct {
	ID     string
	Events []string // empty: every event
}

// active returns the active endpoints by merchant as the batch's
// transaction sees them. The epoch is read before the endpoints: a change
// committed between the two reads leaves a newer set under an older epoch,
// which the next batch reloads; never an older set under a newer epoch.
func (c *endpointCache) active(u *uow) (map[string][]cachedEndpoint, error) {
	epoch, err := u.adminEpoch()
	if err != nil {
		return nil, fmt.Errorf("outbox endpoints: %w", err)
	}
	c.mu.Lock()
	if c.loaded && c.epoch == epoch {
		byM := c.byM
		c.mu.Unlock()
		return byM, nil
	}
	c.mu.Unlock()
	var eps []struct {
		ID         string `db:"id"`
		MerchantID string `db:"merchant_id"`
		Events     string `db:"events"`
	}
	if err := u.selectAll(&eps, `SELECT id, merchant_id, events FROM webhook_endpoints WHERE status = 'active' ORDER BY id`); err != nil {
		return nil, fmt.Errorf("outbox endpoints: %w", err)
	}
	byM := make(map[string][]cachedEndpoint, len(eps))
	for _, e := range eps {
		byM[e.MerchantID] = append(byM[e.MerchantID], cachedEndpoint{ID: e.ID, Events: splitEvents(e.Events)})
	}
	c.mu.Lock()
	// A concurrent batch (MySQL) may have loaded a later epoch: keep it.
	if !c.loaded || epoch >= c.epoch {
		c.loaded, c.epoch, c.byM = true, epoch, byM
	}
	c.mu.Unlock()
	return byM, nil
}

// eventID names the event announcing ledger transaction txID; a
// transaction touching two merchants is the same event for both.
func eventID(txID int64) string { return "evt_" + strconv.FormatInt(txID, 10) }

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (u *uow) eventPayload(t *ledger.Transaction, merchantID, typ string) eventPayload {
	d := eventData{TxID: t.ID, Kind: t.Kind, Ref: t.Ref, Reverses: t.Reverses}
	for _, p := range t.Postings {
		a := ledger.ParseAccount(p.Account)
		switch {
		case a.Kind == ledger.KindPending || a.Kind == ledger.KindAvailable:
			d.MemberID = a.Owner
			// A release moves pending to available: the member's total is
			// unchanged, so report the points released.
			if t.Kind == ledger.KindRelease {
				if a.Kind == ledger.KindAvailable {
					d.Points = p.Amount
				}
			} else {
				d.Points += p.Amount
			}
		case a.Kind == ledger.KindBudget && a.Owner == merchantID:
			d.BudgetPoints += p.Amount
		case a.Kind == ledger.KindPayable && a.Owner == merchantID:
			d.PayableFen += p.Amount
		}
	}
	if id := refID(t.Ref, "purchase:"); id != 0 {
		if p := u.dirtyPurch[id]; p != nil && p.MerchantID == merchantID {
			d.OrderID, d.StoreID, d.AmountFen = p.OrderID, p.StoreID, p.AmountFen
		}
	}
	if id := refID(t.Ref, "lot:"); id != 0 {
		if l := u.lots[id]; l != nil {
			d.LotID, d.ExpiresAt = l.ID, l.ExpiresAt
		}
	}
	if refMerchant(t) == merchantID { // the payout's or refund's amount
		d.AmountFen = moneyMoved(t)
	}
	return eventPayload{ID: eventID(t.ID), Type: typ, CreatedAt: u.now, MerchantID: merchantID, Data: d}
}

// ---- delivery

// OutboxDelivery is one event for one endpoint.
type OutboxDelivery struct {
	ID         int64      `json:"id"`
	EndpointID string     `json:"endpoint_id"`
	MerchantID string     `json:"merchant_id"`
	EventID    string     `json:"event_id"`
	EventType  string     `json:"event_type"`
	Payload    string     `json:"-"`
	CreatedAt  time.Time  `json:"created_at"`
	State      string     `json:"state"`
	Attempts   int        `json:"attempts"`
	NextAt     time.Time  `json:"next_at"`
	LastStatus int        `json:"last_status"`
	LastError  string     `json:"last_error"`
	DoneAt     *time.Time `json:"done_at,omitempty"`
	claimed    int64
}

const outboxCols = `id, endpoint_id, merchant_id, event_id, event_type, payload, created_at, state, attempts, next_at, claimed_until, last_status, last_error, done_at`

type outboxRow struct {
	ID           int64  `db:"id"`
	EndpointID   string `db:"endpoint_id"`
	MerchantID   string `db:"merchant_id"`
	EventID      string `db:"event_id"`
	EventType    string `db:"event_type"`
	Payload      string `db:"payload"`
	CreatedAt    int64  `db:"created_at"`
	State        string `db:"state"`
	Attempts     int    `db:"attempts"`
	NextAt       int64  `db:"next_at"`
	ClaimedUntil int64  `db:"claimed_until"`
	LastStatus   int    `db:"last_status"`
	LastError    string `db:"last_error"`
	DoneAt       int64  `db:"done_at"`
}

func (r outboxRow) delivery() OutboxDelivery {
	d := OutboxDelivery{ID: r.ID, EndpointID: r.EndpointID, MerchantID: r.MerchantID, EventID: r.EventID, EventType: r.EventType, Payload: r.Payload,
		CreatedAt: FromMicros(r.CreatedAt), State: r.State, Attempts: r.Attempts, NextAt: FromMicros(r.NextAt), LastStatus: r.LastStatus,
		LastError: r.LastError, claimed: r.ClaimedUntil}
	if r.DoneAt != 0 {
		t := FromMicros(r.DoneAt)
		d.DoneAt = &t
	}
	return d
}

// ClaimOutboxHeads claims, for up to limit active endpoints, the oldest
// pending delivery if it is due at now and not claimed by another worker:
// an endpoint's later events wait until the head is delivered or dead, so
// each endpoint sees its events in order. Each claim counts an attempt.
func (db *DB) ClaimOutboxHeads(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]OutboxDelivery, error) {
	var rows []outboxRow
	n := Micros(now)
	q := `SELECT ` + prefixCols("o.", outboxCols) + ` FROM outbox o JOIN webhook_endpoints e ON e.id = o.endpoint_id
		WHERE e.status = 'active' AND o.state = 'pending' AND o.next_at <= ? AND o.claimed_until <= ?
		AND o.id = (SELECT MIN(h.id) FROM outbox h WHERE h.endpoint_id = o.endpoint_id AND h.state = 'pending')
		ORDER BY o.next_at, o.id LIMIT ?`
	if err := db.R.SelectContext(ctx, &rows, q, n, n, limit); err != nil {
		return nil, fmt.Errorf("outbox due: %w", err)
	}
	var out []OutboxDelivery
	for _, r := range rows {
		res, err := db.W.ExecContext(ctx, `UPDATE outbox SET claimed_until = ?, attempts = attempts + 1 WHERE id = ? AND state = 'pending' AND claimed_until = ?`,
			Micros(now.Add(lease)), r.ID, r.ClaimedUntil)
		if err != nil {
			return out, fmt.Errorf("outbox claim: %w", err)
		}
		if k, _ := res.RowsAffected(); k != 1 {
			continue
		}
		r.Attempts++
		r.ClaimedUntil = Micros(now.Add(lease))
		out = append(out, r.delivery())
	}
	return out, nil
}

func prefixCols(p, cols string) string {
	parts := columns(cols)
	for i := range parts {
		parts[i] = p + parts[i]
	}
	return strings.Join(parts, ", ")
}

// FinishOutboxDelivery records a claimed delivery's outcome: delivered
// (the endpoint answered 2xx), due again at next, or dead.
func (db *DB) FinishOutboxDelivery(ctx context.Context, d OutboxDelivery, state string, next time.Time, status int, reason string, now time.Time) error {
	done := int64(0)
	if state != OutboxPending {
		done = Micros(now)
	}
	_, err := db.W.ExecContext(ctx, `UPDATE outbox SET state = ?, next_at = ?, claimed_until = 0, last_status = ?, last_error = ?, done_at = ?
		WHERE id = ? AND state = 'pending' AND claimed_until = ?`, state, Micros(next), status, clip(reason, 1000), done, d.ID, d.claimed)
	if err != nil {
		return fmt.Errorf("outbox update: %w", err)
	}
	return nil
}

// ReplayOutboxDelivery puts a dead delivery back to pending, due at now,
// with its attempts and its dead-letter clock (created_at: when the
// delivery entered the queue) reset: being older than the endpoint's pending ones, it
// is delivered next. merchantID, when set, must own it.
func (db *DB) ReplayOutboxDelivery(ctx context.Context, id int64, merchantID, actor string, now time.Time) error {
	return db.inTx(ctx, func(tx *sqlx.Tx) error {
		q := `UPDATE outbox SET state = 'pending', attempts = 0, next_at = ?, created_at = ?, claimed_until = 0, done_at = 0 WHERE id = ? AND state = 'dead'`
		args := []any{Micros(now), Micros(now), id}
		if merchantID != "" {
			q += ` AND merchant_id = ?`
			args = append(args, merchantID)
		}
		res, err := tx.ExecContext(ctx, q, args...)
		if err != nil {
			return fmt.Errorf("replay webhook delivery: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return ErrDeliveryNotFound
		}
		return insertAudit(ctx, tx, "webhook_delivery.replayed", actor, fmt.Sprint(id), map[string]any{"id": id}, now)
	})
}

// OutboxFilter selects deliveries for OutboxDeliveries.
type OutboxFilter struct {
	MerchantID, EndpointID, State string
	After                         int64 // id cursor
	Limit                         int
}

// OutboxDeliveries lists deliveries in id order.
func (db *DB) OutboxDeliveries(ctx context.Context, f OutboxFilter) ([]OutboxDelivery, error) {
	q := `SELECT ` + outboxCols + ` FROM outbox WHERE id > ?`
	args := []any{f.After}
	for _, c := range []struct{ col, v string }{{"merchant_id", f.MerchantID}, {"endpoint_id", f.EndpointID}, {"state", f.State}} {
		if c.v != "" {
			q += ` AND ` + c.col + ` = ?`
			args = append(args, c.v)
		}
	}
	if f.Limit <= 0 || f.Limit > 1000 {
		f.Limit = 100
	}
	q += ` ORDER BY id LIMIT ?`
	args = append(args, f.Limit)
	var rows []outboxRow
	if err := db.R.SelectContext(ctx, &rows, q, args...); err != nil {
		return nil, fmt.Errorf("list webhook deliveries: %w", err)
	}
	out := make([]OutboxDelivery, 0, len(rows))
	for _, r := range rows {
		out = append(out, r.delivery())
	}
	return out, nil
}

// Body returns the stored webhook body of a delivery.
func (d OutboxDelivery) Body() []byte { return []byte(d.Payload) }
