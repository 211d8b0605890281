-- Funding through licensed payment channels (issue 13).
-- funding_orders: a merchant's top-up of its points budget through a
-- channel. id is the host's transaction id (the channel's out_trade_no);
-- idem_key is the merchant's Idempotency-Key, unique per merchant, so a
-- retried request is the same order. status: created (stored, channel not
-- yet answered), pending (QR code issued), succeeded (funded: fund_tx_id),
-- failed (the channel refused), unknown (the channel's answer was lost).
-- channel_notifications: every notification a channel sent, verified or
-- not, and what was done with it (outcome); never the raw body, only its
-- SHA-256.
-- +goose Up
CREATE TABLE funding_orders (
    id          VARCHAR(64) NOT NULL PRIMARY KEY,
    merchant_id VARCHAR(64) NOT NULL,
    idem_key    VARCHAR(255) NOT NULL,
    channel     VARCHAR(64) NOT NULL,
    amount_fen  BIGINT NOT NULL,
    status      VARCHAR(16) NOT NULL,
    qr_code     TEXT NOT NULL,
    channel_ref VARCHAR(128) NOT NULL,
    fund_tx_id  BIGINT NOT NULL,
    failure     TEXT NOT NULL,
    created_by  VARCHAR(128) NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    UNIQUE KEY funding_orders_by_key (merchant_id, idem_key)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE TABLE channel_notifications (
    id             BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    channel        VARCHAR(64) NOT NULL,
    received_at    BIGINT NOT NULL,
    verified       TINYINT NOT NULL,
    event_type     VARCHAR(64) NOT NULL,
    transaction_id VARCHAR(128) NOT NULL,
    channel_ref    VARCHAR(128) NOT NULL,
    amount_fen     BIGINT NOT NULL,
    outcome        VARCHAR(32) NOT NULL,
    detail         TEXT NOT NULL,
    body_sha256    CHAR(64) NOT NULL,
    KEY channel_notifications_by_tx (transaction_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
-- +goose Down
DROP TABLE channel_notifications;
DROP TABLE funding_orders;
