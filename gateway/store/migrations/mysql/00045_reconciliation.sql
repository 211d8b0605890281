-- Reconciliation of the ledger's channel payments against each channel's
-- daily bill (issue 13). One row per exception found; a re-run of the same
-- channel and day finds the same rows (unique key) and adds none. kind:
-- missing_in_ledger, missing_at_channel, amount_mismatch, duplicate.
-- Nothing is ever adjusted automatically: an operator reads these.
-- +goose Up
CREATE TABLE reconciliation_exceptions (
    id             BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    channel        VARCHAR(64) NOT NULL,
    bill_date      CHAR(10) NOT NULL,
    kind           VARCHAR(32) NOT NULL,
    transaction_id VARCHAR(128) NOT NULL,
    channel_ref    VARCHAR(128) NOT NULL,
    ledger_fen     BIGINT NOT NULL,
    channel_fen    BIGINT NOT NULL,
    detail         TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    UNIQUE KEY reconciliation_exceptions_key (channel, bill_date, kind, transaction_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
-- +goose Down
DROP TABLE reconciliation_exceptions;
