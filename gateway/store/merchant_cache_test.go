package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/gateway/merchant"
	"github.com/lianmeng/lianmeng/gateway/points"
	"github.com/lianmeng/lianmeng/gateway/rules"
	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
)

// The batch keeps merchants and their published rule versions cached
// under the admin epoch, read inside its own transaction, on both
// databases: a version published or a merchant suspended through another
// gateway instance (a second handle on the database) is applied by the
// very next batch, and a scheduled version takes effect at its time with
// no change made at all. Never a stale rate, never a suspended merchant
// earning.
func TestMerchantTermsSeenByTheNextBatch(t *testing.T) {
	for _, dialect := range storetest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			ctx := context.Background()
			driver, dsn := storetest.NewDatabase(t, dialect)
			open := func() *store.DB {
				db, err := store.Open(ctx, driver, dsn, store.Options{MaxOpenConns: 8})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { db.Close() })
				return db
			}
			db := open()
			if _, err := db.Migrate(ctx, nil); err != nil {
				t.Fatal(err)
			}
			other := open()
			clock := &fakeClock{}
			clock.us.Store(time.Now().UnixMicro())
			w := db.NewWriter(store.WriterOptions{Now: clock.Now})
			defer w.Close()
			svc := &points.Service{Policy: testPolicy(), Earnings: points.EarningFunc(func(context.Context, string) (points.Earning, error) {
				return points.Earning{}, nil // flat rate: the batch reads the version in effect
			})}
			m := makeMerchants(t, db, 1, 100)[0] // 1%
			if _, err := run(w, func(tx points.Tx) (points.FundResult, error) {
				return svc.Fund(tx, points.FundRequest{MerchantID: m, AmountFen: 1_000_000, ExternalRef: "fund"})
			}); err != nil {
				t.Fatal(err)
			}
			order := 0
			earn := func() (int64, error) {
				order++
				cmd, err := svc.PrepareEarn(ctx, points.EarnRequest{MerchantID: m, OrderID: fmt.Sprint("o", order),
					Member: points.Identity{Kind: points.IdentityCustomer, Value: "c1"}, AmountFen: 10_000})
				if err != nil {
					return 0, err
				}
				r := w.Submit(ctx, &store.Op{Command: cmd})
				if r.Err != nil {
					return 0, r.Err
				}
				return r.Value.(points.EarnResult).Points, nil
			}
			want := func(n int64) {
				t.Helper()
				got, err := earn()
				if err != nil || got != n {
					t.Fatalf("earned %d (%v), want %d", got, err, n)
				}
			}
			publish := func(rate int64, effective time.Time) {
				t.Helper()
				d, err := other.CreateRuleDraft(ctx, rules.Version{MerchantID: m, CreatedBy: "test", CreatedAt: clock.Now(),
					Terms: rules.Terms{RateBP: rate, ReleaseDelaySeconds: -1, ValiditySeconds: -1, ExcludedCategories: []string{}}})
				if err != nil {
					t.Fatal(err)
				}
				if _, err := other.PublishRuleVersion(ctx, m, d.ID, effective, clock.Now(), "test", func([]rules.Version) (any, error) { return nil, nil }); err != nil {
					t.Fatal(err)
				}
			}
			want(100)
			publish(200, clock.Now()) // through the other instance, in effect now
			want(200)
			publish(300, clock.Now().Add(time.Hour)) // scheduled
			want(200)
			clock.Advance(2 * time.Hour) // no change made: the scheduled version's time came
			want(300)
			if err := other.Merchants().SetMerchantStatus(ctx, m, merchant.StatusSuspended, clock.Now(), "test"); err != nil {
				t.Fatal(err)
			}
			var pe *points.Error
			if _, err := earn(); !errors.As(err, &pe) {
				t.Fatalf("a suspended merchant earned: %v", err)
			}
			if err := other.Merchants().SetMerchantStatus(ctx, m, merchant.StatusActive, clock.Now(), "test"); err != nil {
				t.Fatal(err)
			}
			want(300)
		})
	}
}
