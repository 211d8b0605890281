package store

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/lianmeng/lianmeng/gateway/evidence"
	"github.com/lianmeng/lianmeng/gateway/ledger"
)

// EvidenceStore implements evidence.Store: the evidence_leaves and
// evidence_checkpoints tables (migration 00030; leaf hashes binary since
// 00088), evidence_tiles (00039), evidence_cosignatures (00042),
// the sealer's lease in
// job_leases, and the ledger and audit rows the log is made of.
//
// The lease is plain SQL (an UPDATE that renews or takes over an expired
// lease, an INSERT for the first holder), re-checked by every sealing
// transaction, so it works on SQLite, MySQL and TiDB alike. Reads go to the
// read pool, or to one read transaction (EvidenceSnapshot); each Seal is
// one short write transaction.
type EvidenceStore struct {
	db   *DB
	snap *sqlx.Tx // EvidenceSnapshot: every read sees one snapshot
}

// Evidence returns the evidence store of db.
func (db *DB) Evidence() *EvidenceStore { return &EvidenceStore{db: db} }

// EvidenceSnapshot returns an evidence store whose reads all see one
// snapshot of the database (a read-only transaction, REPEATABLE READ on
// MySQL), and the function that ends it. `lianmeng verify` reads through
// it: read in separate statements while a live sealer appended, leaves
// and tiles could come from different moments and disagree.
func (db *DB) EvidenceSnapshot(ctx context.Context) (*EvidenceStore, func(), error) {
	opts := &sql.TxOptions{ReadOnly: true}
	if db.Dialect == MySQL {
		opts.Isolation = sql.LevelRepeatableRead
	}
	tx, err := db.R.BeginTxx(ctx, opts)
	if err != nil {
		return nil, nil, fmt.Errorf("store: evidence snapshot: %w", err)
	}
	return &EvidenceStore{db: db, snap: tx}, func() { tx.Rollback() }, nil
}

// evidenceReader is what the evidence reads need of a pool or transaction.
type evidenceReader interface {
	GetContext(ctx context.Context, dest any, query string, args ...any) error
	SelectContext(ctx context.Context, dest any, query string, args ...any) error
	QueryxContext(ctx context.Context, query string, args ...any) (*sqlx.Rows, error)
	QueryRowxContext(ctx context.Context, query string, args ...any) *sqlx.Row
}

func (s *EvidenceStore) read() evidenceReader {
	if s.snap != nil {
		return s.snap
	}
	return s.db.R
}

var _ evidence.Store = (*EvidenceStore)(nil)

// TryLease implements evidence.Store.
func (s *EvidenceStore) TryLease(ctx context.Context, l evidence.Lease, now time.Time) (held, fresh bool, err error) {
	return s.db.TakeLease(ctx, l.Name, l.Holder, now, l.TTL)
}

// ReleaseLease implements evidence.Store.
func (s *EvidenceStore) ReleaseLease(ctx context.Context, l evidence.Lease) error {
	return s.db.ReleaseLease(ctx, l.Name, l.Holder)
}

