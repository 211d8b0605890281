package legacy

// SpillEvery makes the plan's external sort write a run every n records
// and merge two at a time (so small test files exercise the disk path);
// the returned function restores the defaults.
func SpillEvery(n int) func() {
	r, f := runSize, fanIn
	runSize, fanIn = n, 2
	return func() { runSize, fanIn = r, f }
}
