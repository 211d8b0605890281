package sdk_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/sdk"
	"github.com/lianmeng/lianmeng/sdk/earning"
	"github.com/lianmeng/lianmeng/sdk/plugintest"
)

// closerBin is testdata/closer, built once for the package's tests.
var closerBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "sdk-test-")
	if err != nil {
		panic(err)
	}
	closerBin = filepath.Join(dir, "closer")
	if err := plugintest.BuildTo("./testdata/closer", closerBin); err != nil {
		os.RemoveAll(dir)
		panic(err)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// closedIDs reads the ids the plugin's instances wrote when closed.
func closedIDs(t *testing.T, log string) []string {
	t.Helper()
	b, err := os.ReadFile(log)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		ids = append(ids, strings.TrimPrefix(l, "closed "))
	}
	slices.Sort(ids)
	return ids
}

func configure(t *testing.T, p *plugintest.Plugin, instance, id, log string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.Configure(ctx, sdk.KindEarningRule, instance, []byte(`{"id": "`+id+`", "log": "`+log+`"}`)); err != nil {
		t.Fatal(err)
	}
}

// The SDK closes an io.Closer instance when the gateway configures another
// one under its name, and every instance when the gateway stops the plugin.
func TestInstanceCloseOutOfProcess(t *testing.T) {
	log := filepath.Join(t.TempDir(), "closed.log")
	p := plugintest.Start(t, closerBin)
	configure(t, p, "x", "x1", log)
	configure(t, p, "y", "y1", log)
	if got := closedIDs(t, log); got != nil {
		t.Fatalf("closed %v before anything was replaced", got)
	}

	configure(t, p, "x", "x2", log) // the gateway reconfigures x
	if got := closedIDs(t, log); !slices.Equal(got, []string{"x1"}) {
		t.Fatalf("after reconfiguring x: closed %v, want [x1]", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := p.Client.EarningRule("x").Evaluate(ctx, earning.Request{Purchase: plugintest.ValidPurchase()})
	if err != nil || b.Explanation != "x2" {
		t.Fatalf("x answered %+v, %v; want the x2 instance", b, err)
	}

	p.Kill() // what the gateway does to stop a plugin; waits for it to exit
	if got := closedIDs(t, log); !slices.Equal(got, []string{"x1", "x2", "y1"}) {
		t.Fatalf("after stopping: closed %v, want [x1 x2 y1]", got)
	}
}
