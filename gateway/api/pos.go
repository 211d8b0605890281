package api

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"

	"github.com/lianmeng/lianmeng/gateway/inbox"
	"github.com/lianmeng/lianmeng/gateway/merchant"
	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/sdk/webhook"
)

// POS connections and webhooks (issue 12; gateway/inbox).
const (
	CodePOSUnavailable         = "pos_unavailable"
	CodePOSSignatureInvalid    = "pos_signature_invalid"
	CodeInboxEventNotReplayble = "inbox_event_not_dead"
	CodePOSConnectionDisabled  = "pos_connection_disabled"
	CodePOSConnectionUnchanged = "pos_connection_unchanged"
)

// The operator scope of each POS route (registered here, next to the
// routes, rather than in the shared table).
func init() {
	for r, sc := range map[Route]string{
		{fiber.MethodPost, "/v1/operator/merchants/:merchant/pos/connections"}: OperatorMerchantsWrite,
		{fiber.MethodGet, "/v1/operator/merchants/:merchant/pos/connections"}:  OperatorRead,
		{fiber.MethodGet, "/v1/operator/pos/inbox"}:                            OperatorRead,
		{fiber.MethodPost, "/v1/operator/pos/inbox/:event/replay"}:             OperatorMerchantsWrite,
		{fiber.MethodPost, posConnectionRoute + "/disable"}:                    OperatorMerchantsWrite,
		{fiber.MethodPost, posConnectionRoute + "/enable"}:                     OperatorMerchantsWrite,
		{fiber.MethodPost, posConnectionRoute + "/rotate"}:                     OperatorMerchantsWrite,
		{fiber.MethodGet, "/v1/operator/pos/rejections"}:                       OperatorRead,
	} {
		operatorScopes[r] = sc
	}
	merchantScopes[Route{fiber.MethodGet, "/v1/merchant/pos/inbox"}] = merchant.ScopeRead
	merchantScopes[Route{fiber.MethodGet, "/v1/merchant/pos/rejections"}] = merchant.ScopeRead
}

const posConnectionRoute = "/v1/operator/merchants/:merchant/pos/connections/:connection"

func (s *Server) routesPOS() {
	op := s.operatorAuth
	s.handle(fiber.MethodPost, "/v1/pos/:connection", s.posWebhook)
	s.handle(fiber.MethodPost, "/v1/operator/merchants/:merchant/pos/connections", op, s.createPOSConnection)
	s.handle(fiber.MethodGet, "/v1/operator/merchants/:merchant/pos/connections", op, s.listPOSConnections)
	s.handle(fiber.MethodGet, "/v1/operator/pos/inbox", op, s.listInbox)
	s.handle(fiber.MethodPost, "/v1/operator/pos/inbox/:event/replay", op, s.replayInbox)
	s.handle(fiber.MethodPost, posConnectionRoute+"/disable", op, s.disablePOSConnection)
	s.handle(fiber.MethodPost, posConnectionRoute+"/enable", op, s.enablePOSConnection)
	s.handle(fiber.MethodPost, posConnectionRoute+"/rotate", op, s.rotatePOSConnection)
	s.handle(fiber.MethodGet, "/v1/operator/pos/rejections", op, s.listRejections)
	// A merchant sees its own events, dead letters and their reasons, and
	// the webhooks refused for its connections.
	s.handle(fiber.MethodGet, "/v1/merchant/pos/inbox", s.merchantAuth, s.limitCredential, s.requireScope, s.listMerchantInbox)
	s.handle(fiber.MethodGet, "/v1/merchant/pos/rejections", s.merchantAuth, s.limitCredential, s.requireScope, s.listMerchantRejections)
}

