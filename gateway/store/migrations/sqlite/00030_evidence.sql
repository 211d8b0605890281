-- The evidence log (docs/evidence.md): one row per sealed entry in log
-- order, and the signed checkpoints with the sealer's persisted state.
-- Hashes are lowercase hex. Indexes on created_at let the sealer find new
-- ledger transactions and audit events without scanning the tables.
-- +goose Up
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
CREATE INDEX evidence_leaves_by_created ON evidence_leaves(entry_type, entry_created, entry_id);
CREATE TABLE evidence_checkpoints (
    size       INTEGER PRIMARY KEY,
    root       TEXT NOT NULL,
    chain_head TEXT NOT NULL,
    key_id     TEXT NOT NULL,
    signed     TEXT NOT NULL,
    state      TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX ledger_transactions_by_created ON ledger_transactions(created_at, id);
CREATE INDEX audit_events_by_created ON audit_events(created_at, id);
-- +goose Down
DROP INDEX audit_events_by_created;
DROP INDEX ledger_transactions_by_created;
DROP TABLE evidence_checkpoints;
DROP TABLE evidence_leaves;
