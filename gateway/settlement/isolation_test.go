package settlement_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/lianmeng/lianmeng/gateway/points"
	"github.com/lianmeng/lianmeng/gateway/settlement"
	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
	"github.com/lianmeng/lianmeng/sdk/payment"
	"github.com/lianmeng/lianmeng/sdk/webhook"
)

// hungChannel never answers until released: a channel that is down in the
// worst way (connections accepted, nothing returned).
type hungChannel struct {
	payment.Channel
	entered chan struct{}
	release chan struct{}
	once    sync.Once
}

func (h *hungChannel) wait(ctx context.Context) error {
	h.once.Do(func() { close(h.entered) })
	select {
	case <-h.release:
	case <-ctx.Done():
	}
	return fmt.Errorf("channel hung")
}

func (h *hungChannel) Payout(ctx context.Context, _ payment.PayoutRequest) (payment.Result, error) {
	return payment.Result{}, h.wait(ctx)
}
func (h *hungChannel) HandleNotification(ctx context.Context, _ webhook.Request) (payment.Notification, error) {
	return payment.Notification{}, h.wait(ctx)
}

// Earning never waits on a channel: while a payout and a notification are
// stuck inside a channel that does not answer, every earn of a burst
// succeeds, and the budget is exact. (No timing is asserted: a dependency
// would show as earns that cannot finish while the channel is held.)
func TestEarnWhileChannelHangs(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		x, ctx := setup(t, db), context.Background()
		x.owe(t, 50_000)
		if r := x.w.Submit(ctx, &store.Op{Command: x.svc.FundCommand(points.FundRequest{MerchantID: x.merchant, AmountFen: 1_000_000, ExternalRef: "iso-fund"})}); r.Err != nil {
			t.Fatal(r.Err)
		}
		hung := &hungChannel{entered: make(chan struct{}), release: make(chan struct{})}
		x.ch.m["hung"] = hung
		_ = db.SetPayoutAccounts(ctx, x.merchant, []store.PayoutAccount{{Channel: "hung", PayeeType: "wechat_openid", Account: "o1"}})
		p := &settlement.Payouts{DB: db, Writer: x.w, Channels: x.ch}
		if _, err := p.Request(ctx, settlement.PayoutRequest{MerchantID: x.merchant, AmountFen: 20_000, IdemKey: "iso"}); err != nil {
			t.Fatal(err)
		}
		var bg sync.WaitGroup
		bg.Add(2)
		go func() { defer bg.Done(); _, _ = p.ProcessDue(ctx) }()
		go func() { defer bg.Done(); _, _ = x.f.Notify(ctx, "hung", webhook.Request{Body: []byte("{}")}) }()
		<-hung.entered // a channel call is in flight and will not return

		const n = 200
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				pts := int64(100)
				cmd, err := x.svc.PrepareEarn(ctx, points.EarnRequest{MerchantID: x.merchant, OrderID: fmt.Sprintf("iso-%d", i),
					Member: points.Identity{Kind: "phone", Value: fmt.Sprintf("+86138%08d", i)}, AmountFen: 10_000, Points: &pts})
				if err != nil {
					errs <- err
					return
				}
				if r := x.w.Submit(ctx, &store.Op{Command: cmd}); r.Err != nil {
					errs <- r.Err
				}
			}(i)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Errorf("earn while the channel hangs: %v", err)
		}
		budget, _ := x.budget(t)
		if want := int64(1_000_000 - n*100); budget != want {
			t.Fatalf("budget %d, want %d", budget, want)
		}
		close(hung.release)
		bg.Wait()
	})
}
