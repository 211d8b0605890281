package host_test

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/sdk"
	"github.com/lianmeng/lianmeng/sdk/host"
	"github.com/lianmeng/lianmeng/sdk/plugintest"
)

// Two binaries that behave the same but hash differently: binA is
// testdata/selfsum, binB is binA with bytes appended (an ELF loader ignores
// them). Each reports the SHA-256 of the image it runs as its summary.
var (
	binA, binB string
	sumA, sumB []byte
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "sdk-host-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	binA, binB = filepath.Join(dir, "selfsum-a"), filepath.Join(dir, "selfsum-b")
	if err := plugintest.BuildTo("./testdata/selfsum", binA); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	b, err := os.ReadFile(binA)
	if err == nil {
		err = os.WriteFile(binB, append(b, "\x00not the pinned binary\x00"...), 0o755)
	}
	if err == nil {
		sumA, err = host.FileSHA256(binA)
	}
	if err == nil {
		sumB, err = host.FileSHA256(binB)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

func needProcSelfExe(t *testing.T) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("the test plugin identifies itself through /proc/self/exe")
	}
}

// swapTo atomically replaces path with a new name for the file src, as an
// attacker with write access to the plugin directory would (rename over it).
func swapTo(t testing.TB, src, path string) {
	tmp := path + ".swap"
	os.Remove(tmp)
	if err := os.Link(src, tmp); err != nil {
		t.Error(err)
		return
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Error(err)
	}
}

// startAndIdentify starts the plugin at path (pinned to pin, if any) and
// returns the checksum of the image the plugin process actually runs.
func startAndIdentify(t *testing.T, path string, pin []byte, copyDir string) (string, error) {
	t.Helper()
	c, err := host.Start(host.Config{Path: path, SHA256: pin, CopyDir: copyDir})
	if err != nil {
		return "", err
	}
	defer c.Kill()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d, err := c.Describe(ctx, sdk.KindEarningRule)
	if err != nil {
		t.Fatalf("describe: %v", err)
	}
	return d.Summary, nil
}

func emptyDir(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 0 {
		t.Fatalf("%s still holds %d entries (%s...): private copies were not removed", dir, len(ents), ents[0].Name())
	}
}

// A rename over the pinned path after the checksum was verified and before
// the process starts cannot run the new file: what runs is the private copy
// of the bytes that were hashed.
func TestPinnedStartRunsTheVerifiedBytes(t *testing.T) {
	needProcSelfExe(t)
	dir, copies := t.TempDir(), t.TempDir()
	path := filepath.Join(dir, "plugin")

	// The swap is effective: run unpinned, the path now executes binB.
	swapTo(t, binB, path)
	got, err := startAndIdentify(t, path, nil, copies)
	if err != nil || got != hex.EncodeToString(sumB) {
		t.Fatalf("unpinned start of the swapped path: running %s, %v; want binB %x", got, err, sumB)
	}

	var copied []string
	host.SetTestHookCopied(func(src, cp string) {
		copied = append(copied, cp)
		swapTo(t, binB, src) // between verification and exec
	})
	t.Cleanup(func() { host.SetTestHookCopied(nil) })
	for i := range 10 {
		swapTo(t, binA, path)
		got, err := startAndIdentify(t, path, sumA, copies)
		if err != nil {
			t.Fatalf("start %d: %v", i, err)
		}
		if got != hex.EncodeToString(sumA) {
			t.Fatalf("start %d: the process runs an image with sha256 %s, not the pinned %x", i, got, sumA)
		}
		if sum, _ := host.FileSHA256(path); !slicesEqual(sum, sumB) {
			t.Fatalf("start %d: the hook did not swap the path", i)
		}
		if len(copied) != i+1 || filepath.Dir(filepath.Dir(copied[i])) != copies {
			t.Fatalf("start %d: copies %v not under %s", i, copied, copies)
		}
		emptyDir(t, copies) // removed once the process started
	}
}

// The same without a hook: a goroutine keeps renaming binA and binB over the
// path while the host starts it. Each start either refuses (it copied binB)
// or runs binA; never binB.
func TestPinnedStartUnderConcurrentRenames(t *testing.T) {
	needProcSelfExe(t)
	dir, copies := t.TempDir(), t.TempDir()
	path := filepath.Join(dir, "plugin")
	swapTo(t, binA, path)

	stop := make(chan struct{})
	var swaps atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			src := binA
			if i%2 == 1 {
				src = binB
			}
			swapTo(t, src, path)
			swaps.Add(1)
			time.Sleep(50 * time.Microsecond)
		}
	}()
	ran, refused := 0, 0
	for i := range 30 {
		got, err := startAndIdentify(t, path, sumA, copies)
		switch {
		case errors.Is(err, host.ErrChecksum):
			refused++
		case err != nil:
			t.Errorf("start %d: %v", i, err)
		case got != hex.EncodeToString(sumA):
			t.Errorf("start %d: the process runs an image with sha256 %s, not the pinned %x", i, got, sumA)
		default:
			ran++
		}
	}
	close(stop)
	wg.Wait()
	t.Logf("%d starts ran binA, %d were refused, %d renames", ran, refused, swaps.Load())
	if ran == 0 {
		t.Errorf("no start ran the pinned binary")
	}
	emptyDir(t, copies)
}

// A mismatch is refused before anything runs, and leaves no copy behind.
func TestPinnedMismatchLeavesNoCopy(t *testing.T) {
	copies := t.TempDir()
	_, err := host.Start(host.Config{Path: binB, SHA256: sumA, CopyDir: copies})
	if !errors.Is(err, host.ErrChecksum) {
		t.Fatalf("want ErrChecksum, got %v", err)
	}
	emptyDir(t, copies)

	// The copy directory is private and the copy read-only, while it exists.
	host.SetTestHookCopied(func(_, cp string) {
		for p, want := range map[string]os.FileMode{filepath.Dir(cp): 0o700 | os.ModeDir, cp: 0o500} {
			fi, err := os.Stat(p)
			if err != nil || fi.Mode() != want {
				t.Errorf("%s: mode %v, %v; want %v", p, fi.Mode(), err, want)
			}
		}
	})
	t.Cleanup(func() { host.SetTestHookCopied(nil) })
	c, err := host.Start(host.Config{Path: binA, SHA256: sumA, CopyDir: copies})
	if err != nil {
		t.Fatal(err)
	}
	c.Kill()
	emptyDir(t, copies)
}

func slicesEqual(a, b []byte) bool { return hex.EncodeToString(a) == hex.EncodeToString(b) }
