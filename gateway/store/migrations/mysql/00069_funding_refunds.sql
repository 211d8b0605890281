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
    id           VARCHAR(64) NOT NULL PRIMARY KEY,
    merchant_id  VARCHAR(64) NOT NULL,
    idem_key     VARCHAR(255) NOT NULL,
    amount_fen   BIGINT NOT NULL,
    reason       VARCHAR(255) NOT NULL,
    state        VARCHAR(16) NOT NULL,
    hold_tx_id   BIGINT NOT NULL,
    failure      TEXT NOT NULL,
    requested_by VARCHAR(128) NOT NULL,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    UNIQUE KEY funding_refunds_by_key (merchant_id, idem_key)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE TABLE funding_refund_parts (
    id               VARCHAR(64) NOT NULL PRIMARY KEY,
    refund_id        VARCHAR(64) NOT NULL,
    merchant_id      VARCHAR(64) NOT NULL,
    funding_order_id VARCHAR(64) NOT NULL,
    channel          VARCHAR(64) NOT NULL,
    amount_fen       BIGINT NOT NULL,
    state            VARCHAR(16) NOT NULL,
    channel_ref      VARCHAR(128) NOT NULL,
    attempts         INT NOT NULL,
    next_at          BIGINT NOT NULL,
    failure          TEXT NOT NULL,
    ledger_tx_id     BIGINT NOT NULL,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    KEY funding_refund_parts_by_refund (refund_id),
    KEY funding_refund_parts_by_order (funding_order_id),
    KEY funding_refund_parts_due (state, next_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
-- +goose Down
DROP TABLE funding_refund_parts;
DROP TABLE funding_refunds;
