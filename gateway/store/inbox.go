package store

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
)

// POS connections and the durable inbox (gateway/inbox, issue 12).
//
// Ordering, which is what makes an acknowledged event impossible to lose:
// the API verifies a webhook with its adapter, then InsertInboxEvent
// commits the raw request durably (inTx: synchronous=FULL on SQLite; an
// InnoDB commit on MySQL), and only then is the POS answered. A crash
// before the commit loses nothing the POS was told about (it was not
// answered, so it redelivers); a crash after it leaves a pending row that
// any instance's worker claims. The worker's effect is a points command
// submitted with an idempotency key derived from the row's event key, so a
// claim that ran the command and died before SettleInboxEvents is
// re-processed into a replay of the same record, not a second effect.

// Inbox event states.
const (
	InboxPending = "pending"
	InboxDone    = "done"
	InboxDead    = "dead"
)

// ErrPOSConnectionNotFound is returned for an unknown connection id.
var ErrPOSConnectionNotFound = errors.New("store: pos connection not found")

// ErrInboxEventNotFound is returned for an unknown or not-dead event.
var ErrInboxEventNotFound = errors.New("store: inbox event not found")

// POSConnection binds a merchant to a POS adapter plugin.
type POSConnection struct {
	ID         string
	MerchantID string
	Adapter    string // plugin name in the plugins configuration
	Label      string
	// Config is the adapter's configuration JSON (webhook secrets): sealed
	// at rest, never listed (POSConnections leaves it empty).
	Config []byte
	// StoreMap maps the POS's store or location ids to Lianmeng store ids.
	StoreMap  map[string]string
	Status    string // active or disabled
	CreatedBy string
	CreatedAt time.Time
	// PreviousConfig is the configuration the last rotation replaced: it
	// still verifies webhooks received before PreviousUntil, and parses
	// the events stored under it (read by POSConnection, never listed).
	PreviousConfig []byte
	PreviousUntil  time.Time
	StatusReason   string // why disabled
	UpdatedAt      time.Time
	// PollInterval, when set, makes the connection polled (the adapter
	// is a pos.Poller): set at creation (pos_poll_state).
	PollInterval time.Duration
}

// POS connection statuses.
const (
	POSConnectionActive   = "active"
	POSConnectionDisabled = "disabled"
)

type posConnectionRow struct {
	ID           string `db:"id"`
	MerchantID   string `db:"merchant_id"`
	Adapter      string `db:"adapter"`
	Label        string `db:"label"`
	ConfigSealed string `db:"config_sealed"`
	StoreMap     string `db:"store_map"`
	Status       string `db:"status"`
	CreatedBy    string `db:"created_by"`
	CreatedAt    int64  `db:"created_at"`
	PrevSealed   string `db:"previous_config_sealed"`
	PrevUntil    int64  `db:"previous_until"`
	StatusReason string `db:"status_reason"`
	UpdatedAt    int64  `db:"updated_at"`
	PollMs       int64  `db:"poll_interval_ms"`
}

const posConnectionCols = `id, merchant_id, adapter, label, config_sealed, store_map, status, created_by, created_at`

// posConnectionSelect reads every column (the previous configuration is
// NULL on MySQL until a rotation).
const posConnectionSelect = posConnectionCols + `, COALESCE(previous_config_sealed, '') AS previous_config_sealed, previous_until, status_reason, updated_at,
 COALESCE((SELECT p.interval_ms FROM pos_poll_state p WHERE p.connection_id = pos_connections.id), 0) AS poll_interval_ms`

// posConnectionPreviousAD binds a rotated-out configuration to its
// connection (distinct from the current one's, so the two never swap).
func posConnectionPreviousAD(id string) []byte { return []byte("pos_connection_previous:" + id) }

// posConnectionAD binds a sealed configuration to its connection.
func posConnectionAD(id string) []byte { return []byte("pos_connection:" + id) }

// inboxAD binds a sealed inbox request to its connection and event key.
func inboxAD(connID, key string) []byte { return []byte("inbox:" + connID + ":" + key) }