// posWebhook hands the raw request to the inbox and answers the POS with
// exactly what the adapter chose, after the webhook is stored. It never
// says which connections exist: an unknown one is 404, and so is a
// disabled one unless the request's signature verifies (then 403
// pos_connection_disabled).
func (s *Server) posWebhook(c *fiber.Ctx) error {
	if s.inbox == nil {
		return Errorf(fiber.StatusServiceUnavailable, CodePOSUnavailable, "POS webhooks are not enabled on this gateway")
	}
	h := http.Header{}
	for k, v := range c.Request().Header.All() {
		h.Add(string(k), string(v))
	}
	uri := c.Request().URI()
	req := webhook.Request{Method: c.Method(), Path: string(uri.PathOriginal()), RawQuery: string(uri.QueryString()),
		Header: h, Body: bytes.Clone(c.Request().Body()), RemoteAddr: c.IP()}
	res, err := s.inbox.Receive(c.UserContext(), c.Params("connection"), req)
	switch {
	case errors.Is(err, inbox.ErrUnknownConnection):
		return Errorf(fiber.StatusNotFound, CodeNotFound, "no such route")
	case errors.Is(err, inbox.ErrDisabled):
		return Errorf(fiber.StatusForbidden, CodePOSConnectionDisabled, "this POS connection is disabled; ask the alliance operator to enable it")
	case errors.Is(err, inbox.ErrRejected):
		return Errorf(fiber.StatusUnauthorized, CodePOSSignatureInvalid, "the webhook's signature does not verify with this connection's secret")
	case errors.Is(err, inbox.ErrUnavailable):
		s.log.Warn("pos webhook not taken", "request_id", requestID(c), "err", err)
		c.Set(fiber.HeaderRetryAfter, "30")
		return Errorf(fiber.StatusServiceUnavailable, CodePOSUnavailable, "the webhook could not be taken now; deliver it again later")
	case err != nil:
		return err
	}
	for k, vs := range res.Header {
		for _, v := range vs {
			c.Response().Header.Add(k, v)
		}
	}
	return c.Status(res.Status).Send(res.Body)
}

type createPOSConnectionRequest struct {
	Adapter string            `json:"adapter"`
	Label   string            `json:"label"`
	Config  json.RawMessage   `json:"config"`
	Stores  map[string]string `json:"store_map"`
	// PollIntervalSeconds, for a pull-only POS (an adapter that polls,
	// e.g. pospal): how often its API is read. Unset: the POS pushes.
	PollIntervalSeconds int64 `json:"poll_interval_seconds"`
}

// posConnectionView is a connection as the API shows it: never its
// configuration, which holds the webhook secrets.
type posConnectionView struct {
	ID         string            `json:"id"`
	MerchantID string            `json:"merchant_id"`
	Adapter    string            `json:"adapter"`
	Label      string            `json:"label"`
	StoreMap   map[string]string `json:"store_map"`
	Status     string            `json:"status"`
	// StatusReason says why a disabled connection is disabled.
	StatusReason string `json:"status_reason,omitempty"`
	WebhookPath  string `json:"webhook_path"`
	// PreviousConfigUntil: the configuration the last rotation replaced
	// still verifies webhooks until then.
	PreviousConfigUntil *time.Time `json:"previous_config_until,omitempty"`
	CreatedBy           string     `json:"created_by"`
	CreatedAt           time.Time  `json:"created_at"`
	UpdatedAt           time.Time  `json:"updated_at"`
	// PollIntervalSeconds is set for a polled (pull-only) connection, and
	// Poll says how its polling goes.
	PollIntervalSeconds int64     `json:"poll_interval_seconds,omitempty"`
	Poll                *pollView `json:"poll,omitempty"`
}

// pollView is a polled connection's health: failures in a row and the
// last error (the provider's), when it last read a page, how many records.
type pollView struct {
	Failures   int        `json:"failures"`
	LastError  string     `json:"last_error,omitempty"`
	LastPollAt *time.Time `json:"last_poll_at,omitempty"`
	LastOKAt   *time.Time `json:"last_ok_at,omitempty"`
	NextAt     time.Time  `json:"next_at"`
	Records    int64      `json:"records"`
}

// withPoll adds the poll state of a polled connection to its view.
func (s *Server) withPoll(c *fiber.Ctx, v posConnectionView) (posConnectionView, error) {
	if v.PollIntervalSeconds == 0 {
		return v, nil
	}
	st, err := s.db.POSPollState(c.UserContext(), v.ID)
	if err != nil {
		return v, err
	}
	p := &pollView{Failures: st.Failures, LastError: st.LastError, NextAt: store.FromMicros(st.NextAt), Records: st.Records}
	if st.LastPolledAt != 0 {
		at := store.FromMicros(st.LastPolledAt)
		p.LastPollAt = &at
	}
	if st.LastOKAt != 0 {
		at := store.FromMicros(st.LastOKAt)
		p.LastOKAt = &at
	}
	v.Poll = p
	return v, nil
}

