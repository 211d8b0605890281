package legacy

import (
	"bufio"
	"container/heap"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
)

// An external sort of fixed-size records, so that finding repeated rows
// and counting new members holds the same memory whatever the file's
// length: records are kept in memory up to runSize, then sorted and written
// to a temporary file (a run); reading them back merges the runs, at most
// fanIn at a time (more runs are first merged into longer runs), so memory
// is runSize records plus fanIn read buffers.

// rec is one record: ordered by k, then v.
type rec struct {
	k, v uint64
	w    int64
}

const recSize = 24

func (a rec) less(b rec) bool { return a.k < b.k || a.k == b.k && a.v < b.v }

func cmpRec(a, b rec) int {
	switch {
	case a.less(b):
		return -1
	case b.less(a):
		return 1
	}
	return 0
}

// Bounds of a sorter's memory.
var (
	runSize = 1 << 16 // records in memory before a run is written (1.5 MiB)
	fanIn   = 16      // runs merged at once
)

const bufSize = 32 << 10

// sorter collects records and gives them back sorted.
type sorter struct {
	dir  string
	buf  []rec
	runs []string
	n    int
}

func newSorter(dir string) *sorter { return &sorter{dir: dir} }

// add keeps r, writing a sorted run when the buffer is full.
func (s *sorter) add(r rec) error {
	if s.buf == nil {
		s.buf = make([]rec, 0, runSize)
	}
	s.buf = append(s.buf, r)
	s.n++
	if len(s.buf) == runSize {
		return s.spill()
	}
	return nil
}

