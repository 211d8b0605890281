package api

import (
	"strconv"

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
	s.handle(fiber.MethodGet, "/v1/public/history", s.limitByAddress("public"), s.publicHistory)
}

// publicHistory is the alliance's daily history: one snapshot per finished
// day (the scheduler's history.snapshots job), oldest first.
type publicHistory struct {
	Days []points.DaySnapshot `json:"days"`
}

func (s *Server) publicHistory(c *fiber.Ctx) error {
	days := 30
	if v := c.Query("days"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 366 {
			return Errorf(400, CodeValidation, "days must be an integer between 1 and 366")
		}
		days = n
	}
	now := s.now()
	// The last days finished; today has no snapshot until it ends.
	ss, err := s.db.Snapshots(c.UserContext(), points.DayOf(now.AddDate(0, 0, -days)), points.DayOf(now))
	if err != nil {
		return err
	}
	if ss == nil {
		ss = []points.DaySnapshot{}
	}
	c.Set(fiber.HeaderCacheControl, "public, max-age=60")
	return c.JSON(publicHistory{Days: ss})
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
