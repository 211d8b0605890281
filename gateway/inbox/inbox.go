// Package inbox is the durable inbox for POS webhooks (DESIGN §7, issue
// 12): a webhook is verified by its connection's POS adapter plugin,
// stored durably, and only then acknowledged with the exact body the
// adapter chose; a worker later parses it again and submits the earns and
// refunds it carries through the same points commands as the merchant
// API, with retries and backoff, a dead letter after the last attempt, and
// replay.
//
// Why nothing acknowledged is lost, step by step:
//
//  1. Receive verifies first; a request that does not verify is answered
//     401 and only counted (no body is stored).
//  2. store.DB.InsertInboxEvent commits the raw request (synchronous=FULL
//     on SQLite, an InnoDB commit on MySQL). Only when it returns is the
//     POS answered. A crash before that: the POS got no answer and
//     redelivers. A crash after: the row is pending and any instance's
//     worker picks it up.
//  3. The worker claims a row (a conditional update; a lapsed claim is
//     claimed again), submits each purchase with a store.Idem whose key is
//     derived from the connection, the provider's event id and the
//     purchase's index, then marks the row done. A crash between the
//     submit and the mark re-runs the submit, which replays the recorded
//     result instead of earning twice; an order earned through another
//     path answers purchase_already_earned, also treated as done.
//
// A redelivered webhook has the same event id (or body hash) and is stored
// once; its effect is once by the idempotency key and by the order id.
package inbox

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lianmeng/lianmeng/gateway/points"
	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/sdk"
	"github.com/lianmeng/lianmeng/sdk/pos"
	"github.com/lianmeng/lianmeng/sdk/purchase"
	"github.com/lianmeng/lianmeng/sdk/webhook"
)

// ChannelPrefix marks the events that are payment-channel notifications
// (settlement.Funding stores them): their connection id is ChannelPrefix
// and the channel plugin's name. They share the inbox's durability, claims,
// retries, dead letters and replay; Channels applies them.
const ChannelPrefix = "channel:"

// ChannelNotifications applies a stored channel notification (what
// settlement.Funding stored, verified, before acknowledging it). A nil
// error finishes the event with outcome; an error wrapping ErrKeep
// dead-letters it at once (kept and reported: an unknown payment, another
// amount); any other error is retried with backoff.
type ChannelNotifications interface {
	ApplyStoredNotification(ctx context.Context, channel string, stored []byte) (outcome string, err error)
}

// ErrKeep: an event that no retry can apply; it is dead-lettered for an
// operator (and can be replayed).
var ErrKeep = errors.New("inbox: kept for review")

// Adapters finds a POS adapter plugin by name (pluginhost.Host does).
type Adapters interface {
	POSAdapter(name string) (pos.Adapter, error)
}

// Errors Receive answers with; the API maps them to statuses.
var (
	// ErrUnknownConnection: no such active connection (404, revealing
	// nothing about which exist).
	ErrUnknownConnection = errors.New("inbox: unknown connection")
	// ErrRejected: the provider's signature did not verify; nothing was
	// stored, only counted (401).
	ErrRejected = errors.New("inbox: webhook signature rejected")
	// ErrDisabled: the connection is disabled (by its operator or
	// merchant); the webhook verified but is refused, and not stored (403).
	ErrDisabled = errors.New("inbox: connection disabled")
	// ErrUnavailable: the adapter or the database cannot take the webhook
	// now; nothing was stored or acknowledged, so the POS redelivers (503).
	ErrUnavailable = errors.New("inbox: temporarily unavailable")
)

// Defaults of the zero Inbox's tuning.
const (
	DefaultMaxAttempts = 12
	DefaultBaseBackoff = time.Second
	DefaultMaxBackoff  = 15 * time.Minute
	DefaultLease       = 30 * time.Second
	DefaultCallTimeout = 10 * time.Second
	DefaultWorkers     = 4
)

// Inbox receives and processes POS webhooks.
type Inbox struct {
	DB       *store.DB
	Writer   *store.Writer
	Points   *points.Service
	Adapters Adapters
	Log      *slog.Logger
	Now      func() time.Time

	// MaxAttempts is how many times an event is tried before it is
	// dead-lettered; BaseBackoff doubles per attempt up to MaxBackoff.
	MaxAttempts              int
	BaseBackoff, MaxBackoff  time.Duration
	Lease                    time.Duration        // how long a claim is held
	Workers                  int                  // processing loops of Run
	CallTimeout              time.Duration        // per adapter call
	Metrics                  *Metrics             // nil: not counted
	Rejections               *Rejections          // nil: refusals not kept
	Channels                 ChannelNotifications // payment-channel notifications (nil: retried until set)
	wake                     chan struct{}
	wakeOnce                 sync.Once
	receipts                 group     // group commit of receipts (group.go)
	conns                    connCache // connections (conncache.go)
	concurrency, batchClaims int
}

