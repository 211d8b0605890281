-- Refunds of merchants' unused budgets through the channels they funded
-- with (issue 13's funding refund; issue 16's exit). funding_refunds: one
-- request (idem_key unique per merchant); hold_tx_id is the ledger hold
-- (budget -> mint, reserve -> alliance:refunds). state: requested,
-- processing, succeeded, failed, partial (some parts refunded, the others
-- returned to the budget). funding_refund_parts: the refund split over
-- the merchant's channel payments (one part per funding order, newest
-- first); id is the channel's out_refund_no / out_request_no, so a retry
-- can never refund twice. A part's state: requested, submitted, unknown,
-- succeeded (ledger_tx_id: refunds -> external:refunded), failed
-- (ledger_tx_id: the money back in the reserve and the budget).
-- +goose Up
CREATE TABLE funding_refunds (
    id           TEXT PRIMARY KEY,
    merchant_id  TEXT NOT NULL,
    idem_key     TEXT NOT NULL,
    amount_fen   INTEGER NOT NULL,
    reason       TEXT NOT NULL,
    state        TEXT NOT NULL,
    hold_tx_id   INTEGER NOT NULL,
    failure      TEXT NOT NULL,
    requested_by TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);
CREATE UNIQUE INDEX funding_refunds_by_key ON funding_refunds(merchant_id, idem_key);
CREATE TABLE funding_refund_parts (
    id               TEXT PRIMARY KEY,
    refund_id        TEXT NOT NULL,
    merchant_id      TEXT NOT NULL,
    funding_order_id TEXT NOT NULL,
    channel          TEXT NOT NULL,
    amount_fen       INTEGER NOT NULL,
    state            TEXT NOT NULL,
    channel_ref      TEXT NOT NULL,
    attempts         INTEGER NOT NULL,
    next_at          INTEGER NOT NULL,
    failure          TEXT NOT NULL,
    ledger_tx_id     INTEGER NOT NULL,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
);
CREATE INDEX funding_refund_parts_by_refund ON funding_refund_parts(refund_id);
CREATE INDEX funding_refund_parts_by_order ON funding_refund_parts(funding_order_id);
CREATE INDEX funding_refund_parts_due ON funding_refund_parts(state, next_at);
-- +goose Down
DROP TABLE funding_refund_parts;
DROP TABLE funding_refunds;
