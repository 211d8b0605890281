// Package keyfile writes key files so that they are either absent or
// complete and durable, never empty or half-written, even after a crash or
// power loss, and so that concurrent creators agree on one file; and reads
// them only when no one but their owner can (ReadPrivate).
package keyfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// WriteExclusive creates path holding data with the given mode, unless path
// already exists, in which case it reports false and leaves path alone
// without writing anything (so a process restarting on a full disk still
// starts with the keys it has).
//
// It writes a temporary file in the same directory, fsyncs it, hard-links it
// to path (which fails if path exists, so the first of racing creators wins
// and nobody reads a half-written file), removes the temporary name and
// fsyncs the directory, so a power loss right after WriteExclusive returns
// cannot leave path empty or missing.
func WriteExclusive(path string, data []byte, mode os.FileMode) (created bool, err error) {
	if _, err := os.Lstat(path); err == nil {
		return false, nil
	}
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

// ReadPrivate reads a private key file, refusing it unless it is a regular
// file that neither group nor others may read, write or execute (mode 0600
// or stricter): a key others could read is no longer a secret, and one
// they could write is not the operator's. The mode is checked on the opened
// file, so the file read is the file checked. A missing file is an error
// wrapping fs.ErrNotExist. Errors name the path, never the content.
func ReadPrivate(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("key file %s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, &ModeError{Path: path, Mode: perm}
	}
	return io.ReadAll(f)
}

// ModeError is returned by ReadPrivate for a key file that group or others
// may access.
type ModeError struct {
	Path string
	Mode fs.FileMode
}

func (e *ModeError) Error() string {
	return fmt.Sprintf("key file %s has mode %v, open to group or others; run chmod 600 on it", e.Path, e.Mode)
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