// Seal implements evidence.Store.
func (s *EvidenceStore) Seal(ctx context.Context, l evidence.Lease, now time.Time, leaves []evidence.Leaf, tiles []evidence.Tile, cp *evidence.StoredCheckpoint) error {
	return s.db.inTx(ctx, func(tx *sqlx.Tx) error {
		// Fencing: renew the lease inside the transaction. A takeover by
		// another instance changes holder, so this matches no row.
		res, err := tx.ExecContext(ctx, `UPDATE job_leases SET lease_until = ? WHERE name = ? AND holder = ?`,
			Micros(now.Add(l.TTL)), l.Name, l.Holder)
		if err != nil {
			return fmt.Errorf("renew lease: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			// MySQL counts only changed rows: an unchanged lease_until
			// (same microsecond) reports 0. Look.
			var holder string
			err := tx.GetContext(ctx, &holder, `SELECT holder FROM job_leases WHERE name = ?`, l.Name)
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return err
			}
			if holder != l.Holder {
				return evidence.ErrLeaseLost
			}
		}
		const chunk = 500
		for i := 0; i < len(leaves); i += chunk {
			part := leaves[i:min(i+chunk, len(leaves))]
			args := make([]any, 0, 7*len(part))
			for _, lf := range part {
				args = append(args, int64(lf.Index), lf.Ref.Type, lf.Ref.ID, lf.Created, lf.LeafHash, lf.Chain, Micros(now))
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO evidence_leaves (idx, entry_type, entry_id, entry_created, leaf_hash, chain_hash, sealed_at) VALUES `+
				placeholders(len(part), "(?, ?, ?, ?, ?, ?, ?)"), args...); err != nil {
				return fmt.Errorf("insert evidence leaves: %w", err)
			}
		}
		// A tile only grows: the stored row is replaced by its longer self.
		// DELETE then INSERT is the same statement pair on every engine.
		for _, t := range tiles {
			if _, err := tx.ExecContext(ctx, `DELETE FROM evidence_tiles WHERE level = ? AND idx = ?`, int(t.Level), int64(t.Index)); err != nil {
				return fmt.Errorf("replace evidence tile: %w", err)
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO evidence_tiles (level, idx, hashes) VALUES (?, ?, ?)`, int(t.Level), int64(t.Index), t.Hashes); err != nil {
				return fmt.Errorf("insert evidence tile: %w", err)
			}
		}
		if cp != nil {
			signed, err := cp.Signed.Marshal()
			if err != nil {
				return err
			}
			state, err := cp.State.MarshalBinary()
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO evidence_checkpoints (size, root, chain_head, key_id, signed, state, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
				int64(cp.Signed.Size), hex.EncodeToString(cp.Signed.Root), hex.EncodeToString(cp.Signed.ChainHead), cp.Signed.KeyID,
				string(signed), hex.EncodeToString(state), Micros(cp.Signed.Time)); err != nil {
				return fmt.Errorf("insert evidence checkpoint: %w", err)
			}
		}
		return nil
	})
}

type checkpointRow struct {
	Size   int64  `db:"size"`
	Signed string `db:"signed"`
	State  string `db:"state"`
}

func (r checkpointRow) parse() (evidence.StoredCheckpoint, error) {
	sc, err := evidence.ParseSignedCheckpoint([]byte(r.Signed))
	if err != nil {
		return evidence.StoredCheckpoint{}, fmt.Errorf("evidence checkpoint %d: %w", r.Size, err)
	}
	raw, err := hex.DecodeString(r.State)
	if err != nil {
		return evidence.StoredCheckpoint{}, fmt.Errorf("evidence checkpoint %d state: %w", r.Size, err)
	}
	var st evidence.LogState
	if err := st.UnmarshalBinary(raw); err != nil {
		return evidence.StoredCheckpoint{}, fmt.Errorf("evidence checkpoint %d state: %w", r.Size, err)
	}
	if sc.Size != uint64(r.Size) {
		return evidence.StoredCheckpoint{}, fmt.Errorf("evidence checkpoint %d: signed size is %d", r.Size, sc.Size)
	}
	return evidence.StoredCheckpoint{Signed: sc, State: st}, nil
}

func (s *EvidenceStore) checkpoint(ctx context.Context, where string, args ...any) (evidence.StoredCheckpoint, error) {
	var r checkpointRow
	err := s.read().GetContext(ctx, &r, `SELECT size, signed, state FROM evidence_checkpoints `+where, args...)
	if errors.Is(err, sql.ErrNoRows) {
		return evidence.StoredCheckpoint{}, evidence.ErrNotFound
	} else if err != nil {
		return evidence.StoredCheckpoint{}, fmt.Errorf("read evidence checkpoint: %w", err)
	}
	return r.parse()
}

// LatestCheckpoint implements evidence.Store.
func (s *EvidenceStore) LatestCheckpoint(ctx context.Context) (evidence.StoredCheckpoint, error) {
	return s.checkpoint(ctx, `ORDER BY size DESC LIMIT 1`)
}

// CheckpointAt implements evidence.Store.
func (s *EvidenceStore) CheckpointAt(ctx context.Context, size uint64) (evidence.StoredCheckpoint, error) {
	if size > 1<<62 {
		return evidence.StoredCheckpoint{}, evidence.ErrNotFound
	}
	return s.checkpoint(ctx, `WHERE size = ?`, int64(size))
}

// Checkpoints implements evidence.Store. A row that does not parse is
// returned with its size and Err set, so verify can report it.
func (s *EvidenceStore) Checkpoints(ctx context.Context, after int64, limit int) ([]evidence.StoredCheckpoint, error) {
	var rows []checkpointRow
	if err := s.read().SelectContext(ctx, &rows, `SELECT size, signed, state FROM evidence_checkpoints WHERE size > ? ORDER BY size LIMIT ?`, after, limit); err != nil {
		return nil, fmt.Errorf("list evidence checkpoints: %w", err)
	}
	out := make([]evidence.StoredCheckpoint, len(rows))
	for i, r := range rows {
		cp, err := r.parse()
		if err != nil {
			cp = evidence.StoredCheckpoint{Err: err}
			cp.Signed.Size = uint64(r.Size)
		}
		out[i] = cp
	}
	return out, nil
}

