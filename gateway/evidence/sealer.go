package evidence

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/transparency-dev/merkle/compact"

	sdk "github.com/lianmeng/lianmeng/sdk/evidence"
)

// SealerOptions tune a Sealer. Zero values take the defaults shown.
type SealerOptions struct {
	// Origin names the log in every checkpoint (required).
	Origin string
	// Holder identifies this instance in the lease (default host:pid:random).
	Holder string
	// LeaseName is the job_leases row (default "evidence-sealer").
	LeaseName string
	// LeaseTTL is how long a lease lasts without renewal (default 15 s).
	LeaseTTL time.Duration
	// Poll is how often the sealer looks for new entries (default 1 s).
	Poll time.Duration
	// Settle is how old an entry must be before it is sealed (default 2 s):
	// ids are allocated in blocks, so a batch may commit after a later one,
	// and sealing only settled rows keeps the log mostly in time order.
	Settle time.Duration
	// Batch bounds the entries sealed in one transaction (default 1000,
	// at most 2000), so sealing never holds the database for long.
	Batch int
	// CheckpointInterval is the longest a sealed entry waits for a
	// checkpoint (default 5 s).
	CheckpointInterval time.Duration
	// CheckpointEvery forces a checkpoint after this many new entries
	// (default 10000).
	CheckpointEvery int
	// Lookback is how far behind its cursor the sealer looks for
	// stragglers, rows that committed after later ones were sealed
	// (default 5 min; a batch that commits later than that after its
	// created_at is caught at the next start, which checks everything).
	Lookback time.Duration
	// StragglerEvery is how often the straggler check runs (default 10 s).
	StragglerEvery time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Log receives the sealer's messages (default: discard).
	Log *slog.Logger
	// Registry, if set, gets the sealer's metrics.
	Registry prometheus.Registerer
	// AllowKeyChange lets the sealer continue a log whose latest checkpoint
	// was signed by another key (a deliberate key rotation). Without it the
	// sealer refuses to seal: instances configured with different signing
	// keys would otherwise sign alternately without anybody noticing.
	AllowKeyChange bool
	// Memory, if set, remembers outside the database the largest checkpoint
	// this sealer published; the sealer refuses to continue a database log
	// that does not contain it (docs/evidence.md §13).
	Memory Memory
}

