// Package keyfile writes key files so that they are either absent or
// complete and durable, never empty or half-written, even after a crash or
// power loss, and so that concurrent creators agree on one file.
package keyfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// WriteExclusive creates path holding data with the given mode, unless path
// already exists, in which case it reports false and leaves path alone.
//
// It writes a temporary file in the same directory, fsyncs it, hard-links it
// to path (which fails if path exists, so the first of racing creators wins
// and nobody reads a half-written file), removes the temporary name and
// fsyncs the directory, so a power loss right after WriteExclusive returns
// cannot leave path empty or missing.
func WriteExclusive(path string, data []byte, mode os.FileMode) (created bool, err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".tmp-key-*")
	if err != nil {
		return false, fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if err := writeSync(f, data, mode); err != nil {
		return false, fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return false, nil
		}
		return false, fmt.Errorf("install %s: %w", path, err)
	}
	if err := os.Remove(tmp); err != nil {
		return false, fmt.Errorf("install %s: %w", path, err)
	}
	if err := SyncDir(dir); err != nil {
		return false, fmt.Errorf("install %s: %w", path, err)
	}
	return true, nil
}

// WriteFile replaces path with data atomically and durably (temporary
// file, fsync, rename, fsync of the directory), for files derived from a
// key, such as a public key, that may be overwritten.
func WriteFile(path string, data []byte, mode os.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".tmp-key-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if err := writeSync(f, data, mode); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("install %s: %w", path, err)
	}
	if err := SyncDir(dir); err != nil {
		return fmt.Errorf("install %s: %w", path, err)
	}
	return nil
}

func writeSync(f *os.File, data []byte, mode os.FileMode) error {
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// SyncDir fsyncs a directory, making the creation, renaming or removal of
// its entries durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	if err := d.Sync(); err != nil {
		d.Close()
		return err
	}
	return d.Close()
}
