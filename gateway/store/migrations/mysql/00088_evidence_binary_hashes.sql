-- Evidence leaf and chain hashes as their 32 bytes instead of 64 characters
-- of lowercase hex (issue 18): 128 of the 173 bytes an earn's leaf row took
-- on SQLite (TestDiskPerEarn). The store hands the sealer and verify the
-- same bytes it decoded from the hex before, so proofs, checkpoints and
-- `lianmeng verify` do not change.
-- VARBINARY, not BINARY: BINARY(32) pads a short value with zero bytes, so
-- a truncated hash would read back as a wrong 32-byte one, and verify
-- could no longer report it as malformed (one length byte per column).
-- The table is rebuilt and swapped in with one RENAME, with its unique key
-- (named in evidence.go's FORCE INDEX) and index as before. A value that
-- is not hex (only a tampered row holds one) is kept as its raw bytes, cut
-- to 31 where longer so that it fits and is still no hash, rather than
-- failing the upgrade: verify still reports that leaf. Down writes
-- lowercase hex again, as the code did.
-- +goose Up
CREATE TABLE evidence_leaves_bin (
    idx           BIGINT NOT NULL PRIMARY KEY,
    entry_type    VARCHAR(8) NOT NULL,
    entry_id      BIGINT NOT NULL,
    entry_created BIGINT NOT NULL,
    leaf_hash     VARBINARY(32) NOT NULL,
    chain_hash    VARBINARY(32) NOT NULL,
    sealed_at     BIGINT NOT NULL,
    UNIQUE KEY evidence_leaves_entry (entry_type, entry_id),
    KEY evidence_leaves_by_created (entry_type, entry_created, entry_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
INSERT INTO evidence_leaves_bin (idx, entry_type, entry_id, entry_created, leaf_hash, chain_hash, sealed_at)
SELECT idx, entry_type, entry_id, entry_created,
       COALESCE(UNHEX(leaf_hash), LEFT(CAST(leaf_hash AS BINARY), 31)),
       COALESCE(UNHEX(chain_hash), LEFT(CAST(chain_hash AS BINARY), 31)), sealed_at
FROM evidence_leaves ORDER BY idx;
RENAME TABLE evidence_leaves TO evidence_leaves_hex, evidence_leaves_bin TO evidence_leaves;
DROP TABLE evidence_leaves_hex;
-- +goose Down
CREATE TABLE evidence_leaves_hex (
    idx           BIGINT NOT NULL PRIMARY KEY,
    entry_type    VARCHAR(8) NOT NULL,
    entry_id      BIGINT NOT NULL,
    entry_created BIGINT NOT NULL,
    leaf_hash     CHAR(64) NOT NULL,
    chain_hash    CHAR(64) NOT NULL,
    sealed_at     BIGINT NOT NULL,
    UNIQUE KEY evidence_leaves_entry (entry_type, entry_id),
    KEY evidence_leaves_by_created (entry_type, entry_created, entry_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
INSERT INTO evidence_leaves_hex (idx, entry_type, entry_id, entry_created, leaf_hash, chain_hash, sealed_at)
SELECT idx, entry_type, entry_id, entry_created, LOWER(HEX(leaf_hash)), LOWER(HEX(chain_hash)), sealed_at
FROM evidence_leaves ORDER BY idx;
RENAME TABLE evidence_leaves TO evidence_leaves_bin, evidence_leaves_hex TO evidence_leaves;
DROP TABLE evidence_leaves_bin;
