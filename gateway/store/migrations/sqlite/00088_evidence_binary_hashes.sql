-- Evidence leaf and chain hashes as their 32 bytes instead of 64 characters
-- of lowercase hex (issue 18): 128 of the 173 bytes an earn's leaf row took
-- (TestDiskPerEarn). The store hands the sealer and verify the same bytes
-- it decoded from the hex before, so proofs, checkpoints and `lianmeng
-- verify` do not change.
-- The table is rebuilt (a column's declared type cannot change in place),
-- with its unique key and index as before. A value that is not hex (only a
-- tampered row holds one) is kept as its raw bytes rather than failing the
-- upgrade: it is not 32 bytes long, or not the right hash, so verify still
-- reports that leaf. Down writes lowercase hex again, as the code did.
-- +goose Up
ALTER TABLE evidence_leaves RENAME TO evidence_leaves_hex;
DROP INDEX evidence_leaves_by_created;
CREATE TABLE evidence_leaves (
    idx           INTEGER PRIMARY KEY,
    entry_type    TEXT NOT NULL,
    entry_id      INTEGER NOT NULL,
    entry_created INTEGER NOT NULL,
    leaf_hash     BLOB NOT NULL,
    chain_hash    BLOB NOT NULL,
    sealed_at     INTEGER NOT NULL,
    UNIQUE (entry_type, entry_id)
);
INSERT INTO evidence_leaves (idx, entry_type, entry_id, entry_created, leaf_hash, chain_hash, sealed_at)
SELECT idx, entry_type, entry_id, entry_created,
       COALESCE(unhex(leaf_hash), CAST(leaf_hash AS BLOB)), COALESCE(unhex(chain_hash), CAST(chain_hash AS BLOB)), sealed_at
FROM evidence_leaves_hex ORDER BY idx;
DROP TABLE evidence_leaves_hex;
CREATE INDEX evidence_leaves_by_created ON evidence_leaves(entry_type, entry_created, entry_id);
-- +goose Down
ALTER TABLE evidence_leaves RENAME TO evidence_leaves_bin;
DROP INDEX evidence_leaves_by_created;
CREATE TABLE evidence_leaves (
    idx           INTEGER PRIMARY KEY,
    entry_type    TEXT NOT NULL,
    entry_id      INTEGER NOT NULL,
    entry_created INTEGER NOT NULL,
    leaf_hash     TEXT NOT NULL,
    chain_hash    TEXT NOT NULL,
    sealed_at     INTEGER NOT NULL,
    UNIQUE (entry_type, entry_id)
);
INSERT INTO evidence_leaves (idx, entry_type, entry_id, entry_created, leaf_hash, chain_hash, sealed_at)
SELECT idx, entry_type, entry_id, entry_created, lower(hex(leaf_hash)), lower(hex(chain_hash)), sealed_at
FROM evidence_leaves_bin ORDER BY idx;
DROP TABLE evidence_leaves_bin;
CREATE INDEX evidence_leaves_by_created ON evidence_leaves(entry_type, entry_created, entry_id);
