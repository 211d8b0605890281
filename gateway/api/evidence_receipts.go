package api

import (
	"context"
	"encoding/json"

	"github.com/gofiber/fiber/v2"

	"github.com/lianmeng/lianmeng/gateway/evidence"
)

// receiptIssuer is implemented by an EvidenceProvider that signs receipts
// (*evidence.Proofs with Receipts set).
type receiptIssuer interface {
	Receipt(ctx context.Context, txID int64) (string, error)
}

// attachReceipt adds the Lianmeng-Receipt header (docs/evidence.md §15) to
// the answer of a ledger write whose body names its transaction (tx_id):
// the log key's signed promise to include it in a checkpoint within a
// minute. A replayed answer gets a fresh receipt of the same transaction.
// The write has committed whatever happens here, so a receipt that cannot
// be issued is logged and left out, never turned into an error.
func (s *Server) attachReceipt(c *fiber.Ctx, body []byte) {
	ri, ok := s.evidence.(receiptIssuer)
	if !ok {
		return
	}
	var v struct {
		TxID int64 `json:"tx_id"`
	}
	if json.Unmarshal(body, &v) != nil || v.TxID <= 0 {
		return
	}
	h, err := ri.Receipt(c.UserContext(), v.TxID)
	if err != nil {
		s.log.Warn("evidence receipt not issued", "request_id", requestID(c), "tx", v.TxID, "err", err)
		return
	}
	if h != "" {
		c.Set(evidence.ReceiptHeader, h)
	}
}
