package evidence

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Memory keeps, outside the database, the largest checkpoint a sealer has
// published, so that a database cut back to an earlier state (the last
// entries deleted with the checkpoints after them) is refused rather than
// continued: the sealer will not publish a checkpoint smaller than, or
// inconsistent with, what it remembers. A file on another volume or from a
// secret store (FileMemory) is one; the cosigned checkpoints a witness
// holds are another.
type Memory interface {
	// Load returns the remembered checkpoint, nil if none.
	Load() (*SignedCheckpoint, error)
	// Save remembers sc, which is larger than anything remembered before.
	Save(sc SignedCheckpoint) error
}

// FileMemory is a Memory in one file holding the checkpoint's transport
// form (docs/evidence.md §5.3), replaced atomically (a temporary file,
// fsynced, renamed over it, the directory fsynced).
type FileMemory struct{ Path string }

// Load implements Memory.
func (m FileMemory) Load() (*SignedCheckpoint, error) {
	b, err := os.ReadFile(m.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("evidence: read published checkpoint: %w", err)
	}
	sc, err := ParseSignedCheckpoint(b)
	if err != nil {
		return nil, fmt.Errorf("evidence: published checkpoint in %s: %w", m.Path, err)
	}
	return &sc, nil
}

// Save implements Memory.
func (m FileMemory) Save(sc SignedCheckpoint) error {
	b, err := sc.Marshal()
	if err != nil {
		return err
	}
	dir := filepath.Dir(m.Path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("evidence: published checkpoint: %w", err)
	}
	f, err := os.CreateTemp(dir, ".published-*")
	if err != nil {
		return fmt.Errorf("evidence: published checkpoint: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // after a successful rename there is nothing left to remove
	if _, err := f.Write(b); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("evidence: write published checkpoint: %w", err)
	}
	if err := os.Chmod(tmp, 0o644); err != nil {
		return fmt.Errorf("evidence: published checkpoint: %w", err)
	}
	if err := os.Rename(tmp, m.Path); err != nil {
		return fmt.Errorf("evidence: published checkpoint: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
