package pos

import (
	"context"
	"time"

	"github.com/lianmeng/lianmeng/sdk/webhook"
)

// Poller is implemented by an Adapter for a POS that cannot push webhooks
// (Pospal 银豹 style: the sales are read page by page from its API). The
// gateway calls Poll per connection on its interval, with the cursor the
// previous call returned; it stores every record in its inbox and the new
// cursor in one transaction, so after a crash or a restart polling resumes
// from the last stored page: nothing skipped, and a page fetched twice is
// stored once (records are deduplicated by ID). Each record is then
// verified and parsed by the adapter's HandleWebhook like a pushed
// webhook, so it must carry something HandleWebhook can verify with the
// connection's configuration (e.g. an HMAC of its body under the API key).
type Poller interface {
	Poll(ctx context.Context, req PollRequest) (PollResult, error)
}

// PollRequest asks for the records after Cursor.
type PollRequest struct {
	MerchantID     string
	MerchantConfig []byte // the connection's configuration, JSON
	// Cursor is the previous PollResult's Cursor; nil on the first poll.
	Cursor []byte
	// Now is the gateway's clock, for windowed APIs.
	Now time.Time
}

// PollResult is one page.
type PollResult struct {
	Records []Record
	// Cursor is where the next poll starts (opaque to the gateway, at most
	// 4 KiB); stored only together with Records.
	Cursor []byte
	// More: another page is ready now (poll again at once).
	More bool
	// ProviderError, when set, says the provider refused or failed the
	// call (an error status, an unreachable host): nothing was read, the
	// cursor stays, and the gateway backs off. It is an answer, not a
	// failure of the plugin.
	ProviderError string
}

// Record is one sale or refund read from the provider, as a request its
// adapter's HandleWebhook verifies and parses.
type Record struct {
	// ID is the provider's id of the record: a record read again has the
	// same ID and is stored once.
	ID      string
	Request webhook.Request
}
