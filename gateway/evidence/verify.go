package evidence

import (
	"bytes"
	"cmp"
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"slices"
	"time"

	sdk "github.com/lianmeng/lianmeng/sdk/evidence"
)

// VerifyOptions tune Verify.
type VerifyOptions struct {
	// PublicKey checks checkpoint signatures; nil reports that they could
	// not be checked.
	PublicKey *ecdsa.PublicKey
	// Settle: rows younger than this are not reported as unsealed (the
	// sealer's settle delay, default 2 s, plus its poll interval).
	Settle time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Progress, if set, is called after each page of leaves.
	Progress func(done, total int64)
	// MaxUnsealed bounds the unsealed rows listed per entry type (default 20).
	MaxUnsealed int
	// Saved are checkpoints held outside the database (saved earlier by
	// an auditor or a client, or cosigned by a witness): the database's
	// log must contain each of them, with the same root and chain head at
	// its size. This is what catches a log cut off at the end together
	// with its later checkpoints, which the database alone cannot show.
	Saved []SignedCheckpoint
}

const verifyPage = 2000

// Verify replays the whole log from the database (docs/evidence.md §7): it
// recomputes every entry's canonical bytes from the current rows, compares
// leaf hashes and chain values, checks every checkpoint's signature, root
// and chain head, and the persisted log state. It stops at the first
// divergence (everything after it differs too) and returns one line per
// finding; no findings means the log verifies. It also lists rows older
// than the settle delay that were never sealed (a stopped or lagging
// sealer, not tampering). The error is for failures to read.
func Verify(ctx context.Context, st Store, o VerifyOptions) ([]string, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Settle <= 0 {
		o.Settle = 2 * time.Second
	}
	if o.MaxUnsealed <= 0 {
		o.MaxUnsealed = 20
	}
	var out []string
	total, err := st.LeafCount(ctx)
	if err != nil {
		return nil, err
	}
	log := NewLog()
	cps, err := st.Checkpoints(ctx, -1, 1000)
	if err != nil {
		return nil, err
	}
	fetched := int64(-1) // largest checkpoint size read so far
	if len(cps) > 0 {
		fetched = int64(cps[len(cps)-1].Signed.Size)
	}
	if o.PublicKey == nil && len(cps) > 0 {
		out = append(out, "checkpoint signatures not checked: no public key configured (evidence.signing_key or the key directory)")
	}
	cpsDone := false
	// checkCPs checks every checkpoint whose size equals the log size now;
	// it returns false at the first bad one.
	checkCPs := func() (bool, error) {
		for {
			if len(cps) == 0 {
				if cpsDone {
					return true, nil
				}
				more, err := st.Checkpoints(ctx, fetched, 1000)
				if err != nil {
					return false, err
				}
				if cps = more; len(cps) == 0 {
					cpsDone = true
					return true, nil
				}
				fetched = int64(cps[len(cps)-1].Signed.Size)
			}
			cp := cps[0]
			if cp.Signed.Size > log.Size() {
				return true, nil
			}
			cps = cps[1:]
			if cp.Signed.Size < log.Size() {
				continue // duplicate sizes cannot happen (primary key)
			}
			if msg := checkCheckpoint(log, cp, o.PublicKey); msg != "" {
				out = append(out, msg)
				return false, nil
			}
		}
	}
	ok, err := checkCPs()
	if err != nil {
		return nil, err
	}
	// The stored tiles must be exactly the tree of the stored leaves: a
	// tile row edited or left behind by a truncation would serve proofs
	// that do not verify. A log sealed before tiles existed has none until
	// the sealer's next start writes them.
	saved := slices.Clone(o.Saved)
	slices.SortFunc(saved, func(a, b SignedCheckpoint) int { return cmp.Compare(a.Size, b.Size) })
	for _, sc := range saved {
		if o.PublicKey != nil {
			if err := VerifyCheckpoint(o.PublicKey, sc); err != nil {
				out = append(out, fmt.Sprintf("saved checkpoint of size %d: signature does not verify with the configured key: %v", sc.Size, err))
				return out, nil
			}
		}
	}
	// checkSaved compares the saved checkpoints of the log's current size.
	checkSaved := func() bool {
		for len(saved) > 0 && saved[0].Size <= log.Size() {
			sc := saved[0]
			saved = saved[1:]
			if err := log.CheckCheckpoint(sc.Checkpoint); err != nil {
				out = append(out, fmt.Sprintf("saved checkpoint of size %d (%s): root or chain head differs from the database's log: the log was rewritten at or before index %d (%v)",
					sc.Size, sc.Time.UTC().Format(time.RFC3339), max(sc.Size, 1)-1, err))
				return false
			}
		}
		return true
	}
	ok = ok && checkSaved()
	lastTiles, err := st.LastTiles(ctx)
	if err != nil {
		return nil, err
	}
	var tw *tileWriter
	visit := func(uint, uint64, []byte) {}
	if len(lastTiles) > 0 || total == 0 {
		tw = newTileWriter(nil)
		visit = tw.visit
	}
	for from := uint64(0); ok; {
		leaves, err := st.Leaves(ctx, from, verifyPage)
		if err != nil {
			return nil, err
		}
		if len(leaves) == 0 {
			break
		}
		refs := make([]EntryRef, len(leaves))
		for i, l := range leaves {
			refs[i] = l.Ref
		}
		rows, err := st.Entries(ctx, refs)
		if err != nil {
			return nil, err
		}
		for _, l := range leaves {
			if msg := checkLeaf(log, l, rows, visit); msg != "" {
				out = append(out, msg, fmt.Sprintf("verification stopped at the first divergence (leaf %d of %d)", l.Index, total))
				ok = false
				break
			}
			if ok, err = checkCPs(); err != nil {
				return nil, err
			} else if !ok || !checkSaved() {
				ok = false
				break
			}
		}
		if ok && tw != nil {
			msg, err := checkTiles(ctx, st, tw, nil)
			if err != nil {
				return nil, err
			}
			if msg != "" {
				out = append(out, msg)
				ok = false
			}
		}
		from = log.Size()
		if o.Progress != nil {
			o.Progress(int64(log.Size()), total)
		}
	}
	if ok {
		// Checkpoints beyond the last leaf: leaves were removed from the end.
		for _, cp := range cps {
			if cp.Signed.Size > log.Size() {
				out = append(out, fmt.Sprintf("checkpoint of size %d exceeds the log (%d leaves): entries were deleted from the end of the log", cp.Signed.Size, log.Size()))
				break
			}
		}
		if len(saved) > 0 {
			sc := saved[0]
			out = append(out, fmt.Sprintf("saved checkpoint of size %d (%s) is not contained in the database's log: the first missing index is %d (the log has %d leaves): entries were deleted from the end of the log, with the checkpoints after them",
				sc.Size, sc.Time.UTC().Format(time.RFC3339), log.Size(), log.Size()))
		}
		if tw != nil {
			msg, err := checkTiles(ctx, st, tw, lastTiles)
			if err != nil {
				return nil, err
			}
			if msg != "" {
				out = append(out, msg)
			}
		}
	}
	if tw == nil {
		out = append(out, "not sealed: no tiles are stored yet: the sealer writes them from the leaves when it next starts (not tampering)")
	}
	// Rows never sealed, reported separately from tampering.
	before := o.Now().Add(-o.Settle).UnixMicro()
	for _, typ := range EntryTypes {
		es, err := st.UnsealedEntries(ctx, typ, 0, before-1, o.MaxUnsealed+1)
		if err != nil {
			return nil, err
		}
		for i, e := range es {
			if i == o.MaxUnsealed {
				out = append(out, fmt.Sprintf("not sealed: more %s rows older than %s", typ, o.Settle))
				break
			}
			out = append(out, fmt.Sprintf("not sealed: %s (created %s) is older than %s and not in the log: the sealer is stopped or behind (not tampering)",
				e.EntryRef, time.UnixMicro(e.Created).UTC().Format(time.RFC3339Nano), o.Settle))
		}
	}
	return out, nil
}

