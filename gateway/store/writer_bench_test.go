package store_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

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
				// Every merchant earns at a flat rate (the writer is measured,
				// not the configuration read).
				svc := &points.Service{Policy: testPolicy(), Earnings: points.EarningFunc(func(context.Context, string) (points.Earning, error) {
					return points.Earning{}, nil
				})}
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
				start, cpu0 := time.Now(), processCPU()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						i := seq.Add(1)
						m := ms[int(i)%len(ms)]
						req := points.EarnRequest{MerchantID: m, OrderID: fmt.Sprint("b", i),
							Member: points.Identity{Kind: points.IdentityCustomer, Value: fmt.Sprint("c", i%5000)}, AmountFen: 10000}
						cmd, err := svc.PrepareEarn(context.Background(), req)
						if err != nil {
							b.Error(err)
							return
						}
						res := w.Submit(context.Background(), &store.Op{Command: cmd})
						if res.Err != nil {
							b.Error(res.Err)
							return
						}
					}
				})
				b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "earns/s")
				// CPU time is the figure to compare on a shared machine: wall
				// time there measures the neighbours. On MySQL the server's
				// CPU is not included.
				b.ReportMetric(float64((processCPU()-cpu0).Microseconds())/float64(b.N), "cpu-µs/earn")
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

// processCPU is the user and system CPU time this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkBatch measures the writer's phases for batches of 128 earns as
// HTTP submits them (each with its idempotency record and nonce), on both
// databases, spread over 100 merchants: load and apply, flush, commit,
// each as CPU µs per earn of the writer's own thread (so it is comparable
// on a shared machine; on MySQL the server's CPU is not included). One
// iteration is one batch. Run:
//
//	go test -run x -bench 'Batch/' -benchtime 40x ./gateway/store/
func BenchmarkBatch(b *testing.B) {
	const size = 128
	for _, dialect := range storetest.Dialects() {
		b.Run(dialect, func(b *testing.B) {
			db := storetest.Open(b, dialect)
			w := db.NewWriter(store.WriterOptions{})
			defer w.Close()
			svc := &points.Service{Policy: testPolicy(), Earnings: points.EarningFunc(func(context.Context, string) (points.Earning, error) {
				return points.Earning{}, nil
			})}
			ms := makeMerchants(b, db, 100, 100)
			for _, m := range ms {
				if _, err := run(w, func(tx points.Tx) (points.FundResult, error) {
					return svc.Fund(tx, points.FundRequest{MerchantID: m, AmountFen: 500_000_000_000, ExternalRef: "bench"})
				}); err != nil {
					b.Fatal(err)
				}
			}
			var apply, flush, commit time.Duration
			seq := 0
			b.ResetTimer()
			for b.Loop() {
				b.StopTimer()
				batch := make([]*store.Op, size)
				for i := range batch {
					seq++
					m := ms[seq%len(ms)]
					cmd, err := svc.PrepareEarn(context.Background(), points.EarnRequest{MerchantID: m, OrderID: fmt.Sprint("b", seq),
						Member: points.Identity{Kind: points.IdentityCustomer, Value: fmt.Sprint("c", seq%5000)}, AmountFen: 10000})
					if err != nil {
						b.Fatal(err)
					}
					batch[i] = &store.Op{Command: cmd, Idem: &store.Idem{MerchantID: m, Key: fmt.Sprint("k", seq), RequestHash: "h", Status: 201},
						Nonce: &store.Nonce{KeyID: "key-" + m, Nonce: fmt.Sprint("n", seq), Expires: time.Now().Add(10 * time.Minute)}}
				}
				b.StartTimer()
				a, f, c, err := w.BatchPhases(batch)
				if err != nil {
					b.Fatal(err)
				}
				apply, flush, commit = apply+a, flush+f, commit+c
			}
			n := float64(b.N * size)
			b.ReportMetric(float64(apply.Microseconds())/n, "apply-µs/earn")
			b.ReportMetric(float64(flush.Microseconds())/n, "flush-µs/earn")
			b.ReportMetric(float64(commit.Microseconds())/n, "commit-µs/earn")
		})
	}
}
