package web

import (
	"fmt"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/lianmeng/lianmeng/gateway/points"
	"github.com/lianmeng/lianmeng/gateway/store"
)

// History serves the transparency page's charts, drawn from the daily
// snapshots (points.DaySnapshot, kept by the scheduler's
// history.snapshots job) that GET /v1/public/history answers as JSON:
// /charts/coverage.svg (the coverage ratio at the end of each day) and
// /charts/points.svg (points issued, redeemed and expired each day).
type History struct {
	DB  *store.DB
	Now func() time.Time
}

// RegisterHistory adds the chart routes.
func RegisterHistory(r fiber.Router, h *History) {
	if h.Now == nil {
		h.Now = time.Now
	}
	r.Get("/charts/coverage.svg", h.serve(coverageChart))
	r.Get("/charts/points.svg", h.serve(pointsChart))
}

// chartWords are a chart's words in one language.
type chartWords struct {
	covTitle, covDesc, covName, ptsTitle, ptsDesc, issued, redeemed, expired, empty string
}

var words = map[string]chartWords{
	"zh": {"备付金覆盖率（每日收盘）", "%d 天内每日结束时备付金对流通积分的覆盖率，从 %s 到 %s；最近一天 %s。", "覆盖率",
		"每日积分发放、抵扣与过期", "%d 天内每日发放、抵扣、过期的积分；合计发放 %s，抵扣 %s，过期 %s。", "发放", "抵扣", "过期", "暂无每日数据（第一天结束后生成）"},
	"en": {"Reserve coverage (end of each day)", "Coverage of outstanding points by the reserve at the end of each of %d days, from %s to %s; latest %s.", "Coverage",
		"Points issued, redeemed and expired per day", "Points issued, redeemed and expired on each of %d days; in all %s issued, %s redeemed, %s expired.", "Issued", "Redeemed", "Expired", "No daily figures yet (the first appear when a day ends)"},
}

func coverageChart(ss []points.DaySnapshot, w chartWords) chart {
	c := chart{Title: w.covTitle, Format: percentBP, Empty: w.empty}
	s := series{Name: w.covName, Color: "#146c2e"}
	for _, d := range ss {
		c.Days = append(c.Days, d.Day)
		s.Values = append(s.Values, d.CoverageBP)
	}
	c.Series = []series{s}
	if n := len(ss); n > 0 {
		c.Desc = fmt.Sprintf(w.covDesc, n, ss[0].Day, ss[n-1].Day, percentBP(ss[n-1].CoverageBP))
	}
	return c
}

func pointsChart(ss []points.DaySnapshot, w chartWords) chart {
	c := chart{Title: w.ptsTitle, Bars: true, Format: func(v int64) string { return group(strconv.FormatInt(v, 10)) }, Empty: w.empty}
	is, rs, es := series{Name: w.issued, Color: "#0b5394"}, series{Name: w.redeemed, Color: "#8a4b00"}, series{Name: w.expired, Color: "#a00000"}
	var ti, tr, te int64
	for _, d := range ss {
		c.Days = append(c.Days, d.Day)
		is.Values, rs.Values, es.Values = append(is.Values, d.IssuedPoints), append(rs.Values, d.RedeemedPoints), append(es.Values, d.ExpiredToday)
		ti, tr, te = ti+d.IssuedPoints, tr+d.RedeemedPoints, te+d.ExpiredToday
	}
	c.Series = []series{is, rs, es}
	if len(ss) > 0 {
		f := c.Format
		c.Desc = fmt.Sprintf(w.ptsDesc, len(ss), f(ti), f(tr), f(te))
	}
	return c
}

func (h *History) serve(draw func([]points.DaySnapshot, chartWords) chart) fiber.Handler {
	return func(c *fiber.Ctx) error {
		days := 30
		if v := c.Query("days"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 366 {
				return fiber.NewError(fiber.StatusBadRequest, "days must be an integer between 1 and 366")
			}
			days = n
		}
		w, ok := words[c.Query("lang", "zh")]
		if !ok {
			return fiber.NewError(fiber.StatusBadRequest, "lang must be zh or en")
		}
		now := h.Now()
		ss, err := h.DB.Snapshots(c.UserContext(), points.DayOf(now.AddDate(0, 0, -days)), points.DayOf(now))
		if err != nil {
			return err
		}
		c.Set(fiber.HeaderContentType, "image/svg+xml; charset=utf-8")
		c.Set(fiber.HeaderContentSecurityPolicy, csp)
		c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
		c.Set(fiber.HeaderCacheControl, "public, max-age=60")
		return c.Send(draw(ss, w).svg())
	}
}
