package keyfile

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
)

func TestWriteExclusive(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "k")
	created, err := WriteExclusive(path, []byte("first"), 0o600)
	if err != nil || !created {
		t.Fatalf("create: %v %v", created, err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode: %v %v", fi, err)
	}
	created, err = WriteExclusive(path, []byte("second"), 0o600)
	if err != nil || created {
		t.Fatalf("existing file: created=%v %v", created, err)
	}
	if b, _ := os.ReadFile(path); string(b) != "first" {
		t.Fatalf("content %q", b)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Fatalf("temporary files left: %v", ents)
	}
	if _, err := WriteExclusive(filepath.Join(dir, "missing", "k"), []byte("x"), 0o600); err == nil {
		t.Fatal("missing directory accepted")
	}
}

func TestWriteFileReplaces(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "k.pub")
	for _, v := range []string{"one", "two"} {
		if err := WriteFile(path, []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(path); string(b) != v {
			t.Fatalf("content %q, want %q", b, v)
		}
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o644 {
		t.Fatalf("mode %v", fi.Mode().Perm())
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("temporary files left: %v", ents)
	}
}

func TestWriteExclusiveRace(t *testing.T) {
	path := filepath.Join(t.TempDir(), "k")
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		wins int
	)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			created, err := WriteExclusive(path, []byte{byte('a' + i)}, 0o600)
			if err != nil {
				t.Error(err)
			}
			if created {
				mu.Lock()
				wins++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if wins != 1 {
		t.Fatalf("%d creators won", wins)
	}
}
