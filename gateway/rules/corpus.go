package rules

import (
	"embed"
	"encoding/json"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/lianmeng/lianmeng/gateway/points"
)

// corpusTime is when corpus purchases happen (a Wednesday noon in the
// alliance's zone): the comparison is of amounts and items, not of hours.
var corpusTime = time.Date(2026, 1, 7, 4, 0, 0, 0, time.UTC)

// Purchase is one purchase of a comparison corpus: what a rule sees of it.
type Purchase struct {
	Label     string        `json:"label"`
	AmountFen int64         `json:"amount_fen"`
	Items     []points.Item `json:"items,omitempty"`
}

// The synthetic corpora, one per industry (general for any other): typical
// purchases, from small to large, with the categories rules exclude or
// multiply. A version is compared with the one it replaces on these and
// on the merchant's own recent purchases.
//
//go:embed corpus/*.json
var corpusFS embed.FS

// SyntheticCorpus returns the synthetic corpus of an industry, or the
// general one.
func SyntheticCorpus(industry string) ([]Purchase, error) {
	name := "general"
	if industry != "" && !strings.ContainsAny(industry, "/.\\") {
		if _, err := corpusFS.Open(path.Join("corpus", industry+".json")); err == nil {
			name = industry
		}
	}
	b, err := corpusFS.ReadFile(path.Join("corpus", name+".json"))
	if err != nil {
		return nil, fmt.Errorf("corpus %s: %w", name, err)
	}
	var out []Purchase
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("corpus %s: %w", name, err)
	}
	return out, nil
}
