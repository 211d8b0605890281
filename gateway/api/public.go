package api

import (
	"github.com/gofiber/fiber/v2"

	"github.com/lianmeng/lianmeng/gateway/points"
	"github.com/lianmeng/lianmeng/gateway/rules"
)

// routesPublic registers what anyone may read without signing in, beside
// the coverage (points.go) and the evidence log (evidence.go): every
// merchant's current earning terms and next scheduled rule change, which
// the transparency page shows in plain words.
func (s *Server) routesPublic() {
	s.handle(fiber.MethodGet, "/v1/public/merchants", s.limitByAddress("public"), s.publicMerchants)
}

// publicMerchant is what anyone may know of a merchant: who it is and how
// members earn there. Stores, credentials and money stay private.
type publicMerchant struct {
	ID       string         `json:"id"`
	Name     string         `json:"name"`
	Industry string         `json:"industry"`
	Status   string         `json:"status"`
	Earning  points.Earning `json:"earning"`
	// Scheduled is the published version that takes effect next, with
	// what changes for members (the public rule log has the history).
	Scheduled *rules.Version `json:"scheduled,omitempty"`
	Changes   []rules.Change `json:"changes,omitempty"`
}

type publicMerchantList struct {
	Merchants  []publicMerchant `json:"merchants"`
	NextCursor string           `json:"next_cursor,omitempty"`
}

func (s *Server) publicMerchants(c *fiber.Ctx) error {
	limit, err := pageLimit(c, 100, 500)
	if err != nil {
		return err
	}
	ms, err := s.merchants.ListMerchants(c.UserContext(), c.Query("cursor"), limit)
	if err != nil {
		return err
	}
	out := publicMerchantList{Merchants: make([]publicMerchant, 0, len(ms))}
	for _, m := range ms {
		// Through the lookup cache: the same terms the earn path applies.
		e, err := s.cache.MerchantEarning(c.UserContext(), m.ID)
		if err != nil {
			return err
		}
		pm := publicMerchant{ID: m.ID, Name: m.Name, Industry: m.Industry, Status: m.Status, Earning: e}
		if s.rules != nil {
			l, err := s.rules.PublicLog(c.UserContext(), m.ID, m.Industry)
			if err != nil {
				return err
			}
			pm.Scheduled, pm.Changes = l.Scheduled, l.Changes
		}
		out.Merchants = append(out.Merchants, pm)
	}
	if len(ms) == limit {
		out.NextCursor = ms[len(ms)-1].ID
	}
	c.Set(fiber.HeaderCacheControl, "public, max-age=5")
	return c.JSON(out)
}