func posConnectionViewOf(c store.POSConnection) posConnectionView {
	v := posConnectionView{ID: c.ID, MerchantID: c.MerchantID, Adapter: c.Adapter, Label: c.Label, StoreMap: c.StoreMap,
		Status: c.Status, StatusReason: c.StatusReason, WebhookPath: "/v1/pos/" + c.ID, CreatedBy: c.CreatedBy, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt}
	if c.UpdatedAt.IsZero() {
		v.UpdatedAt = c.CreatedAt
	}
	if !c.PreviousUntil.IsZero() {
		at := c.PreviousUntil
		v.PreviousConfigUntil = &at
	}
	v.PollIntervalSeconds = int64(c.PollInterval / time.Second)
	return v
}

// minPollInterval is the shortest poll interval: a provider's API is
// rate-limited, and a poll reads every page that is ready anyway.
const minPollInterval = 10

var posKeyPattern = regexp.MustCompile(`^[\x21-\x7e]{1,128}$`)

// createPOSConnection binds the merchant to a configured pos_adapter
// plugin, with the adapter's configuration (sealed at rest) and the map of
// the POS's store or location ids to the merchant's stores.
func (s *Server) createPOSConnection(c *fiber.Ctx) error {
	var req createPOSConnectionRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	m, err := s.pathMerchant(c)
	if err != nil {
		return err
	}
	if !s.posAdapterConfigured(req.Adapter) {
		return Errorf(fiber.StatusBadRequest, CodeValidation, "adapter must name a plugin of kind pos_adapter in the gateway's plugins configuration")
	}
	label := strings.TrimSpace(req.Label)
	if utf8.RuneCountInString(label) > 100 || strings.ContainsFunc(label, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return Errorf(fiber.StatusBadRequest, CodeValidation, "label is at most 100 characters without control characters")
	}
	cfg := bytes.TrimSpace(req.Config)
	if len(cfg) == 0 || cfg[0] != '{' {
		return Errorf(fiber.StatusBadRequest, CodeValidation, "config must be a JSON object (the adapter's settings, e.g. its webhook secret)")
	}
	if len(req.Stores) > 1000 {
		return Errorf(fiber.StatusBadRequest, CodeValidation, "store_map has at most 1000 entries")
	}
	if req.PollIntervalSeconds != 0 && (req.PollIntervalSeconds < minPollInterval || req.PollIntervalSeconds > 86400) {
		return Errorf(fiber.StatusBadRequest, CodeValidation, "poll_interval_seconds must be %d-86400 (or absent for a POS that pushes)", minPollInterval)
	}
	for k, v := range req.Stores {
		if !posKeyPattern.MatchString(k) {
			return Errorf(fiber.StatusBadRequest, CodeValidation, "store_map keys are the POS's store ids: 1-128 printable ASCII characters")
		}
		st, err := s.merchants.GetStore(c.UserContext(), v)
		if err != nil || st.MerchantID != m.ID {
			return Errorf(fiber.StatusBadRequest, CodeValidation, "store_map[%q]: %q is not a store of this merchant", k, v)
		}
	}
	var idb [8]byte
	if _, err := rand.Read(idb[:]); err != nil {
		return err
	}
	conn := store.POSConnection{ID: "pc_" + hex.EncodeToString(idb[:]), MerchantID: m.ID, Adapter: req.Adapter, Label: label,
		Config: cfg, StoreMap: req.Stores, Status: "active", CreatedBy: actor(c), CreatedAt: s.now().UTC().Truncate(time.Microsecond),
		PollInterval: time.Duration(req.PollIntervalSeconds) * time.Second}
	if conn.StoreMap == nil {
		conn.StoreMap = map[string]string{}
	}
	if err := s.db.CreatePOSConnection(c.UserContext(), conn); err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(posConnectionViewOf(conn))
}

func (s *Server) posAdapterConfigured(name string) bool {
	for _, p := range s.cfg.Plugins {
		if p.Name == name && p.Kind == "pos_adapter" {
			return true
		}
	}
	return false
}

