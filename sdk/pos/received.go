package pos

import (
	"strconv"
	"time"
)

// HeaderReceivedAt is set by the gateway on every request an adapter sees:
// the Unix time (seconds) the gateway received the webhook. The gateway
// may hand a stored webhook to the adapter again much later (retries,
// replay), so an adapter whose provider signs a timestamp checks its window
// against this time, not the clock. A sender's own value never reaches the
// adapter.
const HeaderReceivedAt = "X-Lianmeng-Received-At"

// ReceivedAt returns the gateway's receive time of req, or false when the
// header is missing or malformed.
func ReceivedAt(req Request) (time.Time, bool) {
	v := req.HTTP.Header.Get(HeaderReceivedAt)
	sec, err := strconv.ParseInt(v, 10, 64)
	if err != nil || sec <= 0 {
		return time.Time{}, false
	}
	return time.Unix(sec, 0).UTC(), true
}
