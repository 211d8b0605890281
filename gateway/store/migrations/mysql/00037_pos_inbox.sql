-- POS connections and the durable inbox (issue 12).
-- A connection binds a merchant to a POS adapter plugin; config_sealed is
-- base64(SM4-GCM(adapter configuration JSON, ad = "pos_connection:" + id))
-- under the personal-data keyring: it holds the webhook secrets. store_map
-- maps the POS's store/location ids to Lianmeng store ids (JSON object).
-- inbox_events holds every verified webhook, committed before the POS is
-- answered: request is the raw request (method, path, query, the headers,
-- the body) as JSON, sealed like config_sealed when sealed = 1 (it carries
-- members' phone numbers). event_key is the provider's event id (or the
-- body's SHA-256), unique per connection, so a redelivery is stored once.
-- state: pending, done or dead. claimed_until fences a worker's claim.
-- +goose Up
CREATE TABLE pos_connections (
    id            VARCHAR(64) NOT NULL PRIMARY KEY,
    merchant_id   VARCHAR(64) NOT NULL,
    adapter       VARCHAR(64) NOT NULL,
    label         VARCHAR(100) NOT NULL,
    config_sealed MEDIUMTEXT NOT NULL,
    store_map     MEDIUMTEXT NOT NULL,
    status        VARCHAR(16) NOT NULL,
    created_by    VARCHAR(128) NOT NULL,
    created_at    BIGINT NOT NULL,
    KEY pos_connections_by_merchant (merchant_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE TABLE inbox_events (
    id            BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    connection_id VARCHAR(64) NOT NULL,
    merchant_id   VARCHAR(64) NOT NULL,
    event_key     VARCHAR(128) NOT NULL,
    event_type    VARCHAR(128) NOT NULL,
    received_at   BIGINT NOT NULL,
    body_sha256   CHAR(64) NOT NULL,
    request       MEDIUMTEXT NOT NULL,
    sealed        TINYINT NOT NULL,
    state         VARCHAR(16) NOT NULL,
    attempts      INT NOT NULL,
    next_at       BIGINT NOT NULL,
    claimed_until BIGINT NOT NULL,
    last_error    TEXT NOT NULL,
    outcome       TEXT NOT NULL,
    done_at       BIGINT NOT NULL,
    UNIQUE KEY inbox_events_by_key (connection_id, event_key),
    KEY inbox_events_due (state, next_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
-- +goose Down
DROP TABLE inbox_events;
DROP TABLE pos_connections;
