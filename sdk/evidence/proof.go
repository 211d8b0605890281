package evidence

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/transparency-dev/merkle/proof"
)

func checkHashes(what string, hs [][]byte) error {
	for i, h := range hs {
		if len(h) != HashSize {
			return fmt.Errorf("evidence: %s hash %d is %d bytes, want %d", what, i, len(h), HashSize)
		}
	}
	return nil
}

// VerifyInclusion checks that the entry with leaf hash leafHash is at index
// in the tree of the given size and root, using an RFC 6962 audit path.
func VerifyInclusion(leafHash []byte, index, size uint64, auditPath [][]byte, root []byte) error {
	if err := checkHashes("inclusion proof", auditPath); err != nil {
		return err
	}
	if len(root) != HashSize {
		return fmt.Errorf("evidence: root is %d bytes, want %d", len(root), HashSize)
	}
	if err := proof.VerifyInclusion(SM3Hasher, index, size, leafHash, auditPath, root); err != nil {
		return fmt.Errorf("evidence: inclusion of entry %d in tree of size %d: %w", index, size, err)
	}
	return nil
}

// VerifyInclusionData is VerifyInclusion for an entry given by its canonical
// bytes (e.g. from EncodeTx).
func VerifyInclusionData(data []byte, index, size uint64, auditPath [][]byte, root []byte) error {
	return VerifyInclusion(LeafHash(data), index, size, auditPath, root)
}

// VerifyCheckpointInclusion is VerifyInclusionData against a checkpoint,
// whose signature the caller has verified.
func VerifyCheckpointInclusion(data []byte, index uint64, auditPath [][]byte, cp Checkpoint) error {
	return VerifyInclusionData(data, index, cp.Size, auditPath, cp.Root)
}

// VerifyConsistencyRoots checks an RFC 6962 consistency proof that the tree
// of size2 with root2 extends the tree of size1 with root1.
func VerifyConsistencyRoots(size1, size2 uint64, consistency [][]byte, root1, root2 []byte) error {
	if err := checkHashes("consistency proof", consistency); err != nil {
		return err
	}
	if len(root1) != HashSize || len(root2) != HashSize {
		return errors.New("evidence: consistency: roots must be SM3 hashes")
	}
	// The library accepts any root for size 0; we insist on the empty root so
	// a forged "empty" checkpoint is not silently consistent.
	if size1 == 0 && !bytes.Equal(root1, SM3Hasher.EmptyRoot()) {
		return errors.New("evidence: consistency: tree of size 0 must have the empty root")
	}
	if err := proof.VerifyConsistency(SM3Hasher, size1, size2, consistency, root1, root2); err != nil {
		return fmt.Errorf("evidence: consistency from size %d to %d: %w", size1, size2, err)
	}
	return nil
}

// VerifyConsistency checks that checkpoint newer extends checkpoint older.
// It covers the Merkle roots only: the chain heads can be related only by
// replaying the entries between them (Log.Check). Both signatures must have
// been verified by the caller, and the two must share an origin.
func VerifyConsistency(older, newer Checkpoint, consistency [][]byte) error {
	if older.Origin != newer.Origin {
		return fmt.Errorf("evidence: consistency: checkpoints of different logs %q and %q", older.Origin, newer.Origin)
	}
	if older.Size > newer.Size {
		return fmt.Errorf("evidence: consistency: older checkpoint has size %d > newer %d", older.Size, newer.Size)
	}
	if older.Size == newer.Size && !bytes.Equal(older.ChainHead, newer.ChainHead) {
		return fmt.Errorf("evidence: consistency: two checkpoints of size %d with different chain heads", older.Size)
	}
	return VerifyConsistencyRoots(older.Size, newer.Size, consistency, older.Root, newer.Root)
}
