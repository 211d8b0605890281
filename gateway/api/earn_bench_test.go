package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/lianmeng/lianmeng/gateway/evidence"
	"github.com/lianmeng/lianmeng/gateway/points"
	"github.com/lianmeng/lianmeng/gateway/points/pointstest"
	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
	"github.com/lianmeng/lianmeng/sdk/client"
)

// BenchmarkEarnHTTP is a signed earn through the gateway's whole HTTP
// stack without the network, as serve runs it: the request parsed from its
// wire bytes, the middleware (request id, access log and metrics, strict
// parsing, deadline), authentication, decoding, the handler, and the
// response written out. The requests are signed before the timer (the
// generator's work is not counted).
//
//   - handler: the batching writer is replaced by an in-memory one (the
//     domain's Earn on a pointstest.Tx, the result encoded as the store
//     records it), so ns/op and allocs/op are the gateway's cost per earn
//     outside the writer, on one goroutine;
//   - sqlite: the real batching writer on SQLite, receipts signed once per
//     batch, 64 requests in flight; cpu-µs/earn is the whole process's CPU
//     (writer included).
//
// Run: go test -run '^$' -bench EarnHTTP -benchtime 20000x ./gateway/api/
func BenchmarkEarnHTTP(b *testing.B) {
	b.Run("handler", func(b *testing.B) { benchEarnHTTP(b, false) })
	b.Run("sqlite", func(b *testing.B) { benchEarnHTTP(b, true) })
}

func benchEarnHTTP(b *testing.B, realWriter bool) {
	db := storetest.Open(b, store.SQLite)
	clock := &ptsClock{}
	clock.us.Store(time.Now().UnixMicro())
	cfg := fndConfig()
	cfg.RateLimits.Credential.Requests = 0 // as bench.sh runs the gateway
	cfg.RateLimits.Operator.Requests = 0
	svc := &points.Service{Policy: cfg.Points.Policy()}
	// At warn, as bench.sh runs the gateway: no access log line per request.
	log := slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelWarn}))
	d := Deps{Config: cfg, DB: db, Log: log, Now: clock.Now, Points: svc}
	var w *store.Writer
	if realWriter {
		w = db.NewWriter(store.WriterOptions{Now: clock.Now})
		b.Cleanup(w.Close)
		d.Writer = w
		key, err := evidence.GenerateKey()
		if err != nil {
			b.Fatal(err)
		}
		signer, _ := evidence.NewSigner(key)
		pubPEM, _ := signer.PublicKeyPEM()
		proofs := evidence.NewProofs(db.Evidence(), pubPEM, signer.KeyID())
		proofs.Receipts = evidence.NewReceipts(db.Evidence(), signer, "bench.example/lianmeng")
		d.Evidence = proofs
	} else {
		// Setting the merchant up needs a writer (the fund); the earns
		// then go to the in-memory one.
		w = db.NewWriter(store.WriterOptions{Now: clock.Now})
		b.Cleanup(w.Close)
		d.Writer = w
	}
	srv := New(d)
	g := &ptsGateway{db: db, srv: srv, clock: clock}
	var stop func() error
	g.base, stop = fndServe(b, srv)
	g.op = client.NewOperator(g.base, fndOperatorToken, client.WithClock(clock.Now))
	m := g.merchant(b, 100, 1_000_000_000_000)
	if !realWriter {
		mem := &memWriter{tx: pointstest.NewTx(clock.Now(), points.Merchant{ID: m.ID, Active: true,
			Earning: points.Earning{RateBP: 100, Version: 1}}), nonces: map[string]bool{}}
		if _, err := pointstest.Run(mem.tx, func(tx points.Tx) (points.FundResult, error) {
			return svc.Fund(tx, points.FundRequest{MerchantID: m.ID, AmountFen: 1_000_000_000_000, ExternalRef: "fund"})
		}); err != nil {
			b.Fatal(err)
		}
		srv.writer = mem
	}
	_ = stop

	// Every request signed in advance, as wire bytes.
	reqs := make([][]byte, b.N)
	run := strconv.FormatInt(time.Now().UnixNano(), 36)
	for i := range reqs {
		order := run + "-" + strconv.Itoa(i)
		body, _ := json.Marshal(map[string]any{"order_id": order, "member": phone(fmt.Sprintf("139%08d", i%100_000)), "amount_fen": 100 + i%50_000})
		r, err := m.C.NewRequest(context.Background(), "POST", "/v1/merchant/earn", body, client.IdempotencyKey(order))
		if err != nil {
			b.Fatal(err)
		}
		var buf bytes.Buffer
		if err := r.Write(&buf); err != nil {
			b.Fatal(err)
		}
		reqs[i] = buf.Bytes()
	}
	h := srv.App().Handler()
	var next atomic.Int64
	var failed atomic.Value
	worker := func() {
		var fctx fasthttp.RequestCtx
		conn := &benchConn{}
		for {
			i := next.Add(1) - 1
			if i >= int64(len(reqs)) {
				return
			}
			fctx.Request.Reset()
			fctx.Response.Reset()
			if err := fctx.Request.Read(bufio.NewReader(bytes.NewReader(reqs[i]))); err != nil {
				failed.Store(err.Error())
				return
			}
			fctx.Init2(conn, nil, false)
			h(&fctx)
			if st := fctx.Response.StatusCode(); st != 201 {
				failed.Store(fmt.Sprintf("status %d: %s", st, fctx.Response.Body()))
				return
			}
			if _, err := fctx.Response.WriteTo(io.Discard); err != nil {
				failed.Store(err.Error())
				return
			}
		}
	}
	clients := 1
	if realWriter {
		clients = 64
	}
	cpu0 := processCPU(b)
	b.ReportAllocs()
	b.ResetTimer()
	var wg sync.WaitGroup
	for range clients {
		wg.Add(1)
		go func() { defer wg.Done(); worker() }()
	}
	wg.Wait()
	b.StopTimer()
	if f := failed.Load(); f != nil {
		b.Fatal(f)
	}
	b.ReportMetric(float64((processCPU(b)-cpu0).Microseconds())/float64(b.N), "cpu-µs/earn")
}

// memWriter stands in for the batching writer: each op applies alone on
// an in-memory ledger, and its result is encoded as the store records it
// under the idempotency key.
type memWriter struct {
	mu     sync.Mutex
	tx     *pointstest.Tx
	nonces map[string]bool
}

func (w *memWriter) Submit(_ context.Context, op *store.Op) store.OpResult {
	w.mu.Lock()
	defer w.mu.Unlock()
	if op.Nonce != nil {
		k := op.Nonce.KeyID + "/" + op.Nonce.Nonce
		if w.nonces[k] {
			return store.OpResult{Err: store.ErrNonceReplayed}
		}
		w.nonces[k] = true
	}
	if op.Command.Apply == nil {
		return store.OpResult{}
	}
	var v any
	err := w.tx.Atomic(func(tx points.Tx) error {
		var err error
		v, err = op.Command.Apply(tx)
		return err
	})
	if err != nil {
		return store.OpResult{Err: err}
	}
	body, err := json.Marshal(v)
	if err != nil {
		return store.OpResult{Err: err}
	}
	return store.OpResult{Value: v, Body: body}
}

// benchConn is the connection a benchmark request claims to come from.
type benchConn struct{ net.Conn }

var (
	benchRemote = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}
	benchLocal  = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080}
)

func (benchConn) RemoteAddr() net.Addr { return benchRemote }
func (benchConn) LocalAddr() net.Addr  { return benchLocal }

// processCPU is the CPU time (user and system) the process has used.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
