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
    id            TEXT PRIMARY KEY,
    merchant_id   TEXT NOT NULL,
    adapter       TEXT NOT NULL,
    label         TEXT NOT NULL,
    config_sealed TEXT NOT NULL,
    store_map     TEXT NOT NULL,
    status        TEXT NOT NULL,
    created_by    TEXT NOT NULL,
    created_at    INTEGER NOT NULL
);
CREATE INDEX pos_connections_by_merchant ON pos_connections(merchant_id);
CREATE TABLE inbox_events (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    connection_id TEXT NOT NULL,
    merchant_id   TEXT NOT NULL,
    event_key     TEXT NOT NULL,
    event_type    TEXT NOT NULL,
    received_at   INTEGER NOT NULL,
    body_sha256   TEXT NOT NULL,
    request       TEXT NOT NULL,
    sealed        INTEGER NOT NULL,
    state         TEXT NOT NULL,
    attempts      INTEGER NOT NULL,
    next_at       INTEGER NOT NULL,
    claimed_until INTEGER NOT NULL,
    last_error    TEXT NOT NULL,
    outcome       TEXT NOT NULL,
    done_at       INTEGER NOT NULL
);
CREATE UNIQUE INDEX inbox_events_by_key ON inbox_events(connection_id, event_key);
CREATE INDEX inbox_events_due ON inbox_events(state, next_at);
-- +goose Down
DROP TABLE inbox_events;
DROP TABLE pos_connections;
