package rules

import (
	"encoding/xml"
	"fmt"
	"strings"
	"time"
)

// Atom (RFC 4287) of a merchant's rule log, so anyone can subscribe to
// its changes: one entry per publication and per withdrawal, newest first.

type atomFeed struct {
	XMLName xml.Name    `xml:"http://www.w3.org/2005/Atom feed"`
	ID      string      `xml:"id"`
	Title   string      `xml:"title"`
	Updated string      `xml:"updated"`
	Link    []atomLink  `xml:"link"`
	Author  atomPerson  `xml:"author"`
	Entries []atomEntry `xml:"entry"`
}

type atomLink struct {
	Rel  string `xml:"rel,attr,omitempty"`
	Href string `xml:"href,attr"`
}

type atomPerson struct {
	Name string `xml:"name"`
}

type atomEntry struct {
	ID      string      `xml:"id"`
	Title   string      `xml:"title"`
	Updated string      `xml:"updated"`
	Content atomContent `xml:"content"`
}

type atomContent struct {
	Type string `xml:"type,attr"`
	Body string `xml:",chardata"`
}

// Atom renders the log's history as an Atom feed; self is the feed's own
// URL (its id too).
func (l Log) Atom(self string, now time.Time) ([]byte, error) {
	f := atomFeed{ID: self, Title: "Earning rules of merchant " + l.MerchantID, Link: []atomLink{{Rel: "self", Href: self}},
		Author: atomPerson{Name: "Lianmeng rule log"}, Updated: now.UTC().Format(time.RFC3339)}
	var latest time.Time
	for i := len(l.History) - 1; i >= 0; i-- {
		v := l.History[i]
		if v.WithdrawnAt != nil {
			f.Entries = append(f.Entries, entry(self, v, "withdrawn", *v.WithdrawnAt,
				fmt.Sprintf("Version %d, which was to take effect at %s, was withdrawn and never takes effect.", v.Number, v.effective().Format(time.RFC3339))))
			latest = later(latest, *v.WithdrawnAt)
		}
		if v.PublishedAt != nil {
			f.Entries = append(f.Entries, entry(self, v, "published", *v.PublishedAt,
				fmt.Sprintf("Version %d takes effect at %s. %s", v.Number, v.effective().Format(time.RFC3339), describe(v.Terms))))
			latest = later(latest, *v.PublishedAt)
		}
	}
	// The merchant's exit and the wind-down, newest announcement first.
	for i := len(l.Notices) - 1; i >= 0; i-- {
		n := l.Notices[i]
		f.Entries = append([]atomEntry{{ID: fmt.Sprintf("%s#%s-%d", self, n.Kind, n.AnnouncedAt.UnixMicro()), Title: strings.ReplaceAll(n.Kind, "_", " ") + " announced",
			Updated: n.AnnouncedAt.UTC().Format(time.RFC3339Nano), Content: atomContent{Type: "text",
				Body: fmt.Sprintf("Effective %s (%d days' notice). %s", n.EffectiveAt.UTC().Format(time.RFC3339), n.NoticeDays, n.Summary)}}}, f.Entries...)
		latest = later(latest, n.AnnouncedAt)
	}
	if !latest.IsZero() {
		f.Updated = latest.UTC().Format(time.RFC3339Nano)
	}
	b, err := xml.MarshalIndent(f, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("atom feed: %w", err)
	}
	return append([]byte(xml.Header), b...), nil
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func entry(self string, v Version, what string, at time.Time, text string) atomEntry {
	return atomEntry{ID: fmt.Sprintf("%s#v%d-%s", self, v.Number, what), Title: fmt.Sprintf("Version %d %s", v.Number, what),
		Updated: at.UTC().Format(time.RFC3339Nano), Content: atomContent{Type: "text", Body: text}}
}

// describe puts a version's terms in plain words (English; the summaries
// the merchant wrote follow in both languages).
func describe(t Terms) string {
	var b strings.Builder
	switch {
	case t.Expression != "":
		fmt.Fprintf(&b, "Points by the rule expression: %s. ", t.Expression)
	case t.RulePlugin != "" && len(t.RulePluginConfig) > 0:
		fmt.Fprintf(&b, "Points by the %s rule plugin, configured with %s. ", t.RulePlugin, t.RulePluginConfig)
	case t.RulePlugin != "":
		fmt.Fprintf(&b, "Points by the %s rule plugin. ", t.RulePlugin)
	default:
		fmt.Fprintf(&b, "%d.%02d%% of the purchase back in points. ", t.RateBP/100, t.RateBP%100)
	}
	if t.MaxPoints > 0 {
		fmt.Fprintf(&b, "At most %d points per purchase. ", t.MaxPoints)
	}
	if t.MemberDayCap > 0 {
		fmt.Fprintf(&b, "At most %d points per member per day. ", t.MemberDayCap)
	}
	if t.MemberMonthCap > 0 {
		fmt.Fprintf(&b, "At most %d points per member per month. ", t.MemberMonthCap)
	}
	if len(t.ExcludedCategories) > 0 {
		fmt.Fprintf(&b, "No points on: %s. ", strings.Join(t.ExcludedCategories, ", "))
	}
	if t.ReleaseDelaySeconds >= 0 {
		fmt.Fprintf(&b, "Points become spendable %s after the purchase ", human(t.ReleaseDelaySeconds))
	}
	if t.ValiditySeconds >= 0 {
		fmt.Fprintf(&b, "and stay valid %s after that. ", human(t.ValiditySeconds))
	}
	for _, s := range []string{t.SummaryZH, t.SummaryEN} {
		if s != "" {
			b.WriteString(s + " ")
		}
	}
	return strings.TrimSpace(b.String())
}

func human(sec int64) string {
	switch {
	case sec == 0:
		return "at once"
	case sec%86400 == 0:
		return fmt.Sprintf("%d days", sec/86400)
	case sec%3600 == 0:
		return fmt.Sprintf("%d hours", sec/3600)
	default:
		return fmt.Sprintf("%d seconds", sec)
	}
}
