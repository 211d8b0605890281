package store_test

import (
	"context"
	"fmt"
	"github.com/prometheus/client_golang/prometheus"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/gateway/ledger"
	"github.com/lianmeng/lianmeng/gateway/points"
	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
)

// BenchmarkWriterEarn measures earns through the batching writer, without
// HTTP, on both databases: "spread" over 100 merchants and "hot" on one.
// Run: go test -run x -bench WriterEarn ./gateway/store/
func BenchmarkWriterEarn(b *testing.B) {
	for _, dialect := range storetest.Dialects() {
		for _, shape := range []struct {
			name      string
			merchants int
		}{{"spread", 100}, {"hot", 1}} {
			b.Run(dialect+"/"+shape.name, func(b *testing.B) {
				db := storetest.Open(b, dialect)
				reg := prometheus.NewRegistry()
				w := db.NewWriter(store.WriterOptions{BatchSize: 512, BatchWait: time.Millisecond, Registry: reg})
				defer w.Close()
				svc := &points.Service{Policy: testPolicy()}
				ms := makeMerchants(b, db, shape.merchants, 100)
				for _, m := range ms {
					if _, err := run(w, func(tx points.Tx) (points.FundResult, error) {
						return svc.Fund(tx, points.FundRequest{MerchantID: m, AmountFen: 500_000_000_000, ExternalRef: "bench"})
					}); err != nil {
						b.Fatal(err)
					}
				}
				var seq atomic.Int64
				b.SetParallelism(64) // many concurrent requests, as from HTTP
				b.ResetTimer()
				start := time.Now()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						i := seq.Add(1)
						m := ms[int(i)%len(ms)]
						req := points.EarnRequest{MerchantID: m, OrderID: fmt.Sprint("b", i),
							Member: points.Identity{Kind: points.IdentityCustomer, Value: fmt.Sprint("c", i%5000)}, AmountFen: 10000}
						res := w.Submit(context.Background(), &store.Op{IDs: 8,
							Keys: store.Keys{Merchants: []string{m}, Accounts: []string{ledger.MerchantBudget(m)},
								Identities: []store.IdentityKey{{MerchantID: m, Identity: req.Member}},
								Purchases:  []store.PurchaseKey{{MerchantID: m, Kind: points.PurchaseEarn, OrderID: req.OrderID}}},
							Apply: func(tx points.Tx) (int, []byte, error) {
								_, err := svc.Earn(tx, req)
								return 201, nil, err
							}})
						if res.Err != nil {
							b.Error(res.Err)
							return
						}
					}
				})
				b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "earns/s")
				if mfs, err := reg.Gather(); err == nil {
					for _, mf := range mfs {
						if mf.GetName() == "lianmeng_writer_batch_size" {
							h := mf.GetMetric()[0].GetHistogram()
							b.ReportMetric(h.GetSampleSum()/float64(h.GetSampleCount()), "reqs/batch")
						}
					}
				}
			})
		}
	}
}