func (s *Server) listPOSConnections(c *fiber.Ctx) error {
	m, err := s.pathMerchant(c)
	if err != nil {
		return err
	}
	cs, err := s.db.POSConnections(c.UserContext(), m.ID)
	if err != nil {
		return err
	}
	out := make([]posConnectionView, 0, len(cs))
	for _, pc := range cs {
		v, err := s.withPoll(c, posConnectionViewOf(pc))
		if err != nil {
			return err
		}
		out = append(out, v)
	}
	return c.JSON(posConnectionList{Connections: out})
}

type posConnectionList struct {
	Connections []posConnectionView `json:"connections"`
}

// inboxList is a page of inbox events; NextAfter, when set, is the cursor
// of the next page (?after=).
type inboxList struct {
	Events    []inboxEventView `json:"events"`
	NextAfter int64            `json:"next_after,omitempty"`
}

type inboxReplayed struct {
	ID    int64  `json:"id"`
	State string `json:"state"`
}

// inboxEventView is an inbox event without its request (which holds
// members' personal data).
type inboxEventView struct {
	ID           int64      `json:"id"`
	ConnectionID string     `json:"connection_id"`
	MerchantID   string     `json:"merchant_id"`
	EventKey     string     `json:"event_key"`
	EventType    string     `json:"event_type"`
	State        string     `json:"state"`
	Attempts     int        `json:"attempts"`
	ReceivedAt   time.Time  `json:"received_at"`
	NextAt       *time.Time `json:"next_at,omitempty"`
	DoneAt       *time.Time `json:"done_at,omitempty"`
	LastError    string     `json:"last_error,omitempty"`
	Outcome      string     `json:"outcome,omitempty"`
	BodySHA256   string     `json:"body_sha256"`
}

// listInbox lists inbox events, filtered by state (pending, done, dead),
// merchant and connection, in id order from the cursor "after".
func (s *Server) listInbox(c *fiber.Ctx) error { return s.inboxPage(c, c.Query("merchant")) }

// listMerchantInbox is listInbox for the signed merchant, limited to its
// own events.
func (s *Server) listMerchantInbox(c *fiber.Ctx) error { return s.inboxPage(c, merchantID(c)) }

func (s *Server) inboxPage(c *fiber.Ctx, merchantID string) error {
	f := store.InboxFilter{MerchantID: merchantID, ConnectionID: c.Query("connection"), State: c.Query("state"), Limit: 100}
	switch f.State {
	case "", store.InboxPending, store.InboxDone, store.InboxDead:
	default:
		return Errorf(fiber.StatusBadRequest, CodeValidation, "state must be pending, done or dead")
	}
	for name, dst := range map[string]*int64{"after": &f.AfterID} {
		if v := c.Query(name); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 {
				return Errorf(fiber.StatusBadRequest, CodeValidation, "%s must be a non-negative integer", name)
			}
			*dst = n
		}
	}
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 500 {
			return Errorf(fiber.StatusBadRequest, CodeValidation, "limit must be 1-500")
		}
		f.Limit = n
	}
	evs, err := s.db.InboxEvents(c.UserContext(), f)
	if err != nil {
		return err
	}
	out := make([]inboxEventView, 0, len(evs))
	for _, e := range evs {
		v := inboxEventView{ID: e.ID, ConnectionID: e.ConnectionID, MerchantID: e.MerchantID, EventKey: e.EventKey, EventType: e.EventType,
			State: e.State, Attempts: e.Attempts, ReceivedAt: e.ReceivedAt, LastError: e.LastError, Outcome: e.Outcome, BodySHA256: e.BodySHA256}
		if e.State == store.InboxPending {
			at := e.NextAt
			v.NextAt = &at
		} else if !e.DoneAt.IsZero() {
			at := e.DoneAt
			v.DoneAt = &at
		}
		out = append(out, v)
	}
	res := inboxList{Events: out}
	if len(evs) == f.Limit {
		res.NextAfter = evs[len(evs)-1].ID
	}
	return c.JSON(res)
}