// CreatePOSConnection stores c with its configuration sealed, and audits
// the creation (without the configuration) in the same transaction. It
// refuses without a keyring: connection secrets are never stored in
// plaintext.
func (db *DB) CreatePOSConnection(ctx context.Context, c POSConnection) error {
	k := db.PII()
	if k == nil {
		return fmt.Errorf("create pos connection: %w", ErrNoKeyring)
	}
	if c.ID == "" || c.MerchantID == "" || c.Adapter == "" {
		return fmt.Errorf("store: incomplete pos connection %q", c.ID)
	}
	if c.StoreMap == nil {
		c.StoreMap = map[string]string{}
	}
	sm, err := json.Marshal(c.StoreMap)
	if err != nil {
		return fmt.Errorf("pos connection store map: %w", err)
	}
	sealed := base64.StdEncoding.EncodeToString(k.Encrypt(c.Config, posConnectionAD(c.ID)))
	return db.inTx(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO pos_connections (`+posConnectionCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			c.ID, c.MerchantID, c.Adapter, c.Label, sealed, string(sm), c.Status, c.CreatedBy, Micros(c.CreatedAt)); err != nil {
			return fmt.Errorf("insert pos connection: %w", err)
		}
		if c.PollInterval > 0 {
			if err := insertPollState(ctx, tx, c.ID, c.PollInterval, c.CreatedAt); err != nil {
				return err
			}
		}
		return insertAudit(ctx, tx, "pos_connection.created", c.CreatedBy, c.ID, map[string]any{
			"id": c.ID, "merchant_id": c.MerchantID, "adapter": c.Adapter, "label": c.Label, "store_map": c.StoreMap,
			"poll_interval_seconds": int64(c.PollInterval / time.Second)}, c.CreatedAt)
	})
}

// POSConnection reads connection id with its configuration opened.
func (db *DB) POSConnection(ctx context.Context, id string) (POSConnection, error) {
	var r posConnectionRow
	err := db.R.GetContext(ctx, &r, `SELECT `+posConnectionSelect+` FROM pos_connections WHERE id = ?`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return POSConnection{}, ErrPOSConnectionNotFound
	}
	if err != nil {
		return POSConnection{}, fmt.Errorf("read pos connection: %w", err)
	}
	c, err := r.connection()
	if err != nil {
		return POSConnection{}, err
	}
	k := db.PII()
	if k == nil {
		return POSConnection{}, fmt.Errorf("pos connection %s: %w", id, ErrNoKeyring)
	}
	ct, err := base64.StdEncoding.DecodeString(r.ConfigSealed)
	if err != nil {
		return POSConnection{}, fmt.Errorf("pos connection %s: sealed configuration is not base64", id)
	}
	if c.Config, err = k.Decrypt(ct, posConnectionAD(id)); err != nil {
		return POSConnection{}, fmt.Errorf("pos connection %s: %w", id, err)
	}
	if r.PrevSealed != "" {
		ct, err := base64.StdEncoding.DecodeString(r.PrevSealed)
		if err != nil {
			return POSConnection{}, fmt.Errorf("pos connection %s: sealed previous configuration is not base64", id)
		}
		if c.PreviousConfig, err = k.Decrypt(ct, posConnectionPreviousAD(id)); err != nil {
			return POSConnection{}, fmt.Errorf("pos connection %s: previous configuration: %w", id, err)
		}
	}
	return c, nil
}

// POSConnections lists connections (of merchantID, or all when empty)
// without their configuration, in creation order.
func (db *DB) POSConnections(ctx context.Context, merchantID string) ([]POSConnection, error) {
	q := `SELECT ` + posConnectionSelect + ` FROM pos_connections`
	var args []any
	if merchantID != "" {
		q += ` WHERE merchant_id = ?`
		args = append(args, merchantID)
	}
	var rows []posConnectionRow
	if err := db.R.SelectContext(ctx, &rows, q+` ORDER BY created_at, id`, args...); err != nil {
		return nil, fmt.Errorf("list pos connections: %w", err)
	}
	out := make([]POSConnection, 0, len(rows))
	for _, r := range rows {
		c, err := r.connection()
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

func (r posConnectionRow) connection() (POSConnection, error) {
	c := POSConnection{ID: r.ID, MerchantID: r.MerchantID, Adapter: r.Adapter, Label: r.Label, Status: r.Status,
		CreatedBy: r.CreatedBy, CreatedAt: FromMicros(r.CreatedAt), StatusReason: r.StatusReason}
	if r.PrevUntil != 0 {
		c.PreviousUntil = FromMicros(r.PrevUntil)
	}
	c.PollInterval = time.Duration(r.PollMs) * time.Millisecond
	c.UpdatedAt = c.CreatedAt
	if r.UpdatedAt != 0 {
		c.UpdatedAt = FromMicros(r.UpdatedAt)
	}
	if err := json.Unmarshal([]byte(r.StoreMap), &c.StoreMap); err != nil {
		return POSConnection{}, fmt.Errorf("pos connection %s: store map: %w", r.ID, err)
	}
	return c, nil
}

// InboxEvent is one stored webhook.
type InboxEvent struct {
	ID           int64
	ConnectionID string
	MerchantID   string
	EventKey     string // provider event id, or "sha256:" + body hash
	EventType    string
	ReceivedAt   time.Time
	BodySHA256   string
	// Request is the raw request as the inbox encodes it (JSON); opened
	// when read.
	Request      []byte
	State        string
	Attempts     int
	NextAt       time.Time
	LastError    string
	Outcome      string
	DoneAt       time.Time
	claimedUntil int64
}

type inboxRow struct {
	ID           int64  `db:"id"`
	ConnectionID string `db:"connection_id"`
	MerchantID   string `db:"merchant_id"`
	EventKey     string `db:"event_key"`
	EventType    string `db:"event_type"`
	ReceivedAt   int64  `db:"received_at"`
	BodySHA256   string `db:"body_sha256"`
	Request      string `db:"request"`
	Sealed       int    `db:"sealed"`
	State        string `db:"state"`
	Attempts     int    `db:"attempts"`
	NextAt       int64  `db:"next_at"`
	ClaimedUntil int64  `db:"claimed_until"`
	LastError    string `db:"last_error"`
	Outcome      string `db:"outcome"`
	DoneAt       int64  `db:"done_at"`
}

const inboxCols = `id, connection_id, merchant_id, event_key, event_type, received_at, body_sha256, request, sealed, state, attempts, next_at, claimed_until, last_error, outcome, done_at`

func (db *DB) inboxEvent(r inboxRow, withRequest bool) (InboxEvent, error) {
	e := InboxEvent{ID: r.ID, ConnectionID: r.ConnectionID, MerchantID: r.MerchantID, EventKey: r.EventKey, EventType: r.EventType,
		ReceivedAt: FromMicros(r.ReceivedAt), BodySHA256: r.BodySHA256, State: r.State, Attempts: r.Attempts,
		NextAt: FromMicros(r.NextAt), LastError: r.LastError, Outcome: r.Outcome, claimedUntil: r.ClaimedUntil}
	if r.DoneAt != 0 {
		e.DoneAt = FromMicros(r.DoneAt)
	}
	if !withRequest {
		return e, nil
	}
	if r.Sealed == 0 {
		e.Request = []byte(r.Request)
		return e, nil
	}
	k := db.PII()
	if k == nil {
		return InboxEvent{}, fmt.Errorf("inbox event %d: %w", r.ID, ErrNoKeyring)
	}
	ct, err := base64.StdEncoding.DecodeString(r.Request)
	if err != nil {
		return InboxEvent{}, fmt.Errorf("inbox event %d: sealed request is not base64", r.ID)
	}
	if e.Request, err = k.Decrypt(ct, inboxAD(r.ConnectionID, r.EventKey)); err != nil {
		return InboxEvent{}, fmt.Errorf("inbox event %d: %w", r.ID, err)
	}
	return e, nil
}

// InsertInboxEvent stores e durably (committed at synchronous=FULL on
// SQLite) before the caller acknowledges the webhook. The request is sealed
// when a keyring is set. A second event with the same connection and
// event key is not stored: dup is true and id names the first. State
// defaults to pending, due at once; an event inserted dead (a verified but
// unparsable body) is kept for review and replay.
func (db *DB) InsertInboxEvent(ctx context.Context, e InboxEvent) (id int64, dup bool, err error) {
	t := &txStmts{db: db, ctx: ctx}
	err = db.inTx(ctx, func(tx *sqlx.Tx) error {
		var ierr error
		t.tx = tx
		id, dup, ierr = db.insertInbox(t, e)
		return ierr
	})
	t.done()
	// Another instance storing the same delivery meanwhile is no error:
	// the insert's upsert clause answers it as a duplicate (insertInbox).
	return id, dup, err
}

// insertInbox inserts e in tx unless its key is stored already: the
// insert is tried first (the unique key refuses a duplicate without an
// error) and the first one's id read only for a duplicate, so a new event
// costs one statement, prepared once (txStmts).
func (db *DB) insertInbox(t *txStmts, e InboxEvent) (id int64, dup bool, err error) {
	if e.ConnectionID == "" || e.EventKey == "" || len(e.EventKey) > 128 {
		return 0, false, errInboxInvalid
	}
	if e.State == "" {
		e.State = InboxPending
	}
	req, sealed := string(e.Request), 0
	if k := db.PII(); k != nil {
		req, sealed = base64.StdEncoding.EncodeToString(k.Encrypt(e.Request, inboxAD(e.ConnectionID, e.EventKey))), 1
	}
	var done int64
	if e.State != InboxPending {
		done = Micros(e.ReceivedAt)
	}
	q := `INSERT INTO inbox_events (connection_id, merchant_id, event_key, event_type, received_at, body_sha256, request, sealed, state, attempts, next_at, claimed_until, last_error, outcome, done_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, 0, ?, '', ?)`
	if db.Dialect == MySQL {
		q += ` ON DUPLICATE KEY UPDATE id = id`
	} else {
		q += ` ON CONFLICT (connection_id, event_key) DO NOTHING`
	}
	res, err := t.exec(q, e.ConnectionID, e.MerchantID, e.EventKey, clip(e.EventType, 128), Micros(e.ReceivedAt), e.BodySHA256, req, sealed,
		e.State, Micros(e.ReceivedAt), clip(e.LastError, 1000), done)
	if err != nil {
		return 0, false, fmt.Errorf("insert inbox event: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return 0, false, fmt.Errorf("insert inbox event: %w", err)
	} else if n == 0 {
		if err := t.get(&id, `SELECT id FROM inbox_events WHERE connection_id = ? AND event_key = ?`, e.ConnectionID, e.EventKey); err != nil {
			return 0, false, fmt.Errorf("inbox lookup: %w", err)
		}
		return id, true, nil
	}
	id, err = res.LastInsertId()
	return id, false, err
}

// txStmts runs a transaction's fixed statements prepared on SQLite's
// writer connection, through the writer's statement cache (stmts.go):
// parsing the same SQL for every webhook was a quarter of the inbox's CPU.
// A statement not cached yet runs unprepared and is prepared after the
// transaction (done).
type txStmts struct {
	db     *DB
	ctx    context.Context
	tx     *sqlx.Tx
	missed []string
}

func (t *txStmts) stmt(q string) *sqlx.Stmt {
	s, cacheable := t.db.cached(q)
	if s == nil {
		if cacheable {
			t.missed = append(t.missed, q)
		}
		return nil
	}
	return t.tx.StmtxContext(t.ctx, s)
}

func (t *txStmts) exec(q string, args ...any) (sql.Result, error) {
	if s := t.stmt(q); s != nil {
		return s.ExecContext(t.ctx, args...)
	}
	return t.tx.ExecContext(t.ctx, q, args...)
}

func (t *txStmts) get(dest any, q string, args ...any) error {
	if s := t.stmt(q); s != nil {
		return s.GetContext(t.ctx, dest, args...)
	}
	return t.tx.GetContext(t.ctx, dest, q, args...)
}

// done prepares what ran unprepared, once the transaction has ended.
func (t *txStmts) done() {
	if len(t.missed) > 0 {
		t.db.prepareMissed(context.WithoutCancel(t.ctx), t.missed)
	}
}

// InboxInsert is the outcome of one event of InsertInboxEvents.
type InboxInsert struct {
	ID  int64
	Dup bool
	Err error
}

// InsertInboxEvents stores several events in one durable transaction (one
// commit for a group of concurrent receipts; see durableTx), each as
// InsertInboxEvent would: a key already stored, or repeated earlier in the
// group, is a duplicate naming the first. An event that cannot be inserted
// fails alone (its Err), unless the transaction as a whole fails (the
// error returned).
func (db *DB) InsertInboxEvents(ctx context.Context, evs []InboxEvent) ([]InboxInsert, error) {
	out, err := db.CommitInboxEvents(ctx, evs)
	if err != nil {
		return nil, err
	}
	return out, db.SyncWAL()
}

// CommitInboxEvents is InsertInboxEvents without the wait for durability
// on SQLite: the events are committed, but a crash may still lose them
// until SyncWAL returns, so nothing may be acknowledged before that. It
// lets a caller commit the next group while the previous one syncs. On
// MySQL the commit is durable.
func (db *DB) CommitInboxEvents(ctx context.Context, evs []InboxEvent) ([]InboxInsert, error) {
	out := make([]InboxInsert, len(evs))
	t := &txStmts{db: db, ctx: ctx}
	defer t.done()
	err := db.runTx(ctx, db.W.BeginTxx, func(tx *sqlx.Tx) error {
		t.tx = tx
		seen := map[string]int{}
		for i, e := range evs {
			out[i] = InboxInsert{}
			k := e.ConnectionID + "\x00" + e.EventKey
			if j, ok := seen[k]; ok {
				out[i] = InboxInsert{ID: out[j].ID, Dup: true, Err: out[j].Err}
				continue
			}
			seen[k] = i
			out[i].ID, out[i].Dup, out[i].Err = db.insertInbox(t, e)
			if out[i].Err != nil && !errors.Is(out[i].Err, errInboxInvalid) {
				return out[i].Err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// SyncWAL makes every commit so far durable (fdatasync of SQLite's WAL; a
// no-op on MySQL, whose commits are durable).
func (db *DB) SyncWAL() error { return db.syncWAL() }

var errInboxInvalid = errors.New("store: inbox event needs a connection and an event key of 1-128 bytes")

// ClaimInboxEvents claims up to limit pending events due at now whose
// previous claim (if any) has lapsed, for lease: each claim counts an
// attempt. One conditional UPDATE claims them all; its claimed_until,
// the lease's end plus a random number of microseconds, tells this claim's
// rows from a concurrent one's (two workers that picked the same value
// would both process a row, which the idempotency keys make harmless).
func (db *DB) ClaimInboxEvents(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]InboxEvent, error) {
	var ids []int64
	n := Micros(now)
	if err := db.R.SelectContext(ctx, &ids, `SELECT id FROM inbox_events WHERE state = ? AND next_at <= ? AND claimed_until <= ? ORDER BY next_at, id LIMIT ?`,
		InboxPending, n, n, limit); err != nil {
		return nil, fmt.Errorf("inbox due: %w", err)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	token := Micros(now.Add(lease)) + rand.Int64N(1_000_000)
	q, args, err := sqlx.In(`UPDATE inbox_events SET claimed_until = ?, attempts = attempts + 1 WHERE id IN (?) AND state = ? AND claimed_until <= ?`,
		token, ids, InboxPending, n)
	if err != nil {
		return nil, err
	}
	if _, err := db.W.ExecContext(ctx, q, args...); err != nil {
		return nil, fmt.Errorf("inbox claim: %w", err)
	}
	var rows []inboxRow
	q, args, err = sqlx.In(`SELECT `+inboxCols+` FROM inbox_events WHERE id IN (?) AND claimed_until = ? ORDER BY id`, ids, token)
	if err != nil {
		return nil, err
	}
	// Read from the writer: on SQLite the read pool may not see the
	// update yet.
	if err := db.W.SelectContext(ctx, &rows, q, args...); err != nil {
		return nil, fmt.Errorf("inbox claimed: %w", err)
	}
	var out []InboxEvent
	for _, r := range rows {
		e, err := db.inboxEvent(r, true)
		if err != nil {
			// Unreadable (the key that sealed it is gone): dead, visible.
			if derr := db.SettleInboxEvents(ctx, []InboxSettlement{{ID: r.ID, State: InboxDead, At: now, Reason: err.Error()}}); derr != nil {
				return out, derr
			}
			continue
		}
		out = append(out, e)
	}
	return out, nil
}

// InboxSettlement is the outcome of one claimed event's attempt: done (with
// Outcome), dead (with Reason), or pending again at Next (with Reason;
// Uncounted gives the attempt back, as when the adapter was down).
type InboxSettlement struct {
	ID        int64
	State     string
	At, Next  time.Time
	Outcome   string
	Reason    string
	Uncounted bool
}

// SettleInboxEvents records the outcomes of a batch of attempts in one
// transaction (one commit, not one per event).
func (db *DB) SettleInboxEvents(ctx context.Context, ss []InboxSettlement) error {
	if len(ss) == 0 {
		return nil
	}
	t := &txStmts{db: db, ctx: ctx}
	defer t.done()
	return db.runTx(ctx, db.W.BeginTxx, func(tx *sqlx.Tx) error {
		t.tx = tx
		for _, st := range ss {
			var err error
			switch st.State {
			case InboxDone:
				_, err = t.exec(`UPDATE inbox_events SET state = ?, outcome = ?, last_error = '', done_at = ?, claimed_until = 0 WHERE id = ? AND state = ?`,
					InboxDone, clip(st.Outcome, 1000), Micros(st.At), st.ID, InboxPending)
			case InboxDead:
				_, err = t.exec(`UPDATE inbox_events SET state = ?, last_error = ?, done_at = ?, claimed_until = 0 WHERE id = ? AND state = ?`,
					InboxDead, clip(st.Reason, 1000), Micros(st.At), st.ID, InboxPending)
			default:
				back := 0
				if st.Uncounted {
					back = 1
				}
				_, err = t.exec(`UPDATE inbox_events SET next_at = ?, last_error = ?, claimed_until = 0, attempts = attempts - ? WHERE id = ? AND state = ?`,
					Micros(st.Next), clip(st.Reason, 1000), back, st.ID, InboxPending)
			}
			if err != nil {
				return fmt.Errorf("inbox settle %d: %w", st.ID, err)
			}
		}
		return nil
	})
}

// ReplayInboxEvent puts a dead event back to pending, due at now, with its
// attempts reset. Only a dead event replays (ErrInboxEventNotFound else);
// merchantID, when set, must own it.
func (db *DB) ReplayInboxEvent(ctx context.Context, id int64, merchantID string, now time.Time, actor string) error {
	return db.inTx(ctx, func(tx *sqlx.Tx) error {
		q := `UPDATE inbox_events SET state = ?, attempts = 0, next_at = ?, claimed_until = 0, done_at = 0 WHERE id = ? AND state = ?`
		args := []any{InboxPending, Micros(now), id, InboxDead}
		if merchantID != "" {
			q += ` AND merchant_id = ?`
			args = append(args, merchantID)
		}
		res, err := tx.ExecContext(ctx, q, args...)
		if err != nil {
			return fmt.Errorf("replay inbox event: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return ErrInboxEventNotFound
		}
		return insertAudit(ctx, tx, "inbox_event.replayed", actor, fmt.Sprint(id), map[string]any{"id": id}, now)
	})
}

// InboxFilter selects events for InboxEvents.
type InboxFilter struct {
	MerchantID, ConnectionID, State string
	AfterID                         int64 // cursor: events with a greater id
	Limit                           int
}

// InboxEvents lists events (without their request) in id order.
func (db *DB) InboxEvents(ctx context.Context, f InboxFilter) ([]InboxEvent, error) {
	var where []string
	var args []any
	for _, c := range []struct{ col, v string }{{"merchant_id", f.MerchantID}, {"connection_id", f.ConnectionID}, {"state", f.State}} {
		if c.v != "" {
			where = append(where, c.col+" = ?")
			args = append(args, c.v)
		}
	}
	where = append(where, "id > ?")
	args = append(args, f.AfterID)
	if f.Limit <= 0 || f.Limit > 500 {
		f.Limit = 100
	}
	args = append(args, f.Limit)
	var rows []inboxRow
	if err := db.R.SelectContext(ctx, &rows, `SELECT `+inboxCols+` FROM inbox_events WHERE `+strings.Join(where, " AND ")+` ORDER BY id LIMIT ?`, args...); err != nil {
		return nil, fmt.Errorf("list inbox events: %w", err)
	}
	out := make([]InboxEvent, 0, len(rows))
	for _, r := range rows {
		e, _ := db.inboxEvent(r, false)
		out = append(out, e)
	}
	return out, nil
}

// InboxEventByID reads one event with its request opened.
func (db *DB) InboxEventByID(ctx context.Context, id int64) (InboxEvent, error) {
	var r inboxRow
	err := db.R.GetContext(ctx, &r, `SELECT `+inboxCols+` FROM inbox_events WHERE id = ?`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return InboxEvent{}, ErrInboxEventNotFound
	}
	if err != nil {
		return InboxEvent{}, fmt.Errorf("read inbox event: %w", err)
	}
	return db.inboxEvent(r, true)
}

// InboxDepth is the inbox's backlog: pending and dead events, and the
// receive time of the oldest pending one (zero when none).
type InboxDepth struct {
	Pending, Dead int64
	OldestPending time.Time
}

// InboxDepth counts the backlog.
func (db *DB) InboxDepth(ctx context.Context) (InboxDepth, error) {
	var d InboxDepth
	var oldest sql.NullInt64
	if err := db.R.QueryRowxContext(ctx, `SELECT
 COALESCE(SUM(CASE WHEN state = 'pending' THEN 1 ELSE 0 END), 0),
 COALESCE(SUM(CASE WHEN state = 'dead' THEN 1 ELSE 0 END), 0),
 MIN(CASE WHEN state = 'pending' THEN received_at END)
 FROM inbox_events WHERE state IN ('pending', 'dead')`).Scan(&d.Pending, &d.Dead, &oldest); err != nil {
		return InboxDepth{}, fmt.Errorf("inbox depth: %w", err)
	}
	if oldest.Valid {
		d.OldestPending = FromMicros(oldest.Int64)
	}
	return d, nil
}

// durableTx runs fn in a transaction that is durable when it returns. On
// SQLite it commits at the write connection's synchronous=NORMAL and then
// fdatasyncs the WAL (syncWAL) after giving the connection back, so the
// batching writer's next batch does not wait for this fsync (inTx would
// hold the single write connection through it); the WAL is written in
// order, so the sync covers this commit, and nothing is acknowledged
// before it returns. A reader may see the rows a moment before they are
// durable, as with the writer's group commit: anything durable that
// depends on them was committed after them, so is durable only if they
// are. On MySQL it is an ordinary InnoDB commit.
func (db *DB) durableTx(ctx context.Context, fn func(tx *sqlx.Tx) error) error {
	if err := db.runTx(ctx, db.W.BeginTxx, fn); err != nil {
		return err
	}
	return db.syncWAL()
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	// Cut on a rune boundary.
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}
