-- The evidence tree as tiles (docs/evidence.md §12, C2SP tlog-tiles): one
-- row per tile, hashes the concatenated 32-byte node hashes at height
-- 8·level, indices 256·idx onward (1 to 256 of them). The sealer appends to
-- the rightmost tile of each level in the transaction that stores the
-- leaves, so tiles always cover exactly the stored leaves.
-- +goose Up
CREATE TABLE evidence_tiles (
    level  INTEGER NOT NULL,
    idx    INTEGER NOT NULL,
    hashes BLOB NOT NULL,
    PRIMARY KEY (level, idx)
);
-- +goose Down
DROP TABLE evidence_tiles;
