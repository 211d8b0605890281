package evidence

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Entry types, as stored with each leaf.
const (
	EntryTx    = "tx"    // a ledger transaction (EncodeTx)
	EntryAudit = "audit" // an administrative action (EncodeAudit)
)

// EntryTypes lists every entry type the sealer picks up.
var EntryTypes = []string{EntryTx, EntryAudit}

// EntryRef names a database row that is (or will be) an entry of the log.
type EntryRef struct {
	Type string
	ID   int64
}

// String describes the row for people: "ledger transaction 4123",
// "audit event 7".
func (r EntryRef) String() string {
	switch r.Type {
	case EntryTx:
		return fmt.Sprintf("ledger transaction %d", r.ID)
	case EntryAudit:
		return fmt.Sprintf("audit event %d", r.ID)
	}
	return fmt.Sprintf("%s %d", r.Type, r.ID)
}

// Entry is a database row as the sealer reads it: exactly one of Tx and
// Audit is set.
type Entry struct {
	EntryRef
	Created int64 // row's created_at, Unix microseconds
	Tx      *TxRecord
	Audit   *AuditRecord
}

// Encode returns the entry's canonical bytes (docs/evidence.md §2).
func (e Entry) Encode() ([]byte, error) {
	switch {
	case e.Tx != nil:
		return EncodeTx(*e.Tx)
	case e.Audit != nil:
		return EncodeAudit(*e.Audit)
	}
	return nil, fmt.Errorf("evidence: %s has no record", e.EntryRef)
}

// Leaf is one stored entry of the log.
type Leaf struct {
	Index    uint64
	Ref      EntryRef
	Created  int64  // the entry row's created_at (Unix µs), for the sealer's scans
	LeafHash []byte // LeafHash(canonical bytes)
	Chain    []byte // chain value after this entry
}

// StoredCheckpoint is a signed checkpoint with the log state the sealer
// persisted with it (so it can resume without re-reading every leaf).
type StoredCheckpoint struct {
	Signed SignedCheckpoint
	State  LogState
	// Err is set (by Store.Checkpoints) when the stored row does not parse;
	// only Signed.Size is then meaningful.
	Err error
}

// Cursor orders rows of one entry type by (created_at, id).
type Cursor struct {
	Created int64
	ID      int64
}

// Less reports whether c sorts before d.
func (c Cursor) Less(d Cursor) bool {
	return c.Created < d.Created || c.Created == d.Created && c.ID < d.ID
}

// Errors from a Store.
var (
	// ErrLeaseLost is returned by Store.Seal when this holder no longer holds
	// the sealer lease: another instance took over, nothing was written.
	ErrLeaseLost = errors.New("evidence: sealer lease lost")
	// ErrNotFound means no such leaf, entry or checkpoint.
	ErrNotFound = errors.New("evidence: not found")
)

// Lease identifies the sealer lease a write is made under.
type Lease struct {
	Name   string
	Holder string
	TTL    time.Duration
}

// Store is the persistence the sealer, the proof service and the verifier
// need. gateway/store implements it in SQL; this package never does.
type Store interface {
	// TryLease acquires or renews the lease at now for ttl. held reports
	// whether l.Holder holds it afterwards; fresh that it was not already
	// held by l.Holder without interruption (so state must be reloaded).
	TryLease(ctx context.Context, l Lease, now time.Time) (held, fresh bool, err error)
	// ReleaseLease gives the lease up if l.Holder holds it.
	ReleaseLease(ctx context.Context, l Lease) error

	// LatestCheckpoint returns the checkpoint of the largest size, or
	// ErrNotFound.
	LatestCheckpoint(ctx context.Context) (StoredCheckpoint, error)
	// CheckpointAt returns the checkpoint of exactly size, or ErrNotFound.
	CheckpointAt(ctx context.Context, size uint64) (StoredCheckpoint, error)
	// Checkpoints lists checkpoints with size > after in size order.
	Checkpoints(ctx context.Context, after int64, limit int) ([]StoredCheckpoint, error)

	// LeafCount returns the number of stored leaves.
	LeafCount(ctx context.Context) (int64, error)
	// Leaves lists leaves with index >= from in index order.
	Leaves(ctx context.Context, from uint64, limit int) ([]Leaf, error)
	// LeafOf returns the leaf of an entry, or ErrNotFound if unsealed.
	LeafOf(ctx context.Context, ref EntryRef) (Leaf, error)
	// SealCursor returns the largest (created, id) sealed for an entry type
	// (zero if none).
	SealCursor(ctx context.Context, typ string) (Cursor, error)

	// NewEntries lists unsealed rows of typ after cursor with created_at <
	// before, in (created_at, id) order.
	NewEntries(ctx context.Context, typ string, after Cursor, before int64, limit int) ([]Entry, error)
	// CountEntries counts rows of typ, and leaves of typ, whose created_at
	// lies in [from, to].
	CountEntries(ctx context.Context, typ string, from, to int64) (rows, sealed int64, err error)
	// UnsealedEntries lists rows of typ with created_at in [from, to] that
	// have no leaf, in (created_at, id) order.
	UnsealedEntries(ctx context.Context, typ string, from, to int64, limit int) ([]Entry, error)
	// Entries loads rows by reference; missing rows are absent from the map.
	Entries(ctx context.Context, refs []EntryRef) (map[EntryRef]Entry, error)

	// Tile returns the stored hashes of tile (level, index), at whatever
	// width it has now, or ErrNotFound.
	Tile(ctx context.Context, level uint8, index uint64) ([]byte, error)
	// LastTiles returns the rightmost stored tile of each level, lowest
	// level first (none for an empty log).
	LastTiles(ctx context.Context) ([]Tile, error)

	// AddCosignature stores a witness's cosignature of the checkpoint of
	// size (a second one of the same witness and size is ignored).
	AddCosignature(ctx context.Context, size uint64, c Cosignature) error
	// Cosignatures lists the stored cosignatures of the checkpoint of size.
	Cosignatures(ctx context.Context, size uint64) ([]Cosignature, error)

	// Seal stores leaves (consecutive, starting at the current log size),
	// the tiles they changed (each replacing the stored tile of its level
	// and index) and, if cp is not nil, a checkpoint, in one transaction
	// that first renews the lease and fails with ErrLeaseLost if l.Holder
	// lost it.
	Seal(ctx context.Context, l Lease, now time.Time, leaves []Leaf, tiles []Tile, cp *StoredCheckpoint) error
}

// Tile is one tile of the Merkle tree (C2SP tlog-tiles, docs/evidence.md
// §12): the hashes of the nodes at height 8·Level with indices 256·Index
// onward, concatenated (1 to 256 hashes of 32 bytes).
type Tile struct {
	Level  uint8
	Index  uint64
	Hashes []byte
}

// Width returns the number of hashes in the tile.
func (t Tile) Width() int { return len(t.Hashes) / hashSize }

// Cosignature is a witness's cosignature of a checkpoint (C2SP
// tlog-cosignature): Line is the signature line, "— <witness> <base64>".
type Cosignature struct {
	Witness string    // the witness's key name
	Line    string    // the signed-note signature line, without "\n"
	Time    time.Time // when the witness cosigned (from the signature)
}
