package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Redirected to a file, progress writes plain lines, spaced by
// progressEvery; quiet, or to a writer that is not a file, nothing.
func TestProgressLinesWhenRedirected(t *testing.T) {
	defer func(d time.Duration) { progressEvery = d }(progressEvery)
	open := func() *os.File {
		f, err := os.Create(filepath.Join(t.TempDir(), "log"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}
	read := func(f *os.File) string {
		b, err := os.ReadFile(f.Name())
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}

	progressEvery = time.Hour
	f := open()
	p := newProgress(f, false)
	p.set("earns", 5, 10, "3/s")
	p.done()
	if got := read(f); got != "" {
		t.Errorf("within the interval: wrote %q, want nothing", got)
	}

	progressEvery = 0
	p = newProgress(f, false)
	p.set("earns", 5, 10, "3/s, 2s left")
	p.set("earns", 10, 10, "")
	p.done()
	if got, want := read(f), "earns: 5 of 10 (50%) 3/s, 2s left\nearns: 10 of 10 (100%)\n"; got != want {
		t.Errorf("lines = %q, want %q", got, want)
	}

	q := open()
	p = newProgress(q, true)
	p.set("earns", 5, 10, "")
	if got := read(q); got != "" {
		t.Errorf("quiet: wrote %q", got)
	}
	var buf bytes.Buffer
	p = newProgress(&buf, false)
	p.set("earns", 5, 10, "")
	if buf.Len() != 0 {
		t.Errorf("to a buffer: wrote %q", buf.String())
	}
}