func (o *SealerOptions) defaults() {
	if o.Holder == "" {
		host, _ := os.Hostname()
		var b [4]byte
		rand.Read(b[:])
		o.Holder = fmt.Sprintf("%s:%d:%s", host, os.Getpid(), hex.EncodeToString(b[:]))
	}
	if o.LeaseName == "" {
		o.LeaseName = "evidence-sealer"
	}
	if o.LeaseTTL <= 0 {
		o.LeaseTTL = 15 * time.Second
	}
	if o.Poll <= 0 {
		o.Poll = DefaultPoll
	}
	if o.Settle < 0 {
		o.Settle = 0
	} else if o.Settle == 0 {
		o.Settle = DefaultSettle
	}
	if o.Batch <= 0 {
		o.Batch = 1000
	}
	o.Batch = min(o.Batch, 2000)
	if o.CheckpointInterval <= 0 {
		o.CheckpointInterval = 5 * time.Second
	}
	if o.CheckpointEvery <= 0 {
		o.CheckpointEvery = 10000
	}
	if o.Lookback <= 0 {
		o.Lookback = 5 * time.Minute
	}
	if o.StragglerEvery <= 0 {
		o.StragglerEvery = 10 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
}

// Defaults of SealerOptions that other packages need.
const (
	DefaultSettle = 2 * time.Second
	DefaultPoll   = time.Second
)

// NoSettle is a Settle value that seals rows as soon as they are visible
// (tests).
const NoSettle = -1

// Sealer appends every ledger transaction and audit event to the log and
// writes signed checkpoints. Any number of gateway instances may run one:
// a database lease lets one seal at a time; the others stand by.
//
// Finding new rows: each entry type has a cursor, the largest (created_at,
// id) sealed. A poll seals rows after the cursor that are older than the
// settle delay, in (created_at, id) order. A row that commits after the
// cursor passed it (its batch took longer than the settle delay) is a
// straggler: every StragglerEvery the sealer compares, over the Lookback
// window behind the cursor, the number of rows with the number of leaves,
// and seals any row without a leaf. At start it does the same over the
// whole table. The leaf index, not the row id, orders the log, so sealing
// rows out of id order is correct; the unique (type, id) key on the leaves
// makes sealing a row twice impossible.
type Sealer struct {
	st     Store
	signer *Signer
	o      SealerOptions
	lease  Lease

	mu      sync.Mutex // guards the fields below (SealOnce vs Run)
	keyWarn string     // key id of the last key-change message logged
	log     *Log       // nil: must (re)load
	tiles   *tileWriter
	cursors map[string]Cursor
	lastCP  Checkpoint
	sinceCP int
	fullChk bool // a whole-table straggler check is due
	nextChk time.Time

	m sealerMetrics
}

type sealerMetrics struct {
	sealed      prometheus.Counter
	checkpoints prometheus.Counter
	errors      prometheus.Counter
	leader      prometheus.Gauge
	size        prometheus.Gauge
}

// NewSealer returns a sealer writing through st and signing with signer.
func NewSealer(st Store, signer *Signer, o SealerOptions) (*Sealer, error) {
	if o.Origin == "" {
		return nil, errors.New("evidence: sealer needs an origin")
	}
	if _, err := (Checkpoint{Origin: o.Origin, Root: make([]byte, 32), ChainHead: make([]byte, 32), KeyID: signer.KeyID(), Time: time.Unix(1, 0)}).Body(); err != nil {
		return nil, fmt.Errorf("evidence: origin %q: %w", o.Origin, err)
	}
	o.defaults()
	s := &Sealer{st: st, signer: signer, o: o, lease: Lease{Name: o.LeaseName, Holder: o.Holder, TTL: o.LeaseTTL}}
	s.m = sealerMetrics{
		sealed:      prometheus.NewCounter(prometheus.CounterOpts{Name: "lianmeng_evidence_sealed_total", Help: "Entries appended to the evidence log by this instance."}),
		checkpoints: prometheus.NewCounter(prometheus.CounterOpts{Name: "lianmeng_evidence_checkpoints_total", Help: "Signed checkpoints written by this instance."}),
		errors:      prometheus.NewCounter(prometheus.CounterOpts{Name: "lianmeng_evidence_sealer_errors_total", Help: "Sealer rounds that failed."}),
		leader:      prometheus.NewGauge(prometheus.GaugeOpts{Name: "lianmeng_evidence_sealer_leader", Help: "1 while this instance holds the sealer lease."}),
		size:        prometheus.NewGauge(prometheus.GaugeOpts{Name: "lianmeng_evidence_log_size", Help: "Entries in the evidence log as last sealed by this instance."}),
	}
	if o.Registry != nil {
		for _, c := range []prometheus.Collector{s.m.sealed, s.m.checkpoints, s.m.errors, s.m.leader, s.m.size} {
			if err := o.Registry.Register(c); err != nil {
				return nil, fmt.Errorf("evidence: register metrics: %w", err)
			}
		}
	}
	return s, nil
}

// Lease returns the lease this sealer takes: its name, holder and
// lifetime unrenewed.
func (s *Sealer) Lease() Lease { return s.lease }

// Run seals until ctx ends, then gives the lease up.
func (s *Sealer) Run(ctx context.Context) {
	t := time.NewTicker(s.o.Poll)
	defer t.Stop()
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := s.st.ReleaseLease(rctx, s.lease); err != nil {
			// Harmless: the lease expires by itself after LeaseTTL.
			s.o.Log.Info("evidence sealer: could not release the lease at shutdown; another instance takes over when it expires", "err", err, "ttl", s.o.LeaseTTL)
		}
		s.m.leader.Set(0)
	}()
	failures := 0
	for {
		leader, err := s.SealOnce(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			failures++
			s.m.errors.Inc()
			// Log the first failure and then every 30th, not every poll.
			if failures == 1 || failures%30 == 0 {
				s.o.Log.Error("evidence sealer round failed", "err", err, "consecutive_failures", failures)
			}
		default:
			if failures > 0 {
				s.o.Log.Info("evidence sealer recovered", "after_failures", failures)
			}
			failures = 0
		}
		if leader {
			s.m.leader.Set(1)
		} else {
			s.m.leader.Set(0)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// SealOnce takes or renews the lease and, if held, seals everything that is
// due (in transactions of at most Batch entries) and writes a checkpoint if
// one is due. It reports whether this instance is the sealer.
func (s *Sealer) SealOnce(ctx context.Context) (leader bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	held, fresh, err := s.st.TryLease(ctx, s.lease, s.o.Now())
	if err != nil {
		return false, fmt.Errorf("sealer lease: %w", err)
	}
	if !held {
		s.log = nil
		return false, nil
	}
	if fresh || s.log == nil {
		if err := s.load(ctx); err != nil {
			s.log = nil
			return true, err
		}
	}
	if err := s.round(ctx); err != nil {
		if errors.Is(err, ErrLeaseLost) {
			s.log = nil
			return false, nil
		}
		// Whatever failed, the database is the truth: reload next time.
		s.log = nil
		return true, err
	}
	return true, nil
}

// load rebuilds the in-memory log from the latest checkpoint's state and
// the leaves written after it, and the cursors from the leaves.
func (s *Sealer) load(ctx context.Context) error {
	l := NewLog()
	s.lastCP = Checkpoint{}
	cp, err := s.st.LatestCheckpoint(ctx)
	switch {
	case errors.Is(err, ErrNotFound):
	case err != nil:
		return err
	default:
		if l, err = RestoreLog(cp.State); err != nil {
			return fmt.Errorf("restore log state of checkpoint %d: %w", cp.Signed.Size, err)
		}
		if l.Size() != cp.Signed.Size || !bytes.Equal(l.Root(), cp.Signed.Root) || !bytes.Equal(l.ChainHead(), cp.Signed.ChainHead) {
			return fmt.Errorf("stored log state does not match checkpoint %d: refusing to seal (run lianmeng verify)", cp.Signed.Size)
		}
		if err := s.checkKey(cp.Signed.Checkpoint); err != nil {
			return err
		}
		s.lastCP = cp.Signed.Checkpoint
	}
	for {
		leaves, err := s.st.Leaves(ctx, l.Size(), 4096)
		if err != nil {
			return err
		}
		for _, lf := range leaves {
			if lf.Index != l.Size() {
				return fmt.Errorf("evidence leaves: expected index %d, found %d: refusing to seal (run lianmeng verify)", l.Size(), lf.Index)
			}
			if len(lf.LeafHash) != hashSize || len(lf.Chain) != hashSize {
				return fmt.Errorf("evidence leaf %d: stored hash is malformed: refusing to seal (run lianmeng verify)", lf.Index)
			}
			if c := l.AppendLeafHash(lf.LeafHash); !bytes.Equal(c, lf.Chain) {
				return fmt.Errorf("evidence leaf %d: stored chain value does not recompute: refusing to seal (run lianmeng verify)", lf.Index)
			}
		}
		if len(leaves) < 4096 {
			break
		}
	}
	if err := s.loadTiles(ctx, l); err != nil {
		return err
	}
	if err := s.checkMemory(ctx, l, cp.Signed); err != nil {
		return err
	}
	s.cursors = map[string]Cursor{}
	for _, typ := range EntryTypes {
		c, err := s.st.SealCursor(ctx, typ)
		if err != nil {
			return err
		}
		s.cursors[typ] = c
	}
	s.log = l
	s.sinceCP = int(l.Size() - s.lastCP.Size)
	s.fullChk = true
	s.nextChk = time.Time{}
	s.m.size.Set(float64(l.Size()))
	s.o.Log.Info("evidence sealer: took the lease", "holder", s.o.Holder, "log_size", l.Size(), "checkpoint_size", s.lastCP.Size)
	return nil
}

// checkKey compares the key of the latest checkpoint with this signer's.
// A difference means another instance signs with another key, or the key
// was rotated: refuse unless AllowKeyChange. Each difference is logged once
// per sealer, not at every poll.
func (s *Sealer) checkKey(latest Checkpoint) error {
	if latest.KeyID == s.signer.KeyID() {
		return nil
	}
	logged := s.keyWarn == latest.KeyID
	s.keyWarn = latest.KeyID
	if !s.o.AllowKeyChange {
		if !logged {
			s.o.Log.Error("evidence sealer: the latest checkpoint was signed by another key; refusing to seal. "+
				"Give every instance the same evidence.signing_key, or set evidence.allow_key_change for a deliberate rotation",
				"checkpoint_size", latest.Size, "checkpoint_key_id", latest.KeyID, "this_key_id", s.signer.KeyID())
		}
		return fmt.Errorf("latest checkpoint (size %d) is signed by key %s, this instance signs with %s: refusing to seal "+
			"(same evidence.signing_key on every instance, or evidence.allow_key_change for a deliberate rotation)",
			latest.Size, latest.KeyID, s.signer.KeyID())
	}
	if !logged {
		s.o.Log.Warn("!!! EVIDENCE SIGNING KEY CHANGED: the latest checkpoint was signed by another key and evidence.allow_key_change is set; "+
			"continuing with this instance's key. Publish the new public key; verifiers must be told of the rotation. "+
			"Unset allow_key_change once every instance uses the new key. !!!",
			"checkpoint_size", latest.Size, "checkpoint_key_id", latest.KeyID, "this_key_id", s.signer.KeyID())
	}
	return nil
}

func (s *Sealer) round(ctx context.Context) error {
	now := s.o.Now()
	before := now.Add(-s.o.Settle).UnixMicro()
	if s.o.Settle <= 0 {
		before = now.UnixMicro() + 1
	}
	// Stragglers first, so the cursors are right before the main scan.
	if s.fullChk || !now.Before(s.nextChk) {
		for _, typ := range EntryTypes {
			if err := s.sealStragglers(ctx, typ, before); err != nil {
				return err
			}
		}
		s.fullChk = false
		s.nextChk = now.Add(s.o.StragglerEvery)
	}
	for {
		var cand []Entry
		for _, typ := range EntryTypes {
			es, err := s.st.NewEntries(ctx, typ, s.cursors[typ], before, s.o.Batch)
			if err != nil {
				return err
			}
			cand = append(cand, es...)
		}
		if len(cand) == 0 {
			break
		}
		sortEntries(cand)
		full := len(cand) >= s.o.Batch
		if full {
			cand = cand[:s.o.Batch]
		}
		if err := s.seal(ctx, cand); err != nil {
			return err
		}
		if !full {
			break
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	if s.checkpointDue(s.o.Now(), true) {
		return s.seal(ctx, nil)
	}
	return nil
}

// sealStragglers seals rows of typ at or behind the cursor that have no
// leaf: over the whole table after (re)loading, else over the lookback
// window. Counting first keeps the common case to two index range counts.
func (s *Sealer) sealStragglers(ctx context.Context, typ string, before int64) error {
	cur := s.cursors[typ]
	to := min(cur.Created, before-1)
	if to < 0 || cur == (Cursor{}) {
		return nil
	}
	from := int64(0)
	if !s.fullChk {
		from = to - s.o.Lookback.Microseconds()
	}
	rows, sealed, err := s.st.CountEntries(ctx, typ, from, to)
	if err != nil {
		return err
	}
	if rows == sealed {
		return nil
	}
	for {
		es, err := s.st.UnsealedEntries(ctx, typ, from, to, s.o.Batch)
		if err != nil {
			return err
		}
		if len(es) == 0 {
			return nil
		}
		s.o.Log.Info("evidence sealer: sealing entries that committed late", "type", typ, "count", len(es), "first", es[0].EntryRef.String())
		if err := s.seal(ctx, es); err != nil {
			return err
		}
		if len(es) < s.o.Batch {
			return nil
		}
	}
}

func sortEntries(es []Entry) {
	slices.SortFunc(es, func(a, b Entry) int {
		return cmp.Or(cmp.Compare(a.Created, b.Created), cmp.Compare(a.Type, b.Type), cmp.Compare(a.ID, b.ID))
	})
}

func (s *Sealer) checkpointDue(now time.Time, timed bool) bool {
	if s.log.Size() == 0 {
		// An empty log gets one checkpoint, so there is always one to serve.
		return s.lastCP.KeyID == ""
	}
	if s.log.Size() == s.lastCP.Size {
		return false
	}
	return s.sinceCP >= s.o.CheckpointEvery || timed && now.Sub(s.lastCP.Time) >= s.o.CheckpointInterval
}

// seal appends es to the log and stores them (and a checkpoint if due) in
// one transaction. On failure the in-memory log is discarded by the caller.
func (s *Sealer) seal(ctx context.Context, es []Entry) error {
	now := s.o.Now()
	leaves := make([]Leaf, 0, len(es))
	for _, e := range es {
		data, err := e.Encode()
		if err != nil {
			// A row the encoder refuses cannot be sealed and must not be
			// skipped silently: the sealer stops here until it is fixed.
			return fmt.Errorf("encode %s: %w", e.EntryRef, err)
		}
		idx := s.log.Size()
		lh := LeafHash(data)
		chain := s.log.AppendLeafHashNodes(lh, s.tiles.visit)
		leaves = append(leaves, Leaf{Index: idx, Ref: e.EntryRef, Created: e.Created, LeafHash: lh, Chain: chain})
	}
	tiles, err := s.tiles.take()
	if err != nil {
		return err
	}
	s.sinceCP += len(es)
	var cp *StoredCheckpoint
	if s.checkpointDue(now, len(es) == 0) {
		sc, err := s.signer.Sign(Checkpoint{Origin: s.o.Origin, Size: s.log.Size(), Root: s.log.Root(), ChainHead: s.log.ChainHead(), Time: now})
		if err != nil {
			return fmt.Errorf("sign checkpoint: %w", err)
		}
		cp = &StoredCheckpoint{Signed: sc, State: s.log.State()}
	}
	if err := s.st.Seal(ctx, s.lease, now, leaves, tiles, cp); err != nil {
		return err
	}
	for _, e := range es {
		if c := (Cursor{e.Created, e.ID}); s.cursors[e.Type].Less(c) {
			s.cursors[e.Type] = c
		}
	}
	s.m.sealed.Add(float64(len(es)))
	s.m.size.Set(float64(s.log.Size()))
	if cp != nil {
		s.lastCP = cp.Signed.Checkpoint
		s.sinceCP = 0
		s.m.checkpoints.Inc()
		if s.o.Memory != nil {
			if err := s.o.Memory.Save(cp.Signed); err != nil {
				// Published all the same; the memory stays at an older,
				// smaller checkpoint, which is weaker but still safe.
				s.o.Log.Error("evidence sealer: could not remember the published checkpoint outside the database", "size", cp.Signed.Size, "err", err)
			}
		}
	}
	return nil
}

// checkMemory compares the log loaded from the database, l, with the
// largest checkpoint this sealer remembers publishing: the log must reach
// its size, with its root (from the tiles) and its chain head (the stored
// chain value at its last entry). Otherwise the database was cut back or
// rewritten, and sealing on would publish a smaller or forked log.
//
// A memory that is empty or behind the database's latest checkpoint
// (latest, zero if none) is brought up to it: trust on first use.
func (s *Sealer) checkMemory(ctx context.Context, l *Log, latest SignedCheckpoint) (err error) {
	if s.o.Memory == nil {
		return nil
	}
	m, err := s.o.Memory.Load()
	if err != nil {
		return err
	}
	if m != nil && m.Origin != s.o.Origin {
		return fmt.Errorf("the published checkpoint remembered outside the database is of log %q, this sealer seals %q: refusing to seal (point evidence.published_file at this log's file)", m.Origin, s.o.Origin)
	}
	defer func() {
		if err == nil && latest.KeyID != "" && (m == nil || m.Size < latest.Size) {
			if err := s.o.Memory.Save(latest); err != nil {
				s.o.Log.Error("evidence sealer: could not remember the latest checkpoint outside the database", "size", latest.Size, "err", err)
			}
		}
	}()
	if m == nil {
		return nil
	}
	if m.Size > l.Size() {
		return fmt.Errorf("this sealer published a checkpoint of size %d but the database's log has only %d entries: the log was cut off at index %d; refusing to seal (restore the database; lianmeng verify -checkpoint shows the loss)",
			m.Size, l.Size(), l.Size())
	}
	root, err := sdk.NewTileHashes(s.readTile, m.Size).Root(ctx)
	if err != nil {
		return fmt.Errorf("evidence: root at the published size %d: %w", m.Size, err)
	}
	chain := ChainGenesis()
	if m.Size > 0 {
		lf, err := s.st.Leaves(ctx, m.Size-1, 1)
		if err != nil {
			return err
		}
		if len(lf) == 0 || lf[0].Index != m.Size-1 {
			return fmt.Errorf("evidence leaf %d missing: refusing to seal (run lianmeng verify)", m.Size-1)
		}
		chain = lf[0].Chain
	}
	if !bytes.Equal(root, m.Root) || !bytes.Equal(chain, m.ChainHead) {
		return fmt.Errorf("the database's log is not consistent with the checkpoint of size %d this sealer published (%s): the log was rewritten; refusing to seal (lianmeng verify -checkpoint shows where)",
			m.Size, m.Time.UTC().Format(time.RFC3339))
	}
	return nil
}

// readTile reads stored tiles for checkMemory.
func (s *Sealer) readTile(ctx context.Context, level uint8, index uint64, width int) ([]byte, error) {
	b, err := s.st.Tile(ctx, level, index)
	if err != nil {
		return nil, err
	}
	if len(b) < width*hashSize {
		return nil, fmt.Errorf("%w: stored tile %s is too short", ErrMismatch, sdk.TilePath(level, index, width))
	}
	return b[:width*hashSize], nil
}

// loadTiles resumes the tile writer from the rightmost stored tiles (one
// row per level: O(log n) hashes) and checks that they give the root of
// the log l loaded from the leaves. A log sealed before tiles existed gets
// its tiles written here once, from its leaves, in transactions of
// tileBackfill leaves under the lease.
func (s *Sealer) loadTiles(ctx context.Context, l *Log) error {
	last, err := s.st.LastTiles(ctx)
	if err != nil {
		return err
	}
	tw := newTileWriter(last)
	n := tw.size()
	if n > l.Size() {
		return fmt.Errorf("evidence tiles cover %d leaves but only %d are stored: refusing to seal (run lianmeng verify)", n, l.Size())
	}
	if n < l.Size() {
		s.o.Log.Warn("evidence sealer: writing the tiles of leaves sealed without them (once, after an upgrade)", "from", n, "to", l.Size())
		hashes, err := sdk.NewTileHashes(tw.reader, n).Range(ctx)
		if err != nil {
			return fmt.Errorf("evidence tiles: resume at %d: %w", n, err)
		}
		rng, err := tileRanges.NewRange(0, n, hashes)
		if err != nil {
			return fmt.Errorf("evidence tiles: resume at %d: %w", n, err)
		}
		visit := func(id compact.NodeID, h []byte) { tw.visit(id.Level, id.Index, h) }
		for rng.End() < l.Size() {
			leaves, err := s.st.Leaves(ctx, rng.End(), tileBackfill)
			if err != nil {
				return err
			}
			if len(leaves) == 0 {
				return fmt.Errorf("evidence leaves: leaf %d missing while writing tiles: refusing to seal (run lianmeng verify)", rng.End())
			}
			for _, lf := range leaves {
				if lf.Index != rng.End() || len(lf.LeafHash) != hashSize {
					return fmt.Errorf("evidence leaves: leaf %d missing or malformed while writing tiles: refusing to seal (run lianmeng verify)", rng.End())
				}
				if err := rng.Append(bytes.Clone(lf.LeafHash), visit); err != nil {
					return err
				}
			}
			tiles, err := tw.take()
			if err != nil {
				return err
			}
			if err := s.st.Seal(ctx, s.lease, s.o.Now(), nil, tiles, nil); err != nil {
				return fmt.Errorf("evidence tiles: store: %w", err)
			}
		}
	}
	root, err := sdk.NewTileHashes(tw.reader, l.Size()).Root(ctx)
	if err != nil {
		return fmt.Errorf("evidence tiles: %w: refusing to seal (run lianmeng verify)", err)
	}
	if !bytes.Equal(root, l.Root()) {
		return fmt.Errorf("evidence tiles do not give the root of the stored leaves (size %d): refusing to seal (run lianmeng verify)", l.Size())
	}
	s.tiles = tw
	return nil
}

// tileBackfill bounds the leaves whose tiles one backfill transaction
// writes.
const tileBackfill = 65536

var tileRanges = &compact.RangeFactory{Hash: sdk.SM3Hasher.HashChildren}
