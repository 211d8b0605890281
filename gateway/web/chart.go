package web

import (
	"bytes"
	"fmt"
	"html"
	"math"
	"strings"
)

// Charts drawn on the server as SVG: no chart library, no script, so they
// show without JavaScript and in any image viewer. Each carries a <title>
// and a <desc> (read by screen readers), and the pages print the same
// figures in a table beside it: the chart is never the only way to read
// them.

// series is one line, or one colour of bars, of a chart.
type series struct {
	Name   string
	Color  string // at least 4.5:1 against white, like the site's text
	Values []int64
}

// chart is what to draw: a line per series over the days, or bars.
type chart struct {
	Title, Desc string
	Days        []string // x axis, one label per value
	Series      []series
	Bars        bool
	// Format writes a value on the y axis (points, percent...).
	Format func(int64) string
	Empty  string // said instead when there are no days
}

const (
	chartW, chartH                       = 720, 280
	padLeft, padRight, padTop, padBottom = 84, 16, 40, 44
)

// niceCeil is the smallest 1, 2 or 5 × 10^k at or above v (v >= 1).
func niceCeil(v int64) int64 {
	if v <= 1 {
		return 1
	}
	for p := int64(1); ; p *= 10 {
		for _, m := range []int64{1, 2, 5} {
			if m*p >= v {
				return m * p
			}
		}
		if p > math.MaxInt64/100 {
			return v
		}
	}
}

// svg renders c. Coordinates are floats; values stay integers.
func (c chart) svg() []byte {
	var b bytes.Buffer
	esc := html.EscapeString
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-labelledby="t d" font-family="system-ui, sans-serif" font-size="12">`,
		chartW, chartH, chartW, chartH)
	fmt.Fprintf(&b, `<title id="t">%s</title><desc id="d">%s</desc>`, esc(c.Title), esc(c.Desc))
	b.WriteString(`<rect width="100%" height="100%" fill="#fff"/>`)
	if len(c.Days) == 0 {
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle" fill="#4a4a4a" font-size="16">%s</text></svg>`, chartW/2, chartH/2, esc(c.Empty))
		return b.Bytes()
	}
	var top int64 = 1
	for _, s := range c.Series {
		for _, v := range s.Values {
			top = max(top, v)
		}
	}
	top = niceCeil(top)
	plotW, plotH := float64(chartW-padLeft-padRight), float64(chartH-padTop-padBottom)
	y := func(v int64) float64 { return float64(padTop) + plotH*(1-float64(max(v, 0))/float64(top)) }
	// Legend.
	lx := float64(padLeft)
	for _, s := range c.Series {
		fmt.Fprintf(&b, `<rect x="%.1f" y="12" width="12" height="12" fill="%s"/><text x="%.1f" y="22" fill="#1a1a1a">%s</text>`, lx, s.Color, lx+16, esc(s.Name))
		lx += 16 + 8*float64(len([]rune(s.Name))) + 24
	}
	// Y axis: five gridlines.
	for i := int64(0); i <= 4; i++ {
		v := top * i / 4
		fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#c8c8c8"/><text x="%d" y="%.1f" text-anchor="end" fill="#4a4a4a">%s</text>`,
			padLeft, chartW-padRight, y(v), y(v), padLeft-6, y(v)+4, esc(c.Format(v)))
	}
	n := len(c.Days)
	band := plotW / float64(n)
	cx := func(i int) float64 { return float64(padLeft) + band*(float64(i)+0.5) }
	// X axis labels: the first, the last and a few between.
	step := max(1, (n+5)/6)
	for i := 0; i < n; i++ {
		if i%step != 0 && i != n-1 {
			continue
		}
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle" fill="#4a4a4a">%s</text>`, cx(i), chartH-padBottom+18, esc(shortDay(c.Days[i])))
	}
	fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#4a4a4a"/>`, padLeft, chartW-padRight, y(0), y(0))
	if c.Bars {
		k := float64(len(c.Series))
		w := band * 0.8 / k
		for si, s := range c.Series {
			for i, v := range s.Values {
				x := cx(i) - band*0.4 + w*float64(si)
				fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s %s: %s</title></rect>`,
					x, y(v), math.Max(w-1, 1), y(0)-y(v), s.Color, esc(c.Days[i]), esc(s.Name), esc(c.Format(v)))
			}
		}
	} else {
		for _, s := range c.Series {
			pts := make([]string, len(s.Values))
			for i, v := range s.Values {
				pts[i] = fmt.Sprintf("%.1f,%.1f", cx(i), y(v))
			}
			fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2.5" points="%s"/>`, s.Color, strings.Join(pts, " "))
			for i, v := range s.Values {
				fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"><title>%s %s: %s</title></circle>`, cx(i), y(v), s.Color, esc(c.Days[i]), esc(s.Name), esc(c.Format(v)))
			}
		}
	}
	b.WriteString(`</svg>`)
	return b.Bytes()
}

// shortDay writes 2026-03-01 as 03-01.
func shortDay(d string) string {
	if len(d) == 10 {
		return d[5:]
	}
	return d
}

// percentBP writes basis points as a percentage with two decimals.
func percentBP(bp int64) string {
	sign := ""
	if bp < 0 {
		sign, bp = "-", -bp
	}
	return fmt.Sprintf("%s%d.%02d%%", sign, bp/100, bp%100)
}