func (in *Inbox) now() time.Time {
	if in.Now != nil {
		return in.Now().UTC()
	}
	return time.Now().UTC()
}

func (in *Inbox) log() *slog.Logger {
	if in.Log != nil {
		return in.Log
	}
	return slog.Default()
}

func (in *Inbox) maxAttempts() int {
	if in.MaxAttempts > 0 {
		return in.MaxAttempts
	}
	return DefaultMaxAttempts
}

func (in *Inbox) callTimeout() time.Duration {
	if in.CallTimeout > 0 {
		return in.CallTimeout
	}
	return DefaultCallTimeout
}

func (in *Inbox) wakeCh() chan struct{} {
	in.wakeOnce.Do(func() { in.wake = make(chan struct{}, 1) })
	return in.wake
}

// Backoff is the delay before attempt n+1 after n failed attempts.
func (in *Inbox) Backoff(n int) time.Duration {
	base, max := in.BaseBackoff, in.MaxBackoff
	if base <= 0 {
		base = DefaultBaseBackoff
	}
	if max <= 0 {
		max = DefaultMaxBackoff
	}
	d := base
	for i := 1; i < n && d < max; i++ {
		d *= 2
	}
	return min(d, max)
}

// storedRequest is the raw request as stored: what an adapter needs to
// verify and parse it again.
type storedRequest struct {
	Method   string      `json:"method"`
	Path     string      `json:"path"`
	RawQuery string      `json:"raw_query,omitempty"`
	Header   http.Header `json:"header"`
	Body     []byte      `json:"body"`
}

// droppedHeaders are never stored: credentials and cookies are no
// adapter's business.
var droppedHeaders = []string{"Authorization", "Cookie", "Proxy-Authorization"}

func encodeRequest(r webhook.Request) ([]byte, error) {
	h := r.Header.Clone()
	for _, k := range droppedHeaders {
		h.Del(k)
	}
	return json.Marshal(storedRequest{Method: r.Method, Path: r.Path, RawQuery: r.RawQuery, Header: h, Body: r.Body})
}

func decodeRequest(b []byte) (webhook.Request, error) {
	var s storedRequest
	if err := json.Unmarshal(b, &s); err != nil {
		return webhook.Request{}, fmt.Errorf("stored request: %w", err)
	}
	return webhook.Request{Method: s.Method, Path: s.Path, RawQuery: s.RawQuery, Header: s.Header, Body: s.Body}, nil
}

