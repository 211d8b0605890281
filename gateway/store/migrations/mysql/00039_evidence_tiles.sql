-- The evidence tree as tiles (docs/evidence.md §12, C2SP tlog-tiles): one
-- row per tile, hashes the concatenated 32-byte node hashes at height
-- 8·level, indices 256·idx onward (1 to 256 of them). The sealer appends to
-- the rightmost tile of each level in the transaction that stores the
-- leaves, so tiles always cover exactly the stored leaves.
-- +goose Up
CREATE TABLE evidence_tiles (
    level  TINYINT UNSIGNED NOT NULL,
    idx    BIGINT NOT NULL,
    hashes VARBINARY(8192) NOT NULL,
    PRIMARY KEY (level, idx)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
-- +goose Down
DROP TABLE evidence_tiles;