// Tile implements evidence.Store.
func (s *EvidenceStore) Tile(ctx context.Context, level uint8, index uint64) ([]byte, error) {
	if index > 1<<62 {
		return nil, evidence.ErrNotFound
	}
	var b []byte
	err := s.read().GetContext(ctx, &b, `SELECT hashes FROM evidence_tiles WHERE level = ? AND idx = ?`, int(level), int64(index))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, evidence.ErrNotFound
	} else if err != nil {
		return nil, fmt.Errorf("read evidence tile: %w", err)
	}
	return b, nil
}

// LastTiles implements evidence.Store: one primary-key probe per level.
func (s *EvidenceStore) LastTiles(ctx context.Context) ([]evidence.Tile, error) {
	var out []evidence.Tile
	for level := range 8 {
		var r struct {
			Idx    int64  `db:"idx"`
			Hashes []byte `db:"hashes"`
		}
		err := s.read().GetContext(ctx, &r, `SELECT idx, hashes FROM evidence_tiles WHERE level = ? ORDER BY idx DESC LIMIT 1`, level)
		if errors.Is(err, sql.ErrNoRows) {
			break
		} else if err != nil {
			return nil, fmt.Errorf("read evidence tiles: %w", err)
		}
		out = append(out, evidence.Tile{Level: uint8(level), Index: uint64(r.Idx), Hashes: r.Hashes})
	}
	return out, nil
}

