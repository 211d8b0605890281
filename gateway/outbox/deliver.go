package outbox

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/lianmeng/lianmeng/gateway/store"
)

// Deliverer sends due outbox rows to their endpoints. Each endpoint gets
// its events one at a time in order (the store hands out only an
// endpoint's oldest pending row); endpoints are served in parallel. A
// delivery succeeds on any 2xx answer; anything else (an error, a timeout,
// a redirect, another status) is retried after Backoff, until the row has
// waited MaxAge, when it is dead-lettered for the merchant or the operator
// to replay. Receivers deduplicate by webhook-id: a delivery that timed out
// may have been processed, and is sent again with the same id.
type Deliverer struct {
	DB      *store.DB
	Targets Targets
	// Timeout bounds one attempt (default 10 s).
	Timeout time.Duration
	// BaseDelay and MaxDelay shape the backoff (defaults 5 s and 1 h).
	BaseDelay, MaxDelay time.Duration
	// MaxAge is how long a delivery may keep failing before it is dead
	// (default 72 h).
	MaxAge time.Duration
	// Concurrency bounds endpoints served at once (default 8).
	Concurrency int
	Now         func() time.Time
	Log         *slog.Logger

	once   sync.Once
	client *http.Client
	wake   chan struct{}
}

func (d *Deliverer) init() {
	d.once.Do(func() {
		if d.Timeout <= 0 {
			d.Timeout = 10 * time.Second
		}
		if d.BaseDelay <= 0 {
			d.BaseDelay = 5 * time.Second
		}
		if d.MaxDelay <= 0 {
			d.MaxDelay = time.Hour
		}
		if d.MaxAge <= 0 {
			d.MaxAge = 72 * time.Hour
		}
		if d.Concurrency <= 0 {
			d.Concurrency = 8
		}
		if d.Now == nil {
			d.Now = time.Now
		}
		if d.Log == nil {
			d.Log = slog.New(slog.DiscardHandler)
		}
		d.client = d.Targets.Client(d.Timeout)
		d.wake = make(chan struct{}, 1)
	})
}

// Backoff is the wait after the n-th failed attempt: BaseDelay doubled per
// attempt up to MaxDelay, with "equal jitter" (uniform in the upper half),
// so endpoints that failed together do not retry together.
func (d *Deliverer) Backoff(n int) time.Duration {
	d.init()
	w := d.BaseDelay
	for i := 1; i < n && w < d.MaxDelay; i++ {
		w *= 2
	}
	w = min(w, d.MaxDelay)
	half := w / 2
	return half + time.Duration(rand.Int64N(int64(half)+1))
}

// Wake makes Run look for due deliveries now.
func (d *Deliverer) Wake() {
	d.init()
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Run delivers until ctx ends, looking every interval (or when woken).
func (d *Deliverer) Run(ctx context.Context, interval time.Duration) {
	d.init()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := d.ProcessDue(ctx); err != nil && ctx.Err() == nil {
			d.Log.Warn("webhook delivery", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-d.wake:
		}
	}
}

// ProcessDue delivers everything due now, endpoint by endpoint in order,
// and returns how many attempts it made.
func (d *Deliverer) ProcessDue(ctx context.Context) (int, error) {
	d.init()
	total := 0
	for ctx.Err() == nil {
		// The claim outlives the attempt, so no other worker takes it.
		heads, err := d.DB.ClaimOutboxHeads(ctx, d.Now(), d.Concurrency, 2*d.Timeout+10*time.Second)
		if err != nil {
			return total, err
		}
		if len(heads) == 0 {
			return total, nil
		}
		var wg sync.WaitGroup
		errs := make([]error, len(heads))
		for i, h := range heads {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = d.attempt(ctx, h)
			}()
		}
		wg.Wait()
		total += len(heads)
		for _, err := range errs {
			if err != nil {
				return total, err
			}
		}
	}
	return total, ctx.Err()
}

// attempt sends one delivery and records its outcome.
func (d *Deliverer) attempt(ctx context.Context, h store.OutboxDelivery) error {
	status, failure := d.send(ctx, h)
	now := d.Now()
	if failure == "" {
		return d.DB.FinishOutboxDelivery(ctx, h, store.OutboxDelivered, now, status, "", now)
	}
	next := now.Add(d.Backoff(h.Attempts))
	if next.Sub(h.CreatedAt) > d.MaxAge {
		d.Log.Warn("webhook dead-lettered", "delivery", h.ID, "endpoint", h.EndpointID, "event", h.EventID, "attempts", h.Attempts, "err", failure)
		return d.DB.FinishOutboxDelivery(ctx, h, store.OutboxDead, now, status, failure, now)
	}
	return d.DB.FinishOutboxDelivery(ctx, h, store.OutboxPending, next, status, failure, now)
}

// send makes one attempt: the HTTP status and, unless it succeeded, why not.
func (d *Deliverer) send(ctx context.Context, h store.OutboxDelivery) (int, string) {
	now := d.Now()
	ep, err := d.DB.WebhookEndpointSecrets(ctx, h.EndpointID, now)
	if err != nil {
		return 0, "endpoint: " + err.Error()
	}
	keys := make([][]byte, len(ep.Secrets))
	for i, s := range ep.Secrets {
		keys[i] = s.Secret
	}
	body := h.Body()
	ctx, cancel := context.WithTimeout(ctx, d.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.URL, bytes.NewReader(body))
	if err != nil {
		return 0, "request: " + err.Error()
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Lianmeng-Webhooks/1")
	req.Header.Set(HeaderID, h.EventID)
	req.Header.Set(HeaderTimestamp, fmt.Sprint(now.Unix()))
	req.Header.Set(HeaderSignature, Sign(keys, h.EventID, now, body))
	req.Header.Set("Lianmeng-Event-Type", h.EventType)
	resp, err := d.client.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, fmt.Sprintf("the endpoint answered %d", resp.StatusCode)
	}
	return resp.StatusCode, ""
}
