package store

import (
	"context"
	"fmt"

	"github.com/lianmeng/lianmeng/gateway/points"
)

// ImportedPoints sums the points a legacy import (points.ImportCommand)
// has already imported for a merchant: what a resumed import does not need
// funded again.
func (db *DB) ImportedPoints(ctx context.Context, merchantID, importID string) (int64, error) {
	var n int64
	err := db.R.GetContext(ctx, &n, `SELECT COALESCE(SUM(points), 0) FROM purchases WHERE merchant_id = ? AND kind = ? AND order_id >= ? AND order_id < ?`,
		merchantID, points.PurchaseImport, importID+":", importID+";") // ';' follows ':': the ids "importID:line"
	if err != nil {
		return 0, fmt.Errorf("imported points: %w", err)
	}
	return n, nil
}
