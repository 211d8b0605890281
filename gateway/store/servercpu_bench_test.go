package store_test

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// serverCPU is the CPU time (user and system) of the database server
// process named by LIANMENG_BENCH_SERVER_PID (a local mariadbd or mysqld,
// read from /proc on Linux), for the MySQL benchmarks' server-cpu-µs/earn.
// ok is false when the variable is unset or the process cannot be read.
// The server's other clients count too: on a shared machine, compare runs
// alternated with each other.
func serverCPU() (cpu time.Duration, ok bool) {
	pid := os.Getenv("LIANMENG_BENCH_SERVER_PID")
	if pid == "" {
		return 0, false
	}
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0, false
	}
	// Fields after the parenthesised command name; utime and stime are the
	// 14th and 15th fields of the whole line, in clock ticks (100 per
	// second on Linux).
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0, false
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return time.Duration(ut+st) * 10 * time.Millisecond, true
}

// reportServerCPU reports the server's CPU µs per earn since cpu0 (from
// serverCPU), if it could be read.
func reportServerCPU(b *testing.B, cpu0 time.Duration, ok0 bool, earns int) {
	if cpu1, ok := serverCPU(); ok && ok0 && earns > 0 {
		b.ReportMetric(float64((cpu1-cpu0).Microseconds())/float64(earns), "server-cpu-µs/earn")
	}
}
