package sdk

import (
	"errors"
	"sync"
	"testing"
	"time"
)

// closer counts its Close calls.
type closer struct {
	mu     sync.Mutex
	closed int
	err    error
	panics bool
}

func (c *closer) Close() error {
	c.mu.Lock()
	c.closed++
	c.mu.Unlock()
	if c.panics {
		panic("close panicked")
	}
	return c.err
}

func (c *closer) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

type notCloser struct{}

func TestInstancesCloseOnReplace(t *testing.T) {
	s := newInstances[any]("test")
	a, b := &closer{}, &closer{}
	s.put("x", a)
	s.put("y", notCloser{}) // instances without Close are fine
	s.put("y", notCloser{})
	if a.count() != 0 {
		t.Fatal("closed before it was replaced")
	}
	s.put("x", b)
	if a.count() != 1 || b.count() != 0 {
		t.Fatalf("after replacing x: old closed %d times, new %d; want 1 and 0", a.count(), b.count())
	}
	v, release, err := s.get("x")
	if err != nil || v != any(b) {
		t.Fatalf("get x = %v, %v; want the new instance", v, err)
	}
	release()
	if b.count() != 0 {
		t.Fatal("a call's release closed a current instance")
	}
}

func TestInstancesReplaceWaitsForCalls(t *testing.T) {
	s := newInstances[any]("test")
	a := &closer{}
	s.put("x", a)
	_, release1, _ := s.get("x")
	_, release2, _ := s.get("x")
	s.put("x", &closer{})
	if a.count() != 0 {
		t.Fatal("closed while two calls were still using it")
	}
	release1()
	if a.count() != 0 {
		t.Fatal("closed while a call was still using it")
	}
	release2()
	if a.count() != 1 {
		t.Fatalf("closed %d times after its last call returned, want 1", a.count())
	}
}

func TestInstancesCloseAll(t *testing.T) {
	s := newInstances[any]("test")
	idle, busy, stuck, failing, panicking := &closer{}, &closer{}, &closer{}, &closer{err: errors.New("flush failed")}, &closer{panics: true}
	s.put("idle", idle)
	s.put("busy", busy)
	s.put("stuck", stuck)
	s.put("failing", failing)
	s.put("panicking", panicking)
	_, releaseBusy, _ := s.get("busy")
	_, releaseStuck, _ := s.get("stuck") // never released before the grace period ends
	defer releaseStuck()

	go func() {
		time.Sleep(20 * time.Millisecond)
		releaseBusy()
	}()
	start := time.Now()
	s.closeAll(300 * time.Millisecond)
	if d := time.Since(start); d < 300*time.Millisecond || d > 5*time.Second {
		t.Fatalf("closeAll took %v, want about the 300ms grace for the stuck call", d)
	}
	for name, c := range map[string]*closer{"idle": idle, "busy": busy, "stuck": stuck, "failing": failing, "panicking": panicking} {
		if c.count() != 1 {
			t.Errorf("%s closed %d times, want 1", name, c.count())
		}
	}
	if _, _, err := s.get("idle"); err == nil {
		t.Fatal("an instance is still callable after closeAll")
	}
	// Configure racing with the stop: the new instance is closed at once.
	late := &closer{}
	s.put("late", late)
	if late.count() != 1 {
		t.Fatalf("instance stored after closeAll closed %d times, want 1", late.count())
	}
	releaseStuck()
	if stuck.count() != 1 {
		t.Fatalf("stuck closed %d times after its call returned, want still 1", stuck.count())
	}
}

func TestInstancesConcurrent(t *testing.T) {
	s := newInstances[any]("test")
	var all []*closer
	var mu sync.Mutex
	newOne := func() *closer {
		c := &closer{}
		mu.Lock()
		all = append(all, c)
		mu.Unlock()
		return c
	}
	s.put("x", newOne())
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 200 {
				if _, release, err := s.get("x"); err == nil {
					release()
				}
			}
		})
	}
	wg.Go(func() {
		for range 50 {
			s.put("x", newOne())
		}
	})
	wg.Wait()
	s.closeAll(time.Second)
	for i, c := range all {
		if c.count() != 1 {
			t.Fatalf("instance %d closed %d times, want exactly 1", i, c.count())
		}
	}
}
