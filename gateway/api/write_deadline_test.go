package api

import (
	"context"
	"testing"
	"time"
)

// A write waits for the batching writer at most writeTimeout, or less when
// the request's own deadline comes first; that deadline is then used as
// it is, with no second timer.
func TestWriteContextDeadline(t *testing.T) {
	near := func(got, want time.Time) bool { d := got.Sub(want); return d > -time.Second && d < time.Second }

	ctx, cancel := writeContext(context.Background()) // no request deadline (http.write_timeout 0)
	defer cancel()
	if d, ok := ctx.Deadline(); !ok || !near(d, time.Now().Add(writeTimeout)) {
		t.Fatalf("without a request deadline: %v %v, want about now + %s", d, ok, writeTimeout)
	}

	req, cancelReq := context.WithTimeout(context.Background(), 9*time.Second) // the default request deadline
	defer cancelReq()
	ctx, cancel = writeContext(req)
	defer cancel()
	if ctx != req {
		t.Fatal("an earlier request deadline got a second timer")
	}

	far, cancelFar := context.WithTimeout(context.Background(), time.Minute) // a long http.write_timeout
	defer cancelFar()
	ctx, cancel = writeContext(far)
	defer cancel()
	if d, ok := ctx.Deadline(); !ok || !near(d, time.Now().Add(writeTimeout)) {
		t.Fatalf("under a later request deadline: %v %v, want about now + %s", d, ok, writeTimeout)
	}
}
