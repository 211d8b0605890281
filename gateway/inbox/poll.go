package inbox

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/sdk/pos"
)

// Polling pull-only POS (Pospal style): a connection created with a poll
// interval is polled through its adapter (pos.Poller) by PollDue on any
// instance (a claim per connection fences the others). Each page's records
// and the cursor after them are stored in one durable transaction
// (store.DB.StorePOSPoll), so a restart resumes from the last stored page
// with nothing skipped, and a page read twice is stored once (records are
// keyed by their provider id). The records then go through the same
// worker as webhooks: parsed again by the adapter's HandleWebhook and
// applied once. A provider error (an outage, a refused call) keeps the
// cursor and backs off per connection, doubling from the interval up to
// MaxPollBackoff; the error and the count are in the poll state.

// MaxPollBackoff bounds the wait after repeated provider errors.
const MaxPollBackoff = 30 * time.Minute

// maxPages bounds how many pages one PollDue reads from one connection
// before it lets the others have a turn.
const maxPages = 20

// PollBackoff is the wait after failures provider errors in a row.
func PollBackoff(interval time.Duration, failures int) time.Duration {
	d := max(interval, time.Second)
	for i := 1; i < failures && d < MaxPollBackoff; i++ {
		d *= 2
	}
	return min(d, MaxPollBackoff)
}

// PollDue polls every due connection (reading up to maxPages pages each)
// and returns how many it polled.
func (in *Inbox) PollDue(ctx context.Context) (int, error) {
	states, err := in.DB.ClaimPOSPolls(ctx, in.now(), 64, in.lease())
	if err != nil {
		return 0, err
	}
	var errs []error
	for _, st := range states {
		if err := in.pollOne(ctx, st); err != nil {
			errs = append(errs, fmt.Errorf("poll %s: %w", st.ConnectionID, err))
		}
	}
	return len(states), errors.Join(errs...)
}

// pollOne reads pages of one claimed connection while the adapter says
// more are ready, storing each with its cursor.
func (in *Inbox) pollOne(ctx context.Context, st store.POSPollState) error {
	fail := func(reason string) error {
		now := in.now()
		in.Metrics.forConn(st.ConnectionID).pollFailed()
		in.log().Warn("pos poll failed", "connection", st.ConnectionID, "failures", st.Failures+1, "reason", reason)
		return in.DB.FailPOSPoll(context.WithoutCancel(ctx), st, reason, now.Add(PollBackoff(st.Interval(), st.Failures+1)), now)
	}
	conn, err := in.connection(ctx, st.ConnectionID)
	if err != nil {
		return fail(fmt.Sprintf("connection: %v", err))
	}
	ad, err := in.Adapters.POSAdapter(conn.Adapter)
	if err != nil {
		return fail(fmt.Sprintf("adapter %s: %v", conn.Adapter, err))
	}
	pl, ok := ad.(pos.Poller)
	if !ok {
		return fail(fmt.Sprintf("adapter %s cannot poll", conn.Adapter))
	}
	m := in.Metrics.forConn(st.ConnectionID)
	cursor := []byte(st.Cursor)
	for page := 0; page < maxPages; page++ {
		now := in.now()
		cctx, cancel := context.WithTimeout(ctx, in.callTimeout())
		res, err := pl.Poll(cctx, pos.PollRequest{MerchantID: conn.MerchantID, MerchantConfig: conn.Config, Cursor: cursor, Now: now})
		cancel()
		if err != nil {
			return fail(fmt.Sprintf("adapter %s: %v", conn.Adapter, err))
		}
		if res.ProviderError != "" {
			return fail(res.ProviderError)
		}
		evs := make([]store.InboxEvent, 0, len(res.Records))
		for _, r := range res.Records {
			if r.ID == "" {
				return fail("the adapter returned a record without an id")
			}
			req := r.Request
			req.Header = req.Header.Clone()
			if req.Header == nil {
				req.Header = http.Header{}
			}
			req.Header.Set(pos.HeaderReceivedAt, strconv.FormatInt(now.Unix(), 10))
			raw, err := encodeRequest(req)
			if err != nil {
				return fail(err.Error())
			}
			sum := sha256.Sum256(req.Body)
			key := r.ID
			if len(key) > 128 {
				s := sha256.Sum256([]byte(r.ID))
				key = "id-sha256:" + hex.EncodeToString(s[:])
			}
			evs = append(evs, store.InboxEvent{ConnectionID: conn.ID, MerchantID: conn.MerchantID, EventKey: key, EventType: "poll",
				ReceivedAt: now, BodySHA256: hex.EncodeToString(sum[:]), Request: raw})
		}
		next, keep := now.Add(st.Interval()), time.Time{}
		more := res.More && page+1 < maxPages && ctx.Err() == nil
		if res.More {
			next = now // the next page is due at once
		}
		if more {
			keep = now.Add(in.lease()) // and read by this claim
		}
		stored, err := in.DB.StorePOSPoll(context.WithoutCancel(ctx), &st, evs, string(res.Cursor), next, now, keep)
		if err != nil {
			return err // the claim lapsed, or the database: the cursor did not move
		}
		for range stored {
			m.received()
		}
		for range len(evs) - stored {
			m.duplicate()
		}
		if stored > 0 {
			in.Wake()
		}
		if !more {
			return nil
		}
		cursor = res.Cursor
	}
	return nil
}

func (in *Inbox) lease() time.Duration {
	if in.Lease > 0 {
		return in.Lease
	}
	return DefaultLease
}

// RunPolls polls due connections every interval until ctx ends.
func (in *Inbox) RunPolls(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = time.Second
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := in.PollDue(ctx); err != nil && ctx.Err() == nil {
			in.log().Warn("inbox: polling", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