// Receive handles one webhook for connection connID and returns the
// response to send the POS. It stores an accepted webhook before it
// returns; an error means nothing was stored or acknowledged
// (ErrUnknownConnection, ErrRejected, ErrDisabled, ErrUnavailable). A
// refusal is recorded in Rejections (without the body).
func (in *Inbox) Receive(ctx context.Context, connID string, req webhook.Request) (webhook.Response, error) {
	conn, err := in.connection(ctx, connID)
	if errors.Is(err, store.ErrPOSConnectionNotFound) {
		in.Rejections.Record(connID, "", RejectUnknownConnection, "no such connection", req)
		return webhook.Response{}, ErrUnknownConnection
	}
	if err != nil {
		return webhook.Response{}, fmt.Errorf("%w: connection: %v", ErrUnavailable, err)
	}
	m := in.Metrics.forConn(connID)
	m.received()
	now := in.now()
	// The receive time travels with the stored request, so an adapter
	// whose provider signs a timestamp checks the window against the
	// receipt, also when it parses the event again later. The gateway
	// sets it; a sender's own value is dropped.
	req.Header = req.Header.Clone()
	if req.Header == nil {
		req.Header = http.Header{}
	}
	req.Header.Set(pos.HeaderReceivedAt, strconv.FormatInt(now.Unix(), 10))
	ad, err := in.Adapters.POSAdapter(conn.Adapter)
	if err != nil {
		return webhook.Response{}, fmt.Errorf("%w: adapter %s: %v", ErrUnavailable, conn.Adapter, err)
	}
	res, err := in.handle(ctx, ad, conn, req, now)
	if conn.Status != store.POSConnectionActive {
		if err == nil && res.Outcome == pos.Rejected {
			// Unverified: told nothing more than an unknown connection.
			m.rejected()
			in.Rejections.Record(connID, conn.MerchantID, RejectSignature, res.Reason, req)
			return webhook.Response{}, ErrUnknownConnection
		}
		in.Rejections.Record(connID, conn.MerchantID, RejectDisabled, "the connection is disabled: "+conn.StatusReason, req)
		return webhook.Response{}, ErrDisabled
	}
	sum := sha256.Sum256(req.Body)
	bodyHash := hex.EncodeToString(sum[:])
	raw, eerr := encodeRequest(req)
	if eerr != nil {
		return webhook.Response{}, fmt.Errorf("%w: %v", ErrUnavailable, eerr)
	}
	ev := store.InboxEvent{ConnectionID: connID, MerchantID: conn.MerchantID, ReceivedAt: now, BodySHA256: bodyHash, Request: raw}
	switch {
	case errors.Is(err, sdk.ErrInvalidInput):
		// Verified, but the body cannot be parsed: kept, dead-lettered with
		// the parse error for review and replay, and acknowledged, since
		// redelivering the same bytes cannot help.
		ev.EventKey, ev.State, ev.LastError = "sha256:"+bodyHash, store.InboxDead, clip(err.Error(), 1000)
		if _, _, err := in.receipts.insert(ctx, in.DB, ev); err != nil {
			return webhook.Response{}, fmt.Errorf("%w: store: %v", ErrUnavailable, err)
		}
		m.dead()
		in.log().Warn("pos webhook dead-lettered: unparsable body", "connection", connID, "err", ev.LastError)
		return webhook.Text(http.StatusOK, "stored for review\n"), nil
	case err != nil:
		return webhook.Response{}, fmt.Errorf("%w: adapter %s: %v", ErrUnavailable, conn.Adapter, err)
	}
	switch res.Outcome {
	case pos.Rejected:
		m.rejected()
		in.Rejections.Record(connID, conn.MerchantID, RejectSignature, res.Reason, req)
		return webhook.Response{}, fmt.Errorf("%w: %s", ErrRejected, res.Reason)
	case pos.Ignored:
		m.ignored()
		return res.Ack, nil
	}
	ev.EventKey = "sha256:" + bodyHash
	if res.EventID != "" {
		ev.EventKey = res.EventID
		if len(ev.EventKey) > 128 {
			s := sha256.Sum256([]byte(res.EventID))
			ev.EventKey = "id-sha256:" + hex.EncodeToString(s[:])
		}
	}
	ev.EventType = res.EventType
	_, dup, err := in.receipts.insert(ctx, in.DB, ev)
	if err != nil {
		return webhook.Response{}, fmt.Errorf("%w: store: %v", ErrUnavailable, err)
	}
	if dup {
		m.duplicate()
	} else {
		in.Wake()
	}
	return res.Ack, nil
}

// Wake makes Run look for due events now (after a receipt or a replay).
func (in *Inbox) Wake() {
	select {
	case in.wakeCh() <- struct{}{}:
	default:
	}
}

// Run processes due events until ctx ends with Workers loops (default
// DefaultWorkers), each claiming a batch, handling its events concurrently
// (so their commands share the writer's batches), and polling every
// interval when idle (at once after a receipt on this instance wakes one).
// Several loops keep the writer fed while one waits for its batch's
// fdatasync or records its outcomes; their claims are fenced as another
// instance's would be.
func (in *Inbox) Run(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = 500 * time.Millisecond
	}
	n := in.Workers
	if n <= 0 {
		n = DefaultWorkers
	}
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			in.work(ctx, interval)
		}()
	}
	wg.Wait()
}

func (in *Inbox) work(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		n, err := in.ProcessDue(ctx)
		if err != nil && ctx.Err() == nil {
			in.log().Warn("inbox: processing", "err", err)
		}
		if n > 0 && err == nil {
			continue // more may be due
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-in.wakeCh():
		}
	}
}

