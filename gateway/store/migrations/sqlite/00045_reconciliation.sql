-- Reconciliation of the ledger's channel payments against each channel's
-- daily bill (issue 13). One row per exception found; a re-run of the same
-- channel and day finds the same rows (unique key) and adds none. kind:
-- missing_in_ledger, missing_at_channel, amount_mismatch, duplicate.
-- Nothing is ever adjusted automatically: an operator reads these.
-- +goose Up
CREATE TABLE reconciliation_exceptions (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    channel        TEXT NOT NULL,
    bill_date      TEXT NOT NULL,
    kind           TEXT NOT NULL,
    transaction_id TEXT NOT NULL,
    channel_ref    TEXT NOT NULL,
    ledger_fen     INTEGER NOT NULL,
    channel_fen    INTEGER NOT NULL,
    detail         TEXT NOT NULL,
    created_at     INTEGER NOT NULL
);
CREATE UNIQUE INDEX reconciliation_exceptions_key ON reconciliation_exceptions(channel, bill_date, kind, transaction_id);
-- +goose Down
DROP TABLE reconciliation_exceptions;
