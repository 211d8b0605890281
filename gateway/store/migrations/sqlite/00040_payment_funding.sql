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
    id          TEXT PRIMARY KEY,
    merchant_id TEXT NOT NULL,
    idem_key    TEXT NOT NULL,
    channel     TEXT NOT NULL,
    amount_fen  INTEGER NOT NULL,
    status      TEXT NOT NULL,
    qr_code     TEXT NOT NULL,
    channel_ref TEXT NOT NULL,
    fund_tx_id  INTEGER NOT NULL,
    failure     TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
CREATE UNIQUE INDEX funding_orders_by_key ON funding_orders(merchant_id, idem_key);
CREATE TABLE channel_notifications (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    channel        TEXT NOT NULL,
    received_at    INTEGER NOT NULL,
    verified       INTEGER NOT NULL,
    event_type     TEXT NOT NULL,
    transaction_id TEXT NOT NULL,
    channel_ref    TEXT NOT NULL,
    amount_fen     INTEGER NOT NULL,
    outcome        TEXT NOT NULL,
    detail         TEXT NOT NULL,
    body_sha256    TEXT NOT NULL
);
CREATE INDEX channel_notifications_by_tx ON channel_notifications(transaction_id);
-- +goose Down
DROP TABLE channel_notifications;
DROP TABLE funding_orders;