// replayInbox puts a dead-lettered event back in the queue, once its cause
// is fixed (a mapped store, a funded budget, a fixed adapter).
func (s *Server) replayInbox(c *fiber.Ctx) error {
	id, err := strconv.ParseInt(c.Params("event"), 10, 64)
	if err != nil || id <= 0 {
		return Errorf(fiber.StatusNotFound, CodeNotFound, "no such inbox event")
	}
	err = s.db.ReplayInboxEvent(c.UserContext(), id, "", s.now().UTC(), actor(c))
	if errors.Is(err, store.ErrInboxEventNotFound) {
		return Errorf(fiber.StatusConflict, CodeInboxEventNotReplayble, "inbox event %d does not exist or is not dead-lettered", id)
	}
	if err != nil {
		return err
	}
	if s.inbox != nil {
		s.inbox.Wake()
	}
	return c.JSON(inboxReplayed{ID: id, State: store.InboxPending})
}

// posConnectionPath reads the connection of the path's merchant (404 for
// another merchant's, revealing nothing).
func (s *Server) posConnectionPath(c *fiber.Ctx) (store.POSConnection, error) {
	m, err := s.pathMerchant(c)
	if err != nil {
		return store.POSConnection{}, err
	}
	pc, err := s.db.POSConnection(c.UserContext(), c.Params("connection"))
	if errors.Is(err, store.ErrPOSConnectionNotFound) || (err == nil && pc.MerchantID != m.ID) {
		return store.POSConnection{}, Errorf(fiber.StatusNotFound, CodeNotFound, "no such POS connection for this merchant")
	}
	return pc, err
}

type disablePOSConnectionRequest struct {
	Reason string `json:"reason"`
}

// disablePOSConnection refuses the connection's webhooks from now on (403
// pos_connection_disabled to a sender whose signature verifies): for a
// merchant leaving a POS, or a secret suspected leaked. Events already in
// the inbox are still processed: their POS was told they were taken.
func (s *Server) disablePOSConnection(c *fiber.Ctx) error {
	var req disablePOSConnectionRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	reason := strings.TrimSpace(req.Reason)
	if reason == "" || utf8.RuneCountInString(reason) > 200 || strings.ContainsFunc(reason, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return Errorf(fiber.StatusBadRequest, CodeValidation, "reason is required: 1-200 characters without control characters")
	}
	return s.setPOSConnectionStatus(c, store.POSConnectionDisabled, reason)
}

// enablePOSConnection takes the connection's webhooks again.
func (s *Server) enablePOSConnection(c *fiber.Ctx) error {
	return s.setPOSConnectionStatus(c, store.POSConnectionActive, "")
}

func (s *Server) setPOSConnectionStatus(c *fiber.Ctx, status, reason string) error {
	pc, err := s.posConnectionPath(c)
	if err != nil {
		return err
	}
	err = s.db.SetPOSConnectionStatus(c.UserContext(), pc.ID, pc.MerchantID, status, reason, actor(c), s.now().UTC().Truncate(time.Microsecond))
	s.forgetPOSConnection(pc.ID)
	if errors.Is(err, store.ErrPOSConnectionUnchanged) {
		return Errorf(fiber.StatusConflict, CodePOSConnectionUnchanged, "the connection is already %s", status)
	}
	if err != nil {
		return err
	}
	if pc, err = s.db.POSConnection(c.UserContext(), pc.ID); err != nil {
		return err
	}
	return c.JSON(posConnectionViewOf(pc))
}

type rotatePOSConnectionRequest struct {
	Config json.RawMessage `json:"config"`
	// GraceSeconds is how long the replaced configuration still verifies
	// webhooks (default a day; 0 ends it at once; at most 7 days).
	GraceSeconds *int64 `json:"grace_seconds"`
}

// maxRotationGrace bounds how long a replaced secret keeps verifying.
const maxRotationGrace = 7 * 24 * time.Hour

