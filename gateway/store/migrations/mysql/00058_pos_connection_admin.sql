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
ALTER TABLE pos_connections
    ADD COLUMN previous_config_sealed MEDIUMTEXT NULL,
    ADD COLUMN previous_until BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN status_reason VARCHAR(300) NOT NULL DEFAULT '',
    ADD COLUMN updated_at BIGINT NOT NULL DEFAULT 0;
CREATE TABLE pos_rejections (
    id            BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    connection_id VARCHAR(64) NOT NULL,
    merchant_id   VARCHAR(64) NOT NULL,
    code          VARCHAR(64) NOT NULL,
    reason        VARCHAR(1000) NOT NULL,
    received_at   BIGINT NOT NULL,
    last_at       BIGINT NOT NULL,
    repeats       BIGINT NOT NULL,
    remote_addr   VARCHAR(64) NOT NULL,
    user_agent    VARCHAR(200) NOT NULL,
    body_sha256   CHAR(64) NOT NULL,
    body_bytes    BIGINT NOT NULL,
    KEY pos_rejections_by_connection (connection_id, id),
    KEY pos_rejections_by_merchant (merchant_id, id),
    KEY pos_rejections_by_time (received_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
-- +goose Down
DROP TABLE pos_rejections;
ALTER TABLE pos_connections
    DROP COLUMN updated_at,
    DROP COLUMN status_reason,
    DROP COLUMN previous_until,
    DROP COLUMN previous_config_sealed;