// ProcessDue claims up to a batch of due events, handles them and returns
// how many it handled.
func (in *Inbox) ProcessDue(ctx context.Context) (int, error) {
	limit := in.batchClaims
	if limit <= 0 {
		limit = 256
	}
	lease := in.Lease
	if lease <= 0 {
		lease = DefaultLease
	}
	evs, err := in.DB.ClaimInboxEvents(ctx, in.now(), limit, lease)
	if err != nil && len(evs) == 0 {
		return 0, err
	}
	conc := in.concurrency
	if conc <= 0 {
		conc = 64
	}
	// Parse every event, then apply the batch's sales before its refunds,
	// each phase concurrently (so the commands share the writer's batches):
	// a refund delivered with its sale in one batch finds the sale.
	work := make([]*job, len(evs))
	parallel(conc, len(evs), func(i int) { work[i] = in.parse(ctx, evs[i]) })
	for _, refunds := range []bool{false, true} {
		type step struct {
			j *job
			i int
		}
		var steps []step
		for _, j := range work {
			if j.fail != nil {
				continue
			}
			for i, p := range j.res.Events {
				if (p.Type == purchase.TypeRefund) == refunds {
					steps = append(steps, step{j, i})
				}
			}
		}
		parallel(conc, len(steps), func(k int) {
			st := steps[k]
			out, f := in.apply(ctx, st.j.conn, st.j.ev, st.i, st.j.res.Events[st.i])
			st.j.mu.Lock()
			defer st.j.mu.Unlock()
			if f != nil && st.j.fail == nil {
				st.j.fail = f
			}
			st.j.outcomes[st.i] = out
		})
	}
	ss := make([]store.InboxSettlement, 0, len(work))
	for _, j := range work {
		ss = append(ss, in.record(j))
	}
	// The outcomes are recorded even if ctx ended meanwhile (shutdown).
	if serr := in.DB.SettleInboxEvents(context.WithoutCancel(ctx), ss); serr != nil {
		err = errors.Join(err, serr)
	}
	return len(evs), err
}

// parallel runs fn(0..n-1) on at most conc goroutines.
func parallel(conc, n int, fn func(i int)) {
	sem := make(chan struct{}, conc)
	var wg sync.WaitGroup
	for i := range n {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			fn(i)
		}()
	}
	wg.Wait()
}

// job is one claimed event on its way through ProcessDue.
type job struct {
	ev       store.InboxEvent
	conn     store.POSConnection
	res      pos.Result
	mu       sync.Mutex
	fail     *failure
	done     string   // set when parsing alone finishes the event
	outcomes []string // per purchase
}

// failure is why one attempt did not finish an event: retried unless
// permanent (then dead at once).
type failure struct {
	permanent bool
	uncounted bool // the adapter is unavailable: not the event's fault
	reason    string
}

func (f *failure) Error() string { return f.reason }

func retry(format string, a ...any) *failure { return &failure{reason: fmt.Sprintf(format, a...)} }
func unavailable(format string, a ...any) *failure {
	return &failure{uncounted: true, reason: fmt.Sprintf(format, a...)}
}
func permanent(format string, a ...any) *failure {
	return &failure{permanent: true, reason: fmt.Sprintf(format, a...)}
}

// record decides the outcome of a job: done, retry with backoff, or dead.
func (in *Inbox) record(j *job) store.InboxSettlement {
	e, f := j.ev, j.fail
	m := in.Metrics.forConn(e.ConnectionID)
	now := in.now()
	st := store.InboxSettlement{ID: e.ID, At: now}
	switch {
	case f == nil:
		m.processed(now.Sub(e.ReceivedAt))
		st.State, st.Outcome = store.InboxDone, j.done
		if st.Outcome == "" {
			st.Outcome = strings.Join(j.outcomes, "; ")
		}
	case f.uncounted:
		// The plugin is down: wait for it without spending an attempt,
		// since a crashed adapter must delay events, never kill them.
		m.retried()
		st.State, st.Next, st.Reason, st.Uncounted = store.InboxPending, now.Add(in.Backoff(max(e.Attempts-1, 1))), f.reason, true
	case f.permanent || e.Attempts >= in.maxAttempts():
		m.dead()
		in.log().Warn("inbox: event dead-lettered", "event", e.ID, "connection", e.ConnectionID, "attempts", e.Attempts, "reason", f.reason)
		st.State, st.Reason = store.InboxDead, f.reason
	default:
		m.retried()
		st.State, st.Next, st.Reason = store.InboxPending, now.Add(in.Backoff(e.Attempts)), f.reason
	}
	return st
}

