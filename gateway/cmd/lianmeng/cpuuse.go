package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// CPU accounting for `lianmeng bench`: the CPU time (user + system) that
// each process of a benchmark spends over the measured window, read from
// /proc (Linux). Dividing by the earns answered gives CPU per earn for the
// gateway, the database server and the generator itself, which shows what
// bounds throughput on a small machine better than earn/s alone.

// clockTicks is the unit of /proc/<pid>/stat times: USER_HZ, 100 on every
// Linux architecture Go supports.
const clockTicks = 100

type cpuProc struct {
	Name string
	PID  int
}

// cpuUse is one process's share of the measured window.
type cpuUse struct {
	Name string `json:"name"`
	// Cores is CPU seconds per second of the window (2.0 = two cores busy).
	Cores float64 `json:"cores"`
	// MicrosPerEarn is CPU microseconds per answered earn.
	MicrosPerEarn float64 `json:"us_per_earn"`
}

// parseCPUProcs reads "name=pid,name=pid".
func parseCPUProcs(s string) ([]cpuProc, error) {
	var out []cpuProc
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part == "" {
			continue
		}
		name, pid, ok := strings.Cut(part, "=")
		n, err := strconv.Atoi(pid)
		if !ok || name == "" || err != nil || n <= 0 {
			return nil, fmt.Errorf("%q: want name=pid", part)
		}
		out = append(out, cpuProc{name, n})
	}
	return out, nil
}

// cpuSeconds is the CPU time pid has used so far.
func cpuSeconds(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is in parentheses and may hold spaces;
	// fields after it start with the state (field 3).
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64) // field 14
	stime, err2 := strconv.ParseInt(f[12], 10, 64) // field 15
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	return float64(utime+stime) / clockTicks, nil
}

// cpuSnapshot reads every process; a process that cannot be read is left
// out (and reported by the caller as missing).
func cpuSnapshot(ps []cpuProc) map[string]float64 {
	out := map[string]float64{}
	for _, p := range ps {
		if s, err := cpuSeconds(p.PID); err == nil {
			out[p.Name] = s
		}
	}
	return out
}

// cpuUses turns two snapshots into per-process use over seconds and earns.
func cpuUses(ps []cpuProc, before, after map[string]float64, seconds float64, earns int64) []cpuUse {
	var out []cpuUse
	for _, p := range ps {
		b, ok1 := before[p.Name]
		a, ok2 := after[p.Name]
		if !ok1 || !ok2 || seconds <= 0 {
			continue
		}
		u := cpuUse{Name: p.Name, Cores: (a - b) / seconds}
		if earns > 0 {
			u.MicrosPerEarn = (a - b) / float64(earns) * 1e6
		}
		out = append(out, u)
	}
	return out
}