// checkTiles compares the tiles the replay changed since the last call
// with the stored ones, which must start with the same hashes; with last
// (the stored rightmost tiles), at the end of the replay, the rightmost
// tiles must also be exactly the replayed ones.
func checkTiles(ctx context.Context, st Store, tw *tileWriter, last []Tile) (string, error) {
	tiles, err := tw.take()
	if err != nil {
		return "", err
	}
	for _, t := range tiles {
		path := sdk.TilePath(t.Level, t.Index, t.Width())
		stored, err := st.Tile(ctx, t.Level, t.Index)
		if errors.Is(err, ErrNotFound) {
			return fmt.Sprintf("%s: missing from the database: the tile row was deleted", path), nil
		} else if err != nil {
			return "", err
		}
		if !bytes.HasPrefix(stored, t.Hashes) {
			return fmt.Sprintf("%s: differs from the tree of the stored leaves: the tile row was edited (proofs served from it would not verify)", path), nil
		}
	}
	if last == nil {
		return "", nil
	}
	for _, t := range last {
		want := Tile{Level: t.Level}
		if int(t.Level) < len(tw.last) && tw.last[t.Level] != nil {
			want = *tw.last[t.Level]
		}
		if t.Index != want.Index || !bytes.Equal(t.Hashes, want.Hashes) {
			return fmt.Sprintf("%s: the stored tiles go beyond the tree of the stored leaves (%d hashes at level %d): leaves were deleted from the end of the log",
				sdk.TilePath(t.Level, t.Index, t.Width()), t.Width(), t.Level), nil
		}
	}
	return "", nil
}