// AddCosignature implements evidence.Store.
func (s *EvidenceStore) AddCosignature(ctx context.Context, size uint64, c evidence.Cosignature) error {
	return s.db.inTx(ctx, func(tx *sqlx.Tx) error {
		var n int
		if err := tx.GetContext(ctx, &n, `SELECT COUNT(*) FROM evidence_cosignatures WHERE size = ? AND witness = ?`, int64(size), c.Witness); err != nil {
			return fmt.Errorf("read evidence cosignatures: %w", err)
		}
		if n > 0 {
			return nil
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO evidence_cosignatures (size, witness, line, cosigned_at) VALUES (?, ?, ?, ?)`,
			int64(size), c.Witness, c.Line, Micros(c.Time))
		if IsDuplicate(err) {
			return nil // another instance stored it first
		} else if err != nil {
			return fmt.Errorf("insert evidence cosignature: %w", err)
		}
		return nil
	})
}

// Cosignatures implements evidence.Store.
func (s *EvidenceStore) Cosignatures(ctx context.Context, size uint64) ([]evidence.Cosignature, error) {
	var rows []struct {
		Witness string `db:"witness"`
		Line    string `db:"line"`
		At      int64  `db:"cosigned_at"`
	}
	if err := s.read().SelectContext(ctx, &rows, `SELECT witness, line, cosigned_at FROM evidence_cosignatures WHERE size = ? ORDER BY witness`, int64(size)); err != nil {
		return nil, fmt.Errorf("read evidence cosignatures: %w", err)
	}
	out := make([]evidence.Cosignature, len(rows))
	for i, r := range rows {
		out[i] = evidence.Cosignature{Witness: r.Witness, Line: r.Line, Time: FromMicros(r.At)}
	}
	return out, nil
}

type leafRow struct {
	Idx     int64  `db:"idx"`
	Type    string `db:"entry_type"`
	EntryID int64  `db:"entry_id"`
	Created int64  `db:"entry_created"`
	Leaf    []byte `db:"leaf_hash"` // 32 bytes (migration 00088); verify reports any other length
	Chain   []byte `db:"chain_hash"`
}

func (r leafRow) leaf() evidence.Leaf {
	return evidence.Leaf{Index: uint64(r.Idx), Ref: evidence.EntryRef{Type: r.Type, ID: r.EntryID}, Created: r.Created, LeafHash: r.Leaf, Chain: r.Chain}
}

const leafCols = `idx, entry_type, entry_id, entry_created, leaf_hash, chain_hash`

// LeafCount implements evidence.Store.
func (s *EvidenceStore) LeafCount(ctx context.Context) (int64, error) {
	var n int64
	err := s.read().GetContext(ctx, &n, `SELECT COUNT(*) FROM evidence_leaves`)
	return n, err
}

// Leaves implements evidence.Store.
func (s *EvidenceStore) Leaves(ctx context.Context, from uint64, limit int) ([]evidence.Leaf, error) {
	var rows []leafRow
	if err := s.read().SelectContext(ctx, &rows, `SELECT `+leafCols+` FROM evidence_leaves WHERE idx >= ? ORDER BY idx LIMIT ?`, int64(from), limit); err != nil {
		return nil, fmt.Errorf("list evidence leaves: %w", err)
	}
	out := make([]evidence.Leaf, len(rows))
	for i, r := range rows {
		out[i] = r.leaf()
	}
	return out, nil
}

// LeafOf implements evidence.Store.
func (s *EvidenceStore) LeafOf(ctx context.Context, ref evidence.EntryRef) (evidence.Leaf, error) {
	var r leafRow
	err := s.read().GetContext(ctx, &r, `SELECT `+leafCols+` FROM evidence_leaves WHERE entry_type = ? AND entry_id = ?`, ref.Type, ref.ID)
	if errors.Is(err, sql.ErrNoRows) {
		return evidence.Leaf{}, evidence.ErrNotFound
	} else if err != nil {
		return evidence.Leaf{}, fmt.Errorf("read evidence leaf: %w", err)
	}
	return r.leaf(), nil
}

// SealCursor implements evidence.Store.
func (s *EvidenceStore) SealCursor(ctx context.Context, typ string) (evidence.Cursor, error) {
	var c evidence.Cursor
	err := s.read().QueryRowxContext(ctx, `SELECT entry_created, entry_id FROM evidence_leaves WHERE entry_type = ? ORDER BY entry_created DESC, entry_id DESC LIMIT 1`, typ).
		Scan(&c.Created, &c.ID)
	if errors.Is(err, sql.ErrNoRows) {
		return evidence.Cursor{}, nil
	}
	return c, err
}

// entryTable returns the table of an entry type and the columns read.
func entryTable(typ string) (table, cols string, err error) {
	switch typ {
	case evidence.EntryTx:
		return "ledger_transactions", "t.id, t.kind, t.ref, t.reverses, t.created_at", nil
	case evidence.EntryAudit:
		return "audit_events", "t.id, t.kind, t.actor, t.subject, t.payload, t.created_at", nil
	}
	return "", "", fmt.Errorf("evidence: unknown entry type %q", typ)
}

// selectEntries reads rows of typ matching cond (over alias t) that have no
// leaf when unsealed is set.
func (s *EvidenceStore) selectEntries(ctx context.Context, typ, cond string, unsealed bool, tail string, args ...any) ([]evidence.Entry, error) {
	table, cols, err := entryTable(typ)
	if err != nil {
		return nil, err
	}
	q := `SELECT ` + cols + ` FROM ` + table + ` t WHERE ` + cond
	if unsealed {
		// One unique-key probe per candidate row. MySQL gets a hint: on
		// small or fresh tables it may pick the created_at index, whose
		// entry_type prefix alone would scan every leaf of the type.
		hint := ""
		if s.db.Dialect == MySQL {
			hint = ` FORCE INDEX (evidence_leaves_entry)`
		}
		q += ` AND NOT EXISTS (SELECT 1 FROM evidence_leaves l` + hint + ` WHERE l.entry_type = '` + typ + `' AND l.entry_id = t.id)`
	}
	q += tail
	rows, err := s.read().QueryxContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", table, err)
	}
	defer rows.Close()
	var out []evidence.Entry
	for rows.Next() {
		var e evidence.Entry
		e.Type = typ
		if typ == evidence.EntryTx {
			var tx evidence.TxRecord
			if err := rows.Scan(&tx.ID, &tx.Kind, &tx.Ref, &tx.Reverses, &e.Created); err != nil {
				return nil, err
			}
			tx.CreatedAt = FromMicros(e.Created)
			e.ID, e.Tx = tx.ID, &tx
		} else {
			var a evidence.AuditRecord
			var payload string
			if err := rows.Scan(&a.ID, &a.Kind, &a.Actor, &a.Subject, &payload, &e.Created); err != nil {
				return nil, err
			}
			a.Payload = []byte(payload)
			a.CreatedAt = FromMicros(e.Created)
			e.ID, e.Audit = a.ID, &a
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows.Close()
	if typ == evidence.EntryTx && len(out) > 0 {
		if err := s.loadPostings(ctx, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// loadPostings fills in the postings of transaction entries. A ledger
// transaction and its postings commit together and never change, so a
// second query sees exactly the postings of the rows the first one saw.
func (s *EvidenceStore) loadPostings(ctx context.Context, es []evidence.Entry) error {
	byID := make(map[int64]*evidence.TxRecord, len(es))
	ids := make([]any, 0, len(es))
	for i := range es {
		byID[es[i].ID] = es[i].Tx
		ids = append(ids, es[i].ID)
	}
	const chunk = 1000
	for i := 0; i < len(ids); i += chunk {
		part := ids[i:min(i+chunk, len(ids))]
		rows, err := s.read().QueryxContext(ctx, `SELECT tx_id, account, asset, amount FROM postings WHERE tx_id IN (`+placeholders(len(part), "?")+`)`, part...)
		if err != nil {
			return fmt.Errorf("read postings: %w", err)
		}
		for rows.Next() {
			var id int64
			var p evidence.Posting
			if err := rows.Scan(&id, &p.Account, &p.Asset, &p.Amount); err != nil {
				rows.Close()
				return err
			}
			if tx := byID[id]; tx != nil {
				tx.Postings = append(tx.Postings, p)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
	}
	return nil
}

// NewEntries implements evidence.Store.
func (s *EvidenceStore) NewEntries(ctx context.Context, typ string, after evidence.Cursor, before int64, limit int) ([]evidence.Entry, error) {
	// The explicit lower bound on created_at gives both engines an index
	// range to start from (a row-value or OR condition alone may not).
	return s.selectEntries(ctx, typ, `t.created_at >= ? AND t.created_at < ? AND (t.created_at > ? OR t.id > ?)`, true,
		` ORDER BY t.created_at, t.id LIMIT ?`, after.Created, before, after.Created, after.ID, limit)
}

// UnsealedEntries implements evidence.Store.
func (s *EvidenceStore) UnsealedEntries(ctx context.Context, typ string, from, to int64, limit int) ([]evidence.Entry, error) {
	return s.selectEntries(ctx, typ, `t.created_at >= ? AND t.created_at <= ?`, true, ` ORDER BY t.created_at, t.id LIMIT ?`, from, to, limit)
}

// CountEntries implements evidence.Store.
func (s *EvidenceStore) CountEntries(ctx context.Context, typ string, from, to int64) (rows, sealed int64, err error) {
	table, _, err := entryTable(typ)
	if err != nil {
		return 0, 0, err
	}
	if err := s.read().GetContext(ctx, &rows, `SELECT COUNT(*) FROM `+table+` WHERE created_at >= ? AND created_at <= ?`, from, to); err != nil {
		return 0, 0, fmt.Errorf("count %s: %w", table, err)
	}
	if err := s.read().GetContext(ctx, &sealed, `SELECT COUNT(*) FROM evidence_leaves WHERE entry_type = ? AND entry_created >= ? AND entry_created <= ?`, typ, from, to); err != nil {
		return 0, 0, fmt.Errorf("count evidence leaves: %w", err)
	}
	return rows, sealed, nil
}

// Entries implements evidence.Store.
func (s *EvidenceStore) Entries(ctx context.Context, refs []evidence.EntryRef) (map[evidence.EntryRef]evidence.Entry, error) {
	ids := map[string][]any{}
	for _, r := range refs {
		ids[r.Type] = append(ids[r.Type], r.ID)
	}
	out := make(map[evidence.EntryRef]evidence.Entry, len(refs))
	for typ, list := range ids {
		const chunk = 1000
		for i := 0; i < len(list); i += chunk {
			part := list[i:min(i+chunk, len(list))]
			es, err := s.selectEntries(ctx, typ, `t.id IN (`+placeholders(len(part), "?")+`)`, false, "", part...)
			if err != nil {
				return nil, err
			}
			for _, e := range es {
				out[e.EntryRef] = e
			}
		}
	}
	return out, nil
}

// txRecords returns the evidence entries of transactions a batch has just
// committed, exactly as the sealer will read them back from their rows
// (the writer's receipts are signed from these, docs/evidence.md §15).
func txRecords(txs []ledger.Transaction) []evidence.TxRecord {
	out := make([]evidence.TxRecord, len(txs))
	for i, t := range txs {
		r := evidence.TxRecord{ID: t.ID, Kind: t.Kind, Ref: t.Ref, Reverses: t.Reverses, CreatedAt: FromMicros(Micros(t.CreatedAt)),
			Postings: make([]evidence.Posting, len(t.Postings))}
		for j, p := range t.Postings {
			r.Postings[j] = evidence.Posting{Account: p.Account, Asset: string(p.Asset), Amount: p.Amount}
		}
		out[i] = r
	}
	return out
}
