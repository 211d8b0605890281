package store_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/lianmeng/lianmeng/gateway/evidence"
	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
)

const evBinaryMigration = "_evidence_binary_hashes.sql"

// Leaves written as hex before migration 00088 read back as the same 32
// bytes after it; a value that was not hex (a tampered row) survives the
// upgrade as a value verify rejects; the unique key and the index remain.
func TestEvidenceHashesBecomeBinary(t *testing.T) {
	for _, dialect := range storetest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			ctx := context.Background()
			db := openBefore(t, dialect, evBinaryMigration)
			var want [][2][]byte
			for i := range 5 {
				lh := sha256.Sum256([]byte{'l', byte(i)})
				ch := sha256.Sum256([]byte{'c', byte(i)})
				want = append(want, [2][]byte{lh[:], ch[:]})
				// As the code wrote them: lowercase hex.
				db.W.MustExecContext(ctx, `INSERT INTO evidence_leaves (idx, entry_type, entry_id, entry_created, leaf_hash, chain_hash, sealed_at) VALUES (?, 'tx', ?, ?, ?, ?, 7)`,
					i, 100+i, 1000+i, hex.EncodeToString(lh[:]), hex.EncodeToString(ch[:]))
			}
			// Tampered rows: too short, and the right length but not hex.
			db.W.MustExecContext(ctx, `INSERT INTO evidence_leaves (idx, entry_type, entry_id, entry_created, leaf_hash, chain_hash, sealed_at) VALUES (5, 'audit', 1, 1, 'zz', ?, 7), (6, 'audit', 2, 2, ?, ?, 7)`,
				strings.Repeat("ab", 32), strings.Repeat("g", 64), strings.ToUpper(strings.Repeat("cd", 32)))
			if _, err := db.Migrate(ctx, nil); err != nil {
				t.Fatal(err)
			}
			ls, err := db.Evidence().Leaves(ctx, 0, 100)
			if err != nil {
				t.Fatal(err)
			}
			if len(ls) != 7 {
				t.Fatalf("%d leaves after the migration, want 7", len(ls))
			}
			for i, w := range want {
				l := ls[i]
				if l.Index != uint64(i) || l.Ref != evTxRef(int64(100+i)) || l.Created != int64(1000+i) || !bytes.Equal(l.LeafHash, w[0]) || !bytes.Equal(l.Chain, w[1]) {
					t.Fatalf("leaf %d after the migration: %+v, want hashes %x %x", i, l, w[0], w[1])
				}
			}
			if l := ls[5]; string(l.LeafHash) != "zz" || !bytes.Equal(l.Chain, bytes.Repeat([]byte{0xab}, 32)) {
				t.Fatalf("short tampered leaf: %q %x", l.LeafHash, l.Chain)
			}
			// Kept as its bytes: all 64 on SQLite, cut to 31 on MySQL.
			if l := ls[6]; len(l.LeafHash) == 32 || !bytes.HasPrefix([]byte(strings.Repeat("g", 64)), l.LeafHash) || !bytes.Equal(l.Chain, bytes.Repeat([]byte{0xcd}, 32)) {
				t.Fatalf("non-hex tampered leaf: %q %x", l.LeafHash, l.Chain)
			}
			if l, err := db.Evidence().LeafOf(ctx, evTxRef(103)); err != nil || l.Index != 3 {
				t.Fatalf("leaf of tx 103: %+v %v", l, err)
			}
			if c, err := db.Evidence().SealCursor(ctx, evidence.EntryTx); err != nil || c != (evidence.Cursor{Created: 1004, ID: 104}) {
				t.Fatalf("seal cursor: %+v %v", c, err)
			}
			_, err = db.W.ExecContext(ctx, `INSERT INTO evidence_leaves (idx, entry_type, entry_id, entry_created, leaf_hash, chain_hash, sealed_at) VALUES (7, 'tx', 102, 1, ?, ?, 7)`,
				make([]byte, 32), make([]byte, 32))
			if !store.IsDuplicate(err) {
				t.Fatalf("second leaf for tx 102: %v", err)
			}
			evWantIndexes(t, db)
		})
	}
}