// checkLeaf recomputes one leaf from its row and appends it to log,
// reporting the tree nodes it completes to visit.
func checkLeaf(log *Log, l Leaf, rows map[EntryRef]Entry, visit func(uint, uint64, []byte)) string {
	where := fmt.Sprintf("leaf %d (%s)", l.Index, l.Ref)
	if l.Index != log.Size() {
		return fmt.Sprintf("leaf %d missing: the next stored leaf is %d (%s): leaves were deleted or renumbered", log.Size(), l.Index, l.Ref)
	}
	if len(l.LeafHash) != hashSize || len(l.Chain) != hashSize {
		// Keep replaying with a placeholder so later checkpoints are still
		// checked; the first divergence is this one.
		log.AppendLeafHash(make([]byte, hashSize))
		return fmt.Sprintf("%s: stored leaf or chain hash is malformed (not %d hex-encoded bytes): the leaf row was edited", where, hashSize)
	}
	e, found := rows[l.Ref]
	if !found {
		what := "the ledger transaction was deleted"
		if l.Ref.Type == EntryAudit {
			what = "the audit event was deleted"
		}
		log.AppendLeafHash(l.LeafHash)
		return fmt.Sprintf("%s: entry missing from the database: %s", where, what)
	}
	data, err := e.Encode()
	if err != nil {
		log.AppendLeafHash(l.LeafHash)
		return fmt.Sprintf("%s: row no longer encodes: %v", where, err)
	}
	if lh := LeafHash(data); !bytes.Equal(lh, l.LeafHash) {
		what := "the transaction row or its postings changed after sealing (amount, account, asset, kind, ref, time, or a posting added or deleted), or the leaf points at another entry"
		if l.Ref.Type == EntryAudit {
			what = "the audit event changed after sealing, or the leaf points at another entry"
		}
		log.Append(data)
		return fmt.Sprintf("%s: leaf hash differs: %s", where, what)
	}
	if chain := log.AppendLeafHashNodes(LeafHash(data), visit); !bytes.Equal(chain, l.Chain) {
		return fmt.Sprintf("%s: chain hash differs: leaf rows were changed, inserted, deleted or reordered at or before this index", where)
	}
	return ""
}

// checkCheckpoint checks a checkpoint against the log replayed to its size.
func checkCheckpoint(log *Log, cp StoredCheckpoint, pub *ecdsa.PublicKey) string {
	if cp.Err != nil {
		return fmt.Sprintf("checkpoint of size %d: stored row is not a valid checkpoint: %v", cp.Signed.Size, cp.Err)
	}
	where := fmt.Sprintf("checkpoint of size %d (%s)", cp.Signed.Size, cp.Signed.Time.UTC().Format(time.RFC3339))
	if pub != nil {
		if err := VerifyCheckpoint(pub, cp.Signed); err != nil {
			return fmt.Sprintf("%s: signature does not verify with the configured key: %v", where, err)
		}
	}
	if err := log.CheckCheckpoint(cp.Signed.Checkpoint); err != nil {
		return fmt.Sprintf("%s: root or chain head differs from the replayed log: %v", where, err)
	}
	st, err := RestoreLog(cp.State)
	if err != nil || st.Size() != log.Size() || !bytes.Equal(st.Root(), log.Root()) || !bytes.Equal(st.ChainHead(), log.ChainHead()) {
		return fmt.Sprintf("%s: stored sealer state differs from the replayed log", where)
	}
	return ""
}
