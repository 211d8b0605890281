package store_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/gateway/ledger"
	"github.com/lianmeng/lianmeng/gateway/points"
	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
)

// TestCheckInvariantsDetectsTampering changes the database behind the
// ledger's back and expects each change to be named.
func TestCheckInvariantsDetectsTampering(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := db.NewWriter(store.WriterOptions{})
		defer w.Close()
		svc := &points.Service{Policy: testPolicy()}
		m := makeMerchants(t, db, 1, 1000)[0]
		if _, err := run(w, func(tx points.Tx) (points.FundResult, error) {
			return svc.Fund(tx, points.FundRequest{MerchantID: m, AmountFen: 5000, ExternalRef: "f"})
		}); err != nil {
			t.Fatal(err)
		}
		e, err := run(w, func(tx points.Tx) (points.EarnResult, error) {
			return svc.Earn(tx, points.EarnRequest{MerchantID: m, OrderID: "o", Member: points.Identity{Kind: "phone", Value: "13800000000"}, AmountFen: 1000})
		})
		if err != nil {
			t.Fatal(err)
		}
		assertClean(t, db)
		cases := []struct {
			name      string
			sql       string
			invariant int
		}{
			{"posting amount changed", fmt.Sprintf("UPDATE postings SET amount = amount + 1 WHERE tx_id = %d AND amount > 0", e.TxID), 1},
			{"balance changed", fmt.Sprintf("UPDATE accounts SET balance = balance + 5 WHERE name = '%s'", ledger.MerchantBudget(m)), 5},
			{"budget negative", fmt.Sprintf("UPDATE accounts SET balance = -1 WHERE name = '%s'", ledger.MerchantBudget(m)), 2},
			{"lot changed", fmt.Sprintf("UPDATE lots SET remaining = remaining - 1 WHERE id = %d", e.LotID), 5},
			{"reserve drained", fmt.Sprintf("UPDATE accounts SET balance = 0 WHERE name = '%s'", ledger.Reserve), 3},
		}
		for _, c := range cases {
			if _, err := db.W.Exec(c.sql); err != nil {
				t.Fatal(err)
			}
			vs, err := db.CheckInvariants(context.Background(), 1, nil)
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, v := range vs {
				found = found || v.Invariant == c.invariant
			}
			if !found {
				t.Errorf("%s: invariant %d not reported; got %v", c.name, c.invariant, vs)
			}
		}
	})
}

// TestTwoWritersShareOneBudget runs two writers on separate connection
// pools (as two gateway instances would) against one hot merchant budget:
// row locks and retries keep the budget from being overspent.
func TestTwoWritersShareOneBudget(t *testing.T) {
	for _, dialect := range []string{store.MySQL} {
		t.Run(dialect, func(t *testing.T) {
			driver, dsn := storetest.NewDatabase(t, dialect)
			open := func() *store.DB {
				db, err := store.Open(context.Background(), driver, dsn, store.Options{MaxOpenConns: 8})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { db.Close() })
				return db
			}
			a, b := open(), open()
			if _, err := a.Migrate(context.Background(), nil); err != nil {
				t.Fatal(err)
			}
			svc := &points.Service{Policy: testPolicy()}
			m := makeMerchants(t, a, 1, 1000)[0]
			wa := a.NewWriter(store.WriterOptions{BatchSize: 32, BatchWait: 100 * time.Microsecond})
			wb := b.NewWriter(store.WriterOptions{BatchSize: 32, BatchWait: 100 * time.Microsecond})
			defer wa.Close()
			defer wb.Close()
			if _, err := run(wa, func(tx points.Tx) (points.FundResult, error) {
				return svc.Fund(tx, points.FundRequest{MerchantID: m, AmountFen: 30000, ExternalRef: "f"})
			}); err != nil {
				t.Fatal(err)
			}
			// 400 earns of 100 points against a budget of 30000: exactly 300 fit.
			var wg sync.WaitGroup
			var mu sync.Mutex
			ok, refused := 0, 0
			for i := 0; i < 400; i++ {
				wg.Add(1)
				go func(i int) {
					defer wg.Done()
					w := wa
					if i%2 == 1 {
						w = wb
					}
					_, err := run(w, func(tx points.Tx) (points.EarnResult, error) {
						return svc.Earn(tx, points.EarnRequest{MerchantID: m, OrderID: fmt.Sprint("o", i),
							Member: points.Identity{Kind: "phone", Value: fmt.Sprintf("1390000%04d", i%50)}, AmountFen: 1000})
					})
					mu.Lock()
					defer mu.Unlock()
					switch {
					case err == nil:
						ok++
					case isCode(err, points.CodeInsufficientBudget):
						refused++
					default:
						t.Errorf("earn %d: %v", i, err)
					}
				}(i)
			}
			wg.Wait()
			if ok != 300 || refused != 100 {
				t.Errorf("ok=%d refused=%d, want 300 and 100", ok, refused)
			}
			assertClean(t, a)
		})
	}
}
