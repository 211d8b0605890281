-- POS connections disabled, enabled and rotated through the API, and the
-- webhooks the gateway refused (issue 12).
-- previous_config_sealed is the configuration a rotation replaced, sealed
-- like config_sealed (ad = "pos_connection_previous:" + id); it still
-- verifies webhooks until previous_until (Unix microseconds), so a merchant
-- can change the secret on both sides without losing the deliveries in
-- between. status_reason says why a connection is disabled.
-- pos_rejections keeps the webhooks refused before the inbox (bad
-- signature, unknown or disabled connection, too large), so an operator
-- or the merchant can see why: never the body, only its hash and size.
-- Identical refusals in one flush share a row (repeats); the rows are
-- bounded by age and per connection (gateway/inbox RejectionLog).
-- +goose Up
ALTER TABLE pos_connections ADD COLUMN previous_config_sealed TEXT NOT NULL DEFAULT '';
ALTER TABLE pos_connections ADD COLUMN previous_until INTEGER NOT NULL DEFAULT 0;
ALTER TABLE pos_connections ADD COLUMN status_reason TEXT NOT NULL DEFAULT '';
ALTER TABLE pos_connections ADD COLUMN updated_at INTEGER NOT NULL DEFAULT 0;
CREATE TABLE pos_rejections (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    connection_id TEXT NOT NULL,
    merchant_id   TEXT NOT NULL,
    code          TEXT NOT NULL,
    reason        TEXT NOT NULL,
    received_at   INTEGER NOT NULL,
    last_at       INTEGER NOT NULL,
    repeats       INTEGER NOT NULL,
    remote_addr   TEXT NOT NULL,
    user_agent    TEXT NOT NULL,
    body_sha256   TEXT NOT NULL,
    body_bytes    INTEGER NOT NULL
);
CREATE INDEX pos_rejections_by_connection ON pos_rejections(connection_id, id);
CREATE INDEX pos_rejections_by_merchant ON pos_rejections(merchant_id, id);
CREATE INDEX pos_rejections_by_time ON pos_rejections(received_at);
-- +goose Down
DROP TABLE pos_rejections;
ALTER TABLE pos_connections DROP COLUMN updated_at;
ALTER TABLE pos_connections DROP COLUMN status_reason;
ALTER TABLE pos_connections DROP COLUMN previous_until;
ALTER TABLE pos_connections DROP COLUMN previous_config_sealed;
