//go:build unix

package sdk_test

import (
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/sdk/plugintest"
)

// SIGTERM (a service manager stopping everything) closes instances too.
func TestInstanceCloseOnSIGTERM(t *testing.T) {
	log := filepath.Join(t.TempDir(), "closed.log")
	p := plugintest.Start(t, closerBin)
	configure(t, p, "x", "x1", log)
	proc, err := os.FindProcess(p.Pid())
	if err != nil {
		t.Fatal(err)
	}
	if err := proc.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !p.Exited() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if !p.Exited() {
		t.Fatal("plugin still running 10s after SIGTERM")
	}
	if got := closedIDs(t, log); !slices.Equal(got, []string{"x1"}) {
		t.Fatalf("after SIGTERM: closed %v, want [x1]", got)
	}
}
