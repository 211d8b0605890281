package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// progress draws a one-line progress bar on a terminal. Redirected to a
// file or a pipe (a benchmark's log, a CI job), it writes a plain line at
// most every progressEvery instead, so work that takes an hour still shows
// how far it is. Any other writer gets nothing.
type progress struct {
	w      io.Writer
	active bool
	drawn  bool
	lines  bool      // a file or pipe: plain lines, not a redrawn bar
	last   time.Time // when the last line was written
}

// progressEvery spaces the plain progress lines (a variable for tests).
var progressEvery = 30 * time.Second

func newProgress(w io.Writer, quiet bool) *progress {
	f, ok := w.(*os.File)
	if !ok || quiet {
		return &progress{w: w}
	}
	if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
		return &progress{w: w, active: true}
	}
	return &progress{w: w, lines: true, last: time.Now()}
}

func (p *progress) set(label string, done, total int64, note string) {
	if total <= 0 {
		return
	}
	if p.lines {
		if now := time.Now(); now.Sub(p.last) >= progressEvery {
			p.last = now
			line := fmt.Sprintf("%s: %d of %d (%d%%)", label, done, total, done*100/total)
			if note != "" {
				line += " " + note
			}
			fmt.Fprintln(p.w, line)
		}
		return
	}
	if !p.active {
		return
	}
	const width = 30
	filled := int(done * width / total)
	fmt.Fprintf(p.w, "\r%-18s [%s%s] %3d%% %-28s", label, strings.Repeat("#", filled), strings.Repeat(".", width-filled), done*100/total, note)
	p.drawn = true
}

func (p *progress) done() {
	if p.drawn {
		fmt.Fprintln(p.w)
		p.drawn = false
	}
}
