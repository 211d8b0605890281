package legacy

import (
	"math/rand/v2"
	"os"
	"slices"
	"testing"
)

// The external sort gives back exactly the records it was given, in
// order, through several levels of merging, and leaves no file behind.
func TestSorterSpillsAndMerges(t *testing.T) {
	defer func(r, f int) { runSize, fanIn = r, f }(runSize, fanIn)
	runSize, fanIn = 7, 3 // 1000 records: 143 runs, merged 3 at a time
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(1, 2))
	s := newSorter(dir)
	var want []rec
	for i := range 1000 {
		r := rec{k: rng.Uint64N(50), v: uint64(i), w: int64(i) * 3}
		want = append(want, r)
		if err := s.add(r); err != nil {
			t.Fatal(err)
		}
	}
	if len(s.runs) < 100 {
		t.Fatalf("%d runs: the sorter did not spill", len(s.runs))
	}
	slices.SortFunc(want, cmpRec)
	var got []rec
	if err := s.each(func(r rec) error { got = append(got, r); return nil }); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("sorted %d records, not the %d given in order", len(got), len(want))
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Fatalf("%d scratch files left", len(left))
	}
}

// A line set answers in line order, and again after a rewind.
func TestLineSet(t *testing.T) {
	defer func(r int) { runSize = r }(runSize)
	runSize = 4
	s := newSorter(t.TempDir())
	for _, l := range []uint64{90, 3, 17, 5, 40, 41, 8} {
		if err := s.add(rec{k: l}); err != nil {
			t.Fatal(err)
		}
	}
	ls, err := writeLineSet(t.TempDir(), s)
	if err != nil {
		t.Fatal(err)
	}
	defer ls.Close()
	for pass := 0; pass < 2; pass++ {
		ls.rewind()
		var in []int
		for line := 1; line <= 100; line++ {
			ok, err := ls.Has(line)
			if err != nil {
				t.Fatal(err)
			}
			if ok {
				in = append(in, line)
			}
		}
		if !slices.Equal(in, []int{3, 5, 8, 17, 40, 41, 90}) || ls.Len() != 7 {
			t.Fatalf("pass %d: %v", pass, in)
		}
	}
}
