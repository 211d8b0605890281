package api

import (
	"context"
	"encoding/json"

	"github.com/gofiber/fiber/v2"

	"github.com/lianmeng/lianmeng/gateway/evidence"
	"github.com/lianmeng/lianmeng/gateway/points"
	"github.com/lianmeng/lianmeng/gateway/store"
)

// receiptIssuer is implemented by an EvidenceProvider that signs receipts
// (*evidence.Proofs with Receipts set).
type receiptIssuer interface {
	Receipt(ctx context.Context, b *evidence.Batch, txID int64) (string, error)
}

// attachReceipt adds the Lianmeng-Receipt header (docs/evidence.md §15) to
// the answer of a ledger write that names its transaction (tx_id): the log
// key's signed promise to include it in a checkpoint within a minute. A
// write that applied now is receipted from its domain result, with the
// other receipts of its writer batch (one signature for all); a replayed
// answer gets a fresh receipt of the same transaction, read back from the
// database. The write has committed whatever happens here, so a receipt
// that cannot be issued is logged and left out, never turned into an
// error.
func (s *Server) attachReceipt(c *fiber.Ctx, res store.OpResult) {
	ri, ok := s.evidence.(receiptIssuer)
	if !ok {
		return
	}
	var txID int64
	if res.Replay != nil {
		var v struct {
			TxID int64 `json:"tx_id"`
		}
		if json.Unmarshal([]byte(res.Replay.Response), &v) != nil {
			return
		}
		txID = v.TxID
	} else if t, ok := res.Value.(points.Transacted); ok {
		txID = t.Transaction()
	}
	if txID <= 0 {
		return
	}
	h, err := ri.Receipt(c.UserContext(), res.Batch, txID)
	if err != nil {
		s.log.Warn("evidence receipt not issued", "request_id", requestID(c), "tx", txID, "err", err)
		return
	}
	if h != "" {
		c.Set(evidence.ReceiptHeader, h)
	}
}