// rotatePOSConnection replaces the connection's configuration (its
// secrets). The replaced one keeps verifying webhooks for the grace, so
// the merchant can change the secret in the POS after the gateway (or
// before) without a refused delivery in between; events stored under it
// are parsed with it later whatever the grace.
func (s *Server) rotatePOSConnection(c *fiber.Ctx) error {
	var req rotatePOSConnectionRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	cfg := bytes.TrimSpace(req.Config)
	if len(cfg) == 0 || cfg[0] != '{' {
		return Errorf(fiber.StatusBadRequest, CodeValidation, "config must be a JSON object (the adapter's settings with the new secret)")
	}
	grace := 24 * time.Hour
	if req.GraceSeconds != nil {
		if *req.GraceSeconds < 0 || *req.GraceSeconds > int64(maxRotationGrace/time.Second) {
			return Errorf(fiber.StatusBadRequest, CodeValidation, "grace_seconds must be 0-%d", int64(maxRotationGrace/time.Second))
		}
		grace = time.Duration(*req.GraceSeconds) * time.Second
	}
	pc, err := s.posConnectionPath(c)
	if err != nil {
		return err
	}
	err = s.db.RotatePOSConnection(c.UserContext(), pc.ID, pc.MerchantID, cfg, grace, actor(c), s.now().UTC().Truncate(time.Microsecond))
	s.forgetPOSConnection(pc.ID)
	if err != nil {
		return err
	}
	if pc, err = s.db.POSConnection(c.UserContext(), pc.ID); err != nil {
		return err
	}
	return c.JSON(posConnectionViewOf(pc))
}

// forgetPOSConnection drops the inbox's cached copy of a connection this
// instance just changed (other instances notice within a second).
func (s *Server) forgetPOSConnection(id string) {
	if s.inbox != nil {
		s.inbox.Forget(id)
	}
}

// rejectionList is a page of refused webhooks, newest first; NextBefore,
// when set, is the cursor of the next (older) page (?before=).
type rejectionList struct {
	Rejections []rejectionView `json:"rejections"`
	NextBefore int64           `json:"next_before,omitempty"`
}

// rejectionView is one refused webhook (or Repeats identical ones): never
// its body, only its hash and size.
type rejectionView struct {
	ID           int64     `json:"id"`
	ConnectionID string    `json:"connection_id"`
	MerchantID   string    `json:"merchant_id,omitempty"`
	Code         string    `json:"code"`
	Reason       string    `json:"reason"`
	FirstAt      time.Time `json:"first_at"`
	LastAt       time.Time `json:"last_at"`
	Repeats      int64     `json:"repeats"`
	RemoteAddr   string    `json:"remote_addr"`
	UserAgent    string    `json:"user_agent,omitempty"`
	BodySHA256   string    `json:"body_sha256,omitempty"`
	BodyBytes    int64     `json:"body_bytes"`
}

// listRejections lists refused webhooks (all, or of ?merchant= or
// ?connection=, known or not).
func (s *Server) listRejections(c *fiber.Ctx) error { return s.rejectionPage(c, c.Query("merchant")) }

// listMerchantRejections lists the signed merchant's refused webhooks.
func (s *Server) listMerchantRejections(c *fiber.Ctx) error { return s.rejectionPage(c, merchantID(c)) }

func (s *Server) rejectionPage(c *fiber.Ctx, merchantID string) error {
	f := store.RejectionFilter{MerchantID: merchantID, ConnectionID: c.Query("connection"), Limit: 100}
	if v := c.Query("before"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return Errorf(fiber.StatusBadRequest, CodeValidation, "before must be a non-negative integer")
		}
		f.Before = n
	}
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 500 {
			return Errorf(fiber.StatusBadRequest, CodeValidation, "limit must be 1-500")
		}
		f.Limit = n
	}
	rs, err := s.db.POSRejections(c.UserContext(), f)
	if err != nil {
		return err
	}
	out := rejectionList{Rejections: make([]rejectionView, 0, len(rs))}
	for _, r := range rs {
		out.Rejections = append(out.Rejections, rejectionView{ID: r.ID, ConnectionID: r.ConnectionID, MerchantID: r.MerchantID, Code: r.Code, Reason: r.Reason,
			FirstAt: r.First, LastAt: r.Last, Repeats: r.Repeats, RemoteAddr: r.RemoteAddr, UserAgent: r.UserAgent, BodySHA256: r.BodySHA256, BodyBytes: r.BodyBytes})
	}
	if len(rs) == f.Limit {
		out.NextBefore = rs[len(rs)-1].ID
	}
	return c.JSON(out)
}
