package inbox

import (
	"context"
	"sync"

	"github.com/lianmeng/lianmeng/gateway/store"
)

// group commits concurrent receipts together: the first caller to find no
// commit in progress leads, committing everything queued in one
// transaction (store.DB.CommitInboxEvents) and again while more arrived
// meanwhile; the others wait for their result. One commit then covers many
// webhooks, as the batching writer's group commit covers many earns. Each
// group's commit is made durable (store.DB.SyncWAL) apart, while the
// leader already commits the next group: the fdatasync of one group and
// the commit of the next overlap. No receipt is answered before the sync
// that follows its commit.
type group struct {
	mu       sync.Mutex
	pending  []*receipt
	flushing bool
}

type receipt struct {
	ev   store.InboxEvent
	res  store.InboxInsert
	done chan struct{}
}

// maxGroup bounds one transaction.
const maxGroup = 256

func (g *group) insert(ctx context.Context, db *store.DB, ev store.InboxEvent) (int64, bool, error) {
	r := &receipt{ev: ev, done: make(chan struct{})}
	g.mu.Lock()
	g.pending = append(g.pending, r)
	if g.flushing {
		g.mu.Unlock()
		<-r.done
		return r.res.ID, r.res.Dup, r.res.Err
	}
	g.flushing = true
	for len(g.pending) > 0 {
		n := min(len(g.pending), maxGroup)
		batch := g.pending[:n:n]
		g.pending = g.pending[n:]
		g.mu.Unlock()
		evs := make([]store.InboxEvent, len(batch))
		for i, b := range batch {
			evs[i] = b.ev
		}
		// A waiter's request may have been cancelled; the commit is for
		// all of them, so it runs to its end.
		res, err := db.CommitInboxEvents(context.WithoutCancel(ctx), evs)
		answer := func(err error) {
			for i, b := range batch {
				if err != nil {
					b.res = store.InboxInsert{Err: err}
				} else {
					b.res = res[i]
				}
				close(b.done)
			}
		}
		if err != nil {
			answer(err)
		} else {
			// A sync started after this commit covers it (and any sync
			// finishing first covers only earlier commits: each group
			// waits for its own).
			go func() { answer(db.SyncWAL()) }()
		}
		g.mu.Lock()
	}
	g.flushing = false
	g.mu.Unlock()
	<-r.done
	return r.res.ID, r.res.Dup, r.res.Err
}
