package evidence

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/lianmeng/lianmeng/gateway/internal/keyfile"
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
	if err := os.MkdirAll(filepath.Dir(m.Path), 0o700); err != nil {
		return fmt.Errorf("evidence: published checkpoint: %w", err)
	}
	if err := keyfile.WriteFile(m.Path, b, 0o644); err != nil {
		return fmt.Errorf("evidence: published checkpoint: %w", err)
	}
	return nil
}

// Memories combines memories: Load returns the largest checkpoint any of
// them holds, Save saves to each. A file and the witnesses
// (witness.RemoteMemory) together make a database cut back noticed even
// when one of them was lost with it.
type Memories []Memory

// Load implements Memory.
func (ms Memories) Load() (*SignedCheckpoint, error) {
	var best *SignedCheckpoint
	for _, m := range ms {
		sc, err := m.Load()
		if err != nil {
			return nil, err
		}
		if sc != nil && (best == nil || sc.Size > best.Size) {
			best = sc
		}
	}
	return best, nil
}

// Save implements Memory.
func (ms Memories) Save(sc SignedCheckpoint) error {
	var errs []error
	for _, m := range ms {
		if err := m.Save(sc); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
