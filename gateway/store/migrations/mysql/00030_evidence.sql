-- The evidence log (docs/evidence.md): one row per sealed entry in log
-- order, and the signed checkpoints with the sealer's persisted state.
-- Hashes are lowercase hex. Indexes on created_at let the sealer find new
-- ledger transactions and audit events without scanning the tables.
-- +goose Up
CREATE TABLE evidence_leaves (
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
CREATE TABLE evidence_checkpoints (
    size       BIGINT NOT NULL PRIMARY KEY,
    root       CHAR(64) NOT NULL,
    chain_head CHAR(64) NOT NULL,
    key_id     VARCHAR(32) NOT NULL,
    signed     TEXT NOT NULL,
    state      TEXT NOT NULL,
    created_at BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE INDEX ledger_transactions_by_created ON ledger_transactions(created_at, id);
CREATE INDEX audit_events_by_created ON audit_events(created_at, id);
-- +goose Down
DROP INDEX audit_events_by_created ON audit_events;
DROP INDEX ledger_transactions_by_created ON ledger_transactions;
DROP TABLE evidence_checkpoints;
DROP TABLE evidence_leaves;