func (s *sorter) spill() error {
	slices.SortFunc(s.buf, cmpRec)
	f, err := os.CreateTemp(s.dir, "lianmeng-import-*.run")
	if err != nil {
		return fmt.Errorf("import scratch file: %w", err)
	}
	w := bufio.NewWriterSize(f, bufSize)
	var b [recSize]byte
	for _, r := range s.buf {
		put(b[:], r)
		if _, err := w.Write(b[:]); err != nil {
			f.Close()
			return fmt.Errorf("import scratch file: %w", err)
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("import scratch file: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("import scratch file: %w", err)
	}
	s.runs = append(s.runs, f.Name())
	s.buf = s.buf[:0]
	return nil
}

func put(b []byte, r rec) {
	binary.LittleEndian.PutUint64(b[0:], r.k)
	binary.LittleEndian.PutUint64(b[8:], r.v)
	binary.LittleEndian.PutUint64(b[16:], uint64(r.w))
}

// each calls fn with every record in order, then removes the runs. The
// sorter is empty afterwards.
func (s *sorter) each(fn func(rec) error) error {
	defer s.close()
	if len(s.runs) == 0 { // it all fits: no file
		slices.SortFunc(s.buf, cmpRec)
		for _, r := range s.buf {
			if err := fn(r); err != nil {
				return err
			}
		}
		return nil
	}
	if len(s.buf) > 0 {
		if err := s.spill(); err != nil {
			return err
		}
	}
	s.buf = nil
	for len(s.runs) > fanIn { // merge the oldest runs into one longer run
		merged, err := s.mergeToRun(s.runs[:fanIn])
		if err != nil {
			return err
		}
		for _, p := range s.runs[:fanIn] {
			os.Remove(p)
		}
		s.runs = append(s.runs[fanIn:], merged)
	}
	return merge(s.runs, fn)
}

func (s *sorter) mergeToRun(runs []string) (string, error) {
	f, err := os.CreateTemp(s.dir, "lianmeng-import-*.run")
	if err != nil {
		return "", fmt.Errorf("import scratch file: %w", err)
	}
	w := bufio.NewWriterSize(f, bufSize)
	var b [recSize]byte
	err = merge(runs, func(r rec) error {
		put(b[:], r)
		_, err := w.Write(b[:])
		return err
	})
	if err == nil {
		err = w.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", fmt.Errorf("import scratch file: %w", err)
	}
	return f.Name(), nil
}

// close removes whatever runs are left.
func (s *sorter) close() {
	for _, p := range s.runs {
		os.Remove(p)
	}
	s.runs, s.buf = nil, nil
}

type runReader struct {
	f   *os.File
	r   *bufio.Reader
	cur rec
}

func (rr *runReader) next() (bool, error) {
	var b [recSize]byte
	if _, err := io.ReadFull(rr.r, b[:]); err != nil {
		if errors.Is(err, io.EOF) {
			return false, nil
		}
		return false, fmt.Errorf("import scratch file: %w", err)
	}
	rr.cur = rec{k: binary.LittleEndian.Uint64(b[0:]), v: binary.LittleEndian.Uint64(b[8:]), w: int64(binary.LittleEndian.Uint64(b[16:]))}
	return true, nil
}

type runHeap []*runReader

func (h runHeap) Len() int           { return len(h) }
func (h runHeap) Less(i, j int) bool { return h[i].cur.less(h[j].cur) }
func (h runHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *runHeap) Push(x any)        { *h = append(*h, x.(*runReader)) }
func (h *runHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// merge calls fn with the records of the sorted runs, in order.
func merge(runs []string, fn func(rec) error) error {
	h := make(runHeap, 0, len(runs))
	defer func() {
		for _, rr := range h {
			rr.f.Close()
		}
	}()
	for _, p := range runs {
		f, err := os.Open(p)
		if err != nil {
			return fmt.Errorf("import scratch file: %w", err)
		}
		rr := &runReader{f: f, r: bufio.NewReaderSize(f, bufSize)}
		ok, err := rr.next()
		if err != nil || !ok {
			f.Close()
			if err != nil {
				return err
			}
			continue
		}
		h = append(h, rr)
	}
	heap.Init(&h)
	for h.Len() > 0 {
		rr := h[0]
		if err := fn(rr.cur); err != nil {
			return err
		}
		ok, err := rr.next()
		if err != nil {
			return err
		}
		if ok {
			heap.Fix(&h, 0)
		} else {
			rr.f.Close()
			heap.Pop(&h)
		}
	}
	return nil
}

// LineSet is a set of line numbers kept on disk in order, read back by a
// cursor as the file is read again (lines only grow).
type LineSet struct {
	path  string
	count int
	f     *os.File
	r     *bufio.Reader
	next  int64 // the next line in the set, or -1 after the last
}

// Len is how many lines the set holds.
func (l *LineSet) Len() int {
	if l == nil {
		return 0
	}
	return l.count
}

// Has reports whether line is in the set. Lines must be asked in
// increasing order (the file read again from the start).
func (l *LineSet) Has(line int) (bool, error) {
	if l == nil || l.count == 0 {
		return false, nil
	}
	if l.f == nil {
		f, err := os.Open(l.path)
		if err != nil {
			return false, fmt.Errorf("import repeats: %w", err)
		}
		l.f, l.r, l.next = f, bufio.NewReaderSize(f, bufSize), 0
		if err := l.advance(); err != nil {
			return false, err
		}
	}
	for l.next >= 0 && l.next < int64(line) {
		if err := l.advance(); err != nil {
			return false, err
		}
	}
	return l.next == int64(line), nil
}

func (l *LineSet) advance() error {
	var b [8]byte
	if _, err := io.ReadFull(l.r, b[:]); err != nil {
		if errors.Is(err, io.EOF) {
			l.next = -1
			return nil
		}
		return fmt.Errorf("import repeats: %w", err)
	}
	l.next = int64(binary.LittleEndian.Uint64(b[:]))
	return nil
}

// rewind starts asking from the first line again (a new pass over the
// file).
func (l *LineSet) rewind() {
	if l != nil && l.f != nil {
		l.f.Close()
		l.f = nil
	}
}

// Close removes the set's file.
func (l *LineSet) Close() error {
	if l == nil || l.path == "" {
		return nil
	}
	if l.f != nil {
		l.f.Close()
	}
	return os.Remove(l.path)
}

// writeLineSet stores the lines a sorter gives in order (its records' k).
func writeLineSet(dir string, s *sorter) (*LineSet, error) {
	f, err := os.CreateTemp(dir, "lianmeng-import-*.repeats")
	if err != nil {
		return nil, fmt.Errorf("import repeats: %w", err)
	}
	w := bufio.NewWriterSize(f, bufSize)
	ls := &LineSet{path: f.Name()}
	var b [8]byte
	err = s.each(func(r rec) error {
		binary.LittleEndian.PutUint64(b[:], r.k)
		ls.count++
		_, err := w.Write(b[:])
		return err
	})
	if err == nil {
		err = w.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return nil, fmt.Errorf("import repeats: %w", err)
	}
	return ls, nil
}
