package inbox

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/sdk/webhook"
)

// Codes of refused webhooks, stored with each (store.POSRejection) and
// answered by the API.
const (
	RejectSignature         = "signature_invalid"
	RejectUnknownConnection = "unknown_connection"
	RejectDisabled          = "connection_disabled"
	RejectTooLarge          = "body_too_large"
)

// Defaults of the zero Rejections.
const (
	DefaultRejectionRetention     = 7 * 24 * time.Hour
	DefaultRejectionsPerConection = 1000
	DefaultRejectionBuffer        = 1000
)

// Rejections keeps the webhooks the gateway refused before its inbox (a
// bad signature, an unknown or disabled connection, an oversized body), so
// an operator or the merchant can see why a POS's deliveries fail. Nothing
// in a refused webhook is trusted: only its hash and size are kept, never
// the body, and nothing refused is ever processed.
//
// Refusals are diagnostics, not acknowledged data, and a flood of forged
// requests must not become a flood of writes: Record only buffers, and Run
// writes the buffer every interval in one transaction, identical refusals
// (same connection, code and reason) folded into one row with a count. The
// buffer holds at most Buffer distinct rows between flushes (the rest are
// counted in Dropped). Rows older than Retention, and beyond the newest
// PerConnection of any connection id, are pruned.
type Rejections struct {
	DB            *store.DB
	Retention     time.Duration
	PerConnection int
	Buffer        int
	Log           *slog.Logger
	Now           func() time.Time

	mu      sync.Mutex
	pending map[rejKey]*store.POSRejection
	order   []rejKey
	dropped int64
}

type rejKey struct{ conn, code, reason string }

func (r *Rejections) now() time.Time {
	if r.Now != nil {
		return r.Now().UTC()
	}
	return time.Now().UTC()
}

// Record buffers one refusal of req for connID (merchantID when known).
func (r *Rejections) Record(connID, merchantID, code, reason string, req webhook.Request) {
	if r == nil {
		return
	}
	sum := sha256.Sum256(req.Body)
	r.record(store.POSRejection{ConnectionID: clip(connID, 64), MerchantID: merchantID, Code: code, Reason: clip(reason, 1000),
		RemoteAddr: req.RemoteAddr, UserAgent: req.Header.Get("User-Agent"), BodySHA256: hex.EncodeToString(sum[:]), BodyBytes: int64(len(req.Body))})
}

// RecordTooLarge buffers a refusal of a body over the limit, which the
// HTTP layer refused before reading it: only its declared length is known.
func (r *Rejections) RecordTooLarge(connID, remoteAddr, userAgent string, length int64) {
	if r == nil {
		return
	}
	r.record(store.POSRejection{ConnectionID: clip(connID, 64), Code: RejectTooLarge, Reason: "the body exceeds the gateway's limit",
		RemoteAddr: remoteAddr, UserAgent: userAgent, BodyBytes: length})
}

func (r *Rejections) record(p store.POSRejection) {
	now := r.now()
	k := rejKey{p.ConnectionID, p.Code, p.Reason}
	r.mu.Lock()
	defer r.mu.Unlock()
	if cur, ok := r.pending[k]; ok {
		cur.Repeats++
		cur.Last, cur.RemoteAddr, cur.UserAgent, cur.BodySHA256, cur.BodyBytes = now, p.RemoteAddr, p.UserAgent, p.BodySHA256, p.BodyBytes
		return
	}
	limit := r.Buffer
	if limit <= 0 {
		limit = DefaultRejectionBuffer
	}
	if len(r.order) >= limit {
		r.dropped++
		return
	}
	if r.pending == nil {
		r.pending = map[rejKey]*store.POSRejection{}
	}
	p.Repeats, p.First, p.Last = 1, now, now
	r.pending[k] = &p
	r.order = append(r.order, k)
}

// Dropped is how many refusals did not fit the buffer since the start.
func (r *Rejections) Dropped() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.dropped
}

// Flush writes the buffered refusals, resolving each known connection's
// merchant, so the merchant sees its own.
func (r *Rejections) Flush(ctx context.Context) error {
	r.mu.Lock()
	rows := make([]store.POSRejection, 0, len(r.order))
	for _, k := range r.order {
		rows = append(rows, *r.pending[k])
	}
	r.pending, r.order = nil, nil
	r.mu.Unlock()
	if len(rows) == 0 {
		return nil
	}
	merchants := map[string]string{}
	for i, p := range rows {
		if p.MerchantID != "" || p.Code == RejectUnknownConnection {
			continue
		}
		m, ok := merchants[p.ConnectionID]
		if !ok {
			c, err := r.DB.POSConnectionMerchant(ctx, p.ConnectionID)
			if err != nil && !errors.Is(err, store.ErrPOSConnectionNotFound) {
				return err
			}
			m, merchants[p.ConnectionID] = c, c
		}
		rows[i].MerchantID = m
	}
	return r.DB.InsertPOSRejections(ctx, rows)
}

// Prune deletes refusals past the retention and the per-connection bound.
func (r *Rejections) Prune(ctx context.Context) (int64, error) {
	ret, per := r.Retention, r.PerConnection
	if ret <= 0 {
		ret = DefaultRejectionRetention
	}
	if per <= 0 {
		per = DefaultRejectionsPerConection
	}
	return r.DB.PrunePOSRejections(ctx, r.now().Add(-ret), per)
}

// Run flushes every interval and prunes every hundred flushes, until ctx
// ends (flushing once more then).
func (r *Rejections) Run(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = time.Second
	}
	log := r.Log
	if log == nil {
		log = slog.Default()
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for n := 0; ; n++ {
		select {
		case <-ctx.Done():
			if err := r.Flush(context.WithoutCancel(ctx)); err != nil {
				log.Warn("pos rejections: flush", "err", err)
			}
			return
		case <-t.C:
		}
		if err := r.Flush(ctx); err != nil {
			log.Warn("pos rejections: flush", "err", err)
		}
		if n%100 == 0 {
			if _, err := r.Prune(ctx); err != nil {
				log.Warn("pos rejections: prune", "err", err)
			}
		}
	}
}