// parse runs the event's stored request through its adapter again.
func (in *Inbox) parse(ctx context.Context, e store.InboxEvent) *job {
	j := &job{ev: e}
	if channel, ok := strings.CutPrefix(e.ConnectionID, ChannelPrefix); ok {
		in.applyChannel(ctx, j, channel)
		return j
	}
	conn, err := in.connection(ctx, e.ConnectionID)
	if errors.Is(err, store.ErrPOSConnectionNotFound) {
		j.fail = permanent("connection %s no longer exists", e.ConnectionID)
		return j
	}
	if err != nil {
		j.fail = retry("connection: %v", err)
		return j
	}
	j.conn = conn
	req, err := decodeRequest(e.Request)
	if err != nil {
		j.fail = permanent("%v", err)
		return j
	}
	ad, err := in.Adapters.POSAdapter(conn.Adapter)
	if err != nil {
		j.fail = unavailable("adapter %s: %v", conn.Adapter, err)
		return j
	}
	// An event stored under a rotated-out secret still parses with it,
	// whatever the grace left: it verified when it was received.
	res, err := in.handle(ctx, ad, conn, req, time.Time{})
	switch {
	case errors.Is(err, sdk.ErrInvalidInput):
		j.fail = permanent("parse: %v", err)
	case err != nil:
		j.fail = unavailable("adapter %s: %v", conn.Adapter, err)
	case res.Outcome == pos.Rejected:
		// It verified when received: the connection's secret changed since.
		j.fail = permanent("no longer verifies (%s): was the connection's secret changed?", res.Reason)
	case res.Outcome == pos.Ignored:
		j.done = "ignored: " + res.Reason
	case len(res.Events) == 0:
		j.done = "no purchases"
	default:
		j.res = res
		j.outcomes = make([]string, len(res.Events))
	}
	return j
}

// applyChannel applies a payment-channel notification; it carries no
// purchases, so parsing finishes it.
func (in *Inbox) applyChannel(ctx context.Context, j *job, channel string) {
	if in.Channels == nil {
		j.fail = unavailable("no payment-channel processor")
		return
	}
	out, err := in.Channels.ApplyStoredNotification(ctx, channel, j.ev.Request)
	switch {
	case errors.Is(err, ErrKeep):
		j.fail = permanent("%v", err)
	case err != nil:
		j.fail = retry("%v", err)
	default:
		j.done = out
	}
}

// handle runs req through the adapter with the connection's configuration
// and, when that does not verify, with the configuration a rotation
// replaced: at receipt (now set) only within its grace; when parsing a
// stored event (now zero) always.
func (in *Inbox) handle(ctx context.Context, ad pos.Adapter, conn store.POSConnection, req webhook.Request, now time.Time) (pos.Result, error) {
	call := func(cfg []byte) (pos.Result, error) {
		cctx, cancel := context.WithTimeout(ctx, in.callTimeout())
		defer cancel()
		return ad.HandleWebhook(cctx, pos.Request{HTTP: req, MerchantID: conn.MerchantID, MerchantConfig: cfg})
	}
	res, err := call(conn.Config)
	if err != nil || res.Outcome != pos.Rejected || conn.PreviousConfig == nil || (!now.IsZero() && !now.Before(conn.PreviousUntil)) {
		return res, err
	}
	prev, perr := call(conn.PreviousConfig)
	if errors.Is(perr, sdk.ErrInvalidInput) {
		return prev, perr // verified with it, but does not parse
	}
	if perr != nil || prev.Outcome == pos.Rejected {
		return res, nil // the current configuration's reason
	}
	return prev, nil
}

// IdemKey is the idempotency key of purchase i of an event (a sale: its
// order id also earns only once), or of a refund by its own id: bounded in
// length whatever the provider's id, and distinct per connection.
func IdemKey(connID, eventKey string, i int) string {
	s := sha256.Sum256([]byte(connID + "\x00" + eventKey))
	return fmt.Sprintf("pos:%s:%d", hex.EncodeToString(s[:20]), i)
}