// A sealed log survives migration 00088 down (to the lowercase hex the
// code wrote before it) and up again: the same leaves, checkpoint and
// proofs, and verify finds nothing.
func TestEvidenceHashesMigrateDownAndUp(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clk := evSealed(t, db)
		leaves, err := db.Evidence().Leaves(ctx, 0, 100)
		if err != nil || len(leaves) != 6 {
			t.Fatalf("sealed leaves: %d %v", len(leaves), err)
		}
		snapshot := func() (evidence.SignedCheckpoint, []evidence.InclusionProof) {
			proofs := evidence.NewProofs(db.Evidence(), nil, "") // a new tile cache each time
			cp, err := proofs.Checkpoint(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var ps []evidence.InclusionProof
			for _, l := range leaves {
				p, err := proofs.Inclusion(ctx, l.Ref)
				if err != nil {
					t.Fatal(err)
				}
				ps = append(ps, p)
			}
			return cp, ps
		}
		cp, ps := snapshot()

		p := migrationProvider(t, db)
		if _, err := p.DownTo(ctx, versionBefore(t, p, evBinaryMigration)); err != nil {
			t.Fatal(err)
		}
		var rows []struct {
			Idx   int64  `db:"idx"`
			Leaf  string `db:"leaf_hash"`
			Chain string `db:"chain_hash"`
		}
		if err := db.R.SelectContext(ctx, &rows, `SELECT idx, leaf_hash, chain_hash FROM evidence_leaves ORDER BY idx`); err != nil {
			t.Fatal(err)
		}
		if len(rows) != len(leaves) {
			t.Fatalf("%d rows after the downgrade, want %d", len(rows), len(leaves))
		}
		for i, r := range rows {
			if r.Idx != int64(i) || r.Leaf != hex.EncodeToString(leaves[i].LeafHash) || r.Chain != hex.EncodeToString(leaves[i].Chain) {
				t.Fatalf("row %d after the downgrade: %+v, want %x %x", i, r, leaves[i].LeafHash, leaves[i].Chain)
			}
		}
		evWantIndexes(t, db)

		if _, err := db.Migrate(ctx, nil); err != nil {
			t.Fatal(err)
		}
		again, err := db.Evidence().Leaves(ctx, 0, 100)
		if err != nil || !reflect.DeepEqual(again, leaves) {
			t.Fatalf("leaves after down and up:\n%+v\nwant\n%+v (%v)", again, leaves, err)
		}
		cp2, ps2 := snapshot()
		if !reflect.DeepEqual(cp2, cp) || !reflect.DeepEqual(ps2, ps) {
			t.Fatalf("checkpoint or proofs changed:\n%+v %+v\nwant\n%+v %+v", cp2, ps2, cp, ps)
		}
		if out := evVerify(t, db, clk); len(out) != 0 {
			t.Fatalf("verify after down and up: %q", out)
		}
		evWantIndexes(t, db)
	})
}

// evWantIndexes checks that evidence_leaves has its unique key on (entry
// type, entry id) and its index by time, under their names.
func evWantIndexes(t *testing.T, db *store.DB) {
	t.Helper()
	var names []string
	q := `SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'evidence_leaves' ORDER BY name`
	want := "evidence_leaves_by_created sqlite_autoindex_evidence_leaves_1"
	if db.Dialect == store.MySQL {
		q = `SELECT DISTINCT index_name FROM information_schema.statistics WHERE table_schema = DATABASE() AND table_name = 'evidence_leaves'`
		want = "PRIMARY evidence_leaves_by_created evidence_leaves_entry"
	}
	if err := db.R.Select(&names, q); err != nil {
		t.Fatal(err)
	}
	sort.Strings(names)
	if got := strings.Join(names, " "); got != want {
		t.Fatalf("indexes of evidence_leaves: %s, want %s", got, want)
	}
}
