package keyfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
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

// ReadPrivate reads 0600 and 0400 files and refuses any mode that lets
// group or others in, and anything that is not a regular file.
func TestReadPrivate(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "k")
	if _, err := ReadPrivate(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
	if err := os.WriteFile(path, []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []os.FileMode{0o600, 0o400, 0o700} {
		os.Chmod(path, mode)
		if b, err := ReadPrivate(path); err != nil || string(b) != "secret" {
			t.Fatalf("mode %v: %q %v", mode, b, err)
		}
	}
	for _, mode := range []os.FileMode{0o640, 0o644, 0o604, 0o620, 0o602, 0o666} {
		os.Chmod(path, mode)
		b, err := ReadPrivate(path)
		var me *ModeError
		if !errors.As(err, &me) || b != nil || !strings.Contains(err.Error(), "chmod 600") || strings.Contains(err.Error(), "secret") {
			t.Fatalf("mode %v accepted or unclear: %q %v", mode, b, err)
		}
	}
	if _, err := ReadPrivate(dir); err == nil {
		t.Fatal("a directory accepted as a key file")
	}
}