// apply submits one normalized purchase or refund.
func (in *Inbox) apply(ctx context.Context, conn store.POSConnection, e store.InboxEvent, i int, p purchase.Purchase) (string, *failure) {
	// The connection decides the merchant, never the payload.
	p.MerchantID = conn.MerchantID
	if err := p.Validate(); err != nil {
		return "", permanent("purchase %d: %v", i, err)
	}
	if p.Currency != "CNY" {
		return "", permanent("purchase %d: currency %q: only CNY (fen) earns points", i, p.Currency)
	}
	canon, _ := json.Marshal(p)
	h := sha256.Sum256(canon)
	idem := &store.Idem{MerchantID: conn.MerchantID, Key: IdemKey(conn.ID, e.EventKey, i), RequestHash: hex.EncodeToString(h[:]), Status: http.StatusOK}
	if p.Type == purchase.TypeRefund {
		// A refund is one effect however many events report it (Square's
		// refund.created and refund.updated, WooCommerce's every
		// order.updated): keyed by the refund's own id, not the event's.
		idem.Key = IdemKey(conn.ID, "refund\x00"+p.ExternalOrderID, 0)
	}
	var cmd points.Command
	var what string
	switch p.Type {
	case purchase.TypeRefund:
		cmd = in.Points.RefundEarnCommand(points.RefundEarnRequest{MerchantID: conn.MerchantID, OrderID: p.OriginalOrderID, AmountFen: p.AmountFen})
		what = fmt.Sprintf("refund %s %d fen", p.OriginalOrderID, p.AmountFen)
	default:
		member, ok := memberIdentity(p.Members)
		if !ok {
			return fmt.Sprintf("order %s: no member identity, nothing earned", p.ExternalOrderID), nil
		}
		if p.AmountFen == 0 {
			return fmt.Sprintf("order %s: zero amount, nothing earned", p.ExternalOrderID), nil
		}
		r := points.EarnRequest{MerchantID: conn.MerchantID, StoreID: conn.StoreMap[p.StoreID], OrderID: p.ExternalOrderID,
			Member: member, AmountFen: p.AmountFen, OccurredAt: p.OccurredAt, Attributes: p.Attributes}
		for _, it := range p.Items {
			r.Items = append(r.Items, points.Item{SKU: it.SKU, Name: it.Name, Category: it.Category, Quantity: it.Quantity, AmountFen: it.AmountFen})
		}
		var err error
		if cmd, err = in.Points.PrepareEarn(ctx, r); err != nil {
			return "", classify(i, err)
		}
		what = fmt.Sprintf("earn %s %d fen", p.ExternalOrderID, p.AmountFen)
	}
	res := in.Writer.Submit(ctx, &store.Op{Command: cmd, Idem: idem})
	switch {
	case res.Replay != nil:
		return what + " (already applied)", nil
	case res.Err != nil:
		var pe *points.Error
		if errors.As(res.Err, &pe) && (pe.Code == points.CodeAlreadyEarned) {
			return what + " (order already earned)", nil
		}
		return "", classify(i, res.Err)
	}
	return what, nil
}

// classify turns a refusal into a retry or a dead letter: a refusal that
// the same input can never get past is permanent; a missing purchase (a
// refund before its sale), a short budget or an unavailable rule may
// clear, so they are retried until the attempts run out.
func classify(i int, err error) *failure {
	var pe *points.Error
	if errors.As(err, &pe) {
		switch {
		case pe.Class == points.Invalid, pe.Class == points.Forbidden,
			pe.Code == points.CodeRefundExceeds, pe.Code == points.CodeAlreadyRefunded:
			return permanent("purchase %d: %v", i, err)
		}
	}
	return retry("purchase %d: %v", i, err)
}

// memberIdentity picks the identity to earn for: the kinds the points
// module keys members by directly, else a merchant-scoped customer id
// (email or the POS's customer id), which a member can later bind.
func memberIdentity(ids []purchase.Identity) (points.Identity, bool) {
	for _, kind := range []string{purchase.IdentityPhone, purchase.IdentityWeChatOpenID, purchase.IdentityAlipayUserID} {
		for _, id := range ids {
			if id.Type == kind && id.Value != "" {
				v := id.Value
				if kind == purchase.IdentityPhone {
					v = strings.NewReplacer(" ", "", "-", "").Replace(v)
				}
				ident := points.Identity{Kind: kind, Value: v}
				if points.CheckIdentity(ident) == nil {
					return ident, true
				}
			}
		}
	}
	for _, id := range ids {
		if id.Value == "" || id.Type == purchase.IdentityMemberID {
			continue
		}
		v := id.Type + ":" + id.Value
		if len(v) > 64 {
			s := sha256.Sum256([]byte(v))
			v = id.Type + ":sha256:" + hex.EncodeToString(s[:16])
		}
		ident := points.Identity{Kind: points.IdentityCustomer, Value: v}
		if points.CheckIdentity(ident) == nil {
			return ident, true
		}
	}
	return points.Identity{}, false
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}
