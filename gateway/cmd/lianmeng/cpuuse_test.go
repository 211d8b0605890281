package main

import (
	"math"
	"os"
	"runtime"
	"testing"
)

func TestParseCPUProcs(t *testing.T) {
	ps, err := parseCPUProcs("gateway=12, database=34,")
	if err != nil || len(ps) != 2 || ps[0] != (cpuProc{"gateway", 12}) || ps[1] != (cpuProc{"database", 34}) {
		t.Fatalf("got %v, %v", ps, err)
	}
	for _, bad := range []string{"gateway", "=12", "gateway=x", "gateway=-1", "gateway=0"} {
		if _, err := parseCPUProcs(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestCPUSecondsGrowsWithWork(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	before, err := cpuSeconds(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	// Burn CPU until the tick counter moves (ticks are 10 ms).
	x := 1.0
	for i := 0; ; i++ {
		x = math.Sqrt(x + float64(i))
		if i%1_000_000 == 0 {
			if now, _ := cpuSeconds(os.Getpid()); now > before {
				break
			}
		}
	}
	if _, err := cpuSeconds(1 << 30); err == nil {
		t.Error("a process that does not exist has a CPU time")
	}
	_ = x
}

func TestCPUUses(t *testing.T) {
	ps := []cpuProc{{"gateway", 1}, {"database", 2}, {"gone", 3}}
	before := map[string]float64{"gateway": 10, "database": 5, "gone": 1}
	after := map[string]float64{"gateway": 20, "database": 7.5}
	got := cpuUses(ps, before, after, 10, 50_000)
	if len(got) != 2 {
		t.Fatalf("got %v, want gateway and database only", got)
	}
	if got[0].Name != "gateway" || got[0].Cores != 1 || got[0].MicrosPerEarn != 200 {
		t.Errorf("gateway: %+v, want 1 core and 200 µs per earn", got[0])
	}
	if got[1].Name != "database" || got[1].Cores != 0.25 || got[1].MicrosPerEarn != 50 {
		t.Errorf("database: %+v, want 0.25 cores and 50 µs per earn", got[1])
	}
}
